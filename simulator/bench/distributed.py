"""Experiments across machines on Dask distributed (the ``distributed`` extra).

``fargate-sim run SPEC --workers N`` starts a local cluster (``distributed.LocalCluster``:
N worker processes, one thread each, each with the resource ``machine = 1``);
``--scheduler tcp://HOST:PORT`` uses a running one (start one worker per machine with
``dask worker tcp://HOST:PORT --nthreads 1 --resources machine=1``).

* A benchmark cell (throughput, volume, capacity, scenario) is one Dask task asking for the
  resource ``machine``, sent to one worker per host (``one_worker_per_host``), and it holds a
  cluster-wide lock named after its host while it measures, so it runs alone on its machine
  even when several workers share one. Its rows
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
  worker's hold on its machine's lock lapses after the lock's lease timeout: the cells ask
  for ``HOST_LOCK_LEASE`` (10 s; Dask's default is 30 s, and a smaller configured value is
  kept), checked by the scheduler every ``distributed.scheduler.locks.lease-validation-
  interval`` (10 s by default, 1 s on a cluster this module starts), so its machine waits
  that long once. A live worker renews its lease from its event loop every fifth of it, which
  runs while a cell measures (the native engines release the GIL, Python code yields it
  every 5 ms).

A cell on a Dask worker measures as it would in a plain process:

* Dask's sampling profiler (a callback on the worker's event loop every 10 ms,
  ``distributed.worker.profile``) is paused while the cell measures, on any worker; a cluster
  this module starts has it off, and its event-loop tick every 1 s rather than 20 ms
  (``QUIET``): idle, a two-worker cluster took 12.6 % of a core with Dask's defaults and
  3.5 % so.
* The worker process freezes its long-lived heap once (``simulator.heap``), as ``run`` does,
  and starts a session of its own, so that the kernel's per-session CPU sharing treats its
  cell as it treats a local run (``own_session``).
* Cell CPU time leaves out the worker's event loop (``simulator.bench.measure``).
* Cycles per byte use each host's own clock (``meta.json`` ``hosts.HOST.clock``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from simulator.bench import env
from simulator.bench.ceiling import (
    Ceiling,
    SampleKey,
    aggregate,
    engine_source,
    sample_round,
    sources_for,
)
from simulator.bench.grid import Cell
from simulator.bench.runners.base import RunContext, Runner
from simulator.bench.store import RunStore

#: The worker resource a benchmark cell asks for: one per machine.
MACHINE = "machine"
#: Seconds to wait for a scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = 10.0
#: Where a cluster this module starts lets Dask's HTTP servers listen: loopback, a free port.
LOOPBACK_ANY_PORT = "127.0.0.1:0"
#: The lease a cell asks for on its host's lock: how long a dead worker can hold the host.
HOST_LOCK_LEASE = 10.0
#: Dask settings of a cluster this module starts: no sampling profiler, a slow event-loop
#: tick (it only watches for a blocked loop), host locks of dead workers noticed within 1 s.
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.scheduler.locks.lease-validation-interval": "1s",
}
#: The worker's periodic callbacks paused while a cell measures (Dask's sampling profiler).
PAUSED_CALLBACKS = ("profile", "profile-cycle")


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
    import dask

    where = {"host": "127.0.0.1"} if processes else {}  # in-process workers need no address
    with dask.config.set(QUIET):  # read as the scheduler and the nannies start
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=processes,
            resources={MACHINE: 1}, **where,
            # Dask's HTTP servers (dashboard, /health) listen on every interface by default,
            # the scheduler's on port 8787: keep them on loopback, on free ports.
            dashboard_address=LOOPBACK_ANY_PORT, worker_dashboard_address=LOOPBACK_ANY_PORT)
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
    """This machine's CPU, clock, engines (code paths) and library versions, once per process.

    The clock (``simulator.bench.clock``) is the host's own: its cells' cycles per byte use
    it, not the starting machine's, whose TSC may tick at another rate.
    """
    if not _HOST_ENV:
        from simulator.bench.clock import measure_clock

        info = env.collect([])
        _HOST_ENV.update({k: info[k] for k in ("cpu", "os", "kernel", "python", "packages",
                                                "openssl")})
        _HOST_ENV["clock"] = measure_clock()
    return _HOST_ENV


def host_lock_lease(configured: Any) -> float:
    """The lease, in seconds, a cell's host lock asks for: ``HOST_LOCK_LEASE``, or the
    worker's configured ``lease-timeout`` when that is shorter."""
    import dask

    if configured in (None, "inf"):
        return HOST_LOCK_LEASE
    return min(HOST_LOCK_LEASE, float(dask.utils.parse_timedelta(configured, default="s")))


@contextlib.contextmanager
def machine_alone(distributed: Any, host: str) -> Iterator[None]:
    """Hold ``host``'s lock (one cell at a time on a machine) with a short lease, and keep
    Dask's sampling profiler off this worker while the cell measures."""
    import dask

    lease = host_lock_lease(dask.config.get("distributed.scheduler.locks.lease-timeout",
                                            None))
    # The lease is read as the lock is made (its renewal period) and first acquired (sent
    # to the scheduler with the lock's registration; the first registration of a name wins).
    with dask.config.set({"distributed.scheduler.locks.lease-timeout": f"{lease}s"}):
        lock = distributed.Lock(host_lock(host))
        lock.acquire()
    try:
        with _paused(distributed, PAUSED_CALLBACKS):
            yield
    finally:
        lock.release()


@contextlib.contextmanager
def _paused(distributed: Any, names: tuple[str, ...]) -> Iterator[None]:
    """Stop this worker's periodic callbacks ``names`` (on its event loop) and restart them."""
    try:
        worker = distributed.get_worker()
    except ValueError:  # not on a worker (a test calling the cell function directly)
        yield
        return
    callbacks = [worker.periodic_callbacks[n] for n in names if n in worker.periodic_callbacks]
    running = [pc for pc in callbacks if pc.is_running()]
    _on_loop(worker, lambda: [pc.stop() for pc in running])
    try:
        yield
    finally:
        _on_loop(worker, lambda: [pc.start() for pc in running])


def _on_loop(worker: Any, fn: Any) -> None:
    """Run ``fn`` on the worker's event loop (tornado callbacks are not thread-safe) and wait."""
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        finally:
            done.set()

    worker.loop.add_callback(run)
    done.wait(10)


_prepared: list[bool] = []


def _prepare_worker() -> None:
    """Once per worker process: its own session (so its own scheduling group, see
    ``own_session``), and the long-lived heap frozen, as ``fargate-sim run`` does."""
    from simulator.heap import freeze_long_lived

    if not _prepared:
        _prepared.append(own_session())
    freeze_long_lived()


def own_session() -> bool:
    """Make this worker process the leader of a new session; True if it did.

    Linux's autogroup scheduling (``kernel.sched_autogroup_enabled``, on by default on
    desktop and many server kernels) shares the CPUs fairly among sessions, then among the
    threads of each. A local run's cell is one busy thread in its session; a worker's cell
    shared its session with the client, the scheduler, the nannies and the other workers,
    whose brief wake-ups on other CPUs also take a part of the session's weight on the cell's
    CPU. On a machine busy with other sessions, worker cells got less CPU per wall second
    than local ones in 5 of 5 interleaved pairs (median share 0.31-0.42 against 0.46-0.59),
    while the cycles per byte of CPU they did get agreed. A session of its own puts a
    worker's cell where a local run's is; that it closes the gap is not shown (in 5 later
    pairs the worker cells still got less in 4). Only a process a nanny started (it has a
    parent) does this: in-process workers share the caller's process, left alone.
    """
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return False
    try:
        os.setsid()
    except OSError:  # already a session or process-group leader
        return False
    return True


@dataclass(frozen=True)
class CeilingPlan:
    """What a cell task needs to keep its host's ceilings up to date (see DaskExecutor)."""

    #: Names this executor call's per-host Dask Variables (``fargate-sim:ceilings:TOKEN:HOST``).
    token: str
    keys: tuple[SampleKey, ...]
    rounds: int
    #: The cell's place among the run's cells: round r is due from cell r * n / rounds on.
    index: int
    count: int
    #: Rounds each host measured before this call (a resumed run), from ceilings.jsonl.
    prior: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def variable(self, host: str) -> str:
        """The Dask Variable that holds ``host``'s samples of this call."""
        return f"fargate-sim:ceilings:{self.token}:{host}"

    def due(self) -> list[int]:
        """The rounds that should have been measured by the time this cell runs."""
        return [r for r in range(self.rounds) if r * self.count <= self.index * self.rounds]


def run_cell_on_worker(spec: Any, cell: Cell, plan: CeilingPlan
                       ) -> tuple[list[dict[str, Any]], float, str, dict[str, Any],
                                  list[dict[str, Any]]]:
    """Measure one benchmark cell alone on this machine, after the ceiling rounds its host
    owes by now: (rows, seconds, host, host env, the host's ceiling samples so far)."""
    from simulator.bench.datapath import default_datapath
    from simulator.bench.runners import runner_for

    distributed = _import_distributed()
    _prepare_worker()
    host = worker_host()
    runner = runner_for(spec.kind)
    datapath = default_datapath() if runner.uses_datapath else None
    ctx = RunContext(spec=spec, datapath=datapath)
    samples: list[dict[str, Any]] = []
    with machine_alone(distributed, host):
        if plan.rounds and datapath is not None:
            samples = _host_ceilings(spec, plan, host, datapath, distributed)
        t0 = time.perf_counter()
        rows = runner.run_cell(cell, ctx)
        seconds = time.perf_counter() - t0
    for row in rows:
        row["host"] = host
    return rows, seconds, host, _host_env(), samples


def _host_ceilings(spec: Any, plan: CeilingPlan, host: str, datapath: Any,
                   distributed: Any) -> list[dict[str, Any]]:
    """The host's samples of this run, after measuring the rounds due and not yet measured.

    Runs under the host's lock, so the host's Variable is read and written by one cell at a
    time however many workers the machine has.
    """
    variable = distributed.Variable(plan.variable(host))
    try:
        samples: list[dict[str, Any]] = list(variable.get(timeout=0))
    except TimeoutError:  # a host that joined after the run started
        samples = []
    done = set(plan.prior.get(host, ())) | {int(s["round"]) for s in samples}
    todo = [r for r in plan.due() if r not in done]
    if not todo:
        return samples
    engines = [engine_source(name, engine, desc, datapath.cipher_spec)
               for name, (engine, desc) in datapath.loops().items()]
    sources = sources_for(spec.measure.ceiling, engines, spec.measure.ceiling_seconds)
    for r in todo:
        measured: list[dict[str, Any]] = []
        sample_round(plan.keys, sources, r, measured.append)
        samples += [{**m, "host": host} for m in measured]
    variable.set(samples)
    return samples


def run_shard_on_worker(shape: Any, index: int, rep: int) -> Any:
    """One fleet shard (an account) on a worker."""
    from simulator.fleet.simulate import run_shard

    _prepare_worker()
    return run_shard(shape, index, rep)


# ------------------------------------------------------------------ the executor


class DaskExecutor:
    """Runs a run's cells on a Dask cluster; yields them in order for the run store.

    Each host measures its own ceilings: a cell measures, under its host's lock and before
    itself, the ceiling rounds its host owes by its place in the run (``measure.
    ceiling_rounds`` rounds, the first before the host's first cell, the rest spread among
    the cells), so every host that runs a cell has ceilings, however the scheduler spreads
    the cells. A cell's rows are paired with its own host's ceilings (``ctx.host_ceilings``);
    ceilings.jsonl's samples and meta.json's ``ceilings`` name their host.
    """

    #: The run does not sample ceilings on the machine that starts it (see above).
    ceilings_per_host = True

    def __init__(self, client: Any) -> None:
        self.client = client

    def shard_map(self, shape: Any, accounts: int, rep: int) -> list[Any]:
        """A fleet's shards as Dask tasks, gathered in account order."""
        futures = [self.client.submit(run_shard_on_worker, shape, i, rep, pure=False)
                   for i in range(accounts)]
        return list(self.client.gather(futures))

    def __call__(self, cells: list[Cell], runner: Runner, ctx: RunContext
                 ) -> Iterator[tuple[Cell, list[dict[str, Any]], float]]:
        if runner.runs_shards:
            # The fleet runner merges its shards; the shards are what runs on the cluster.
            ctx.cache["shard_map"] = self.shard_map
            for cell in cells:
                t0 = time.perf_counter()
                rows = runner.run_cell(cell, ctx)
                yield cell, rows, time.perf_counter() - t0
            return
        distributed = _import_distributed()
        store = RunStore(ctx.run_dir) if ctx.run_dir is not None else None
        keys = tuple(sorted(runner.ceiling_keys(cells)))
        measure = ctx.spec.measure
        samples: dict[str, dict[int, list[dict[str, Any]]]] = {}  # host -> round -> samples
        for sample in store.ceiling_samples() if store is not None else []:
            if sample.get("host"):  # a resumed run: what each host measured before
                samples.setdefault(sample["host"], {}).setdefault(
                    int(sample.get("round", 0)), []).append(sample)
        plan = CeilingPlan(
            token=uuid.uuid4().hex, keys=keys,
            rounds=measure.ceiling_rounds if keys and measure.ceiling != "none" else 0,
            index=0, count=len(cells),
            prior={h: tuple(sorted(rs)) for h, rs in samples.items()})
        variables = {}
        workers = self.client.run(worker_host)  # address -> host
        if plan.rounds:  # known hosts start empty (a host that joins later sets its own)
            for host in set(workers.values()):
                variables[host] = distributed.Variable(plan.variable(host), client=self.client)
                variables[host].set([])
        futures = [self.client.submit(
            run_cell_on_worker, ctx.spec, cell, replace(plan, index=i), resources={MACHINE: 1},
            workers=one_worker_per_host(workers), allow_other_workers=True,
            pure=False, key=f"cell-{cell.key}") for i, cell in enumerate(cells)]
        hosts: dict[str, Any] = {}
        lost: list[tuple[Cell, str]] = []
        try:
            for cell, future in zip(cells, futures, strict=True):
                try:
                    rows, seconds, host, host_env, measured = future.result()
                except distributed.KilledWorker as exc:
                    # Its worker died while it ran, as many times as the scheduler allows
                    # (distributed.scheduler.allowed-failures): leave it for --resume, keep
                    # the other workers' cells.
                    lost.append((cell, str(exc)))
                    continue
                if _record_ceilings(host, measured, samples, store):
                    ctx.host_ceilings = _publish_ceilings(samples, store)
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
            for variable in variables.values():
                with contextlib.suppress(Exception):
                    variable.delete()


def one_worker_per_host(workers: dict[str, str]) -> list[str]:
    """The workers benchmark cells are sent to: one per host (the first by address).

    A host's cells take turns under its lock anyway; sent to two workers of one machine,
    the one waiting for the lock was busy beside the one measuring (receiving and unpacking
    its cell, sending the last one's rows) and cells lost up to a third of their rate (on
    one machine, 8 alternated rounds: 0.65-1.0 of a plain process's with two workers, 1.02-
    1.31 with one). The restriction is loose: when a host's chosen worker is gone, its cells
    go to the workers left.
    """
    chosen: dict[str, str] = {}
    for address, host in sorted(workers.items()):
        chosen.setdefault(host, address)
    return sorted(chosen.values())


def _record_ceilings(host: str, measured: list[dict[str, Any]],
                     samples: dict[str, dict[int, list[dict[str, Any]]]],
                     store: RunStore | None) -> bool:
    """Append the rounds of ``measured`` not yet recorded to ceilings.jsonl; True if any."""
    known = samples.setdefault(host, {})
    new: dict[int, list[dict[str, Any]]] = {}
    for sample in measured:
        r = int(sample.get("round", 0))
        if r not in known:
            new.setdefault(r, []).append(sample)
    for r, round_samples in sorted(new.items()):
        known[r] = round_samples
        for sample in round_samples:
            if store is not None:
                store.append_ceiling(sample)
    return bool(new)


def _publish_ceilings(samples: dict[str, dict[int, list[dict[str, Any]]]],
                      store: RunStore | None) -> dict[str, dict[SampleKey, Ceiling]]:
    """Each host's ceilings (median of its rounds), also into meta.json naming the host."""
    table = {host: aggregate(s for r in sorted(rounds) for s in rounds[r])
             for host, rounds in samples.items() if rounds}
    if store is not None:
        store.update_meta(ceilings=_listed(table))
    return table


def host_ceilings(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """meta.json's ``ceilings`` of a run whose samples name their host: each host's own."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        if sample.get("host"):
            by_host.setdefault(sample["host"], []).append(sample)
    return _listed({host: aggregate(xs) for host, xs in by_host.items()})


def _listed(table: dict[str, dict[SampleKey, Ceiling]]) -> list[dict[str, Any]]:
    return [{**c.to_dict(), "host": host}
            for host, ceilings in sorted(table.items()) for c in ceilings.values()]


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
        paired = _ceilings_by(run, column, keys, values)
        if paired is not None:
            lines.append("each host's ceiling (the fastest library loop measured on that "
                         "host, MiB/s) and the cell's share of it:")
            lines.append(paired.to_string(index=False))
    hosts = run.meta.get("hosts", {})
    for name in values:
        cpu = hosts.get(name, {}).get("cpu", {}).get("model") if hosts else None
        if cpu:
            lines.append(f"{name}: {cpu}")
    return "\n".join(lines) + "\n"


def _ceilings_by(run: Any, column: str, keys: list[str], values: list[str]) -> Any:
    """The summary's ceiling and ratio to it per ``column`` value, or None without ceilings."""
    import pandas as pd

    summary = run.summary
    if "ceiling_mib_s" not in summary or not summary["ceiling_mib_s"].notna().any():
        return None
    if column not in summary:  # one host: the summary does not split by it
        summary = summary.assign(**{column: values[0]})
    keys = [k for k in keys if k in summary]
    grouped = summary.groupby([*keys, column], dropna=False, sort=False)
    table = pd.concat([
        grouped["ceiling_mib_s"].first().unstack(column).add_suffix(" ceiling"),
        grouped["ratio_to_ceiling"].first().unstack(column).add_suffix(" of ceiling"),
    ], axis=1).reset_index()
    varying = [k for k in keys if table[k].astype(str).nunique() > 1]
    return table[[*varying, *[c for c in table.columns if c not in keys]]]
