"""A/B of two checkouts' `fargate-sim serve`, alternated on one sitting (shared machines).

    git worktree add --detach /tmp/base main
    python tests/benchmarks/endpoint_ab.py --base /tmp/base [--rounds 3] [--requests 2000]

Each round measures boto3 against the client's floor (a canned answer of the real server's
DescribeKey bytes, ``endpoint_bench.floor``), then starts each checkout's server in turn (its
code first on PYTHONPATH) and prints: boto3 DescribeKey on one keep-alive connection
(requests/s, p50/p99, CPU per request of client and server, time spent waiting for a core)
and its share of that round's floor, 8 concurrent clients, and one socket replaying a signed
request (quotas off). The summary gives each checkout's share of the floor, median and
range. Print the machine's load beside each: contended figures say so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.api.subprocess_server import ServerProcess
from tests.benchmarks import endpoint_bench as B


def _stats(lat: list[float], wall: float) -> tuple[float, float, float]:
    lat = sorted(lat)
    return len(lat) / wall, statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99)] * 1e3


def eight_clients(url: str, key: str, n: int) -> tuple[float, float, float]:
    """(rate, p50, p99) of 8 boto3 clients on their own connections (threads)."""
    return _stats(*B.client_threads(url, key, n))


def replay(url: str, key: str, n: int) -> float:
    """Requests/s of one socket replaying one signed DescribeKey."""
    raw = B.signed_describe_key(url, key)
    B.replay(url, raw, 200)
    t = time.perf_counter()
    B.replay(url, raw, n)
    return n / (time.perf_counter() - t)


def _round(name: str, root: str, n: int, floor: B.Run) -> float:
    """One checkout's figures, printed; its one-connection share of ``floor``."""
    os.environ["PYTHONPATH"] = root  # the server subprocess imports this checkout's code
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess("--ephemeral", cwd=Path(d))
        try:
            key = B._client(server.url, "kms").create_key()["KeyMetadata"]["KeyId"]
            one = B.one_connection(server.url, key, n, server.proc.pid)
            eight = eight_clients(server.url, key, n)
        finally:
            server.stop()
        server = ServerProcess("--ephemeral", "--no-quotas", cwd=Path(d))
        try:
            key = B._client(server.url, "kms").create_key()["KeyMetadata"]["KeyId"]
            rate = replay(server.url, key, 5000)
        finally:
            server.stop()
    share = one.rate / floor.rate
    print(f"  {name:5} 1 conn {one.line()}, {share:.0%} of the floor | 8 clients "
          f"{eight[0]:6,.0f}/s p50 {eight[1]:.2f} p99 {eight[2]:.2f} ms | replay "
          f"{rate:6,.0f}/s | load {os.getloadavg()[0]:.1f}", flush=True)
    return share


def _floor(n: int) -> B.Run:
    """The client's floor, measured against the real server's DescribeKey bytes."""
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess("--ephemeral", cwd=Path(d))
        try:
            key = B._client(server.url, "kms").create_key()["KeyMetadata"]["KeyId"]
            response = B.replay(server.url, B.signed_describe_key(server.url, key), 1)
        finally:
            server.stop()
    return B.floor("plain", response, key, n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the checkout to compare against")
    ap.add_argument("--new", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    shares: dict[str, list[float]] = {"base": [], "new": []}
    for rnd in range(args.rounds):
        floor = _floor(args.requests)
        print(f"round {rnd}: floor {floor.line()}", flush=True)
        for name, root in (("base", args.base), ("new", args.new)):
            shares[name].append(_round(name, root, args.requests, floor))
    for name, values in shares.items():
        print(f"{name}: 1 connection at {statistics.median(values):.0%} of the floor "
              f"(range {min(values):.0%}-{max(values):.0%}, {len(values)} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
