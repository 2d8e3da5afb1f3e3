"""Harness defects found in review: empty cipher lists, bench arguments, AEAD ceilings that
openssl speed measures with a per-message key setup, and rows of a cell cut off mid-append."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest

from simulator.bench import run_experiment
from simulator.bench.spec import SpecError, parse_spec_text
from simulator.bench.store import RunStore, load_run
from simulator.cli import main
from tests.harness.conftest import fake_datapath, tiny_spec

# ---------------------------------------------------------------- specs


@pytest.mark.parametrize("cipher", ["[]", '[{ name = "aes-gcm-random", key_bits = [] }]'])
def test_an_empty_cipher_list_is_refused(cipher: str) -> None:
    text = f'name = "e"\nkind = "throughput"\n[grid]\ncipher = {cipher}\n'
    with pytest.raises(SpecError) as err:
        parse_spec_text(text, path="e.toml")
    assert err.value.key.startswith("grid.cipher") and "empty" in str(err.value)
    assert "aes-xts-plain64" in err.value.allowed or "128" in err.value.allowed


# ---------------------------------------------------------------- bench arguments


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["--threads", "0"], "--threads"), (["--threads", "65"], "--threads"),
     (["--seconds", "0"], "--seconds"), (["--seconds", "-1"], "--seconds")],
)
def test_bench_refuses_bad_numbers(argv: list[str], fragment: str,
                                   capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", *argv])
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err


# ---------------------------------------------------------------- resume


def test_rows_of_a_cell_cut_off_before_it_was_recorded_are_dropped_on_resume(
        tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path)
    root = tmp_path / "results"
    real_append = RunStore.append
    calls = []

    def append(self, cell_key, rows, columns, **info):
        calls.append(cell_key)
        if len(calls) == 3:  # the CSV rows land, then the run dies before cells.jsonl
            with (self.path / "results.csv").open("a") as fh:
                fh.write("x,y,z\n" * len(rows))
            raise KeyboardInterrupt
        return real_append(self, cell_key, rows, columns, **info)

    with mock.patch.object(RunStore, "append", append), pytest.raises(Exception) as info:
        run_experiment(spec, out=root, datapath=fake_datapath(), plots=False)
    path = info.value.path
    assert len(RunStore(path).completed()) == 2
    run_experiment(spec, resume=path, datapath=fake_datapath(), plots=False)
    run = load_run(path)
    assert run.rows["cell"].nunique() == 12 and len(run.rows) == 36
    assert not run.rows.duplicated(["cell", "op", "rep"]).any()
    assert json.loads((path / "meta.json").read_text())["status"] == "complete"


# ---------------------------------------------------------------- measurement


def test_every_repetition_lasts_at_least_min_time_even_when_the_first_call_is_slow() -> None:
    """A cold first call (page faults, lazy init) made calibration without warm-up pick too
    few calls, so repetitions came out shorter than min_time."""
    import time

    from simulator.bench.measure import measure

    state = {"first": True}

    def fn() -> None:
        if state["first"]:
            state["first"] = False
            time.sleep(0.02)  # the cold call
        else:
            time.sleep(0.0005)

    reps = measure(fn, bytes_per_call=1, warmup=0.0, repetitions=3, min_time=0.01)
    assert all(r.seconds >= 0.01 for r in reps), [r.seconds for r in reps]
    assert len({r.calls for r in reps}) == 1
