"""The notebooks run top to bottom (nbclient, python3 kernel) against runs made here."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from simulator.bench import load_spec, run_experiment
from tests.harness.test_cli import real_run  # noqa: F401 - the shared fixture

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def _execute(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # the charts render inline: every cell tagged "figure" shows at least one image
    figures = [c for c in nb.cells if "figure" in c.get("metadata", {}).get("tags", [])]
    assert figures
    for cell in figures:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source[:80]


def test_the_library_leaves_matplotlibs_backend_alone() -> None:
    import subprocess
    import sys

    code = ("import matplotlib; before = matplotlib.get_backend(); "
            "import simulator.bench, simulator.bench.plots, simulator.bench.compare; "
            "import sys; sys.exit(0 if matplotlib.get_backend() == before and "
            "'matplotlib.pyplot' not in sys.modules else 1)")
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO,
                          timeout=60).returncode == 0


@pytest.mark.parametrize("name", ["explore_results.ipynb", "storage_overheads.ipynb"])
def test_notebooks_are_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_explore_results_notebook(real_run: Path, tmp_path: Path,  # noqa: F811
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _execute("explore_results.ipynb", {"FARGATE_SIM_RUN": str(real_run),
                                       "FARGATE_SIM_RESULTS": str(real_run.parents[1])},
             monkeypatch)


def test_storage_overheads_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(REPO / "experiments" / "capacity.toml")
    run = run_experiment(spec, out=tmp_path, plots=True)
    _execute("storage_overheads.ipynb", {"FARGATE_SIM_RUN": str(run.path),
                                         "FARGATE_SIM_RESULTS": str(tmp_path)}, monkeypatch)
