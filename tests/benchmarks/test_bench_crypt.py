"""Throughput of the engines and the volume (pytest-benchmark; no timing asserts).

The suite runs with ``--benchmark-disable`` (each body runs once, as a test).  Measure with::

    python -m pytest tests/benchmarks/test_bench_crypt.py --benchmark-enable

Each result carries ``extra_info["MiB_per_s"]``.  For the ratio to ``openssl speed`` in the same
run, see ``tests/benchmarks/compare_openssl.py``.
"""

from __future__ import annotations

import os

import pytest

from simulator.crypt import CipherSpec, EncryptedVolume, get_engine, native_available

MiB = 1 << 20
BATCH = MiB
needs_native = pytest.mark.skipif(not native_available(), reason="native engine not built")

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
