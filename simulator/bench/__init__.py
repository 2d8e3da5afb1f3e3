"""The benchmark harness: experiment specs, runner, timing, results store, compare, plots.

```python
from simulator.bench import load_spec, run_experiment, load_run, latest_run, compare
result = run_experiment(load_spec("experiments/quick.toml"))
run = load_run(result.path)          # or load_run() for the newest run under results/
run.rows, run.summary, run.meta      # tidy table, per-cell statistics, meta.json
print(compare([result.path]))
```
"""

from __future__ import annotations

from simulator.bench.compare import cipher_table, compare, diff_runs
from simulator.bench.experiment import RunInterrupted, RunResult, run_experiment
from simulator.bench.grid import Cell, expand

# Importing the runners registers every kind (its [grid] with spec.py, its presentation hooks
# for compare, plots and summary): the package is always imported before any of its modules.
from simulator.bench.runners import RunError
from simulator.bench.spec import (
    ExperimentSpec,
    Measure,
    SpecError,
    load_spec,
    parse_spec_text,
    resolve_spec_path,
)
from simulator.bench.store import ResumeError, Run, latest_run, list_runs, load_run

__all__ = [
    "Cell",
    "ExperimentSpec",
    "Measure",
    "ResumeError",
    "Run",
    "RunError",
    "RunInterrupted",
    "RunResult",
    "SpecError",
    "cipher_table",
    "compare",
    "diff_runs",
    "expand",
    "latest_run",
    "list_runs",
    "load_run",
    "load_spec",
    "parse_spec_text",
    "resolve_spec_path",
    "run_experiment",
]
