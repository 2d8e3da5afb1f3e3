"""Policy evaluation speed: the seed's key policy must reach 50,000 evaluations/s on one core.

Run with ``python -m pytest tests/benchmarks/test_bench_iam.py --benchmark-enable``; by default
(``--benchmark-disable``) each benchmark runs once as a plain test. No assertion on timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.iam import PolicyDocument, RequestContext, evaluate, resolve_principal

ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
SEED = Path(__file__).parent.parent / "iam" / "seed_policies"
KEY_POLICY = PolicyDocument.parse((SEED / "key_policy.json").read_text(), kind="resource",
                                  name="key-policy")
CONTEXT = {
    "kms:EncryptionContext:aws:ecs:clusterAccount": ACCOUNT,
    "kms:EncryptionContext:aws:ecs:clusterName": "clusterName",
    "kms:GrantOperations": ["Decrypt"],
}
FARGATE = resolve_principal("fargate.amazonaws.com", ACCOUNT)
OPERATOR = resolve_principal(f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role", ACCOUNT)


@pytest.mark.parametrize(
    ("caller", "action", "allowed"),
    [
        (FARGATE, "kms:CreateGrant", True),
        (FARGATE, "kms:GenerateDataKeyWithoutPlaintext", True),
        (FARGATE, "kms:Decrypt", False),
        (OPERATOR, "kms:DescribeKey", True),
    ],
    ids=["fargate-create-grant", "fargate-generate-data-key", "fargate-decrypt", "describe-key"],
)
def test_key_policy_evaluation(benchmark, caller, action, allowed):
    """One PolicyDocument.evaluate of the parsed seed key policy, request built per call."""

    def run():
        return KEY_POLICY.evaluate(RequestContext(caller, action, KEY, CONTEXT))

    result = benchmark(run)
    assert bool(result.allows) is allowed


def test_full_decision(benchmark):
    """evaluate(): key policy combined with (empty) identity policies into a Decision."""
    request = RequestContext(FARGATE, "kms:CreateGrant", KEY, CONTEXT)
    decision = benchmark(lambda: evaluate(request, [], KEY_POLICY, resource_policy_required=True))
    assert decision.allowed


def test_authorize_through_the_simulation(benchmark):
    """authorize(): global context, IAM lookups and evaluation, as ECS calls it."""
    from simulator import Simulation
    from simulator.iam.authorization import authorize

    sim = Simulation(account_id=ACCOUNT)
    decision = benchmark(
        lambda: authorize(sim, ACCOUNT, "ecs:DescribeClusters", "*", raise_on_deny=False)
    )
    assert decision.allowed


def _statements(n: int) -> str:
    import json

    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": f"S{i}", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::bucket{i}/*"} for i in range(n)]}, indent=2)


@pytest.mark.parametrize("statements", [50, 1000], ids=["6k-managed-policy", "1000-statements"])
def test_parse_and_validate(benchmark, statements):
    """PolicyDocument.parse of an identity policy: reading and IAM's validation (patterns
    compile on first evaluation). About 50 statements fill IAM's 6,144-character managed
    policy quota; the time per statement stays flat as the document grows."""
    text = _statements(statements)
    doc = benchmark(lambda: PolicyDocument.parse(text))
    assert len(doc.statements) == statements
