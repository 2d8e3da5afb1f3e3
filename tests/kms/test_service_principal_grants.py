"""Grants for AWS service principals (botocore 1.44's KMS model), as the KMS API documents them.

GranteeServicePrincipal needs a SourceArn constraint and a retiring (service) principal; the
SourceArn constraint allows only requests made on behalf of that resource; ListGrants and
ListRetirableGrants filter by the service principal; the retiring service principal retires.
"""

from __future__ import annotations

import pytest

from simulator import errors
from simulator.models import service_model
from tests.kms.conftest import ACCOUNT, APP_ROLE, EC2_REGIONAL, FARGATE_REGIONAL, make_role

if "GranteeServicePrincipal" not in service_model("kms").operation_model(
        "CreateGrant").input_shape.members:  # pragma: no cover - botocore older than 1.44
    pytest.skip("the installed botocore has no service-principal grants",
                allow_module_level=True)

TASK = f"arn:aws:ecs:us-west-2:{ACCOUNT}:task/prod/0123456789abcdef0123456789abcdef"
OTHER_TASK = f"arn:aws:ecs:us-west-2:{ACCOUNT}:task/prod/ffffffffffffffffffffffffffffffff"


@pytest.fixture
def blob(kms, key):
    return kms.encrypt(KeyId=key["KeyId"], Plaintext=b"data-key")["CiphertextBlob"]


def _grant(kms, key, **extra):
    params = {"KeyId": key["KeyId"], "GranteeServicePrincipal": FARGATE_REGIONAL,
              "RetiringServicePrincipal": EC2_REGIONAL, "Operations": ["Decrypt"],
              "Constraints": {"SourceArn": TASK}}
    params.update(extra)
    return kms.create_grant(**{k: v for k, v in params.items() if v is not None})


@pytest.mark.parametrize(("extra", "message"), [
    ({"GranteePrincipal": APP_ROLE},
     "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both."),
    ({"Constraints": None},
     "When you specify a GranteeServicePrincipal, you must also specify a SourceArn grant "
     "constraint."),
    ({"RetiringServicePrincipal": None},
     "When you specify a GranteeServicePrincipal, you must specify either a RetiringPrincipal "
     "or a RetiringServicePrincipal."),
    ({"RetiringPrincipal": f"arn:aws:iam::{ACCOUNT}:root"},
     "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both."),
])
def test_create_grant_rules_beyond_the_model(kms, key, extra, message):
    with pytest.raises(errors.ValidationException) as info:
        _grant(kms, key, **extra)
    assert info.value.message == message


def test_source_arn_constraint_allows_only_requests_for_that_resource(sim, kms, key, blob):
    token = _grant(kms, key)["GrantToken"]
    for_task = sim.client("kms", principal=FARGATE_REGIONAL, source_arn=TASK)
    assert for_task.decrypt(CiphertextBlob=blob, GrantTokens=[token])["Plaintext"] == b"data-key"
    for source in (OTHER_TASK, None):
        other = sim.client("kms", principal=FARGATE_REGIONAL, source_arn=source)
        with pytest.raises(errors.AccessDeniedException) as info:
            other.decrypt(CiphertextBlob=blob, GrantTokens=[token])
        assert f"constraint SourceArn {TASK} is not met" in info.value.explanation
    # DescribeKey is constrained only when the request names a source (GrantConstraints).
    _grant(kms, key, Operations=["DescribeKey"])
    assert sim.client("kms", principal=FARGATE_REGIONAL).describe_key(KeyId=key["Arn"])
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal=FARGATE_REGIONAL, source_arn=OTHER_TASK).describe_key(
            KeyId=key["Arn"])


def test_grant_list_entry_and_cloudtrail_carry_the_new_members(sim, kms, key):
    grant_id = _grant(kms, key)["GrantId"]
    record = sim.audit_trail[-1]
    assert record["requestParameters"]["granteeServicePrincipal"] == FARGATE_REGIONAL
    assert record["requestParameters"]["retiringServicePrincipal"] == EC2_REGIONAL
    assert record["requestParameters"]["constraints"] == {"sourceArn": TASK}
    entry = kms.list_grants(KeyId=key["KeyId"])["Grants"][0]
    assert entry["GrantId"] == grant_id
    assert entry["GranteeServicePrincipal"] == FARGATE_REGIONAL
    assert entry["RetiringServicePrincipal"] == EC2_REGIONAL
    assert entry["Constraints"] == {"SourceArn": TASK}
    assert "GranteePrincipal" not in entry and "RetiringPrincipal" not in entry


def test_list_filters_by_service_principal_for_service_callers_only(sim, kms, key):
    grant_id = _grant(kms, key)["GrantId"]
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=FARGATE_REGIONAL,
                     RetiringPrincipal=EC2_REGIONAL, Operations=["Decrypt"])
    fargate = sim.client("kms", principal=FARGATE_REGIONAL)
    # ListGrants is a key-policy permission: let the account root's policy decide for Fargate.
    with pytest.raises(errors.AccessDeniedException) as info:
        kms.list_grants(KeyId=key["KeyId"], GranteeServicePrincipal=FARGATE_REGIONAL)
    assert "only usable by callers in a service principal" in info.value.message
    by_name = kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=FARGATE_REGIONAL)["Grants"]
    assert [g["GranteePrincipal"] for g in by_name] == [FARGATE_REGIONAL]
    ec2 = sim.client("kms", principal=EC2_REGIONAL)
    listed = ec2.list_retirable_grants(RetiringServicePrincipal=EC2_REGIONAL)["Grants"]
    assert [g["GrantId"] for g in listed] == [grant_id]
    with pytest.raises(errors.AccessDeniedException):
        fargate.list_retirable_grants(RetiringPrincipal=EC2_REGIONAL)  # IAM-only permission
    with pytest.raises(errors.AccessDeniedException):
        kms.list_retirable_grants(RetiringServicePrincipal=EC2_REGIONAL)


def test_retiring_service_principal_retires_and_others_cannot(sim, kms, key):
    make_role(sim, "App")
    out = _grant(kms, key)
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal=APP_ROLE).retire_grant(GrantToken=out["GrantToken"])
    # SourceArn does not apply to RetireGrant: the retiring service needs no source.
    sim.client("kms", principal=EC2_REGIONAL).retire_grant(GrantToken=out["GrantToken"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_key_policy_conditions_see_the_service_principal_and_source_arn(sim, kms, key):
    """kms:GranteeServicePrincipal and kms:GrantConstraintSourceArn are in the context."""
    import json

    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"StringNotLike": {"kms:GrantConstraintSourceArn":
                                         f"arn:aws:ecs:*:{ACCOUNT}:task/*"}}},
    ]}
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy),
                       BypassPolicyLockoutSafetyCheck=True)
    _grant(kms, key)
    with pytest.raises(errors.AccessDeniedException):
        _grant(kms, key, Constraints={"SourceArn": f"arn:aws:ec2:us-west-2:{ACCOUNT}:volume/v-1"})


def test_grants_for_new_operations_are_refused_cleanly(kms, key):
    """Encapsulate/Decapsulate (ML-KEM keys, new in botocore 1.44) are not valid here."""
    if "Encapsulate" not in service_model("kms").shape_for("GrantOperation").enum:
        pytest.skip("the installed botocore has no Encapsulate grant operation")
    with pytest.raises(errors.ValidationException) as info:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                         Operations=["Encapsulate", "Decapsulate"])
    assert "Grant operations ['Encapsulate', 'Decapsulate'] are not valid" in info.value.message
