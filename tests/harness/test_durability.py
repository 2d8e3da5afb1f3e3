"""Run directories survive what a database's files survive: a second writer, SIGKILL at any
point, damaged tables, a full or read-only disk; a finished run is never rewritten."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from simulator.bench import RunInterrupted, faults, load_run, run_experiment
from simulator.bench.experiment import MAX_CELLS
from simulator.bench.runners import RunError
from simulator.bench.runners.throughput import ThroughputRunner
from simulator.bench.spec import parse_spec_text
from simulator.bench.store import CELLS, CSV, PARQUET, RunLocked, RunStore, read_cells
from simulator.cli import main
from tests.harness.conftest import fake_datapath, tiny_spec

CELLS_IN_TINY = 12  # (null, xts, gcm) x 2 sectors x 2 ops
ROWS_IN_TINY = CELLS_IN_TINY * 3  # 3 repetitions


def _run(tmp_path: Path, **kw: object):
    return run_experiment(tiny_spec(tmp_path), datapath=fake_datapath(), plots=False, **kw)


def _assert_whole(path: Path) -> None:
    """Every cell once, every row once, tables agreeing with cells.jsonl, status complete."""
    recs = [json.loads(line) for line in (path / CELLS).read_text().splitlines()]
    assert len(recs) == CELLS_IN_TINY == len({r["cell"] for r in recs})  # nothing duplicated
    run = load_run(path)
    assert run.status == "complete"
    assert len(run.rows) == ROWS_IN_TINY and run.rows["cell"].nunique() == CELLS_IN_TINY
    assert not run.rows.duplicated(["cell", "op", "rep"]).any()
    assert sum(1 for _ in (path / CSV).open()) == ROWS_IN_TINY + 1  # header + rows on disk


@pytest.fixture(autouse=True)
def _no_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.ENV, raising=False)
    faults._hits.clear()


# ---------------------------------------------------------------- one writer


def test_two_resumes_cannot_both_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    stopped = _interrupted(tmp_path, at_cell=4)
    holder = RunStore(stopped)
    holder.lock(["fargate-sim", "run", "--resume", str(stopped), "(the first)"])
    try:
        with pytest.raises(RunLocked) as info:
            run_experiment(tiny_spec(tmp_path), resume=stopped, datapath=fake_datapath(),
                           plots=False)
        msg = str(info.value)
        assert f"pid {os.getpid()}" in msg and "(the first)" in msg and "host" in msg
        assert len(read_cells(stopped)) == 3  # the refused resume ran nothing
        assert main(["run", "--resume", str(stopped), "--quiet"]) == 2
        assert "in use by pid" in capsys.readouterr().err
    finally:
        holder.unlock()
    _run(tmp_path, resume=stopped)
    _assert_whole(stopped)


def _interrupted(tmp_path: Path, at_cell: int) -> Path:
    real = ThroughputRunner.run_cell
    started: list[str] = []

    def run_cell(self, cell, ctx):
        started.append(cell.id)
        if len(started) == at_cell:
            raise KeyboardInterrupt
        return real(self, cell, ctx)

    with mock.patch.object(ThroughputRunner, "run_cell", run_cell), \
            pytest.raises(RunInterrupted) as info:
        _run(tmp_path, out=tmp_path / "results")
    return info.value.path


# ---------------------------------------------------------------- SIGKILL anywhere

#: Every kind of point the store can be killed at, at several depths into the run.
KILL_POINTS = [f"{point}:{n}" for point in ("cell", "jsonl", "table", "meta")
               for n in (1, 3, 11)]


@pytest.mark.parametrize("where", KILL_POINTS)
def test_a_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path: Path, where: str) -> None:
    out = tmp_path / "results"
    pid = os.fork()
    if pid == 0:  # the child: run until the fault kills it
        code = 0
        try:
            os.environ[faults.ENV] = f"kill@{where}"
            faults._hits.clear()
            _run(tmp_path, out=out)
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL) or \
        (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), status
    runs = list((out / "tiny").iterdir())
    assert len(runs) == 1
    path = runs[0]
    if not (path / "meta.json").is_file():  # killed before the run had a meta.json:
        assert not (path / CELLS).exists()    # nothing was measured, so nothing is lost
        return
    before = {r["cell"] for r in read_cells(path)}
    if os.WIFSIGNALED(status):
        assert load_run(path).status == "interrupted"  # "running", but nobody holds it
    _run(tmp_path, resume=path)
    _assert_whole(path)
    assert before <= {r["cell"] for r in read_cells(path)}  # what was done stayed done


# ---------------------------------------------------------------- damaged tables


@pytest.mark.parametrize("name", [PARQUET, CSV])
def test_a_truncated_table_is_rebuilt_from_cells_jsonl(tmp_path: Path, name: str) -> None:
    path = _run(tmp_path).path
    raw = (path / name).read_bytes()
    (path / name).write_bytes(raw[: len(raw) * 2 // 3])  # torn mid-file, and newer
    run = load_run(path)
    assert len(run.rows) == ROWS_IN_TINY
    _assert_whole(path)  # rebuilt on disk too
    if name == PARQUET:
        import pandas as pd

        assert len(pd.read_parquet(path / PARQUET)) == ROWS_IN_TINY
    assert main(["compare", str(path)]) == 0


def test_a_resume_of_a_complete_run_writes_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    path = _run(tmp_path).path

    def snapshot() -> dict[str, tuple[int, bytes]]:
        return {str(p.relative_to(path)): (p.stat().st_mtime_ns, p.read_bytes())
                for p in path.rglob("*") if p.is_file()}

    before = snapshot()
    result = _run(tmp_path, resume=path)
    assert result.already_complete and result.cells_run == 0
    assert main(["run", "--resume", str(path)]) == 0
    assert "nothing to do, nothing written" in capsys.readouterr().out
    assert snapshot() == before


# ---------------------------------------------------------------- full / read-only disk


@pytest.mark.parametrize("fault", ["enospc@jsonl:4", "enospc@table:2", "enospc@meta:3",
                                   "erofs@jsonl:2"])
def test_an_injected_full_or_read_only_disk_leaves_a_resumable_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    monkeypatch.setenv(faults.ENV, fault)
    with pytest.raises(RunInterrupted) as info:
        _run(tmp_path, out=tmp_path / "results")
    stop = info.value
    assert "the disk refused a write" in str(stop) and "resume with" in str(stop)
    assert load_run(stop.path).status == "interrupted"
    monkeypatch.delenv(faults.ENV)
    _run(tmp_path, resume=stop.path)
    _assert_whole(stop.path)


def test_a_real_full_tmpfs_leaves_a_resumable_run(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                       check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a tmpfs here (not root); the injected ENOSPC test covers it")
    try:
        real = ThroughputRunner.run_cell
        count: list[int] = []

        def run_cell(self, cell, ctx):
            count.append(1)
            if len(count) == 4:  # another process fills the disk mid-run
                with contextlib.suppress(OSError), open(mnt / "filler", "wb") as fh:
                    while True:
                        fh.write(b"\0" * 4096)
                        fh.flush()
            return real(self, cell, ctx)

        with mock.patch.object(ThroughputRunner, "run_cell", run_cell), \
                pytest.raises(RunInterrupted) as info:
            _run(tmp_path, out=mnt / "results")
        assert isinstance(info.value.cause, OSError)
        assert info.value.cause.errno == errno.ENOSPC
        (mnt / "filler").unlink()
        _run(tmp_path, resume=info.value.path)
        _assert_whole(info.value.path)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)


# ---------------------------------------------------------------- size


def test_a_grid_over_ten_thousand_cells_needs_allow_large(tmp_path: Path) -> None:
    text = ('name = "huge"\nkind = "throughput"\n[grid]\n'
            'cipher = [{ name = "aes-xts-plain64", key_bits = [256, 512] }, "aes-gcm-random"]\n'
            "sector_size = [512, 1024, 2048, 4096]\nbatch = [\"64k\", \"128k\", \"256k\", "
            "\"1m\"]\nthreads = [" + ", ".join(map(str, range(1, 65))) + "]\n"
            'engine = ["native-openssl", "cryptography"]\n')
    spec = parse_spec_text(text)
    with pytest.raises(RunError, match=r"more than 10,000.*--allow-large"):
        run_experiment(spec, out=tmp_path, datapath=fake_datapath())
    assert not any(tmp_path.iterdir())  # refused before anything was written

    class Stop(Exception):
        pass

    with mock.patch.object(RunStore, "create", side_effect=Stop), pytest.raises(Stop):
        run_experiment(spec, out=tmp_path, datapath=fake_datapath(), allow_large=True)
    assert MAX_CELLS == 10_000
