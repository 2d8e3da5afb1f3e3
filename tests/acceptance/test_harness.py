"""Issue 6: the benchmark harness from the CLI."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import main

TINY = """name = "tiny"
kind = "throughput"
description = "acceptance"

[measure]
warmup = 0.0
repetitions = 2
min_time = 0.005
noise = 0.10
ceiling = "auto"
ceiling_seconds = 1

[grid]
cipher = [{ name = "aes-xts-plain64", key_bits = 512 }]
sector_size = 4096
batch = "64k"
threads = 1
engine = "auto"
op = ["encrypt", "decrypt"]
"""


#: The checkout these tests belong to (CI runs them in a fresh clone elsewhere).
ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    """``python -m simulator ARGS`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("h")
    spec = root / "tiny.toml"
    spec.write_text(TINY)
    out = root / "results"
    p = run_cli(["run", str(spec), "--out", str(out), "--quiet"], timeout=120)
    return root, spec, out, p


def run_dir(out):
    runs = [d for d in (out / "tiny").iterdir() if d.is_dir()]
    assert len(runs) >= 1
    return sorted(runs)[-1]


def test_run_writes_layout(tiny_run):
    _root, _spec, out, p = tiny_run
    assert p.returncode == 0, p.stderr
    d = run_dir(out)
    assert d.name[:4].isdigit()  # UTC timestamp
    for f in ("results.csv", "meta.json", "summary.txt"):
        assert (d / f).is_file(), f
    assert list((d / "plots").glob("*.png"))


def test_csv_rows_and_columns(tiny_run):
    d = run_dir(tiny_run[2])
    rows = list(csv.DictReader((d / "results.csv").read_text().splitlines()))
    cols = " ".join(rows[0].keys()).lower()
    for w in ("mib", "mb", "cpu", "ceiling", "null"):
        assert w in cols, (w, cols)
    xts = [r for r in rows if "xts" in json.dumps(r)]
    # one row per cell and repetition: 2 ops x 2 repetitions
    assert len(xts) == 4
    assert any("null" in json.dumps(r) for r in rows)  # the baseline is added


def test_each_repetition_runs_at_least_min_time(tmp_path):
    # issue 6: "the measurement settings (warm-up, repetitions, minimum time per repetition)";
    # quick.toml: "min_time ... seconds per repetition, at least"
    spec = tmp_path / "mt.toml"
    spec.write_text(
        TINY.replace('name = "tiny"', 'name = "mt"')
        .replace("min_time = 0.005", "min_time = 0.03")
        .replace('op = ["encrypt", "decrypt"]', 'op = ["encrypt"]')
    )
    out = tmp_path / "results"
    p = run_cli(["run", str(spec), "--out", str(out), "--quiet", "--no-plots"], timeout=120)
    assert p.returncode == 0, p.stderr
    d = sorted((out / "mt").iterdir())[-1]
    rows = list(csv.DictReader((d / "results.csv").read_text().splitlines()))
    short = [
        (r["cipher"], r["op"], r["rep"], r["seconds"])
        for r in rows
        if float(r["seconds"]) < 0.03 * 0.9
    ]
    assert not short, short


def test_meta_json_fields(tiny_run):
    d = run_dir(tiny_run[2])
    meta = json.loads((d / "meta.json").read_text())
    blob = json.dumps(meta).lower()
    for w in ("cpu", "aes", "python", "openssl", "git", "dirty", "hash", "tiny", "cores"):
        assert w in blob, w
    assert "command" in blob or "argv" in blob


def test_compare_one_run(tiny_run, capsys):
    d = run_dir(tiny_run[2])
    rc = main(["compare", str(d)])
    out = capsys.readouterr().out
    assert rc in (0, None)
    assert "aes-xts" in out and "rank" in out.lower()


def test_compare_two_runs(tiny_run, capsys):
    _root, spec, out, _ = tiny_run
    p = run_cli(["run", str(spec), "--out", str(out), "--quiet", "--no-plots"], timeout=120)
    assert p.returncode == 0, p.stderr
    runs = sorted(x for x in (out / "tiny").iterdir() if x.is_dir())
    assert len(runs) >= 2
    rc = main(["compare", str(runs[-2]), str(runs[-1])])
    o = capsys.readouterr().out
    assert rc in (0, None)
    assert "aes-xts" in o and ("noise" in o.lower() or "%" in o)


def test_plot(tiny_run, tmp_path, capsys):
    d = run_dir(tiny_run[2])
    rc = main(["plot", str(d), "--out", str(tmp_path / "p")])
    capsys.readouterr()
    assert rc in (0, None)
    assert list((tmp_path / "p").glob("*.png"))


@pytest.mark.parametrize(
    "mutation,key",
    [
        (("sector_size = 4096", "sector_siz = 4096"), "sector_siz"),
        (("repetitions = 2", 'repetitions = "two"'), "repetitions"),
        (("key_bits = 512 }", "key_bits = 128 }"), "key_bits"),
        (('kind = "throughput"', 'kind = "speedy"'), "kind"),
    ],
)
def test_bad_spec_refused(tmp_path, mutation, key):
    spec = tmp_path / "badspec.toml"
    spec.write_text(TINY.replace(*mutation))
    out = tmp_path / "results"
    p = run_cli(["run", str(spec), "--out", str(out), "--quiet"], timeout=60)
    assert p.returncode != 0
    msg = p.stderr + p.stdout
    assert "badspec.toml" in msg and key in msg, msg
    assert "Traceback" not in msg
    assert not out.exists() or not any(out.rglob("results.csv"))  # nothing ran


def test_capacity_experiment(tmp_path):
    spec = tmp_path / "cap.toml"
    spec.write_text(
        'name = "cap"\nkind = "capacity"\n[measure]\nrepetitions = 1\n[grid]\n'
        'size_gib = [20, 50]\ncipher = ["aes-xts-plain64", "aes-gcm-random"]\nsector_size = [4096]\n'
        "cmk = [false, true]\n"
    )
    out = tmp_path / "results"
    p = run_cli(["run", str(spec), "--out", str(out), "--quiet", "--no-plots"], timeout=60)
    assert p.returncode == 0, p.stderr
    d = sorted((out / "cap").iterdir())[-1]
    rows = list(csv.DictReader((d / "results.csv").read_text().splitlines()))
    assert len(rows) == 2 * 2 * 2


def test_bench_table_header(capsys):
    rc = main(["bench", "--seconds", "0.05", "--cipher", "aes-xts-plain64:512"])
    out = capsys.readouterr().out
    assert rc in (0, None)
    header = next(line for line in out.splitlines() if "Algorithm" in line)
    for w in ("Algorithm", "Key", "Encryption", "Decryption"):
        assert w in header
    assert "aes-xts" in out and "MiB/s" in out and "512b" in out


# ---------------------------------------------------------------- issue 10


def test_ceilings_name_every_implementation_and_are_sampled_through_the_run(tiny_run):
    d = Path(tiny_run[3].stdout.split(" -> ", 1)[1].split()[0])
    meta = json.loads((d / "meta.json").read_text())
    samples = [json.loads(line) for line in (d / "ceilings.jsonl").read_text().splitlines()]
    assert {s["round"] for s in samples} == {0, 1, 2}  # three rounds, on disk as measured
    sources = {s["source"] for s in samples if s["cipher"] != "null"}
    assert "cryptography" in sources and len(sources) >= 2
    for c in meta["ceilings"]:
        assert c["library"] and c["version"] and c["code_path"] and c["samples"] >= 3
        if c["cipher"] != "null":  # the fastest source is the ceiling, and it is named
            assert c["bytes_per_s"] == max(c["by_source"].values())


def test_run_states_contention_and_answers_in_one_line(tiny_run):
    _root, _spec, _out, p = tiny_run
    assert "answer: at 4k sectors on this CPU" in p.stdout
    assert "columns: " in p.stdout and "ranked:" in p.stdout
    # the run this output is about (later tests add runs beside it)
    d = Path(p.stdout.split(" -> ", 1)[1].split()[0])
    meta = json.loads((d / "meta.json").read_text())
    for when in ("before", "after"):
        assert "loadavg" in meta["contention"][when]
        assert "busy_processes" in meta["contention"][when]
    rows = list(csv.DictReader((d / "results.csv").read_text().splitlines()))
    assert all(r["cpu_share"] for r in rows)
    contended = meta["reliability"]["contended_cells"]
    assert ("UNRELIABLE" in p.stdout) == bool(contended)
    assert (meta["clock"]["hz"] and "rdtsc" in meta["clock"]["method"]) or \
        "cpuinfo" in meta["clock"]["method"]
