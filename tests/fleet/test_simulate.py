"""Fleets through the real simulator: KMS's quotas throttle Fargate, Fargate retries, tasks
run or fail to start, and every count comes from the audit trail."""

from __future__ import annotations

from simulator.errors import ClientError
from simulator.fleet import FleetShape, run_shard, summarize_shards
from simulator.fleet.simulate import _Shard


def shape(**params: object) -> FleetShape:
    return FleetShape.from_params({"provisioning_jitter": 0.0, **params})


def test_the_audit_trail_records_throttled_kms_calls() -> None:
    sh = _Shard(shape(tasks=10, quotas={"CreateGrant": 1}), 0, 0)
    kms = sh.sim.client("kms")
    key = sh.key_ids[0]
    for _ in range(3):
        try:
            kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:root",
                             Operations=["Decrypt"])
        except ClientError as exc:
            assert exc.code == "ThrottlingException"
    codes = [r.get("errorCode") for r in sh.sim.audit_trail if r["eventName"] == "CreateGrant"]
    assert codes == [None, "ThrottlingException", "ThrottlingException"]


def test_an_unthrottled_fleet_makes_fargates_sequence_once_per_task() -> None:
    s = shape(tasks=40, quotas={"CreateGrant": 1000})
    r = run_shard(s)
    row, tl = summarize_shards(s, [r])
    assert row["started"] == 40 and row["failed_to_start"] == 0 and row["all_running"]
    # two dry runs and two real calls per task, Decrypt once; no grant retired yet
    assert row["kms_GenerateDataKeyWithoutPlaintext"] == 80
    assert row["kms_CreateGrant"] == 80 and row["kms_Decrypt"] == 40
    assert row["kms_throttled"] == 0 and row["fargate_retries"] == 0
    assert row["peak_grants"] == 40 and tl["grants"].iloc[-1] == 40
    # the timeline adds up to the totals, second by second
    assert tl["kms_ok"].sum() == row["kms_requests"] == 200
    assert row["seconds_to_all_running"] == row["seconds_to_last_running"] == 13
    # 5 s provisioning + 1 + 6 + 1 (ECS's default timings): every task starts 13 s after RunTask
    assert row["start_p50_s"] == row["start_max_s"] == 13


def test_createGrant_throttling_makes_fargate_retry_and_some_tasks_fail() -> None:
    # the launch bucket's 100 tasks reach KMS in the same second; CreateGrant at 20/s
    s = shape(tasks=100, quotas={"CreateGrant": 20})
    r = run_shard(s)
    row, tl = summarize_shards(s, [r])
    assert row["kms_CreateGrant_throttled"] > 0 and row["fargate_retries"] > 0
    assert row["peak_kms_throttled_per_s"] == tl["kms_throttled"].max() > 0
    assert row["started"] + row["failed_to_start"] == 100
    assert row["failed_to_start"] > 0 and not row["all_running"]
    assert "kms:CreateGrant ThrottlingException" in row["failures"]
    # retried tasks start later than the first ones
    assert row["start_max_s"] > row["start_p50_s"] >= 13
    assert row["start_max_s"] == row["seconds_to_last_running"]  # latency counts from t = 0
    # the same fleet with the CreateGrant quota raised: no throttling, every task runs
    raised = shape(tasks=100, quotas={"CreateGrant": 500})
    row2, _ = summarize_shards(raised, [run_shard(raised)])
    assert row2["kms_throttled"] == 0 and row2["failed_to_start"] == 0 and row2["all_running"]


def test_fargate_gives_up_after_its_attempts_and_says_so() -> None:
    s = shape(tasks=20, quotas={"CreateGrant": 2}, fargate_retry={"attempts": 1})
    sh = _Shard(s, 0, 0)
    sh.queue.append([0.0, sh.clusters[0], 20, 0.0])
    for _ in range(30):
        sh.step()
    assert sh.lifecycle.failed > 0 and sh.retry.retries == 0
    ecs = sh.ecs_service
    failed = [t for t in ecs.all_tasks() if t.stop_code == "TaskFailedToStart"]  # type: ignore[attr-defined]
    reason = failed[0].stopped_reason
    assert "kms:CreateGrant failed with ThrottlingException" in reason
    assert "You have exceeded the rate at which you may call KMS" in reason
    assert "gave up after 1 attempt" in reason


def test_the_same_seed_gives_the_same_fleet_and_another_seed_another() -> None:
    churn = dict(pattern="churn", tasks=60, rate=5.0,
                 lifetime={"dist": "exponential", "mean": 20})
    a = run_shard(FleetShape.from_params({**churn, "seed": 3}))
    b = run_shard(FleetShape.from_params({**churn, "seed": 3}))
    c = run_shard(FleetShape.from_params({**churn, "seed": 4}))
    assert a.timeline == b.timeline and a.latencies == b.latencies
    assert a.timeline != c.timeline


def test_churn_retires_every_grant_and_prices_the_month() -> None:
    s = shape(pattern="churn", tasks=50, rate=5.0, lifetime={"dist": "fixed", "mean": 30})
    r = run_shard(s)
    row, tl = summarize_shards(s, [r])
    assert row["started"] == 50 and row["kms_RetireGrant"] == 50
    assert tl["grants"].iloc[-1] == 0 and tl["running"].iloc[-1] == 0
    # six requests per task: two dry runs, data key, grant, Decrypt, RetireGrant
    assert row["kms_requests_per_task"] == 6
    month = 5.0 * 730 * 3600
    assert row["tasks_per_month"] == month
    assert row["kms_requests_per_month"] == 6 * month
    assert abs(row["kms_request_usd_per_month"] - (6 * month - 20_000) * 0.03 / 10_000) < 1e-6


def test_rolling_deployment_stays_within_maximum_percent() -> None:
    s = shape(pattern="rolling", tasks=30, minimum_healthy_percent=50, maximum_percent=150)
    r = run_shard(s)
    row, tl = summarize_shards(s, [r])
    assert row["rollout_seconds"] > 0
    assert tl["running"].max() <= 45 and tl["grants"].max() <= 45
    assert row["kms_RetireGrant"] == 30  # the old deployment's tasks retired their grants
    assert row["started"] == 30  # the rollout's tasks


def test_a_service_launches_its_tasks_through_the_scheduler() -> None:
    s = shape(tasks=30, launch="service", clusters=2, keys="per_cluster")
    r = run_shard(s)
    row, _ = summarize_shards(s, [r])
    assert row["started"] == 30 and row["kms_keys"] == 2 and row["kms_key_usd_per_month"] == 2


def test_tasks_waiting_on_a_throttled_runtask_are_queued_in_the_timeline() -> None:
    s = shape(tasks=160, quotas={"CreateGrant": 1000})
    row, tl = summarize_shards(s, [run_shard(s)])
    # the launch bucket takes 100 at once, then 20 a second: 60 wait for RunTask at first
    assert tl["queued"].iloc[0] == 60 and tl["queued"].iloc[-1] == 0
    assert row["peak_queued"] == 60 and row["peak_runtask_throttled_per_s"] >= 1
    assert row["start_max_s"] == row["seconds_to_last_running"] > 13


def test_a_service_larger_than_the_launch_bucket_starts_in_batches() -> None:
    # 250 tasks against a bucket of 100 and 20/s: ECS's scheduler must launch what fits
    s = shape(tasks=250, launch="service", quotas={"CreateGrant": 1000})
    row, tl = summarize_shards(s, [run_shard(s)])
    assert row["started"] == 250 and row["failed_to_start"] == 0
    assert tl["running"].iloc[-1] == 250 and row["seconds_to_last_running"] > 13
