"""compare: ranked cipher tables, and changes between runs judged against the noise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator.bench import run_experiment
from simulator.bench.compare import answer, check_where, cipher_table, compare, diff_runs
from simulator.bench.store import Run
from simulator.bench.summary import format_summary
from tests.harness.conftest import fake_datapath, tiny_spec

META = {"kind": "throughput", "params": ["cipher", "key_bits", "sector_size", "op"],
        "split_column": "op", "rate_column": "mib_s", "spec": {"measure": {"noise": 0.1}}}


def _run(values: dict[str, list[float]], share: dict[str, float] | None = None) -> Run:
    rows = []
    for cipher, reps in values.items():
        for i, v in enumerate(reps):
            bits = {"aes-xts-plain64": 512, "null": 0}.get(cipher, 256)
            rows.append({"cipher": cipher, "key_bits": bits,
                         "sector_size": 4096, "op": "encrypt", "rep": i, "mib_s": v,
                         "mb_s": v * 1.048576, "cpu_share": (share or {}).get(cipher, 1.0)})
    return Run(Path("/nonexistent"), dict(META), pd.DataFrame(rows))


def test_diff_says_within_noise_when_the_change_is_inside_the_noise_band() -> None:
    a = _run({"aes-gcm-random": [100, 102, 104, 106, 108],
              "aes-xts-plain64": [200, 201, 202, 203, 204],
              "chacha20-poly1305-random": [50, 51, 52, 53, 54]})
    b = _run({"aes-gcm-random": [103, 105, 107, 109, 111],   # overlaps: noise
              "aes-xts-plain64": [240, 241, 242, 243, 244],  # clearly faster
              "chacha20-poly1305-random": [40, 41, 42, 43, 44]})  # clearly slower
    d = diff_runs(a, b).set_index("cipher")
    assert d.loc["aes-gcm-random", "verdict"] == "within noise"
    assert d.loc["aes-xts-plain64", "verdict"] == "faster"
    assert d.loc["chacha20-poly1305-random", "verdict"] == "slower"
    assert abs(d.loc["aes-xts-plain64", "change"] - (242 / 202 - 1)) < 1e-9
    assert d.loc["aes-gcm-random", "noise_band"] > 0
    # the verdict agrees with the band the table shows
    for _, row in d.iterrows():
        assert (row["verdict"] == "within noise") == (abs(row["change"]) <= row["noise_band"])


def test_cipher_table_ranks_and_describes() -> None:
    run = _run({"null": [900, 901, 902], "aes-gcm-random": [300, 301, 302],
                "aes-xts-plain64": [600, 601, 602]})
    t = cipher_table(run)
    assert list(t["rank"]) == ["1", "2", "base"] and t["cipher"].iloc[-1] == "null"
    gcm = t[t["cipher"] == "aes-gcm-random"].iloc[0]
    xts = t[t["cipher"] == "aes-xts-plain64"].iloc[0]
    assert bool(gcm["tamper_detection"]) and not bool(xts["tamper_detection"])
    assert gcm["nonce_limit_writes"] == 2**32 and gcm["capacity_overhead"] > 0
    assert {"encrypt_mib_s", "encrypt_gb_s"} <= set(t.columns)
    assert "at 4k sectors on this CPU, AES-256-XTS is fastest: 0.63 GB/s" in answer(run, t)
    assert "AES-256-GCM costs 100% more per byte and 28 bytes per sector" in answer(run, t)


def test_a_contended_cell_is_flagged_and_never_ranked() -> None:
    # XTS "wins" by its median, but its thread got 0.4 of a CPU: that figure is not evidence
    run = _run({"aes-xts-plain64": [900, 901, 902], "aes-gcm-random": [300, 301, 302],
                "chacha20-poly1305-random": [200, 201, 202]},
               share={"aes-xts-plain64": 0.4})
    s = run.summary.set_index("cipher")
    assert bool(s.loc["aes-xts-plain64", "contended"])
    assert not bool(s.loc["aes-gcm-random", "contended"])
    t = cipher_table(run).set_index("cipher")
    assert t.loc["aes-xts-plain64", "rank"] == "-"
    assert "CONTENDED" in t.loc["aes-xts-plain64", "tie_with"]
    assert t.loc["aes-gcm-random", "rank"] == "1"
    line = answer(run)
    assert "AES-256-GCM is fastest" in line and "XTS" not in line.split(";")[0]
    assert "UNRELIABLE" in line
    assert "CONTENDED" in format_summary(run.summary, "throughput")
    # nor is it called faster or slower than another run's figure
    other = _run({"aes-xts-plain64": [300, 301, 302], "aes-gcm-random": [300, 301, 302],
                  "chacha20-poly1305-random": [200, 201, 202]})
    d = diff_runs(other, run).set_index("cipher")
    assert d.loc["aes-xts-plain64", "verdict"] == "tie (contended)"


def test_configurations_within_noise_tie() -> None:
    run = _run({"aes-gcm-random": [290, 300, 310, 320, 330],
                "chacha20-poly1305-random": [295, 305, 315, 325, 335],  # inside the IQR
                "aes-xts-plain64": [100, 101, 102, 103, 104]})
    t = cipher_table(run).set_index("cipher")
    assert t.loc["chacha20-poly1305-random", "rank"] == "1"
    assert t.loc["aes-gcm-random", "rank"] == "=1"
    assert "within noise" in t.loc["aes-gcm-random", "tie_with"]
    assert t.loc["aes-xts-plain64", "rank"] == "3"
    assert "no single fastest" in answer(run)


def test_unknown_where_keys_and_values_list_what_exists() -> None:
    run = _run({"aes-gcm-random": [1, 2, 3]})
    with pytest.raises(ValueError, match="parameters: cipher, key_bits, sector_size, op"):
        check_where(run, {"enigne": "native"})
    with pytest.raises(ValueError, match="op takes: encrypt"):
        check_where(run, {"op": "decrpyt"})
    check_where(run, {"op": "encrypt"})


def test_compare_text_for_two_runs(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, sectors="4096")
    a = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(), plots=False).path
    b = run_experiment(spec, out=tmp_path / "r2", datapath=fake_datapath(), plots=False).path
    text = compare([a, b])
    assert "enc GB/s" in text and "tamper" in text and "nonce limit" in text
    assert text.count("columns: rank") == 2  # a legend line per table
    assert f"change {a} -> {b}" in text
    assert any(w in text for w in ("within noise", "faster", "slower", "tie (contended)"))
    assert "aes-gcm 256b" in text and "2^32 writes (16 TiB)" in text
