"""The public hooks the fleet drives: the agent's KMS retry policy and the lifecycle's."""

from __future__ import annotations

from typing import Any

from simulator.fargate.agent import StorageFailure
from tests.ecs.helpers import describe, kms_names, make_cluster, make_key, register, run


class RetryOnce:
    """Retry any failure once, 30 s later; record what the agent asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, int]] = []

    def retry_after(self, task: Any, failure: StorageFailure, attempt: int) -> float | None:
        self.asked.append((failure.code, attempt))
        return 30.0 if attempt < 2 else None

    def stopped_reason(self, task: Any, failure: StorageFailure, attempts: int) -> str:
        return f"{failure.reason} [after {attempts}]"


def _cmk_task(sim: Any) -> tuple[str, str]:
    key = make_key(sim)
    make_cluster(sim, key=key)
    return key, register(sim)


def test_without_a_policy_a_kms_failure_stops_the_task_at_once(sim) -> None:
    key, td = _cmk_task(sim)
    sim.client("kms").disable_key(KeyId=key)
    [task] = run(sim, td)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith(
        f"ResourceInitializationError: Fargate could not access the KMS key {key} for the "
        "task's ephemeral storage: kms:GenerateDataKeyWithoutPlaintext failed with "
        "DisabledException: ")
    assert kms_names(sim).count("GenerateDataKeyWithoutPlaintext") == 1


def test_a_policy_keeps_the_task_provisioning_and_the_sequence_runs_again(sim) -> None:
    key, td = _cmk_task(sim)
    sim.fargate.kms_retry = policy = RetryOnce()
    kms = sim.client("kms")
    kms.disable_key(KeyId=key)
    [task] = run(sim, td, settle=False)
    sim.clock.advance(5)  # the dry runs fail: the agent asks the policy
    assert policy.asked == [("DisabledException", 1)]
    assert describe(sim, [task["taskArn"]])[0]["lastStatus"] == "PROVISIONING"
    kms.enable_key(KeyId=key)  # fixed while the task waits
    sim.fargate.settle()
    [now] = describe(sim, [task["taskArn"]])
    assert now["lastStatus"] == "RUNNING" and policy.asked == [("DisabledException", 1)]
    # the dry runs twice (the failed attempt, the retry), then the real calls
    names = kms_names(sim)
    assert names.count("GenerateDataKeyWithoutPlaintext") == 3 and names.count("Decrypt") == 1


def test_a_policy_that_gives_up_words_the_stopped_reason(sim) -> None:
    key, td = _cmk_task(sim)
    sim.fargate.kms_retry = policy = RetryOnce()
    sim.client("kms").disable_key(KeyId=key)
    [task] = run(sim, td)
    assert policy.asked == [("DisabledException", 1), ("DisabledException", 2)]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].endswith("[after 2]") and "DisabledException" in \
        task["stoppedReason"]
    assert not sim.fargate._attempts  # nothing kept for a task given up on


def test_lifecycle_hooks_see_each_launch_and_set_its_provisioning_time(sim) -> None:
    _, td = _cmk_task(sim)
    lifecycle = sim.ecs.lifecycle
    launched: list[str] = []
    lifecycle.on_launch = lambda task: launched.append(task.arn)
    lifecycle.provisioning_seconds = lambda task: 50.0
    [task] = run(sim, td, settle=False)
    assert launched == [task["taskArn"]]
    sim.clock.advance(40)
    assert describe(sim, [task["taskArn"]])[0]["lastStatus"] == "PROVISIONING"
    sim.clock.advance(11)
    assert describe(sim, [task["taskArn"]])[0]["lastStatus"] == "PENDING"
