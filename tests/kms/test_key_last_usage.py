"""GetKeyLastUsage: each key's last successful cryptographic operation, with its CloudTrail
event and request ids; failures, dry runs and reads do not count."""

from __future__ import annotations

import json

import pytest

from simulator import Simulation, errors
from simulator.iam.seed import seed_key_policy
from simulator.kms.ops_usage import tracked_operations
from simulator.models import service_model
from tests.kms.conftest import ACCOUNT, CLUSTER, make_role


@pytest.fixture
def sim() -> Simulation:
    return Simulation(account_id=ACCOUNT)


def last(kms, key_id: str) -> dict:
    out = kms.get_key_last_usage(KeyId=key_id)
    out.pop("ResponseMetadata")
    return out


def event(sim: Simulation, name: str) -> dict:
    return [e for e in sim.audit_trail if e["eventName"] == name][-1]


def test_a_new_key_has_no_usage_and_is_tracked_from_its_creation(kms, key):
    out = last(kms, key["KeyId"])
    assert out == {"KeyId": key["KeyId"], "KeyLastUsage": {},
                   "TrackingStartDate": key["CreationDate"],
                   "KeyCreationDate": key["CreationDate"]}


def test_a_successful_operation_is_recorded_with_its_cloudtrail_ids(sim, kms, key):
    sim.clock.advance(60)
    kms.encrypt(KeyId=key["Arn"], Plaintext=b"secret")
    usage = last(kms, key["KeyId"])["KeyLastUsage"]
    record = event(sim, "Encrypt")
    assert usage == {"Operation": "Encrypt", "Timestamp": sim.clock.now(),
                     "CloudTrailEventId": record["eventID"],
                     "KmsRequestId": record["requestID"]}
    # reading the key, its policy or its last usage is no cryptographic operation
    kms.describe_key(KeyId=key["KeyId"])
    kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    assert last(kms, key["KeyId"])["KeyLastUsage"]["Operation"] == "Encrypt"


def test_failures_and_dry_runs_do_not_count(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                       EncryptionContext={"k": "v"})["CiphertextBlob"]
    before = last(kms, key["KeyId"])["KeyLastUsage"]
    with pytest.raises(errors.ClientError) as info:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "other"})
    assert info.value.code == "InvalidCiphertextException"
    with pytest.raises(errors.ClientError) as info:
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", DryRun=True)
    assert info.value.code == "DryRunOperationException"
    assert last(kms, key["KeyId"])["KeyLastUsage"] == before
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
    assert last(kms, key["KeyId"])["KeyLastUsage"]["Operation"] == "Decrypt"


def test_reencrypt_counts_for_both_keys_and_signing_for_its_key(sim, kms, key):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other)
    record = event(sim, "ReEncrypt")
    for key_id in (key["KeyId"], other):
        usage = last(kms, key_id)["KeyLastUsage"]
        assert (usage["Operation"], usage["CloudTrailEventId"]) == ("ReEncrypt",
                                                                    record["eventID"])
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=rsa, Message=b"m",
                         SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    kms.get_public_key(KeyId=rsa)
    assert last(kms, rsa)["KeyLastUsage"]["Operation"] == "Sign"
    with pytest.raises(errors.ClientError):  # a signature that does not verify: no usage
        kms.verify(KeyId=rsa, Message=b"other", Signature=signature,
                   SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert last(kms, rsa)["KeyLastUsage"]["Operation"] == "Sign"
    kms.verify(KeyId=rsa, Message=b"m", Signature=signature,
               SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert last(kms, rsa)["KeyLastUsage"]["Operation"] == "Verify"


def test_a_fargate_task_leaves_the_storage_keys_last_usage_at_its_decrypt(sim, kms):
    arn = kms.create_key(Policy=json.dumps(seed_key_policy(
        ACCOUNT, CLUSTER, "customer-chosen-role")))["KeyMetadata"]["Arn"]
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER, configuration={"managedStorageConfiguration": {
        "fargateEphemeralStorageKmsKeyId": arn}})
    ecs.register_task_definition(family="app", cpu="256", memory="512", networkMode="awsvpc",
                                 requiresCompatibilities=["FARGATE"], containerDefinitions=[
                                     {"name": "app", "image": "busybox", "essential": True}])
    ecs.run_task(cluster=CLUSTER, taskDefinition="app", launchType="FARGATE",
                 networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}})
    sim.fargate.settle()
    usage = last(kms, arn.rpartition("/")[2])["KeyLastUsage"]
    decrypt = event(sim, "Decrypt")
    assert decrypt["userIdentity"]["type"] == "AWSService"
    assert (usage["Operation"], usage["CloudTrailEventId"]) == ("Decrypt", decrypt["eventID"])


def test_any_key_state_the_callers_own_keys_and_no_aliases(sim, kms, key):
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.ClientError) as info:
        kms.get_key_last_usage(KeyId="alias/app")
    assert info.value.code == "NotFoundException"
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert last(kms, key["KeyId"])["KeyLastUsage"] == {}
    stranger = make_role(sim, "Reader", {"Effect": "Allow", "Action": "kms:DescribeKey",
                                         "Resource": "*"})
    with pytest.raises(errors.ClientError) as info:
        sim.client("kms", stranger).get_key_last_usage(KeyId=key["Arn"])
    assert info.value.code == "AccessDeniedException"
    assert "kms:GetKeyLastUsage" in info.value.message


def test_the_tracked_operations_are_botocores_and_each_is_a_kms_operation():
    operations = set(service_model("kms").operation_names)
    assert {"Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncrypt", "Sign"} <= \
        tracked_operations() <= operations
