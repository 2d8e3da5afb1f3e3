"""Experiments across machines on Dask distributed (the ``distributed`` extra).

``fargate-sim run SPEC --workers N`` starts a local cluster (``distributed.LocalCluster``:
N worker processes, one thread each, each with the resource ``machine = 1``);
``--scheduler tcp://HOST:PORT`` uses a running one (start one worker per machine with
``dask worker tcp://HOST:PORT --nthreads 1 --resources machine=1``).

* A benchmark cell (throughput, volume, capacity, scenario) is one Dask task asking for the
  resource ``machine``, and it holds a cluster-wide lock named after its host while it
  measures, so it runs alone on its machine even when several workers share one. Its rows
  carry the ``host`` column; each host's CPU, code paths and library versions go to
  ``meta.json`` under ``hosts``.
* A fleet cell's shards (its independent accounts) are Dask tasks, gathered and merged by the
  fleet runner here.
* Results come back in cell order and are appended to the one run directory as they arrive,
  so an interrupted run (Ctrl-C, a lost worker Dask cannot replace) keeps every finished cell
  and resumes with ``fargate-sim run --resume DIR`` (with or without ``--workers``).
* A worker that dies: Dask runs its cells again on the others, up to
  ``distributed.scheduler.allowed-failures`` deaths per cell (3 by default). A cell past that
  (``KilledWorker``) is left not done while the other workers' cells are still recorded; the
  run then stops as failed (``WorkerLost``, naming the cells) with the resume command. A dead
  worker's hold on its machine's lock lapses after Dask's lease timeout
  (``distributed.scheduler.locks.lease-timeout``, 30 s), so its machine waits that long once.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from simulator.bench import env
from simulator.bench.grid import Cell
from simulator.bench.runners.base import RunContext, Runner
from simulator.bench.store import RunStore

#: The worker resource a benchmark cell asks for: one per machine.
MACHINE = "machine"
#: Seconds to wait for a scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = 10.0


class DistributedError(RuntimeError):
    """Dask is missing, or the scheduler cannot be reached: one line for the user."""


class WorkerLost(RuntimeError):
    """Cells whose worker died while they ran; the others are recorded, these are not done."""

    def __init__(self, lost: list[tuple[Cell, str]]) -> None:
        self.cells = [cell for cell, _ in lost]
        n = len(lost)
        super().__init__(
            f"{n} cell{'s' if n > 1 else ''} lost with {'their workers' if n > 1 else 'its worker'}"
            f" and not done ({'; '.join(c.id for c in self.cells)}); "
            f"Dask said: {lost[0][1]}")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DistributedError(
            "--workers and --scheduler need Dask: pip install -e '.[distributed]'") from None
    return distributed


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                processes: bool = True) -> Iterator[Any]:
    """A Dask client: on a new LocalCluster of ``workers`` or on ``scheduler``'s cluster."""
    distributed = _import_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT,
                                        set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise DistributedError(f"cannot reach the Dask scheduler at {scheduler}: "
                                   f"{type(exc).__name__}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    if not workers or workers < 1:
        raise DistributedError(f"--workers {workers}: need at least 1 worker")
    where = {"host": "127.0.0.1"} if processes else {}  # in-process workers need no address
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes,
        resources={MACHINE: 1}, dashboard_address=None, **where)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


# ------------------------------------------------------------------ on the workers

_HOST_ENV: dict[str, Any] = {}


def worker_host() -> str:
    """This worker's machine: ``FARGATE_SIM_HOST`` as the worker process sees it (a Nanny's
    ``env`` sets it after the process has started), else ``env.HOST``."""
    return os.environ.get("FARGATE_SIM_HOST") or env.HOST


def host_lock(host: str) -> str:
    """The name of the cluster-wide lock a host's measurements hold (one at a time)."""
    return f"fargate-sim:{MACHINE}:{host}"


def _host_env() -> dict[str, Any]:
    """This machine's CPU, engines (code paths) and library versions, once per process."""
    if not _HOST_ENV:
        info = env.collect([])
        _HOST_ENV.update({k: info[k] for k in ("cpu", "os", "kernel", "python", "packages",
                                                "openssl")})
    return _HOST_ENV


def run_cell_on_worker(spec: Any, cell: Cell, ceilings: dict[Any, Any]
                       ) -> tuple[list[dict[str, Any]], float, str, dict[str, Any]]:
    """Measure one benchmark cell alone on this machine: (rows, seconds, host, host env)."""
    from simulator.bench.datapath import default_datapath
    from simulator.bench.runners import runner_for

    distributed = _import_distributed()
    host = worker_host()
    runner = runner_for(spec.kind)
    datapath = None if spec.kind == "scenario" else default_datapath()
    ctx = RunContext(spec=spec, datapath=datapath, ceilings=dict(ceilings))
    with distributed.Lock(host_lock(host)):
        t0 = time.perf_counter()
        rows = runner.run_cell(cell, ctx)
        seconds = time.perf_counter() - t0
    for row in rows:
        row["host"] = host
    return rows, seconds, host, _host_env()


def run_shard_on_worker(shape: Any, index: int, rep: int) -> Any:
    """One fleet shard (an account) on a worker."""
    from simulator.fleet.simulate import run_shard

    return run_shard(shape, index, rep)


# ------------------------------------------------------------------ the executor


class DaskExecutor:
    """Runs a run's cells on a Dask cluster; yields them in order for the run store."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def shard_map(self, shape: Any, accounts: int, rep: int) -> list[Any]:
        """A fleet's shards as Dask tasks, gathered in account order."""
        futures = [self.client.submit(run_shard_on_worker, shape, i, rep, pure=False)
                   for i in range(accounts)]
        return list(self.client.gather(futures))

    def __call__(self, cells: list[Cell], runner: Runner, ctx: RunContext
                 ) -> Iterator[tuple[Cell, list[dict[str, Any]], float]]:
        if runner.kind == "fleet":
            # The fleet runner merges its shards; the shards are what runs on the cluster.
            ctx.cache["shard_map"] = self.shard_map
            for cell in cells:
                t0 = time.perf_counter()
                rows = runner.run_cell(cell, ctx)
                yield cell, rows, time.perf_counter() - t0
            return
        distributed = _import_distributed()
        futures = [self.client.submit(run_cell_on_worker, ctx.spec, cell, ctx.ceilings,
                                      resources={MACHINE: 1}, pure=False, key=f"cell-{cell.key}")
                   for cell in cells]
        hosts: dict[str, Any] = {}
        lost: list[tuple[Cell, str]] = []
        try:
            for cell, future in zip(cells, futures, strict=True):
                try:
                    rows, seconds, host, host_env = future.result()
                except distributed.KilledWorker as exc:
                    # Its worker died while it ran, as many times as the scheduler allows
                    # (distributed.scheduler.allowed-failures): leave it for --resume, keep
                    # the other workers' cells.
                    lost.append((cell, str(exc)))
                    continue
                if host not in hosts:
                    hosts[host] = host_env
                    if ctx.run_dir is not None:
                        store = RunStore(ctx.run_dir)
                        known = store.read_meta().get("hosts", {})
                        known[host] = host_env
                        store.update_meta(hosts=known)
                yield cell, rows, seconds
            if lost:
                raise WorkerLost(lost)
        finally:
            for f in futures:
                f.cancel()


# ------------------------------------------------------------------ compare --by host


def compare_by(run: Any, column: str = "host") -> str:
    """The same cell on each value of ``column`` (a host) side by side: medians and IQR."""
    import pandas as pd

    from simulator.bench.summary import param_columns

    rows = run.rows
    if rows.empty or column not in rows.columns:
        return f"{run.path}: no {column!r} column (a run made before hosts were recorded)\n"
    rate = run.meta.get("rate_column") or "mib_s"
    keys = [k for k in param_columns(rows, run.meta) if k != column]
    table = (rows.groupby([*keys, column], dropna=False)[rate].median()
             .unstack(column))
    values = sorted(rows[column].astype(str).unique())
    lines = [f"{run.path}: {rate} (median) by {column}: {', '.join(values)}"]
    if len(values) > 1:
        first = table.columns[0]
        for other in table.columns[1:]:
            table[f"{other} / {first}"] = table[other] / table[first]
    shown = table.reset_index()
    varying = [k for k in keys if shown[k].astype(str).nunique() > 1]
    shown = shown[[*varying, *[c for c in shown.columns if c not in keys]]]
    with pd.option_context("display.float_format", "{:.2f}".format):
        lines.append(shown.to_string(index=False))
    hosts = run.meta.get("hosts", {})
    for name in values:
        cpu = hosts.get(name, {}).get("cpu", {}).get("model") if hosts else None
        if cpu:
            lines.append(f"{name}: {cpu}")
    return "\n".join(lines) + "\n"
