"""compare: ranked cipher tables, and changes between runs judged against the noise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulator.bench import load_run, run_experiment
from simulator.bench.compare import cipher_table, compare, diff_runs
from simulator.bench.store import Run
from tests.harness.conftest import fake_datapath, tiny_spec

META = {"kind": "throughput", "params": ["cipher", "key_bits", "sector_size", "op"],
        "split_column": "op", "rate_column": "mib_s", "spec": {"measure": {"noise": 0.1}}}


def _run(values: dict[str, list[float]]) -> Run:
    rows = []
    for cipher, reps in values.items():
        for i, v in enumerate(reps):
            rows.append({"cipher": cipher, "key_bits": 256, "sector_size": 4096, "op": "encrypt",
                         "rep": i, "mib_s": v, "mb_s": v * 1.048576})
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


def test_cipher_table_ranks_and_describes(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, sectors="4096")
    result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(), plots=False)
    t = cipher_table(load_run(result.path))
    assert list(t["rank"])[-1] == 0 and t["cipher"].iloc[-1] == "null"  # baseline last
    assert sorted(t["rank"])[1:] == [1, 2]
    gcm = t[t["cipher"] == "aes-gcm-random"].iloc[0]
    xts = t[t["cipher"] == "aes-xts-plain64"].iloc[0]
    assert bool(gcm["tamper_detection"]) and not bool(xts["tamper_detection"])
    assert gcm["nonce_limit_writes"] == 2**32 and gcm["capacity_overhead"] > 0
    assert {"encrypt_mib_s", "decrypt_mib_s", "encrypt_vs_null"} <= set(t.columns)


def test_compare_text_for_two_runs(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, sectors="4096")
    a = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(), plots=False).path
    b = run_experiment(spec, out=tmp_path / "r2", datapath=fake_datapath(), plots=False).path
    text = compare([a, b])
    assert "enc MiB/s" in text and "tamper" in text and "nonce limit" in text
    assert f"change {a} -> {b}" in text
    assert "within noise" in text or "faster" in text or "slower" in text
    assert "aes-gcm 256b" in text and "2^32 writes (16 TiB)" in text
