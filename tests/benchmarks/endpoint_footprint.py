"""Instructions and cache lines of one boto3-signed DescribeKey, counted by callgrind (any load).

    python tests/benchmarks/endpoint_footprint.py [--requests 20] [--base CHECKOUT]

Why: on these VMs a server thread that sleeps between requests (as it does on one boto3
connection: ~0.6 ms of client work per call) wakes with its core's caches cold, and then
costs about three times its back-to-back CPU time; the extra is roughly one L3 (or memory)
access per distinct cache line the request touches. Wall-clock figures of that are noisy on
a shared machine; these counts are not. Each checkout's endpoint (in process, SigV4 on,
quotas on, wall time stepped 0.8 ms a request) answers a replayed signed DescribeKey from
the HTTP reader to the response bytes (no socket); before each counted request a 16 MiB
sweep evicts the simulated caches, so its last-level misses are the lines it touches.
Printed per request: instructions (Ir), first-level instruction misses, and last-level
misses of code and data (the footprint). Needs ``valgrind``.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHES = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64"]


def _inner(requests: int) -> None:
    """Under callgrind: warm up, then ``requests`` requests each after a cache sweep, each
    run inside ``functools.reduce`` (the only code collected)."""
    import gc
    from datetime import UTC, datetime

    import numpy as np
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from simulator.api import DEFAULT_ROOT_KEY, Authenticator, wallclock
    from simulator.api import server as http
    from simulator.api.endpoint import Endpoint
    from simulator.world import Simulation

    class Wall:  # wall time as at ~1,250 boto3 calls/s, whatever valgrind's pace
        now = time.monotonic()

        @classmethod
        def monotonic(cls) -> float:
            return cls.now

    wallclock.time = Wall  # type: ignore[assignment]
    sim = Simulation(start_time=datetime.now(UTC).replace(microsecond=0))
    endpoint = Endpoint(sim, auth=Authenticator(DEFAULT_ROOT_KEY))

    def signed(target: str, body: bytes) -> bytes:
        request = AWSRequest("POST", "http://127.0.0.1:4566/", data=body, headers={
            "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
            "Host": "127.0.0.1:4566", "User-Agent": "Boto3/1.35.0 md/Botocore#1.35.0"})
        SigV4Auth(Credentials(*DEFAULT_ROOT_KEY), "kms", "us-west-2").add_auth(request)
        return ("POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in
                                                request.headers.items())
                + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def one(raw: bytes) -> bytes:
        Wall.now += 0.0008
        rfile = io.BufferedReader(io.BytesIO(raw))
        method, target, _ = rfile.readline().decode("iso-8859-1").split()
        headers = http.read_headers(rfile)
        body = http.read_body(rfile, headers)
        return http.response_bytes(endpoint.handle(method, target, "", headers, body), False)

    created = one(signed("TrentService.CreateKey", b"{}")).partition(b"\r\n\r\n")[2]
    key = json.loads(created)["KeyMetadata"]["KeyId"]
    raw = signed("TrentService.DescribeKey", json.dumps({"KeyId": key}).encode())
    assert b" 200 " in one(raw)
    gc.collect()
    gc.freeze()
    for _ in range(100):
        one(raw)
    sweep = np.zeros((16 << 20) // 8, dtype=np.int64)
    for _ in range(requests):
        np.add(sweep, 1, out=sweep)
        functools.reduce(lambda a, b: one(raw), [0, 0])


def _counts(out: Path, requests: int) -> dict[str, float]:
    events: list[str] = []
    for line in out.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            return {e: int(v) / requests for e, v in zip(events, line.split()[1:],
                                                          strict=False)}
    raise RuntimeError(f"no totals in {out}")


def measure(checkout: str, requests: int) -> dict[str, float]:
    """Per-request counts of ``checkout``'s endpoint, under callgrind."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--cache-sim=yes", *CACHES,
             "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
             sys.executable, __file__, "--inner", "--requests", str(requests)],
            check=True, cwd=d, capture_output=True,
            env={**os.environ, "PYTHONPATH": checkout})
        return _counts(out, requests)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--base", help="another checkout, counted the same way")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        _inner(args.requests)
        return 0
    checkouts = {"this": str(ROOT)} | ({"base": args.base} if args.base else {})
    for name, checkout in checkouts.items():
        c = measure(checkout, args.requests)
        print(f"{name:5} DescribeKey: {c['Ir']:9,.0f} instructions, {c['I1mr']:6,.0f} I1 misses, "
              f"last-level lines {c['ILmr']:5,.0f} code + {c['DLmr'] + c['DLmw']:5,.0f} data "
              f"({checkout})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
