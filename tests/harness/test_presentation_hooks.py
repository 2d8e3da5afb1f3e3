"""compare, plots and summary present a run through its kind's runner (hooks and declared
data), so they import no runner module and a new kind needs no edit outside its own."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from simulator.bench import runners
from simulator.bench import spec as spec_mod
from simulator.bench.compare import compare
from simulator.bench.plots import figures
from simulator.bench.runners import RUNNERS, Runner, presenter_for, register
from simulator.bench.store import Run
from simulator.bench.summary import format_summary, summarize

#: The module (the package ``simulator.bench`` hands on its function ``compare``).
compare_mod = importlib.import_module("simulator.bench.compare")
BENCH = Path(runners.__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("name", ["compare.py", "plots.py", "summary.py", "distributed.py",
                                  "experiment.py"])
def test_the_modules_above_the_runners_ask_only_the_registry(name: str) -> None:
    reached = {m for m in _imports(BENCH / name) if m.startswith("simulator.bench.runners.")}
    assert reached <= {"simulator.bench.runners.base"}, reached


def test_no_runner_imports_what_presents_or_runs_it() -> None:
    above = {f"simulator.bench.{m}" for m in ("compare", "plots", "summary", "experiment",
                                               "distributed")}
    for path in sorted((BENCH / "runners").glob("*.py")):
        assert not _imports(path) & above, path.name
    assert not any(m.startswith("simulator.bench.runners") for m in _imports(BENCH / "spec.py"))


class _ToyRunner(Runner):
    """A kind that presents itself: every hook answers, and its rows are its summary."""

    kind = "toy_presented"
    rate_column = "score"
    rows_are_summaries = True

    def summary_table(self, summary: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"toy": [f"score {s}" for s in summary["score"]]})

    def compare_rows(self, run: Any) -> list[str]:
        return [f"toy rows: {len(run.rows)}"]

    def compare_change(self, base: Any, other: Any) -> list[str]:
        return [f"toy change {base.rows['score'].sum()} -> {other.rows['score'].sum()}"]

    def figures(self, run: Any) -> list[tuple[str, Any]]:
        return [("toy_figure", None)]


@pytest.fixture
def toy_kind() -> Iterator[str]:
    register(_ToyRunner.kind, _ToyRunner)
    try:
        yield _ToyRunner.kind
    finally:
        RUNNERS.pop(_ToyRunner.kind, None)
        spec_mod._GRIDS.pop(_ToyRunner.kind, None)


def test_a_kind_with_its_own_hooks_is_summarised_compared_and_plotted_by_them(
        toy_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = pd.DataFrame({"experiment": "t", "run": "r", "cell": ["a", "b"], "score": [3, 5]})
    summary = summarize(rows, {"kind": toy_kind})
    assert list(summary.columns) == ["score"]  # rows_are_summaries: no median taken
    assert [x.strip() for x in format_summary(summary, toy_kind).splitlines()] == [
        "toy", "score 3", "score 5"]
    run = Run(path=tmp_path, meta={"kind": toy_kind}, rows=rows)
    assert [n for n, _ in figures(run)] == ["toy_figure"]
    a = Run(path=tmp_path / "a", meta={"kind": toy_kind}, rows=pd.DataFrame({"score": [1, 2]}))
    b = Run(path=tmp_path / "b", meta={"kind": toy_kind}, rows=pd.DataFrame({"score": [4]}))
    monkeypatch.setattr(compare_mod, "resolve_runs", lambda paths: ([a, b], ["a note"]))
    text = compare(["a", "b"])
    assert text.startswith("a note\n== ")
    assert "toy rows: 2" in text and "toy rows: 1" in text and "toy change 3 -> 4" in text
    assert text.index("toy rows: 2") < text.index("toy rows: 1") < text.index("toy change")


def test_a_kind_no_runner_registers_gets_the_generic_presentation() -> None:
    old = presenter_for("kind_from_an_older_version")
    assert type(old) is Runner
    assert old.compare_rows(None) is None and old.figures(None) is None
    assert old.summary_table(pd.DataFrame()) is None


def test_each_runner_declares_what_compare_summary_and_distributed_used_to_know_by_name(
        ) -> None:
    assert {k for k, r in RUNNERS.items() if r.rows_are_summaries} >= {"capacity", "fleet"}
    assert {k for k, r in RUNNERS.items() if r.runs_shards} == {"fleet"}
    assert {k for k, r in RUNNERS.items() if not r.uses_datapath} == {"scenario"}
    assert {k: r.rate_column for k, r in RUNNERS.items()} == {
        "throughput": "mib_s", "volume": "mib_s", "scenario": "seconds",
        "capacity": "capacity_overhead", "fleet": "seconds_to_last_running"}
    assert {k: r.cipher_table for k, r in RUNNERS.items()} == {
        "throughput": "rates_by_op", "volume": "io_rates", "capacity": "usable_space",
        "scenario": None, "fleet": None}
    assert {k for k, r in RUNNERS.items() if r.rated} == {"throughput", "volume"}
