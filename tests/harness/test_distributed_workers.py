"""Dask runs on worker processes: a worker killed mid-run, and hosts with their own ceilings.

The cluster is two worker processes (each under a Nanny, as ``dask worker`` starts them),
each told a different host name (``FARGATE_SIM_HOST``), so one machine stands for two.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed",
                                  reason="Dask is an extra: pip install -e '.[distributed]'")
import dask  # noqa: E402

from simulator.bench import RunInterrupted, load_run, parse_spec_text, run_experiment  # noqa: E402
from simulator.bench import distributed as dist  # noqa: E402
from simulator.bench.grid import expand  # noqa: E402
from simulator.bench.store import CELLS, read_cells  # noqa: E402

pytestmark = pytest.mark.slow  # worker processes take seconds to start

HOSTS = ("host-a", "host-b")

THROUGHPUT = """name = "tp_workers"
kind = "throughput"
[measure]
warmup = 0
repetitions = 2
min_time = 0.001
ceiling = "none"
[grid]
cipher = ["aes-xts-plain64", "aes-gcm-random"]
sector_size = [512, 4096]
batch = ["64k"]
engine = ["cryptography"]
"""


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and two Nanny-run worker processes, one per pretend host.

    ``allowed-failures = 0``: the scheduler gives up on a cell the first time its worker
    dies (the default, 3, reruns it on another worker: then no cell is ever lost). A dead
    worker's claim on its machine's lock lapses after the lease timeout (30 s by default;
    3 s here, and the workers, which inherit this config, refresh theirs every 0.6 s).
    """
    workers = {host: {"cls": distributed.Nanny, "options": {
        "nthreads": 1, "resources": {dist.MACHINE: 1}, "host": "127.0.0.1",
        "dashboard_address": dist.LOOPBACK_ANY_PORT,
        "env": {"FARGATE_SIM_HOST": host}}} for host in HOSTS}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.locks.lease-timeout": "3s",
                          "distributed.scheduler.locks.lease-validation-interval": "0.5s"}):
        # (for the whole test: the scheduler reads the lease timeout when it checks leases)
        spec_cluster = distributed.SpecCluster(
            workers=workers, scheduler={"cls": distributed.Scheduler, "options": {
                "dashboard_address": dist.LOOPBACK_ANY_PORT, "host": "127.0.0.1"}})
        client = distributed.Client(spec_cluster, set_as_default=False)
        client.wait_for_workers(len(HOSTS))
        try:
            yield client
        finally:
            client.close()
            spec_cluster.close()


def _workers_by_host(client: Any) -> dict[str, str]:
    return {host: addr for addr, host in client.run(dist.worker_host).items()}


def _executing(dask_worker: Any) -> list[str]:
    """The keys of the tasks a worker is executing now (run on the worker)."""
    return [ts.key for ts in dask_worker.state.executing]


def _wait(what: str, ok: Any, seconds: float = 120.0) -> None:
    """Poll until ``ok()``; a guard against a hang, not a timing assertion."""
    deadline = time.monotonic() + seconds
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _run_and_kill(spec: Any, tmp_path: Path, cluster: Any, host: str = "host-b"
                  ) -> tuple[dict[str, Any], str, set[str]]:
    """Run ``spec`` on the cluster and SIGKILL ``host``'s worker process while a cell is under
    way: (the run's result or error, the cell under way, the cells the worker held)."""
    executor = dist.DaskExecutor(cluster)
    # Hold both machines' locks: each worker takes a cell and waits for its machine, so the
    # kill lands while a cell is under way, not between cells.
    with cluster.as_current():
        locks = [distributed.Lock(dist.host_lock(h)) for h in HOSTS]
    for lock in locks:
        assert lock.acquire(timeout=30)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = run_experiment(spec, out=tmp_path, plots=False,
                                               executor=executor)
        except BaseException as exc:
            outcome["error"] = exc

    runner = threading.Thread(target=run)
    runner.start()
    try:
        victim = _workers_by_host(cluster)[host]
        _wait("a cell under way on each worker",
              lambda: all(len(keys) == 1 for keys in cluster.run(_executing).values()))
        (under_way,) = cluster.run(_executing)[victim]
        theirs = set(cluster.processing()[victim])  # under way, or queued behind it
        pid = cluster.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        _wait("the scheduler to see the worker gone",
              lambda: victim not in cluster.scheduler_info()["workers"])
    finally:
        for lock in locks:
            lock.release()
        runner.join(300)
    assert not runner.is_alive()
    return outcome, under_way, theirs


def test_a_worker_killed_mid_run_leaves_its_cells_to_resume(tmp_path: Path, cluster) -> None:
    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_workers.toml")
    executor = dist.DaskExecutor(cluster)
    outcome, under_way, theirs = _run_and_kill(spec, tmp_path, cluster)
    error = outcome.get("error")
    assert isinstance(error, RunInterrupted), outcome
    assert f"{len(theirs)} cells lost with their workers and not done" in str(error)
    assert f"resume with: fargate-sim run --resume {error.path}" in str(error)

    # Every other cell is recorded whole; the lost one is not done.
    lines = (error.path / CELLS).read_text().splitlines()
    records = [json.loads(line) for line in lines]  # no torn or partial line
    done = {r["cell"] for r in records}
    cells = {c.key for c in expand(spec)}
    lost = {f"cell-{k}" for k in cells - done}
    assert under_way in theirs and lost == theirs and len(theirs) < len(cells)
    assert len(records) == len(done) == error.done == len(cells) - len(lost)
    run = load_run(error.path)
    assert run.status == "failed" and len(run.rows) == 2 * len(done)
    assert run.meta["cells_done"] == len(done) and "WorkerLost" in run.meta["error"]

    # The Nanny restarted the worker; --resume runs the lost cells and nothing else.
    cluster.wait_for_workers(len(HOSTS))
    result = run_experiment(spec, resume=error.path, plots=False, executor=executor)
    assert result.cells_skipped == len(done) and result.cells_run == len(lost)
    run = load_run(error.path)
    assert run.status == "complete" and len(run.rows) == 2 * len(cells)
    assert {r["cell"] for r in read_cells(error.path)} == cells


CEILINGS = THROUGHPUT.replace('ceiling = "none"', 'ceiling = "native"\nceiling_rounds = 1')


def test_with_dask_allowed_to_retry_a_killed_workers_cells_run_elsewhere(tmp_path: Path,
                                                                          cluster) -> None:
    def allowed(n: int) -> Any:
        def set_on(dask_scheduler: Any) -> None:
            dask_scheduler.allowed_failures = n
        return set_on

    cluster.run_on_scheduler(allowed(3))  # Dask's default
    try:
        spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_workers.toml")
        outcome, _, theirs = _run_and_kill(spec, tmp_path, cluster)
    finally:
        cluster.run_on_scheduler(allowed(0))
    result = outcome.get("result")
    assert result is not None, outcome
    cells = {c.key for c in expand(spec)}
    assert theirs and result.cells_run == len(cells)
    assert [r["cell"] for r in read_cells(result.path)].count(next(iter(cells))) == 1
    assert {r["cell"] for r in read_cells(result.path)} == cells
    assert load_run(result.path).status == "complete"
    cluster.wait_for_workers(len(HOSTS))


def test_each_host_measures_its_own_ceilings_and_cells_pair_with_them(tmp_path: Path,
                                                                      cluster, capsys) -> None:
    from simulator.bench.ceiling import aggregate
    from simulator.cli import main

    # both machines up, and free (a killed worker's lock lease lapses after a few seconds)
    cluster.wait_for_workers(len(HOSTS))
    with cluster.as_current():
        for h in HOSTS:
            lock = distributed.Lock(dist.host_lock(h))
            assert lock.acquire(timeout=30)
            lock.release()
    spec = parse_spec_text(CEILINGS, path=tmp_path / "tp_workers.toml")
    result = run_experiment(spec, out=tmp_path, plots=False,
                            executor=dist.DaskExecutor(cluster))
    run = load_run(result.path)
    assert run.status == "complete" and set(run.rows["host"]) == set(HOSTS)
    samples = [json.loads(line) for line in
               (result.path / "ceilings.jsonl").read_text().splitlines()]
    assert {s["host"] for s in samples} == set(HOSTS)  # measured on each host, none here
    own = {h: aggregate(s for s in samples if s["host"] == h) for h in HOSTS}
    # one round each (ceiling_rounds = 1), however many cells a host ran
    for h in HOSTS:
        assert {s["round"] for s in samples if s["host"] == h} == {0}
        assert len([s for s in samples if s["host"] == h]) == len(
            {(s["cipher"], s["unit"], s["op"], s["source"]) for s in samples if s["host"] == h})
    assert {c["host"] for c in run.meta["ceilings"]} == set(HOSTS)

    # Every row is paired with its own host's ceiling, in the table and in the summary.
    for row in run.rows.to_dict("records"):
        op = "encrypt" if row["op"] == "encrypt" else "decrypt"
        mine = own[row["host"]][(row["cipher"], int(row["key_bits"]),
                                 int(row["sector_size"]), op, 1)]
        assert row["ceiling_mib_s"] == pytest.approx(mine.mib_s)
        assert row["ratio_to_ceiling"] == pytest.approx(row["mib_s"] / mine.mib_s)
    summary = run.summary
    assert set(summary["host"]) == set(HOSTS)
    for rec in summary.to_dict("records"):
        op = "encrypt" if rec["op"] == "encrypt" else "decrypt"
        mine = own[rec["host"]][(rec["cipher"], int(rec["key_bits"]),
                                 int(rec["sector_size"]), op, 1)]
        assert rec["ceiling_mib_s"] == pytest.approx(mine.mib_s)
    # the hosts' loops were timed apart: their figures differ
    key = next(iter(own["host-a"]))
    assert own["host-a"][key].bytes_per_s != own["host-b"][key].bytes_per_s

    assert main(["compare", "--by", "host", str(result.path)]) == 0
    out = capsys.readouterr().out
    assert "each host's ceiling" in out
    assert "host-a ceiling" in out and "host-b ceiling" in out and "host-b of ceiling" in out


def test_ceiling_rounds_fall_due_through_the_cells() -> None:
    plan = dist.CeilingPlan(token="t", keys=(), rounds=3, index=0, count=9)
    assert [dist.replace(plan, index=i).due() for i in (0, 2, 3, 5, 6, 8)] == [
        [0], [0], [0, 1], [0, 1], [0, 1, 2], [0, 1, 2]]
    assert dist.replace(plan, rounds=0).due() == []
    assert plan.variable("host-a") == "fargate-sim:ceilings:t:host-a"


def test_worker_processes_run_their_cells_in_sessions_of_their_own(tmp_path: Path,
                                                                   cluster) -> None:
    # the kernel shares CPU among sessions (autogroup): a cell shares it with no Dask process
    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_workers.toml")
    run_experiment(spec, out=tmp_path, plots=False, executor=dist.DaskExecutor(cluster))
    sessions = cluster.run(os.getsid, 0)
    assert len(set(sessions.values())) == len(HOSTS)
    assert os.getsid(0) not in sessions.values()
    assert all(sid == pid for sid, pid in zip(sessions.values(),
                                              cluster.run(os.getpid).values(), strict=True))
