"""The full Fargate KMS sequence through the front door: at least 2,000 sequences/s on one core.

One sequence is what Fargate asks of KMS for one task's ephemeral storage, each call a real
client call (parameter validation, authorization against the seed's key policy, grants,
AES-256-GCM, audit record): GenerateDataKeyWithoutPlaintext, CreateGrant (Decrypt, constrained
to the volume's context, EC2 as retiring principal), Decrypt through the grant, RetireGrant.
Quotas stay on; the simulated clock advances 25 ms per sequence so the 50/s grant quotas hold.

Measure with ``python -m pytest tests/benchmarks/test_bench_kms.py --benchmark-enable``; the
suite's default ``--benchmark-disable`` runs it once as a plain test. No assertion on timing.
"""

from __future__ import annotations

import itertools
import json

from simulator import Simulation
from simulator.iam.seed import seed_key_policy

ACCOUNT = "111122223333"
REGION = "us-west-2"
CONTEXT = {"aws:ecs:clusterAccount": ACCOUNT, "aws:ecs:clusterName": "prod"}


def _fargate_sequence():
    sim = Simulation(account_id=ACCOUNT, region=REGION)
    key = sim.client("kms").create_key(
        Policy=json.dumps(seed_key_policy(ACCOUNT, "prod")))["KeyMetadata"]["Arn"]
    fargate = sim.client("kms", principal="fargate.amazonaws.com")
    regional = sim.client("kms", principal=f"fargate.{REGION}.amazonaws.com")
    ec2 = sim.client("kms", principal=f"ec2.{REGION}.amazonaws.com")
    counter = itertools.count()

    def one_task() -> bytes:
        n = next(counter)
        sim.clock.advance(0.025)
        context = {**CONTEXT, "aws:ebs:id": f"vol-{n:017x}"}
        blob = fargate.generate_data_key_without_plaintext(
            KeyId=key, NumberOfBytes=64, EncryptionContext=context)["CiphertextBlob"]
        grant = fargate.create_grant(
            KeyId=key, GranteePrincipal=f"fargate.{REGION}.amazonaws.com", Operations=["Decrypt"],
            Constraints={"EncryptionContextSubset": context},
            RetiringPrincipal=f"ec2.{REGION}.amazonaws.com")
        plaintext = regional.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"]
        ec2.retire_grant(KeyId=key, GrantId=grant["GrantId"])
        return plaintext

    return sim, one_task


def test_fargate_kms_sequence(benchmark):
    """GenerateDataKeyWithoutPlaintext + CreateGrant + Decrypt via the grant + RetireGrant."""
    sim, one_task = _fargate_sequence()
    plaintext = benchmark(one_task)
    assert len(plaintext) == 64
    assert len(sim.service("kms").grants) == 0  # every grant was retired
    assert sim.audit_trail.names("kms")[-4:] == [
        "GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt", "RetireGrant"]
