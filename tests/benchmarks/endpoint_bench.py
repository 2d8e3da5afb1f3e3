"""Figures of `fargate-sim serve` with real clients, against a server in a subprocess.

    python tests/benchmarks/endpoint_bench.py [--requests 2000] [--rss-requests 100000]

0. boto3 against a canned answer: the SDK's own cost, the ceiling for any server.
1. boto3 DescribeKey on one keep-alive connection: requests/s, p50/p99 latency.
2. The same with 8 concurrent clients (threads, one boto3 client and connection each).
3. Wall time from RunTask to lastStatus RUNNING at --speed 1 and --speed 60 (polling
   DescribeTasks every 20 ms).
4. One connection replaying a signed DescribeKey (the server's own rate, no SDK cost), then
   server RSS (VmRSS) before and after N such requests on 8 keep-alive sockets (the request
   bytes are signed once with botocore; quotas off, a replay outruns KMS's 2,000/s).

Other processes share the cores: run it a couple of times and say how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from simulator.api import DEFAULT_ROOT_KEY
from simulator.cli.serve import AUDIT_EVENTS
from simulator.iam.seed import seed_key_policy
from tests.api.subprocess_server import ServerProcess


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


def client_floor(n: int) -> None:
    """boto3 against a socket answering a canned DescribeKey: the SDK's own cost per call."""
    body = json.dumps({"KeyMetadata": {"KeyId": "k", "AWSAccountId": "111122223333"}}).encode()
    canned = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
              b"x-amzn-RequestId: r\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = conn.makefile("rb")
        while True:
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            f.read(length)
            conn.sendall(canned)

    threading.Thread(target=answer, daemon=True).start()
    kms = _client(f"http://127.0.0.1:{listener.getsockname()[1]}", "kms")
    _latencies(kms, "k", 50)
    t = time.perf_counter()
    lat = _latencies(kms, "k", n)
    _report("boto3 alone (a canned answer, no simulator): the client's floor", lat,
            time.perf_counter() - t)


def throughput(url: str, n: int) -> None:
    kms = _client(url, "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _latencies(kms, key, 50)  # warm-up
    t = time.perf_counter()
    lat = _latencies(kms, key, n)
    _report("1 connection, boto3 DescribeKey", lat, time.perf_counter() - t)
    clients = [_client(url, "kms") for _ in range(8)]
    results: list[list[float]] = [[] for _ in clients]

    def run(i: int) -> None:
        results[i] = _latencies(clients[i], key, n // 4)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    _report("8 concurrent clients, boto3 DescribeKey", [x for r in results for x in r],
            time.perf_counter() - t)


def time_to_running(tmp: Path, speed: str) -> None:
    server = ServerProcess("--speed", speed, "--ephemeral", cwd=tmp)
    try:
        kms, ecs = _client(server.url, "kms"), _client(server.url, "ecs")
        arn = kms.create_key(Policy=json.dumps(seed_key_policy("111122223333", "web")))[
            "KeyMetadata"]["Arn"]
        ecs.create_cluster(clusterName="web", configuration={"managedStorageConfiguration": {
            "fargateEphemeralStorageKmsKeyId": arn}})
        ecs.register_task_definition(
            family="app", cpu="256", memory="512", networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}])
        t = time.perf_counter()
        task = ecs.run_task(cluster="web", taskDefinition="app", launchType="FARGATE",
                            networkConfiguration={"awsvpcConfiguration": {
                                "subnets": ["subnet-12345678"]}})["tasks"][0]["taskArn"]
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
        body = json.dumps({"KeyId": key}).encode()
        host = server.url.removeprefix("http://")
        request = AWSRequest("POST", server.url + "/", data=body, headers={
            "X-Amz-Target": "TrentService.DescribeKey",
            "Content-Type": "application/x-amz-json-1.1", "Host": host})
        SigV4Auth(Credentials(*DEFAULT_ROOT_KEY), "kms", "us-west-2").add_auth(request)
        raw = ("POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in
               request.headers.items()) + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        before = _rss(server.proc.pid)
        port = int(host.rsplit(":", 1)[1])
        per = n // 8

        def hammer(count: int = per) -> None:
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                f = s.makefile("rb")
                for _ in range(count):
                    s.sendall(raw)
                    assert b" 200 " in f.readline()
                    length = 0
                    while (line := f.readline()) != b"\r\n":
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    f.read(length)

        t = time.perf_counter()
        hammer(5000)
        wall = time.perf_counter() - t
        print(f"1 connection, signed DescribeKey replayed (no SDK cost): {5000 / wall:,.0f} "
              f"requests/s, {wall / 5000 * 1e3:.2f} ms each")
        t = time.perf_counter()
        threads = [threading.Thread(target=hammer) for _ in range(8)]
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
    ap.add_argument("--rss-requests", type=int, default=100_000)
    args = ap.parse_args()
    client_floor(args.requests)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server = ServerProcess("--ephemeral", cwd=tmp)
        try:
            throughput(server.url, args.requests)
        finally:
            server.stop()
        for speed in ("1", "60"):
            time_to_running(tmp, speed)
        rss(tmp, args.rss_requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
