"""EncryptedVolume vectored I/O on this machine in thread CPU time (issue 15's writev figure).

    python tests/benchmarks/vectored_io.py [--engines native-ipp,native-openssl]
        [--ciphers aes-xts-plain64:512,aes-gcm-random:256] [--repeat 5] [--sizes 16,64,4096]

An engine this machine lacks (no IPP Crypto, ``FARGATE_SIM_DISABLE_IPP=1``) is skipped with
one line naming it and why; the exit status is 0 when anything ran, 2 when nothing could.

compare_backends.py table 4 measures the same requests in wall-clock time, which other work on
a shared machine distorts; this times each call in the calling thread's CPU time (a stall on
memory is CPU time, a preemption is not) and takes the best pass of ``--repeat``, so A/B runs of
two builds can be alternated on a busy machine.  One thread, 4 KiB pieces, a 4 GiB volume
whose 65,536 random 4 KiB pieces and 1,024 random 256 KiB places were written once; each pass
cycles through 1,024 requests, GB/s (10^9 bytes/s):

- writev: 64 scattered 4 KiB pieces; w256 hot: one 256 KiB write to one place (in the
  caches); w256 cold: to the scattered 256 KiB places (the memory the scattered pieces pay too);
- adjacent: 64 adjacent 4 KiB pieces to the hot place (the per-piece cost alone);
- same 64: one request of 64 scattered 4 KiB pieces, one place written twice (the request
  is cut there), written again on every call, as a benchmark of one request does: the store
  is large, so the first pass streams its pieces past the caches, and later passes find
  their pages recently written and write them in place, in the caches;
- writev 4M: 64 scattered 4 KiB pieces of a 4 MiB volume (scattered, but in the caches), and
  its ratio to that volume's own hot 256 KiB write;
- readv / readintov: the scattered pieces read back (new bytes objects / reused buffers);
  r256 cold: ``readinto`` of the scattered 256 KiB places.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simulator.crypt import (
    CipherSpec,
    EncryptedVolume,
    engine_unavailable_reason,
)

GiB = 1 << 30
PIECE, PIECES, BIG = 4096, 64, 256 << 10


def cpu_rate(call: Callable[[int], object], repeat: int, calls: int = 1024) -> float:
    """Best bytes/s of ``repeat`` passes of ``calls`` calls, each moving 256 KiB, timed per
    call in the thread's CPU time (the argument is the call's index)."""
    clock = time.thread_time_ns
    best = 0.0
    for _ in range(repeat):
        spent = 0
        for i in range(calls):
            t0 = clock()
            call(i)
            spent += clock() - t0
        best = max(best, calls * BIG / spent * 1e9)
    return best


def measure(engine: str, text: str, repeat: int) -> dict[str, float]:
    spec = CipherSpec.parse(text)
    vol = EncryptedVolume(4 * GiB, spec, os.urandom(spec.key_bytes), engine=engine)
    rng = random.Random(1)
    offsets = [rng.randrange(4 * GiB // PIECE) * PIECE for _ in range(1 << 16)]
    data, big = os.urandom(PIECE), os.urandom(BIG)
    for off in offsets:
        vol.write(off, data)
    spots = [rng.randrange(4 * GiB // BIG) * BIG for _ in range(1024)]
    for off in spots:
        vol.write(off, big)
    vol.write(GiB, big)
    writes = [[(off, data) for off in offsets[i * PIECES : (i + 1) * PIECES]] for i in range(1024)]
    asks = [[(off, PIECE) for off, _ in req] for req in writes]
    bufs = [bytearray(PIECE) for _ in range(PIECES)]
    intos = [[(off, b) for (off, _), b in zip(req, bufs, strict=True)] for req in writes]
    adjacent = [(GiB + k * PIECE, data) for k in range(PIECES)]
    same = [*writes[0][: PIECES - 1], writes[0][PIECES // 2]]
    out = bytearray(BIG)
    got = {
        "writev": cpu_rate(lambda i: vol.writev(writes[i]), repeat),
        "w256 hot": cpu_rate(lambda i: vol.write(GiB, big), repeat),
        "w256 cold": cpu_rate(lambda i: vol.write(spots[i], big), repeat),
        "adjacent": cpu_rate(lambda i: vol.writev(adjacent), repeat),
        "same 64": cpu_rate(lambda i: vol.writev(same), repeat),
        "readv": cpu_rate(lambda i: vol.readv(asks[i]), repeat),
        "readintov": cpu_rate(lambda i: vol.readintov(intos[i]), repeat),
        "r256 cold": cpu_rate(lambda i: vol.readinto(spots[i], out), repeat),
    }
    vol.close()
    small = EncryptedVolume(4 << 20, spec, os.urandom(spec.key_bytes), engine=engine)
    small.write(0, bytes(4 << 20))
    sectors = (4 << 20) // PIECE
    near = [[(k * PIECE, data) for k in rng.sample(range(sectors), PIECES)] for _ in range(1024)]
    got["writev 4M"] = cpu_rate(lambda i: small.writev(near[i]), repeat)
    got["w256 4M"] = cpu_rate(lambda i: small.write(0, big), repeat)
    small.close()
    return got


def by_size(engine: str, text: str, mib: int, repeat: int) -> tuple[float, float, float]:
    """(writev, hot 256 KiB write, 256 KiB write at random places) bytes/s in a store of
    ``mib`` MiB written whole once: where the scattered pieces leave the caches."""
    spec = CipherSpec.parse(text)
    size = mib << 20
    vol = EncryptedVolume(size, spec, os.urandom(spec.key_bytes), engine=engine)
    big, data = os.urandom(BIG), os.urandom(PIECE)
    for off in range(0, size, BIG):
        vol.write(off, big)
    rng = random.Random(1)
    reqs = [[(k * PIECE, data) for k in rng.sample(range(size // PIECE), PIECES)]
            for _ in range(1024)]
    spots = [rng.randrange(size // BIG) * BIG for _ in range(1024)]
    got = (cpu_rate(lambda i: vol.writev(reqs[i]), repeat),
           cpu_rate(lambda i: vol.write(0, big), repeat),
           cpu_rate(lambda i: vol.write(spots[i], big), repeat))
    vol.close()
    return got


def runnable(names: list[str]) -> list[str]:
    """The engines of ``names`` that can run here; one line for each that cannot, naming it
    and why (no IPP Crypto, the native extension disabled: a note, never a traceback)."""
    out = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        why = engine_unavailable_reason(name)
        if why is None:
            out.append(name)
        else:
            print(f"{name} skipped: {why}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="native-ipp,native-openssl",
                    help="comma-separated; one this machine lacks is skipped, and said")
    ap.add_argument("--ciphers", default="aes-xts-plain64:512,aes-gcm-random:256")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="",
                    help="instead: writev against one 256 KiB write per store size, e.g. "
                         "16,64,256,1024,4096 (MiB, each written whole once)")
    args = ap.parse_args(argv)
    print(f"load average: {os.getloadavg()[0]:.2f}; GB/s in thread CPU time, best of "
          f"{args.repeat}")
    engines = runnable(args.engines.split(","))
    if not engines:
        print("nothing to measure: no engine asked for can run here")
        return 2
    if args.sizes:
        print(f"{'backend':<16}{'cipher':<22}{'store MiB':>10}{'writev':>10}{'w256 hot':>10}"
              f"{'ratio':>8}{'w256 rnd':>10}{'ratio':>8}")
        for engine in engines:
            for text in args.ciphers.split(","):
                for mib in (int(m) for m in args.sizes.split(",")):
                    wv, hot, rnd = by_size(engine, text, mib, args.repeat)
                    print(f"{engine:<16}{text:<22}{mib:10d}{wv / 1e9:10.2f}{hot / 1e9:10.2f}"
                          f"{wv / hot:8.2f}{rnd / 1e9:10.2f}{wv / rnd:8.2f}", flush=True)
        return 0
    head = ("writev", "w256 hot", "ratio", "w256 cold", "ratio", "adjacent", "ratio", "same 64",
            "ratio", "readv",
            "readintov", "r256 cold", "ratio", "writev 4M", "ratio")
    print(f"{'backend':<16}{'cipher':<22}" + "".join(f"{h:>10}" for h in head))
    for engine in engines:
        for text in args.ciphers.split(","):
            g = measure(engine, text, args.repeat)
            cols = (g["writev"] / 1e9, g["w256 hot"] / 1e9, g["writev"] / g["w256 hot"],
                    g["w256 cold"] / 1e9, g["writev"] / g["w256 cold"], g["adjacent"] / 1e9,
                    g["adjacent"] / g["w256 hot"], g["same 64"] / 1e9,
                    g["same 64"] / g["w256 hot"], g["readv"] / 1e9, g["readintov"] / 1e9,
                    g["r256 cold"] / 1e9, g["readv"] / g["r256 cold"], g["writev 4M"] / 1e9,
                    g["writev 4M"] / g["w256 4M"])
            print(f"{engine:<16}{text:<22}" + "".join(f"{c:10.2f}" for c in cols), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
