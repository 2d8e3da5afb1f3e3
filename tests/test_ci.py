"""CI runs the checks the README promises, and plain pytest needs no benchmark plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_ruff_and_mypy_after_the_tests():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    tests = next(i for i, line in enumerate(lines) if line.endswith("pytest"))
    assert lines.index("ruff check .") > tests
    assert lines.index("mypy simulator") > tests


def test_plain_pytest_without_the_benchmark_plugin_skips_the_benchmarks():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:benchmark", "-p", "no:cacheprovider", "-q",
         "tests/benchmarks/test_bench_iam.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skipped" in run.stdout and "needs pytest-benchmark" in run.stdout + run.stderr
    assert "passed" not in run.stdout.splitlines()[-1]
