"""A/B of two checkouts' `fargate-sim serve`, alternated on one sitting (shared machines).

    git worktree add --detach /tmp/base main
    python tests/benchmarks/endpoint_ab.py --base /tmp/base [--rounds 3] [--requests 1000]

Each round starts each checkout's server (its code first on PYTHONPATH) and the client's
floor (a canned answer of the server's own DescribeKey bytes, ``canned_server.py plain``),
all at once, and takes boto3 DescribeKey on one keep-alive connection to each in turn in
blocks of 50 calls (``endpoint_bench.interleaved``), so load that comes and goes falls on
all alike. It prints each checkout's rate as a share of the floor's, requests/s, p50/p99,
CPU per request of client and server and the time spent waiting for a core; then 8 client
threads and one socket replaying a signed request (quotas off) for each checkout. The
summary gives each checkout's share of the floor, median and range.
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


def replay(url: str, key: str, n: int) -> float:
    """Requests/s of one socket replaying one signed DescribeKey."""
    raw = B.signed_describe_key(url, key)
    B.replay(url, raw, 200)
    t = time.perf_counter()
    B.replay(url, raw, n)
    return n / (time.perf_counter() - t)


def _server(root: str, tmp: Path, *args: str) -> ServerProcess:
    os.environ["PYTHONPATH"] = root  # the server subprocess imports this checkout's code
    return ServerProcess("--ephemeral", *args, cwd=tmp)


def _round(rnd: int, checkouts: dict[str, str], n: int) -> dict[str, float]:
    """One round; each checkout's one-connection share of the floor."""
    with tempfile.TemporaryDirectory() as d:
        servers = {name: _server(root, Path(d)) for name, root in checkouts.items()}
        floor = None
        try:
            first = next(iter(servers.values()))
            kms = B._client(first.url, "kms")
            key = kms.create_key()["KeyMetadata"]["KeyId"]
            response = B.replay(first.url, B.signed_describe_key(first.url, key), 1)
            floor = B.CannedServer("plain", response)
            keys = {name: key if s is first else
                    B._client(s.url, "kms").create_key()["KeyMetadata"]["KeyId"]
                    for name, s in servers.items()}
            targets = [B.Target("floor", floor.url, floor.proc.pid)] + [
                B.Target(name, s.url, s.proc.pid) for name, s in servers.items()]
            # The floor answers any KeyId; each server knows its own key.
            walls = next(B.interleaved(targets, key, n, 1, keys=keys))
            print(f"round {rnd} (load {os.getloadavg()[0]:.1f}):", flush=True)
            shares = {}
            for t in targets:
                share = walls["floor"] / walls[t.name]
                if t.name != "floor":
                    shares[t.name] = share
                print(f"  {t.name:5} {t.run().line()}"
                      + ("" if t.name == "floor" else f", {share:.0%} of the floor"), flush=True)
            for name, s in servers.items():
                eight = _stats(*B.client_threads(s.url, keys[name], n))
                print(f"  {name:5} 8 client threads {eight[0]:6,.0f}/s p50 {eight[1]:.2f} "
                      f"p99 {eight[2]:.2f} ms", flush=True)
        finally:
            if floor is not None:
                floor.stop()
            for s in servers.values():
                s.stop()
        for name, root in checkouts.items():
            server = _server(root, Path(d), "--no-quotas")
            try:
                key = B._client(server.url, "kms").create_key()["KeyMetadata"]["KeyId"]
                print(f"  {name:5} replay {replay(server.url, key, 5000):6,.0f}/s", flush=True)
            finally:
                server.stop()
    return shares


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the checkout to compare against")
    ap.add_argument("--new", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    checkouts = {"base": args.base, "new": args.new}
    shares: dict[str, list[float]] = {name: [] for name in checkouts}
    for rnd in range(args.rounds):
        for name, share in _round(rnd, checkouts, args.requests).items():
            shares[name].append(share)
    for name, values in shares.items():
        print(f"{name}: 1 connection at {statistics.median(values):.0%} of the floor "
              f"(range {min(values):.0%}-{max(values):.0%}, {len(values)} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
