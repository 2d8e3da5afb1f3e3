"""Control-plane rate: launch+stop of Fargate tasks with a customer managed key, per second.

Exactly the per-task KMS sequence (dry-run GenerateDataKeyWithoutPlaintext and CreateGrant,
the real ones, Decrypt through the grant, RetireGrant at stop) with RunTask/StopTask, through
parameter validation, policy evaluation and the audit trail; no data written (the
``_with_data`` variant writes 1 MiB into each volume, as ``test_bench_ecs`` does). Goal
(issue 13): 2,000 tasks/s on one core. ``python -m tests.benchmarks.task_rate`` prints the
figure without pytest. No assertion on timing; the assertions check the work was done.
"""

from __future__ import annotations

import pytest

from tests.benchmarks.task_rate import Workload


@pytest.mark.parametrize("write", [False, True], ids=["control_plane", "with_data"])
def test_bench_launch_and_stop_rate_of_cmk_tasks(benchmark, write):
    work = Workload(batch=10, write=write)
    work.round()  # warm caches: models, compiled checks
    before = len(work.sim.audit_trail)
    arns = benchmark(work.round)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["tasks_per_second"] = round(work.batch / stats.stats.mean, 1)
        benchmark.extra_info["tasks_per_second_median"] = round(
            work.batch / stats.stats.median, 1)
    described = work.ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
    assert {t["lastStatus"] for t in described} == {"STOPPED"}
    assert work.sim.client("kms").list_grants(KeyId=work.key)["Grants"] == []
    names = [r["eventName"] for r in work.sim.audit_trail[before:]
             if r["eventSource"] == "kms.amazonaws.com"]
    rounds = names.count("Decrypt") // work.batch
    assert rounds >= 1
    for op in ("GenerateDataKeyWithoutPlaintext", "CreateGrant"):
        assert names.count(op) == 2 * work.batch * rounds  # the dry run and the real call
    assert names.count("RetireGrant") == work.batch * rounds
