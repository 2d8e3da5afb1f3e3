"""Fixtures for the harness tests: a tiny fake engine and specs that run in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.bench.datapath import ENGINE_NAMES, DataPath
from simulator.bench.spec import ExperimentSpec, parse_spec_text
from simulator.crypt import CipherSpec


class FakeEngine:
    """XOR 'cipher': fast, deterministic, and able to fail on a chosen call."""

    name = "fake"
    openssl_version = "none"

    def __init__(self, fail_on_call: int | None = None, exc: BaseException | None = None) -> None:
        self.calls = 0
        self.fail_on_call = fail_on_call
        self.exc = exc or KeyboardInterrupt()

    def _tick(self) -> None:
        self.calls += 1
        if self.fail_on_call is not None and self.calls >= self.fail_on_call:
            self.fail_on_call = None
            raise self.exc

    def describe(self) -> dict[str, str]:
        """Provenance, as every engine gives it."""
        return {"engine": self.name, "library": "XOR of the first 64 bytes (test fake)",
                "version": "0", "code_path": "Python bytes loop"}

    def threads_used(self, spec: Any, nbytes: int, threads: int) -> int:
        """Always one, as the real portable engine: the XOR runs on the calling thread
        whatever ``threads`` asks."""
        return 1

    def encrypt_sectors(self, spec: Any, key: Any, src: Any, dst: Any, first_sector: int,
                        metadata: Any = None, threads: int = 1) -> None:
        self._tick()
        x = 0 if spec.name == "null" else 0x5A
        dst[:] = bytes(b ^ x for b in bytes(src[:64])) + bytes(src[64:]) if x else src
        if metadata is not None:
            metadata[:] = b"\x01" * len(metadata)

    def decrypt_sectors(self, spec: Any, key: Any, src: Any, dst: Any, first_sector: int,
                        metadata: Any = None, threads: int = 1) -> None:
        self.encrypt_sectors(spec, key, src, dst, first_sector, None, threads)


class OldFakeEngine(FakeEngine):
    """A fake from before engines said how many threads a batch runs on (no threads_used):
    the harness takes the threads asked for."""

    threads_used = None  # type: ignore[assignment]


def fake_datapath(engine: FakeEngine | None = None) -> DataPath:
    """The real CipherSpec with the fake engine behind every engine name."""
    eng = engine or FakeEngine()

    def cipher_spec(name: str, key_bits: int, sector_size: int) -> CipherSpec:
        return CipherSpec.parse(name, key_bits=key_bits or None, sector_size=sector_size)

    return DataPath(cipher_spec=cipher_spec, get_engine=lambda _name: eng,
                    engine_problems=lambda: dict.fromkeys(ENGINE_NAMES))


TINY = """
name = "tiny"
kind = "throughput"
[measure]
warmup = 0.0
repetitions = 3
min_time = 0.001
ceiling = "none"
[grid]
cipher = [{{ name = "aes-xts-plain64", key_bits = 512 }}, "aes-gcm-random"]
sector_size = {sectors}
batch = "16k"
threads = {threads}
engine = "auto"
"""


def tiny_spec(tmp_path: Path, sectors: str = "[512, 4096]", threads: str = "1",
              extra: str = "") -> ExperimentSpec:
    """A throughput spec of a few cells that runs in milliseconds with the fake engine."""
    text = TINY.format(sectors=sectors, threads=threads) + extra
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return parse_spec_text(text, path=path)


@pytest.fixture
def fake() -> FakeEngine:
    """A fresh fake engine."""
    return FakeEngine()
