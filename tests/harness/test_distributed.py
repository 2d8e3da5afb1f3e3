"""Runs on Dask distributed: cells on a two-worker LocalCluster merge into one run directory."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="Dask is an extra: pip install -e '.[distributed]'")

from simulator.bench import RunInterrupted, load_run, parse_spec_text, run_experiment
from simulator.bench import distributed as dist
from simulator.cli import main
from simulator.fleet import FleetShape, run_shard, summarize_shards

THROUGHPUT = """name = "tp_dask"
kind = "throughput"
[measure]
warmup = 0
repetitions = 2
min_time = 0.001
ceiling = "none"
[grid]
cipher = ["aes-xts-plain64"]
sector_size = [4096]
batch = ["64k"]
engine = ["cryptography"]
"""


@pytest.fixture(scope="module")
def client():
    with dist.dask_client(workers=2, processes=False) as c:
        yield c


def test_throughput_cells_run_on_the_cluster_into_one_run_directory(tmp_path: Path,
                                                                   client) -> None:
    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_dask.toml")
    result = run_experiment(spec, out=tmp_path, plots=False, executor=dist.DaskExecutor(client))
    run = load_run(result.path)
    assert result.cells_total == 4 and run.status == "complete" and len(run.rows) == 8
    assert set(run.rows["host"]) == {dist.env.HOST}
    host = run.meta["hosts"][dist.env.HOST]
    assert host["cpu"]["model"] is not None and "packages" in host and "openssl" in host
    text = dist.compare_by(run, "host")
    assert f"by host: {dist.env.HOST}" in text and "aes-xts-plain64" in text


def test_an_interrupted_distributed_run_resumes_like_a_local_one(tmp_path: Path,
                                                                client) -> None:
    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_dask.toml")
    executor = dist.DaskExecutor(client)

    def stops_after_two(cells, runner, ctx):
        for i, item in enumerate(executor(cells, runner, ctx)):
            if i == 2:
                raise KeyboardInterrupt
            yield item

    with pytest.raises(RunInterrupted) as info:
        run_experiment(spec, out=tmp_path, plots=False, executor=stops_after_two)
    path = info.value.path
    assert info.value.done == 2 and load_run(path).status == "interrupted"
    result = run_experiment(spec, resume=path, plots=False, executor=executor)
    assert result.cells_skipped == 2 and result.cells_run == 2
    assert len(load_run(path).rows) == 8


def test_fleet_shards_on_the_cluster_merge_to_the_local_result(client) -> None:
    shape = FleetShape.from_params({"tasks": 30, "accounts": 2, "provisioning_jitter": 0.3,
                                    "quotas": {"CreateGrant": 20}})
    remote = dist.DaskExecutor(client).shard_map(shape, 2, 0)
    local = [run_shard(shape, i, 0) for i in range(2)]
    assert [r.account for r in remote] == [r.account for r in local]
    row_r, tl_r = summarize_shards(shape, remote)
    row_l, tl_l = summarize_shards(shape, local)
    assert tl_r.equals(tl_l)
    for key in ("started", "failed_to_start", "kms_requests", "kms_throttled", "start_p99_s"):
        assert row_r[key] == row_l[key], key
    assert row_l["tasks_total"] == 60 and row_l["peak_grants"] > 30  # both accounts' grants


def test_a_scheduler_that_cannot_be_reached_is_one_line(monkeypatch, capsys,
                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(dist, "CONNECT_TIMEOUT", 0.5)
    spec = tmp_path / "tp.toml"
    spec.write_text(THROUGHPUT)
    code = main(["run", str(spec), "--out", str(tmp_path / "r"), "--scheduler",
                 "tcp://127.0.0.1:9", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("fargate-sim run: ") and \
        "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["run", str(spec), "--workers", "2", "--scheduler", "tcp://x:1"]) == 2
    assert not (tmp_path / "r").exists()


def test_compare_by_host_shows_the_same_cipher_on_each_machine(tmp_path: Path, client,
                                                               capsys) -> None:
    import pandas as pd

    from simulator.bench.store import Run

    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_dask.toml")
    path = run_experiment(spec, out=tmp_path, plots=False,
                          executor=dist.DaskExecutor(client)).path
    assert main(["compare", "--by", "host", str(path)]) == 0
    assert f"by host: {dist.env.HOST}" in capsys.readouterr().out
    run = load_run(path)
    # the same cells measured on a second machine, twice as fast
    other = run.rows.assign(host="zz-second-machine", mib_s=run.rows["mib_s"] * 2)
    both = Run(path=run.path, meta=run.meta, rows=pd.concat([run.rows, other]))
    text = dist.compare_by(both, "host")
    assert f"by host: {dist.env.HOST}, zz-second-machine" in text
    assert f"zz-second-machine / {dist.env.HOST}" in text and "2.00" in text
    assert set(both.summary["host"]) == {dist.env.HOST, "zz-second-machine"}


def test_a_distributed_run_resumed_here_keeps_each_hosts_ceilings(tmp_path: Path,
                                                                 client) -> None:
    import json

    text = THROUGHPUT.replace('ceiling = "none"', 'ceiling = "native"\nceiling_rounds = 1')
    spec = parse_spec_text(text, path=tmp_path / "tp_dask.toml")
    executor = dist.DaskExecutor(client)

    def stops_after_two(cells, runner, ctx):
        for i, item in enumerate(executor(cells, runner, ctx)):
            if i == 2:
                raise KeyboardInterrupt
            yield item

    stops_after_two.ceilings_per_host = True  # type: ignore[attr-defined]
    with pytest.raises(RunInterrupted) as info:
        run_experiment(spec, out=tmp_path, plots=False, executor=stops_after_two)
    path = info.value.path
    before = (path / "ceilings.jsonl").read_text().splitlines()
    assert before and all(json.loads(line)["host"] == dist.env.HOST for line in before)
    # resumed without Dask: this machine is that host, its round is not measured again
    result = run_experiment(spec, resume=path, plots=False)
    assert result.cells_run == 2
    after = [json.loads(line) for line in (path / "ceilings.jsonl").read_text().splitlines()]
    assert len(after) == len(before) and {s["round"] for s in after} == {0}
    run = load_run(path)
    assert {c["host"] for c in run.meta["ceilings"]} == {dist.env.HOST}
    assert run.rows["ceiling_mib_s"].notna().all() and run.summary["ceiling_mib_s"].notna().all()


def test_cells_on_one_host_never_overlap(tmp_path: Path, client, monkeypatch) -> None:
    # two workers, one machine: the host lock makes them take turns
    import threading
    import time

    from simulator.bench.runners.throughput import ThroughputRunner

    windows: list[tuple[float, float]] = []
    lock = threading.Lock()
    real = ThroughputRunner.run_cell

    def run_cell(self, cell, ctx):
        t0 = time.monotonic()
        rows = real(self, cell, ctx)
        with lock:
            windows.append((t0, time.monotonic()))
        return rows

    monkeypatch.setattr(ThroughputRunner, "run_cell", run_cell)  # in-process workers
    assert len(client.scheduler_info()["workers"]) == 2
    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_dask.toml")
    run_experiment(spec, out=tmp_path, plots=False, executor=dist.DaskExecutor(client))
    windows.sort()
    assert len(windows) == 4
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(windows))
    # with a lease that lets a dead worker's machine go after 10 s, not Dask's 30 s
    name = dist.host_lock(dist.env.HOST)
    assert client.run_on_scheduler(
        lambda dask_scheduler: dask_scheduler.extensions["semaphores"].lease_timeouts[name]
    ) == dist.HOST_LOCK_LEASE


def test_a_cluster_started_here_runs_without_the_profiler_and_with_a_slow_tick(client
                                                                              ) -> None:
    def callbacks(dask_worker):
        return sorted(dask_worker.periodic_callbacks)

    for names in client.run(callbacks).values():
        assert "profile" not in names and "heartbeat" in names
    assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler._tick_interval) == 1.0


def test_a_workers_profiler_is_paused_while_a_cell_measures() -> None:
    # a worker someone else started (dask worker ...) keeps Dask's default profiler on
    import distributed

    def profiling() -> tuple[bool, bool]:
        worker = distributed.get_worker()
        with dist.machine_alone(distributed, "pretend-host"):
            during = worker.periodic_callbacks["profile"].is_running()
        return during, worker.periodic_callbacks["profile"].is_running()

    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                                  dashboard_address=dist.LOOPBACK_ANY_PORT) as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        assert c.submit(profiling, pure=False).result() == (False, True)


def test_the_host_lock_lease_is_short_unless_configured_shorter() -> None:
    assert dist.host_lock_lease("30s") == dist.HOST_LOCK_LEASE == 10.0
    assert dist.host_lock_lease("3s") == 3.0
    assert dist.host_lock_lease("inf") == dist.host_lock_lease(None) == 10.0


def test_cycles_per_byte_use_each_hosts_own_clock(tmp_path: Path, client) -> None:
    import pandas as pd

    from simulator.bench.store import Run

    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_dask.toml")
    path = run_experiment(spec, out=tmp_path, plots=False,
                          executor=dist.DaskExecutor(client)).path
    run = load_run(path)
    here = run.meta["hosts"][dist.env.HOST]["clock"]
    assert here["hz"] > 0 and here["method"]
    # a second machine whose TSC ticks twice as fast, measuring the same rates
    hosts = {**run.meta["hosts"], "zz-fast-tsc": {**run.meta["hosts"][dist.env.HOST],
                                                   "clock": {**here, "hz": here["hz"] * 2}}}
    other = run.rows.assign(host="zz-fast-tsc")
    both = Run(path=run.path, meta={**run.meta, "hosts": hosts},
               rows=pd.concat([run.rows, other]))
    s = both.summary.set_index(["host", "cipher", "sector_size", "op"])
    first, second = s.xs(dist.env.HOST), s.xs("zz-fast-tsc")
    assert (second["cycles_per_byte"] / first["cycles_per_byte"]).round(6).eq(2).all()
    # (a cell of these tiny repetitions can get no CPU of its own counted: 0 / 0 left out)
    cpu = (second["cpu_cycles_per_byte"] / first["cpu_cycles_per_byte"]).dropna()
    assert len(cpu) and cpu.round(6).eq(2).all()
    # one host: its own clock too, not the starting machine's
    alone = Run(path=run.path, meta={**run.meta, "hosts": {dist.env.HOST: hosts["zz-fast-tsc"]},
                                     "clock": here}, rows=run.rows)
    assert (alone.summary["cycles_per_byte"] / run.summary["cycles_per_byte"]).round(6).eq(2).all()


def test_benchmark_cells_go_to_one_worker_per_host(tmp_path: Path, client, monkeypatch
                                                   ) -> None:
    # two workers on this machine: the cells take turns anyway, so one worker runs them all
    import distributed

    from simulator.bench.runners.throughput import ThroughputRunner

    ran: list[str] = []
    real = ThroughputRunner.run_cell

    def run_cell(self, cell, ctx):
        ran.append(distributed.get_worker().address)
        return real(self, cell, ctx)

    monkeypatch.setattr(ThroughputRunner, "run_cell", run_cell)  # in-process workers
    assert len(client.scheduler_info()["workers"]) == 2
    spec = parse_spec_text(THROUGHPUT, path=tmp_path / "tp_dask.toml")
    run_experiment(spec, out=tmp_path, plots=False, executor=dist.DaskExecutor(client))
    assert len(ran) == 4 and len(set(ran)) == 1
    assert ran[0] == min(client.scheduler_info()["workers"])
    assert dist.one_worker_per_host({"tcp://b:2": "m1", "tcp://a:1": "m1", "tcp://c:3": "m2"}
                                    ) == ["tcp://a:1", "tcp://c:3"]
