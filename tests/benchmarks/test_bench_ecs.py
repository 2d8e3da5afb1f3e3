"""Task launch and stop speed with a customer managed key: the goal is 500 tasks/s on one core.

One round: RunTask of 10 tasks on a cluster with a Fargate ephemeral storage key (the full KMS
sequence per task, through KMS's front door and the audit trail), settle to RUNNING, write
1 MiB into each task's encrypted volume, StopTask each, settle to STOPPED (RetireGrant).

Run with ``python -m pytest tests/benchmarks/test_bench_ecs.py --benchmark-enable``; the
tasks-per-second figure is in the benchmark's ``extra_info``. By default
(``--benchmark-disable``) the round runs once as a plain test. No assertion on timing.
"""

from __future__ import annotations

from simulator import Simulation
from tests.ecs.helpers import CMK_START, NET, make_cluster, make_key, register

TASKS_PER_ROUND = 10
PAYLOAD = b"\xa5" * (1 << 20)


def test_bench_launch_and_stop_tasks_with_a_customer_key(benchmark):
    sim = Simulation()  # quotas on: the simulated clock advances ~21 s a round
    key = make_key(sim)
    make_cluster(sim, key=key)
    td = register(sim)
    ecs = sim.client("ecs")
    kms = sim.client("kms")

    def round_trip() -> list[str]:
        tasks = ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                             networkConfiguration=NET, count=TASKS_PER_ROUND)["tasks"]
        arns = [t["taskArn"] for t in tasks]
        sim.fargate.settle()
        for arn in arns:
            sim.fargate.volume(arn).write(0, PAYLOAD)
        for arn in arns:
            ecs.stop_task(cluster="prod", task=arn)
        sim.fargate.settle()
        return arns

    before = len(sim.audit_trail)
    arns = benchmark(round_trip)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["tasks_per_second"] = round(TASKS_PER_ROUND / stats.stats.mean, 1)
        benchmark.extra_info["tasks_per_second_median"] = round(
            TASKS_PER_ROUND / stats.stats.median, 1)
    described = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
    assert {t["lastStatus"] for t in described} == {"STOPPED"}
    assert {t["stopCode"] for t in described} == {"UserInitiated"}
    assert kms.list_grants(KeyId=key)["Grants"] == []
    names = [r["eventName"] for r in sim.audit_trail[before:]
             if r["eventSource"] == "kms.amazonaws.com"]
    # Each task's dry runs come DRY_RUN_LEAD_SECONDS before its real calls (AWS's CloudTrail
    # example), so the ten tasks' dry runs come first, then their real calls, task by task.
    dry = CMK_START[:2] * TASKS_PER_ROUND
    assert names[: len(dry)] == dry
    assert names[len(dry): len(dry) + 3 * TASKS_PER_ROUND] == CMK_START[2:] * TASKS_PER_ROUND
    assert names.count("RetireGrant") == names.count("Decrypt")
