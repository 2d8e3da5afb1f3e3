"""Print the launch+stop rate of Fargate tasks with a customer managed key (tasks/s).

One task's launch+stop is the whole control-plane sequence: RunTask, the Fargate agent's
dry-run GenerateDataKeyWithoutPlaintext and CreateGrant, the real ones, Decrypt through the
grant, StopTask, RetireGrant, each through parameter validation, policy evaluation and the
audit trail. ``--write`` also writes 1 MiB into each task's encrypted volume (the data path).

    python -m tests.benchmarks.task_rate [--tasks 2000] [--batch 10] [--write] [--repeat 3]
    python -m tests.benchmarks.task_rate --calls     # Python function calls per task (cProfile)
    python -m tests.benchmarks.task_rate --cpu       # tasks per second of CPU time
    python -m tests.benchmarks.task_rate --fleet 10000 --cpu   # one churn fleet shard

``--fleet N`` runs one fleet shard instead: N standalone tasks arriving at 15/s over four
clusters and one key, living about ten minutes (``experiments/fleet_churn.toml``'s shape),
sampled every simulated second; its rate counts the whole shard, sampler included.

Wall-clock figures depend on the machine's load; ``--calls`` is deterministic.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time

from simulator import Simulation
from simulator.heap import freeze_long_lived
from tests.ecs.helpers import NET, make_cluster, make_key, register

PAYLOAD = b"\xa5" * (1 << 20)


class Workload:
    """A simulation with a CMK cluster, ready to launch and stop batches of tasks."""

    def __init__(self, batch: int = 10, write: bool = False) -> None:
        self.sim = Simulation()  # quotas on, as in the benchmark
        self.key = make_key(self.sim)
        make_cluster(self.sim, key=self.key)
        self.td = register(self.sim)
        self.ecs = self.sim.client("ecs")
        self.batch = batch
        self.write = write

    def round(self) -> list[str]:
        """Launch ``batch`` tasks, settle to RUNNING, stop them, settle to STOPPED (a batch
        over 10 has that many tasks running at once: more grants per key to search)."""
        sim, ecs = self.sim, self.ecs
        arns: list[str] = []
        for first in range(0, self.batch, 10):  # RunTask takes at most 10 at a time
            arns += [t["taskArn"] for t in ecs.run_task(
                cluster="prod", taskDefinition=self.td, launchType="FARGATE",
                networkConfiguration=NET, count=min(10, self.batch - first))["tasks"]]
        sim.fargate.settle()
        if self.write:
            for arn in arns:
                sim.fargate.volume(arn).write(0, PAYLOAD)
        for arn in arns:
            ecs.stop_task(cluster="prod", task=arn)
        sim.fargate.settle()
        return arns


def rate(tasks: int, batch: int, write: bool, cpu: bool = False) -> float:
    """Tasks launched and stopped per second of wall time (``cpu``: of this process's CPU
    time, less sensitive to other processes on a shared machine), after
    ``freeze_long_lived``, as the CLI's ``run`` does before it simulates."""
    freeze_long_lived()
    w = Workload(batch, write)
    w.round()  # warm: models, validators, caches
    # The previous repetition's simulation is cyclic garbage: free it now, not in the first
    # full collection of this one's timed rounds (it was ~10% of a later repetition's time).
    gc.collect()
    rounds = max(1, tasks // batch)
    clock = time.process_time if cpu else time.perf_counter
    start = clock()
    for _ in range(rounds):
        w.round()
    return rounds * batch / (clock() - start)


def fleet_rate(tasks: int, cpu: bool = False) -> float:
    """Tasks of one churn fleet shard simulated per second (wall or CPU time)."""
    from simulator.fleet.shape import FleetShape
    from simulator.fleet.simulate import run_shard

    freeze_long_lived()
    gc.collect()
    shape = FleetShape.from_params({
        "pattern": "churn", "tasks": tasks, "rate": 15.0, "clusters": 4, "keys": "shared",
        "lifetime": {"dist": "exponential", "mean": 600}, "seed": 1, "horizon": 7200})
    clock = time.process_time if cpu else time.perf_counter
    start = clock()
    run_shard(shape)
    return tasks / (clock() - start)


def calls_per_task(tasks: int, batch: int, write: bool) -> float:
    """Python function calls per task launch+stop, counted by cProfile (deterministic)."""
    w = Workload(batch, write)
    w.round()
    rounds = max(1, tasks // batch)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(rounds):
        w.round()
    prof.disable()
    stats = pstats.Stats(prof)
    return stats.total_calls / (rounds * batch)  # type: ignore[attr-defined]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=2000)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--write", action="store_true", help="write 1 MiB into each volume")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--calls", action="store_true", help="count function calls per task")
    p.add_argument("--cpu", action="store_true",
                   help="tasks per second of CPU time instead of wall time")
    p.add_argument("--fleet", type=int, metavar="N",
                   help="run one churn fleet shard of N tasks instead")
    a = p.parse_args()
    if a.fleet:
        rates = [fleet_rate(a.fleet, a.cpu) for _ in range(a.repeat)]
        print(f"fleet shard of {a.fleet} tasks{' (CPU time)' if a.cpu else ''}: best "
              f"{max(rates):.0f} tasks/s, runs " + ", ".join(f"{r:.0f}" for r in rates))
        return
    if a.calls:
        print(f"{calls_per_task(min(a.tasks, 200), a.batch, a.write):.0f} calls/task")
        return
    rates = [rate(a.tasks, a.batch, a.write, a.cpu) for _ in range(a.repeat)]
    print(f"launch+stop{' +1 MiB write' if a.write else ''}{' (CPU time)' if a.cpu else ''}: "
          f"best {max(rates):.0f} tasks/s, runs " + ", ".join(f"{r:.0f}" for r in rates))


if __name__ == "__main__":
    main()
