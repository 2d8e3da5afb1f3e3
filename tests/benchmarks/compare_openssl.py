"""Native engine vs ``openssl speed`` on this machine, in one run, with the ratios.

    python tests/benchmarks/compare_openssl.py [--seconds 3] [--cipher aes-xts-plain64:512 ...]

For each cipher it runs ``openssl speed [-decrypt] -evp NAME -bytes 4096 -seconds N -mr`` (the
ceiling: one data unit per EVP call, no IV reset), the native engine's own copy of that loop,
the native per-sector path over 1 MiB batches with 1 and 2 threads, and EncryptedVolume
sequential 1 MiB writes/reads, and prints MB/s (10^6 bytes/s, as openssl prints) and ratios:

* engine / openssl speed (goals: XTS >= 0.90, GCM >= 0.85, both directions)
* 2 threads / 1 thread (goal >= 1.7)
* volume / engine (goal >= 0.75)

``compare_backends.py`` beside it prints the figures per backend (IPP Crypto, OpenSSL)
against each library's own loop.  Other processes share the cores: every figure is the best
of ``--repeat`` runs (interference only ever slows a run down), and it is worth running the
script a couple of times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simulator.crypt import (
    CipherSpec,
    EncryptedVolume,
    get_engine,
    native_available,
    native_unavailable_reason,
    time_engine,
)

MiB = 1 << 20


def openssl_speed(name: str, unit: int, seconds: int, decrypt: bool) -> float | None:
    """Bytes/s from ``openssl speed -mr`` (its ``+F:`` line), or None without the binary."""
    binary = shutil.which("openssl")
    if binary is None:
        return None
    cmd = [binary, "speed", *(["-decrypt"] if decrypt else []), "-evp", name,
           "-bytes", str(unit), "-seconds", str(seconds), "-mr"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("+F:"):
            return float(line.split(":")[3])
    raise RuntimeError(f"no +F line from: {' '.join(cmd)}")


def volume_rate(spec: CipherSpec, seconds: float, read: bool) -> float:
    """Bytes/s of sequential 1 MiB writes (or reads) over a 64 MiB region of a volume."""
    vol = EncryptedVolume(1 << 30, spec, os.urandom(spec.key_bytes), engine="native")
    data = os.urandom(MiB)
    for i in range(64):
        vol.write(i * MiB, data)
    done, i, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if read:
            vol.read((i % 64) * MiB, MiB)
        else:
            vol.write((i % 64) * MiB, data)
        done += MiB
        i += 1
    return done / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=3, help="per openssl speed run (default 3)")
    ap.add_argument("--cipher", action="append", default=None,
                    help="cipher spec (repeatable); default XTS-512, GCM-256, ChaCha20-Poly1305")
    ap.add_argument("--unit", type=int, default=4096, help="data unit / sector size")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, best kept (3)")
    args = ap.parse_args(argv)
    if not native_available():
        print(f"native engine unavailable: {native_unavailable_reason()}")
        return 1
    native = get_engine("native")
    ciphers = args.cipher or ["aes-xts-plain64:512", "aes-gcm-random:256",
                              "chacha20-poly1305-random:256"]
    binary = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
    print(f"native engine: {native.openssl_version}; openssl binary: {binary.strip()}")
    print(f"{'cipher':<34}{'op':<8}{'speed':>8}{'ceil':>8}{'1 thr':>8}{'2 thr':>8}{'volume':>8}"
          f"{'1t/speed':>9}{'2t/1t':>7}{'vol/1t':>7}   (MB/s, best of {args.repeat})")
    secs = float(args.seconds)
    for text in ciphers:
        spec = CipherSpec.parse(text, sector_size=args.unit)
        for op in ("encrypt", "decrypt"):
            dec = op == "decrypt"
            best = dict.fromkeys(("speed", "ceil", "one", "two", "vol"), 0.0)
            for _ in range(args.repeat):  # interleaved, so a busy spell hits all alike
                s = openssl_speed(spec.openssl_name, args.unit, args.seconds, dec) or 0.0
                figures = {
                    "speed": s,
                    "ceil": native.ceiling(spec, args.unit, seconds=min(secs, 1.0), decrypt=dec),
                    "one": time_engine(native, spec, MiB, secs, decrypt=dec, threads=1),
                    "two": time_engine(native, spec, MiB, secs, decrypt=dec, threads=2),
                    "vol": volume_rate(spec, secs, read=dec),
                }
                best = {k: max(best[k], v) for k, v in figures.items()}
            speed, one, two, vol = best["speed"], best["one"], best["two"], best["vol"]
            ratio = f"{one / speed:9.2f}" if speed else f"{'n/a':>9}"
            print(f"{spec!s:<34}{op:<8}{speed / 1e6:8.0f}{best['ceil'] / 1e6:8.0f}"
                  f"{one / 1e6:8.0f}{two / 1e6:8.0f}{vol / 1e6:8.0f}{ratio}"
                  f"{two / one:7.2f}{vol / one:7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
