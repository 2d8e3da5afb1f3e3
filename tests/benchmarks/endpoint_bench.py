"""Figures of `fargate-sim serve` with real clients, against a server in a subprocess.

    python tests/benchmarks/endpoint_bench.py [--requests 2000] [--rounds 5] [--rss-requests 100000]

0. boto3 DescribeKey on one keep-alive connection, against the server and two floors
   answering the server's own DescribeKey bytes, each in its own process: ``plain`` (the
   fewest steps a server can take: boto3's own cost, the client's floor) and ``http-layer``
   (the simulator's HTTP reader and writer before a canned endpoint). The three are taken
   in turn in blocks of 50 calls (forwards, then backwards), so load that comes and goes on
   a shared machine falls on all alike. Printed: the server's rate as a share of each
   floor's per round, by total time and by p50 latency (which a preempted call sways less),
   then median and range (the figures that mean something on a shared machine); per
   target requests/s, p50/p99, CPU per request of client and server, and the time both
   spent runnable but waiting for a core.
1. The same with 8 concurrent clients, one boto3 client and connection each: 8 processes
   (the server's own scaling: on 2 cores, client and server share them), then 8 threads
   of one process (its GIL bounds them near the one-connection rate).
2. Wall time from RunTask to lastStatus RUNNING at --speed 1 and --speed 60 (polling
   DescribeTasks every 20 ms).
3. One connection replaying a signed DescribeKey (the server's own rate, no SDK cost), then
   server RSS (VmRSS) before and after N such requests on 8 keep-alive sockets (the request
   bytes are signed once with botocore; quotas off, a replay outruns KMS's 2,000/s).

Other processes share the cores: run it a couple of times and say how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from simulator.api import DEFAULT_ROOT_KEY
from simulator.cli.serve import AUDIT_EVENTS
from tests.api.seed_story import run_app_task, seed_cluster
from tests.api.subprocess_server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("plain", "http-layer")


def _client(url: str, service: str):
    return boto3.client(service, endpoint_url=url, region_name="us-west-2",
                        aws_access_key_id=DEFAULT_ROOT_KEY[0],
                        aws_secret_access_key=DEFAULT_ROOT_KEY[1],
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=1))


def _latencies(kms, key: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        kms.describe_key(KeyId=key)
        out.append(time.perf_counter() - t)
    return out


def _report(name: str, lat: list[float], wall: float) -> None:
    lat = sorted(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"{name}: {len(lat) / wall:,.0f} requests/s, p50 {statistics.median(lat) * 1e3:.2f} ms,"
          f" p99 {p99 * 1e3:.2f} ms ({len(lat)} requests)")


def sched_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds, seconds runnable but waiting for a core) of all of a process's threads
    so far (Linux's per-thread schedstat; waits read 0 where it is missing)."""
    cpu = wait = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()
        except OSError:  # a thread that ended, or no schedstat
            continue
        cpu, wait = cpu + int(fields[0]), wait + int(fields[1])
    if cpu == 0:  # no schedstat: user + system time in clock ticks
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"), 0.0
    return cpu / 1e9, wait / 1e9


@dataclass
class Run:
    """One-connection figures of one server: rate, latency, per-request costs (us)."""

    rate: float
    p50_ms: float
    p99_ms: float
    client_us: float
    server_us: float
    wait_us: float

    def line(self) -> str:
        return (f"{self.rate:6,.0f}/s p50 {self.p50_ms:.2f} p99 {self.p99_ms:.2f} ms, "
                f"CPU client {self.client_us:4.0f} server {self.server_us:3.0f} us, "
                f"waiting {self.wait_us:4.0f} us")


class CannedServer:
    """``tests/benchmarks/canned_server.py`` in a subprocess, answering ``response``."""

    def __init__(self, kind: str, response: bytes) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.canned_server", kind], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(response)
        self.proc.stdin.close()
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def signed_describe_key(url: str, key: str) -> bytes:
    """The bytes of one DescribeKey request for ``url``, signed once by botocore."""
    body = json.dumps({"KeyId": key}).encode()
    host = url.removeprefix("http://")
    request = AWSRequest("POST", url + "/", data=body, headers={
        "X-Amz-Target": "TrentService.DescribeKey",
        "Content-Type": "application/x-amz-json-1.1", "Host": host})
    SigV4Auth(Credentials(*DEFAULT_ROOT_KEY), "kms", "us-west-2").add_auth(request)
    return ("POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
            + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def replay(url: str, raw: bytes, count: int) -> bytes:
    """Send ``raw`` ``count`` times on one keep-alive connection, each answer read whole
    (asserted 200); the last response's bytes."""
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        response = b""
        for _ in range(count):
            s.sendall(raw)
            response = f.readline()
            assert b" 200 " in response, response
            length = 0
            while (line := f.readline()) != b"\r\n":
                response += line
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            response += b"\r\n" + f.read(length)
        return response


class Target:
    """One server measured in interleaved blocks: its boto3 client and what was measured."""

    def __init__(self, name: str, url: str, pid: int) -> None:
        self.name, self.pid = name, pid
        self.kms = _client(url, "kms")
        self.lat: list[float] = []
        self.client_cpu = self.server_cpu = self.waiting = self.wall = 0.0

    def block(self, key: str, n: int) -> float:
        """``n`` calls, their costs added to the totals; the block's wall seconds."""
        me, server = sched_seconds(os.getpid()), sched_seconds(self.pid)
        cpu = time.thread_time()
        t = time.perf_counter()
        self.lat += _latencies(self.kms, key, n)
        wall = time.perf_counter() - t
        me2, server2 = sched_seconds(os.getpid()), sched_seconds(self.pid)
        self.client_cpu += time.thread_time() - cpu
        self.server_cpu += server2[0] - server[0]
        self.waiting += me2[1] - me[1] + server2[1] - server[1]
        self.wall += wall
        return wall

    def run(self) -> Run:
        lat, n = sorted(self.lat), len(self.lat)
        return Run(n / self.wall, statistics.median(lat) * 1e3,
                   lat[min(n - 1, int(n * 0.99))] * 1e3, self.client_cpu / n * 1e6,
                   self.server_cpu / n * 1e6, self.waiting / n * 1e6)


def interleaved(targets: list[Target], key: str, n: int, rounds: int, block: int = 50,
                keys: dict[str, str] | None = None) -> Iterator[dict[str, float]]:
    """``n`` calls to each target per round, in blocks of ``block`` taken in turn (so load
    that comes and goes falls on all of them alike); yields, per round, each target's wall
    time. ``keys`` names the KeyId to describe per target name (``key`` otherwise)."""
    keys = keys or {}
    for t in targets:
        _latencies(t.kms, keys.get(t.name, key), 100)  # warm-up: connection, caches
    for _ in range(rounds):
        walls = dict.fromkeys((t.name for t in targets), 0.0)
        for i in range(0, n, block):
            # Forwards, then backwards: no target is always the one after another.
            for t in (targets if i // block % 2 == 0 else targets[::-1]):
                walls[t.name] += t.block(keys.get(t.name, key), min(block, n - i))
        yield walls


def _share(name: str, shares: list[float]) -> str:
    return (f"{name} {statistics.median(shares):.0%} (range {min(shares):.0%}-"
            f"{max(shares):.0%})")


def against_floors(server: ServerProcess, n: int, rounds: int) -> dict[str, list[float]]:
    """The one-connection figure interleaved with both floors in blocks, ``rounds`` rounds
    of ``n`` calls each; prints each round's shares and the totals. Returns the server's
    rate as a share of each floor's, per round."""
    kms = _client(server.url, "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    response = replay(server.url, signed_describe_key(server.url, key), 1)
    floors = [CannedServer(kind, response) for kind in FLOORS]
    try:
        targets = [Target(kind, f.url, f.proc.pid) for kind, f in zip(FLOORS, floors, strict=True)]
        targets.append(Target("server", server.url, server.proc.pid))
        shares: dict[str, list[float]] = {k: [] for k in FLOORS}
        p50s: dict[str, list[float]] = {k: [] for k in FLOORS}
        start = {t.name: 0 for t in targets}
        for rnd, walls in enumerate(interleaved(targets, key, n, rounds)):
            p50 = {t.name: statistics.median(t.lat[start[t.name]:]) for t in targets}
            start = {t.name: len(t.lat) for t in targets}
            for kind in FLOORS:
                shares[kind].append(walls[kind] / walls["server"])
                p50s[kind].append(p50[kind] / p50["server"])
            print(f"round {rnd} (load {os.getloadavg()[0]:.1f}): server at "
                  + ", ".join(f"{shares[k][-1]:.0%} of {k}" for k in FLOORS)
                  + " (by p50: " + ", ".join(f"{p50s[k][-1]:.0%}" for k in FLOORS) + ")",
                  flush=True)
        for t in targets:
            print(f"  {t.name:10} {t.run().line()}")
    finally:
        for f in floors:
            f.stop()
    print("1 connection, boto3 DescribeKey, the server's rate as a share of the floors' "
          f"({rounds} rounds of {n}, interleaved in blocks): "
          + _share("plain", shares["plain"]) + ", " + _share("http-layer", shares["http-layer"])
          + "; by p50 latency (less swayed by a preempted call): "
          + _share("plain", p50s["plain"]) + ", " + _share("http-layer", p50s["http-layer"]))
    return shares


def _client_process(url: str, key: str, n: int, ready: Any, start: Any, out: Any,
                    done: Any) -> None:
    kms = _client(url, "kms")
    _latencies(kms, key, 20)
    ready.put(None)
    start.wait()
    out.put(_latencies(kms, key, n))
    done.wait(600)  # the connection stays open until the server's threads are read


def client_processes(url: str, key: str, n: int, pid: int, count: int = 8
                     ) -> tuple[list[float], float, float, float]:
    """``count`` client processes (one boto3 client and connection each, no shared GIL)
    making ``n`` DescribeKey calls between them against server ``pid``: latencies, wall
    seconds, and the server's CPU and run-queue seconds in that time."""
    ctx = multiprocessing.get_context("spawn")
    ready, start, out, done = ctx.Queue(), ctx.Event(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_client_process,
                         args=(url, key, n // count, ready, start, out, done))
             for _ in range(count)]
    for p in procs:
        p.start()
    for _ in procs:  # each has imported boto3 and made its warm-up calls
        ready.get(timeout=600)
    before = sched_seconds(pid)
    t = time.perf_counter()
    start.set()
    lat = [x for _ in procs for x in out.get(timeout=600)]
    wall = time.perf_counter() - t
    after = sched_seconds(pid)
    done.set()
    for p in procs:
        p.join(10)
    return lat, wall, after[0] - before[0], after[1] - before[1]


def eight_clients(url: str, n: int, pid: int) -> None:
    """8 client processes, then 8 client threads of this one, against server ``pid``."""
    kms = _client(url, "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    lat, wall, cpu, wait = client_processes(url, key, n, pid)
    _report("8 client processes, boto3 DescribeKey (no shared GIL)", lat, wall)
    print(f"  server: CPU {cpu / len(lat) * 1e6:.0f} us a request, runnable but waiting for "
          f"a core {wait / len(lat) * 1e6:.0f} us")
    _report("8 client threads in one process, boto3 DescribeKey", *client_threads(url, key, n))


def client_threads(url: str, key: str, n: int, count: int = 8) -> tuple[list[float], float]:
    """``count`` threads of this process, one boto3 client and connection each, making
    ``n * 2`` DescribeKey calls between them: (latencies, wall seconds)."""
    clients = [_client(url, "kms") for _ in range(count)]
    results: list[list[float]] = [[] for _ in clients]

    def run(i: int) -> None:
        results[i] = _latencies(clients[i], key, n * 2 // count)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return [x for r in results for x in r], time.perf_counter() - t


def time_to_running(tmp: Path, speed: str) -> None:
    server = ServerProcess("--speed", speed, "--ephemeral", cwd=tmp)
    try:
        kms, ecs = _client(server.url, "kms"), _client(server.url, "ecs")
        seed_cluster(kms, ecs)
        t = time.perf_counter()
        task = run_app_task(ecs)
        while ecs.describe_tasks(cluster="web", tasks=[task])["tasks"][0][
                "lastStatus"] != "RUNNING":
            time.sleep(0.02)
        print(f"run-task -> RUNNING at --speed {speed}: {time.perf_counter() - t:.2f} s wall")
    finally:
        server.stop()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def rss(tmp: Path, n: int) -> None:
    # --no-quotas: one replaying socket alone exceeds KMS's DescribeKey quota (2,000/s).
    server = ServerProcess("--state", str(tmp / "rss.db"), "--no-quotas", cwd=tmp)
    try:
        kms = _client(server.url, "kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        raw = signed_describe_key(server.url, key)
        before = _rss(server.proc.pid)
        t = time.perf_counter()
        replay(server.url, raw, 5000)
        wall = time.perf_counter() - t
        print(f"1 connection, signed DescribeKey replayed (no SDK cost): {5000 / wall:,.0f} "
              f"requests/s, {wall / 5000 * 1e3:.2f} ms each")
        per = n // 8
        t = time.perf_counter()
        threads = [threading.Thread(target=replay, args=(server.url, raw, per))
                   for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        after = _rss(server.proc.pid)
        print(f"server RSS: {before / 2**20:.0f} MiB at start, {after / 2**20:.0f} MiB after "
              f"{per * 8 + 5000:,} DescribeKey requests ({per * 8 / wall:,.0f} requests/s raw, "
              f"8 sockets; the audit trail keeps the last {AUDIT_EVENTS:,})")
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rss-requests", type=int, default=100_000,
                    help="0: skip run-task timing and RSS")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server = ServerProcess("--ephemeral", cwd=tmp)
        try:
            against_floors(server, args.requests, args.rounds)
            eight_clients(server.url, args.requests, server.proc.pid)
        finally:
            server.stop()
        if args.rss_requests:
            for speed in ("1", "60"):
                time_to_running(tmp, speed)
            rss(tmp, args.rss_requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
