"""Ceilings: openssl speed's output and command, every source sampled, the fastest kept."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest

from simulator.bench import ceiling, run_experiment
from simulator.bench.ceiling import (
    OPENSSL_EVP_NAMES,
    Source,
    aggregate,
    cryptography_loop,
    in_threads,
    parse_speed_mr,
    sample_round,
    speed_command,
)
from simulator.bench.runners.throughput import ThroughputRunner
from simulator.bench.store import RunStore
from tests.harness.conftest import fake_datapath, tiny_spec

MR = """+DT:AES-256-XTS:1:4096
+R:1668362:AES-256-XTS:1.000000
+H:4096
+F:25:AES-256-XTS:6833610752.00
"""


def test_parse_machine_readable_output() -> None:
    assert parse_speed_mr(MR) == {"aes-256-xts": {4096: 6833610752.0}}
    multi = "+H:16:64\n+F:22:aes-128-gcm:100.5:200.25\n"
    assert parse_speed_mr(multi) == {"aes-128-gcm": {16: 100.5, 64: 200.25}}
    # -multi: the children's lines start "Got:", the last +F is their sum
    kids = "Got: +H:4096 from 0\nGot: +F:25:AES-256-GCM:1.00 from 0\n+F:25:AES-256-GCM:3.00\n"
    assert parse_speed_mr(kids) == {"aes-256-gcm": {0: 3.0}}
    assert parse_speed_mr("garbage\n") == {}


def test_speed_is_timed_in_wall_time_and_threads_are_processes() -> None:
    cmd = speed_command("aes-256-xts", 4096, 1, decrypt=True, threads=2)
    assert cmd[:3] == ["openssl", "speed", "-elapsed"]  # not user CPU time
    assert cmd[cmd.index("-multi") + 1] == "2" and "-decrypt" in cmd


def test_evp_names_follow_xts_key_halves() -> None:
    assert OPENSSL_EVP_NAMES[("aes-xts-plain64", 256)] == "aes-128-xts"
    assert OPENSSL_EVP_NAMES[("aes-xts-plain64", 512)] == "aes-256-xts"
    assert OPENSSL_EVP_NAMES[("chacha20-poly1305-random", 256)] == "chacha20-poly1305"


def _source(name: str, values: list[float]) -> Source:
    it = iter(values)
    return Source(name, f"{name} lib", "1.0", f"{name} loop", lambda *a: next(it))


def test_every_source_is_sampled_and_the_fastest_median_is_the_ceiling() -> None:
    samples: list[dict] = []
    slow = _source("slow", [1e9, 1e9, 1e9])
    fast = _source("fast", [3e9, 9e9, 2e9])  # median 3e9: one lucky sample does not win
    for r in range(3):
        sample_round([("aes-gcm-random", 256, 4096, "encrypt", 1)], [slow, fast], r,
                     samples.append)
    assert len(samples) == 6 and {s["round"] for s in samples} == {0, 1, 2}
    (c,) = aggregate(samples).values()
    assert c.source == "fast" and c.bytes_per_s == 3e9 and c.samples == 3
    assert (c.low, c.high) == (2e9, 9e9) and c.library == "fast lib"
    assert c.by_source == {"slow": 1e9, "fast": 3e9}


def test_a_failing_source_is_recorded_not_fatal() -> None:
    def broken(*_a: object) -> float:
        raise RuntimeError("no such cipher here")

    samples: list[dict] = []
    sample_round([("aes-xts-plain64", 512, 512, "decrypt", 1)],
                 [Source("x", "l", "v", "p", broken)], 0, samples.append)
    assert samples[0]["bytes_per_s"] is None and "no such cipher" in samples[0]["error"]
    assert aggregate(samples) == {}


def test_null_is_a_memory_copy_and_threads_are_measured_together() -> None:
    samples: list[dict] = []
    sample_round([("null", 0, 4096, "encrypt", 1)], [], 0, samples.append)
    assert samples[0]["source"] == "memcpy" and samples[0]["bytes_per_s"] > 0
    assert in_threads(lambda: 2.0, 3) == 6.0


def test_cryptography_loop_over_a_large_buffer() -> None:
    for cipher, bits in (("aes-xts-plain64", 512), ("aes-gcm-random", 256),
                         ("chacha20-poly1305-random", 256)):
        for decrypt in (False, True):
            assert cryptography_loop(cipher, bits, 0.005, decrypt, size=65536) > 0


def test_ceilings_are_written_as_measured_and_spread_through_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tiny_spec(tmp_path)
    spec = replace(spec, measure=replace(spec.measure, ceiling="native", ceiling_rounds=3))
    order: list[str] = []
    fake = Source("fake-loop", "fake lib", "0", "loop", lambda *a: order.append("c") or 5e9)
    monkeypatch.setattr(ceiling, "openssl_source", lambda s=1: None)
    monkeypatch.setattr("simulator.bench.experiment.sources_for",
                        lambda how, engines, seconds: [fake])
    real = ThroughputRunner.run_cell

    def run_cell(self, cell, ctx):
        order.append("x")
        return real(self, cell, ctx)

    with mock.patch.object(ThroughputRunner, "run_cell", run_cell):
        result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(), plots=False)
    samples = RunStore(result.path).ceiling_samples()
    assert {s["round"] for s in samples} == {0, 1, 2}
    # a round before the first cell, one amid the cells, one after the last
    first_x, last_x = order.index("x"), len(order) - 1 - order[::-1].index("x")
    assert order[0] == "c" and "c" in order[first_x:last_x] and order[-1] == "c"
    meta = json.loads((result.path / "meta.json").read_text())
    gcm = [c for c in meta["ceilings"] if c["cipher"] == "aes-gcm-random"]
    assert gcm and all(c["samples"] == 3 and c["source"] == "fake-loop" for c in gcm)


@pytest.mark.skipif(ceiling.openssl_binary() is None, reason="no openssl binary")
def test_real_openssl_speed() -> None:
    bps = ceiling.openssl_speed("aes-128-xts", 4096, 1)
    assert bps > 0
    assert ceiling.openssl_version().startswith("OpenSSL")
