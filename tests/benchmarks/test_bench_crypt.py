"""Throughput of the engines and the volume (pytest-benchmark; no timing asserts).

The suite runs with ``--benchmark-disable`` (each body runs once, as a test).  Measure with::

    python -m pytest tests/benchmarks/test_bench_crypt.py --benchmark-enable

Each result carries ``extra_info["MiB_per_s"]`` and the backend's ``describe()``.  For the
tables with ratios to each library's own loop in the same run, see
``tests/benchmarks/compare_backends.py`` (``compare_openssl.py`` for ``openssl speed``).
"""

from __future__ import annotations

import os
import random

import pytest

from simulator.crypt import (
    CipherSpec,
    EncryptedVolume,
    available_engines,
    get_engine,
    native_available,
)

MiB = 1 << 20
BATCH = MiB
needs_native = pytest.mark.skipif(not native_available(), reason="native engine not built")
NATIVE = [n for n in available_engines() if n.startswith("native-")] or ["native-openssl"]

SPECS = {
    "xts512": "aes-xts-plain64:512:4096",
    "gcm256": "aes-gcm-random:256:4096",
    "chacha": "chacha20-poly1305-random:256:4096",
}


def _record(benchmark, nbytes: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None and stats.stats.mean:
        benchmark.extra_info["MiB_per_s"] = round(nbytes / MiB / stats.stats.mean, 1)


def _setup(spec_text: str):
    spec = CipherSpec.parse(spec_text)
    key = os.urandom(spec.key_bytes)
    plain = bytearray(os.urandom(BATCH))
    cipher = bytearray(BATCH)
    n = BATCH // spec.sector_size
    meta = bytearray(n * spec.metadata_size) if spec.is_aead else None
    return spec, key, plain, cipher, meta


def _engine_case(benchmark, engine_name: str, spec_text: str, op: str, threads: int) -> None:
    engine = get_engine(engine_name)
    spec, key, plain, cipher, meta = _setup(spec_text)
    engine.encrypt_sectors(spec, key, plain, cipher, 0, meta, threads)
    out = bytearray(BATCH)
    if op == "encrypt":
        benchmark(engine.encrypt_sectors, spec, key, plain, out, 0, meta, threads)
    else:
        benchmark(engine.decrypt_sectors, spec, key, cipher, out, 0, meta, threads)
        assert out == plain
    benchmark.extra_info.update(engine=engine.name, openssl=engine.openssl_version)
    _record(benchmark, BATCH)


@needs_native
@pytest.mark.parametrize("op", ["encrypt", "decrypt"])
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256", "chacha"])
@pytest.mark.parametrize("threads", [1, 2])
def test_native_1mib_batches(benchmark, spec_key, op, threads):
    """Native engine, 4 KiB sectors, 1 MiB batches (the per-sector EVP loop in C)."""
    benchmark.group = f"engine-{spec_key}-{op}"
    _engine_case(benchmark, "native", SPECS[spec_key], op, threads)


@pytest.mark.parametrize("op", ["encrypt", "decrypt"])
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
def test_cryptography_1mib_batches(benchmark, spec_key, op):
    """The portable engine beside the native figures (same group)."""
    benchmark.group = f"engine-{spec_key}-{op}"
    _engine_case(benchmark, "cryptography", SPECS[spec_key], op, 1)


@pytest.mark.parametrize("engine_name", ["native", "cryptography"])
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
@pytest.mark.parametrize("op", ["write", "read"])
def test_volume_sequential_1mib(benchmark, engine_name, spec_key, op):
    """EncryptedVolume sequential 1 MiB requests over a 64 MiB region (steady state: the
    chunks exist; the first pass that allocates them is not timed)."""
    if engine_name == "native" and not native_available():
        pytest.skip("native engine not built")
    spec = CipherSpec.parse(SPECS[spec_key])
    vol = EncryptedVolume(1 << 30, spec, os.urandom(spec.key_bytes), engine=engine_name)
    data = os.urandom(MiB)
    region = 64
    for i in range(region):
        vol.write(i * MiB, data)
    pos = [0]

    def write() -> None:
        vol.write(pos[0] * MiB, data)
        pos[0] = (pos[0] + 1) % region

    def read() -> None:
        vol.read(pos[0] * MiB, MiB)
        pos[0] = (pos[0] + 1) % region

    benchmark.group = f"volume-{spec_key}-{op}"
    benchmark(write if op == "write" else read)
    benchmark.extra_info.update(engine=engine_name)
    _record(benchmark, MiB)
    assert vol.read(5 * MiB, MiB) == data


# ---------------------------------------------------------------- per backend, bound cipher


def _bound_case(benchmark, backend: str, spec: CipherSpec, op: str, batch: int,
                threads: int = 1) -> None:
    if backend not in available_engines():
        pytest.skip(f"{backend} unavailable here")
    engine = get_engine(backend)
    if not engine.supports(spec):
        pytest.skip(f"{backend} does not run {spec.name}")
    cipher = engine.bind(spec, os.urandom(spec.key_bytes), threads)
    src, dst = bytearray(os.urandom(batch)), bytearray(batch)
    meta = bytearray(batch // spec.sector_size * 28) if spec.is_aead else None
    cipher.encrypt(src, dst, 0, meta)
    back = bytearray(batch)
    if op == "encrypt":
        benchmark(cipher.encrypt, src, bytearray(batch), 0, meta)
    else:
        benchmark(cipher.decrypt, dst, back, 0, meta)
        assert back == src
    benchmark.extra_info.update(get_engine(backend).describe())
    _record(benchmark, batch)


@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("op", ["encrypt", "decrypt"])
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
@pytest.mark.parametrize("sector", [4096, 512])
def test_bound_cipher_1mib(benchmark, backend, spec_key, op, sector):
    """The bound sector cipher, one thread, 1 MiB batches (XTS >= 18, GCM >= 14 GB/s at 4 KiB
    sectors on a VAES machine with IPP)."""
    benchmark.group = f"bound-{spec_key}-{sector}-{op}"
    spec = CipherSpec.parse(SPECS[spec_key].rsplit(":", 1)[0], sector_size=sector)
    _bound_case(benchmark, backend, spec, op, MiB)


@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
@pytest.mark.parametrize("batch", [MiB, 64 << 10], ids=["1MiB", "64KiB"])
@pytest.mark.parametrize("threads", [1, 2])
def test_bound_cipher_threads(benchmark, backend, spec_key, batch, threads):
    """Two threads against one (>= 1.8x at 1 MiB, never below 1.0x at 64 KiB)."""
    benchmark.group = f"threads-{spec_key}-{batch >> 10}K"
    _bound_case(benchmark, backend, CipherSpec.parse(SPECS[spec_key]), "encrypt", batch,
                threads)


@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
def test_bound_cipher_one_sector(benchmark, backend, spec_key):
    """Fixed cost of one call on one 4 KiB sector (<= 1.5 us above the cipher's own time)."""
    benchmark.group = f"one-sector-{spec_key}"
    _bound_case(benchmark, backend, CipherSpec.parse(SPECS[spec_key]), "encrypt", 4096)


@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
def test_ceiling_own_loop(benchmark, backend, spec_key):
    """The library's own loop (engine.ceiling over 1 MiB of 4 KiB units), the reference the
    bound cipher is compared with."""
    if backend not in available_engines():
        pytest.skip(f"{backend} unavailable here")
    engine = get_engine(backend)
    benchmark.group = f"bound-{spec_key}-4096-encrypt"
    bps = benchmark.pedantic(engine.ceiling, args=(SPECS[spec_key], 4096, 0.2, False, MiB),
                             rounds=3)
    benchmark.extra_info.update(engine.describe(), bytes_per_s=round(bps))


@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
def test_volume_random_4k_writes(benchmark, backend, spec_key):
    """Random 4 KiB writes into a 4 GiB region already written once (>= 300k IOPS)."""
    if backend not in available_engines():
        pytest.skip(f"{backend} unavailable here")
    spec = CipherSpec.parse(SPECS[spec_key])
    vol = EncryptedVolume(4 << 30, spec, os.urandom(spec.key_bytes), engine=backend)
    rng = random.Random(3)
    offsets = [rng.randrange((4 << 30) // 4096) * 4096 for _ in range(4096)]
    data = os.urandom(4096)
    for off in offsets:
        vol.write(off, data)
    pos = [0]

    def write() -> None:
        pos[0] = (pos[0] + 1) & 4095
        vol.write(offsets[pos[0]], data)

    benchmark.group = f"volume-random-4k-{spec_key}"
    benchmark(write)
    benchmark.extra_info.update(engine=vol.engine)
    assert vol.read(offsets[7], 4096) == data


@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("spec_key", ["xts512", "gcm256"])
@pytest.mark.parametrize("shape", ["writev-64x4k", "write-256k"])
def test_volume_writev_vs_contiguous(benchmark, backend, spec_key, shape):
    """writev of 64 scattered 4 KiB pieces against one contiguous 256 KiB write (>= 0.8x)."""
    if backend not in available_engines():
        pytest.skip(f"{backend} unavailable here")
    spec = CipherSpec.parse(SPECS[spec_key])
    vol = EncryptedVolume(4 << 30, spec, os.urandom(spec.key_bytes), engine=backend)
    rng = random.Random(4)
    data = os.urandom(4096)
    pieces = [(rng.randrange((4 << 30) // 4096) * 4096, data) for _ in range(64)]
    big = os.urandom(256 << 10)
    vol.writev(pieces)
    vol.write(0, big)
    benchmark.group = f"volume-writev-{spec_key}"
    if shape == "write-256k":
        benchmark(vol.write, 0, big)
    else:
        benchmark(vol.writev, pieces)
    _record(benchmark, 256 << 10)
