"""The data path's ratios (not its absolute speed), measured so that a busy machine spoils them
as little as it can: single-thread figures in process CPU time, the two sides of each ratio
interleaved and each the best of ``--rounds``.

    python tests/benchmarks/datapath_ratios.py [--rounds 9] [--tables 1,2,3]

Every table measures the IPP Crypto backend: without it (not installed, not x86-64,
``FARGATE_SIM_DISABLE_IPP=1``) the script says so in one line and exits 2.

It imports the checkout it lies in, so the same file copied into another checkout measures
that one (before/after on one sitting).  Figures:

1. IPP XTS and GCM at 512-byte sectors: the bound cipher (out of place, as a volume writes)
   against IPP's own per-sector loop (``ipp_ceiling``, one tweak or IV), 1 MiB batches, in
   place (1 MiB of traffic) and out of place like the bound cipher (2 MiB, past this Xeon's
   1.25 MiB L2).
2. ``writev`` of 64 scattered 4 KiB pieces against one 256 KiB ``write``, on a 4 GiB volume
   written once: the same 64 pieces each call against one place (both hot in the caches:
   the bookkeeping alone), and 64 of 65,536 random pieces each call against 256 KiB at
   random places (both cold).
3. Two threads against one at 1 MiB and 64 KiB batches (wall clock: the best of many short
   rounds, i.e. one where the other core was free), beside the machine's own ceiling: IPP's
   loop on two threads with no hand-off, and the CPU time the two-thread calls spend against
   one.  'steady' is the best single call that follows another of its kind at once: the
   hand-off alone, without the pool's wake-up at a run's first call (10-35 us on this VM)
   and without a whole round needing the other core free.
"""

# The closures below run at once (best() calls them), so loop variables are bound in time.
# ruff: noqa: B023

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simulator.crypt import CipherSpec, EncryptedVolume, engine_unavailable_reason, get_engine

MiB, GiB = 1 << 20, 1 << 30


def best(rounds: int, sides: dict[str, Callable[[], object]], clock=time.process_time):
    """Seconds per call of each side: the best of ``rounds`` interleaved rounds."""
    out = dict.fromkeys(sides, float("inf"))
    for _ in range(rounds):
        for name, fn in sides.items():
            t0 = clock()
            fn()
            out[name] = min(out[name], clock() - t0)
    return out


def sectors_512(rounds: int) -> None:
    from simulator.crypt.engines import _native

    eng = get_engine("native-ipp")
    print("== IPP at 512-byte sectors, 1 MiB: bound (out of place, as a volume writes) / IPP's"
          " own loop in place and out of place, CPU time")
    for text, alg in (("aes-xts-plain64:512", 1), ("aes-gcm-random:256", 2)):
        spec = CipherSpec.parse(text, sector_size=512)
        key = os.urandom(spec.key_bytes)
        bound = eng.bind(spec, key)
        src, dst = bytearray(os.urandom(MiB)), bytearray(MiB)
        meta = bytearray(MiB // 512 * 28) if spec.is_aead else None
        n = 50
        t = best(rounds, {
            "own": lambda: _native.ipp_ceiling(alg, 1, key, src, 512, n),
            "own out": lambda: _native.ipp_ceiling(alg, 1, key, src, 512, n, dst),
            "bound": lambda: [bound.encrypt(src, dst, 0, meta) for _ in range(n)],
        })
        rate = {k: n * MiB / v / 1e9 for k, v in t.items()}
        print(f"{text:<24} own {rate['own']:6.2f} GB/s  own out of place {rate['own out']:6.2f}"
              f" GB/s  bound {rate['bound']:6.2f} GB/s  ratio {t['own'] / t['bound']:.2f}"
              f" (out of place {t['own out'] / t['bound']:.2f})")


def vectored(rounds: int) -> None:
    print("== writev of 64 scattered 4 KiB pieces / one 256 KiB write, 4 GiB volume, CPU time")
    for text in ("aes-xts-plain64:512", "aes-gcm-random:256"):
        spec = CipherSpec.parse(text)
        vol = EncryptedVolume(4 * GiB, spec, os.urandom(spec.key_bytes), engine="native-ipp")
        rng = random.Random(1)
        offsets = [rng.randrange(4 * GiB // 4096) * 4096 for _ in range(1 << 16)]
        data, big = os.urandom(4096), os.urandom(256 << 10)
        for off in offsets:
            vol.write(off, data)
        groups = [[(off, data) for off in offsets[i * 64 : (i + 1) * 64]] for i in range(1024)]
        spots = [rng.randrange(4 * GiB >> 18) << 18 for _ in range(1024)]
        for off in spots:
            vol.write(off, big)
        reps = 256
        t = best(rounds, {
            "writev hot": lambda: [vol.writev(groups[0]) for _ in range(reps)],
            "256K hot": lambda: [vol.write(GiB, big) for _ in range(reps)],
            "writev cold": lambda: [vol.writev(groups[i]) for i in range(reps)],
            "256K cold": lambda: [vol.write(spots[i], big) for i in range(reps)],
        })
        print(f"{text:<24} hot: writev {t['writev hot'] / reps * 1e6:6.1f} us, 256K "
              f"{t['256K hot'] / reps * 1e6:6.1f} us, ratio {t['256K hot'] / t['writev hot']:.2f}"
              f"   cold: writev {t['writev cold'] / reps * 1e6:6.1f} us, 256K "
              f"{t['256K cold'] / reps * 1e6:6.1f} us, ratio "
              f"{t['256K cold'] / t['writev cold']:.2f}")
        vol.close()


class _OwnLoop:
    """IPP's own per-sector loop (``ipp_ceiling``, the GIL released inside) on one buffer per
    thread, in threads that persist across rounds: what the machine's cores do with no
    hand-off.  A round's time runs from the first thread's start of its loop to the last
    one's end (so loops that did not overlap count as such; starting the threads does not)."""

    def __init__(self, alg: int, key: bytes, bufs: list[bytearray], passes: int) -> None:
        from simulator.crypt.engines import _native

        self._run = lambda buf: _native.ipp_ceiling(alg, 1, key, buf, 4096, passes)
        self.bufs = bufs
        self.spans = [(0.0, 0.0)] * len(bufs)
        self._go = threading.Barrier(len(bufs) + 1)
        self._done = threading.Barrier(len(bufs) + 1)
        self._stop = False
        for i in range(len(bufs)):
            threading.Thread(target=self._work, args=(i,), daemon=True).start()

    def _work(self, i: int) -> None:
        while True:
            self._go.wait()
            if self._stop:
                return
            start = time.perf_counter()
            self._run(self.bufs[i])
            self.spans[i] = (start, time.perf_counter())
            self._done.wait()

    def round(self) -> float:
        """Seconds of one round on every thread at once."""
        self._go.wait()
        self._done.wait()
        return max(end for _, end in self.spans) - min(start for start, _ in self.spans)

    def close(self) -> None:
        self._stop = True
        self._go.wait()


def threads(rounds: int) -> None:
    eng = get_engine("native-ipp")
    print("== two threads / one, 4 KiB sectors, wall clock, best of many short rounds (the ones"
          " where the other core was free); 'machine': IPP's own loop on 1 MiB against two"
          " threads on its halves, no hand-off (the ceiling); 'cpu': process CPU time of one"
          " thread / two (1.00: the split costs no extra work; a worker's spin after a round"
          " is charged to the next); 'steady': best single call right after another")
    for text, alg in (("aes-xts-plain64:512", 1), ("aes-gcm-random:256", 2)):
        spec = CipherSpec.parse(text)
        key = os.urandom(spec.key_bytes)
        passes = 16
        loops = {"1": _OwnLoop(alg, key, [bytearray(os.urandom(MiB))], passes),
                 "2": _OwnLoop(alg, key, [bytearray(os.urandom(MiB // 2)) for _ in range(2)],
                               passes)}
        own = dict.fromkeys(loops, float("inf"))
        for _ in range(15 * rounds):
            for name, loop in loops.items():
                own[name] = min(own[name], loop.round())
        for loop in loops.values():
            loop.close()
        print(f"{text:<24} machine  1 thread {passes * MiB / own['1'] / 1e9:6.2f} GB/s"
              f"  2 threads {passes * MiB / own['2'] / 1e9:6.2f} GB/s  ratio "
              f"{own['1'] / own['2']:.2f}")
        for batch in (MiB, 64 << 10):
            one, two = eng.bind(spec, key, 1), eng.bind(spec, key, 2)
            src, dst = bytearray(os.urandom(batch)), bytearray(batch)
            meta = bytearray(batch // 4096 * 28) if spec.is_aead else None
            n = 16 * MiB // batch
            sides = {
                "1": lambda b=one: [b.encrypt(src, dst, 0, meta) for _ in range(n)],
                "2": lambda b=two: [b.encrypt(src, dst, 0, meta) for _ in range(n)],
            }
            t = best(15 * rounds, sides, clock=time.perf_counter)
            cpu = best(rounds, sides)
            steady = dict.fromkeys(sides, float("inf"))
            for _ in range(15 * rounds):
                for name, b in (("1", one), ("2", two)):
                    b.encrypt(src, dst, 0, meta)  # a run's first call wakes the pool
                    for _ in range(3):
                        t0 = time.perf_counter()
                        b.encrypt(src, dst, 0, meta)
                        steady[name] = min(steady[name], time.perf_counter() - t0)
            print(f"{text:<24} {batch >> 10:5d}K  1 thread {n * batch / t['1'] / 1e9:6.2f} GB/s"
                  f"  2 threads {n * batch / t['2'] / 1e9:6.2f} GB/s  ratio "
                  f"{t['1'] / t['2']:.2f}  cpu {cpu['1'] / cpu['2']:.2f}"
                  f"  steady {steady['1'] / steady['2']:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Print the three tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds, best kept (9)")
    ap.add_argument("--tables", default="1,2,3", help="which tables, e.g. 2 or 1,3 (all)")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    why = engine_unavailable_reason("native-ipp")
    if why is not None:  # every table measures IPP Crypto: nothing can run (a note, no trace)
        print(f"native-ipp skipped: {why}; every table here measures it, nothing to measure")
        return 2
    tables = {int(t) for t in args.tables.split(",")}
    for number, table in ((1, sectors_512), (2, vectored), (3, threads)):
        if number in tables:
            table(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
