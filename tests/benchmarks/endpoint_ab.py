"""A/B of two checkouts' `fargate-sim serve`, alternated on one sitting (shared machines).

    git worktree add --detach /tmp/base main
    python tests/benchmarks/endpoint_ab.py --base /tmp/base [--rounds 3] [--requests 2000]

Each round starts each checkout's server in turn (its code first on PYTHONPATH) and prints:
boto3 DescribeKey on one keep-alive connection (requests/s, p50/p99, the server's CPU time per
request from /proc), 8 concurrent clients, and one socket replaying a signed request (quotas
off). Print the machine's load beside each: contended figures say so.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from simulator.api import DEFAULT_ROOT_KEY
from tests.api.subprocess_server import ServerProcess
from tests.benchmarks import endpoint_bench as B


def _stats(lat: list[float], wall: float) -> tuple[float, float, float]:
    lat = sorted(lat)
    return len(lat) / wall, statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99)] * 1e3


def _cpu(pid: int) -> float:
    """User plus system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def boto3_figures(url: str, n: int, pid: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(rate, p50, p99, server CPU us/request) on one connection; (rate, p50, p99) of 8."""
    kms = B._client(url, "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    B._latencies(kms, key, 100)
    cpu = _cpu(pid)
    t = time.perf_counter()
    lat = B._latencies(kms, key, n)
    one = (*_stats(lat, time.perf_counter() - t), (_cpu(pid) - cpu) / n * 1e6)
    clients = [B._client(url, "kms") for _ in range(8)]
    res: list[list[float]] = [[] for _ in clients]

    def run(i: int) -> None:
        res[i] = B._latencies(clients[i], key, n // 4)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return one, _stats([x for r in res for x in r], time.perf_counter() - t)


def replay(url: str, n: int) -> float:
    """Requests/s of one socket replaying one signed DescribeKey."""
    kms = B._client(url, "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": key}).encode()
    host = url.removeprefix("http://")
    request = AWSRequest("POST", url + "/", data=body, headers={
        "X-Amz-Target": "TrentService.DescribeKey",
        "Content-Type": "application/x-amz-json-1.1", "Host": host})
    SigV4Auth(Credentials(*DEFAULT_ROOT_KEY), "kms", "us-west-2").add_auth(request)
    raw = ("POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
           + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", int(host.rsplit(":", 1)[1]))) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")

        def one() -> None:
            s.sendall(raw)
            assert b" 200 " in f.readline()
            length = 0
            while (line := f.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)

        for _ in range(200):
            one()
        t = time.perf_counter()
        for _ in range(n):
            one()
        return n / (time.perf_counter() - t)


def _round(rnd: int, name: str, root: str, n: int) -> None:
    os.environ["PYTHONPATH"] = root  # the server subprocess imports this checkout's code
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess("--ephemeral", cwd=Path(d))
        try:
            one, eight = boto3_figures(server.url, n, server.proc.pid)
        finally:
            server.stop()
        server = ServerProcess("--ephemeral", "--no-quotas", cwd=Path(d))
        try:
            rate = replay(server.url, 5000)
        finally:
            server.stop()
    print(f"round {rnd} {name:4}: 1 conn {one[0]:6,.0f}/s p50 {one[1]:.2f} p99 {one[2]:.2f} ms"
          f" | server CPU {one[3]:.0f} us/req | 8 clients {eight[0]:6,.0f}/s p50 "
          f"{eight[1]:.2f} p99 {eight[2]:.2f} ms | replay {rate:6,.0f}/s | "
          f"load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the checkout to compare against")
    ap.add_argument("--new", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    B.client_floor(args.requests)
    for rnd in range(args.rounds):
        for name, root in (("base", args.base), ("new", args.new)):
            _round(rnd, name, root, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
