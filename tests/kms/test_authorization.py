"""Key policy, IAM delegation, cross-account access, explicit denies, the request context."""

from __future__ import annotations

import json

import pytest

from simulator import errors
from tests.kms.conftest import ACCOUNT, OTHER, make_role, policy_json, root_statement

ALLOW_KMS = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}


def _key_with(kms, *statements):
    return kms.create_key(Policy=policy_json(root_statement(), *statements),
                          BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]


def test_default_policy_delegates_to_iam(sim, kms, key):
    make_role(sim, "WithIam", ALLOW_KMS)
    make_role(sim, "WithoutIam")
    with_iam = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/WithIam")
    without = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/WithoutIam")
    assert with_iam.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(errors.AccessDeniedException) as info:
        without.describe_key(KeyId=key["KeyId"])
    assert info.value.message.startswith(
        f"User: arn:aws:iam::{ACCOUNT}:role/WithoutIam is not authorized to perform: "
        f"kms:DescribeKey on resource: {key['Arn']} because no identity-based policy allows "
        "the kms:DescribeKey action"
    )


def test_access_denied_is_aws_sentence_alone_and_the_reason_beside_it(sim, kms, key):
    # AWS's message ends at "... action" (as KMS returns it); why goes to .explanation, which
    # the HTTP endpoint never sends and the CLI prints after the message.
    make_role(sim, "WithoutIam")
    without = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/WithoutIam")
    with pytest.raises(errors.AccessDeniedException) as info:
        without.describe_key(KeyId=key["KeyId"])
    assert info.value.message == (
        f"User: arn:aws:iam::{ACCOUNT}:role/WithoutIam is not authorized to perform: "
        f"kms:DescribeKey on resource: {key['Arn']} because no identity-based policy allows "
        "the kms:DescribeKey action"
    )
    assert "delegates to the account" in info.value.explanation
    assert info.value.describe().endswith(f"(why: {info.value.explanation})")


def test_without_delegation_iam_policies_do_not_count(sim, kms):
    make_role(sim, "Admin")
    make_role(sim, "WithIam", ALLOW_KMS)
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    md = kms.create_key(Policy=policy_json({
        "Sid": "AdminOnly", "Effect": "Allow", "Principal": {"AWS": admin}, "Action": "kms:*",
        "Resource": "*"}), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    with pytest.raises(errors.AccessDeniedException) as info:
        sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/WithIam").encrypt(
            KeyId=md["Arn"], Plaintext=b"x")
    assert "because no resource-based policy allows the kms:Encrypt action" in info.value.message
    # The role named in the key policy needs no IAM policy at all.
    sim.client("kms", principal=admin).encrypt(KeyId=md["Arn"], Plaintext=b"x")


def test_explicit_deny_in_the_key_policy_wins_over_iam_and_grants(sim, kms):
    role = make_role(sim, "App", ALLOW_KMS)
    md = _key_with(kms, {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": {"AWS": role},
                         "Action": "kms:Decrypt", "Resource": "*"})
    kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=role, Operations=["Decrypt"])
    app = sim.client("kms", principal=role)
    blob = app.encrypt(KeyId=md["Arn"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(errors.AccessDeniedException) as info:
        app.decrypt(CiphertextBlob=blob)
    assert "with an explicit deny in a resource-based policy" in info.value.message
    assert "NoDecrypt" in info.value.explanation
    evaluation = info.value.details["evaluation"]
    assert evaluation["decision"] == "explicitDeny"
    assert any("NoDecrypt" in label for label in evaluation["matched_statements"])


def test_explicit_deny_in_an_identity_policy_wins(sim, kms, key):
    role = make_role(sim, "App", ALLOW_KMS,
                     {"Effect": "Deny", "Action": "kms:GenerateDataKey", "Resource": "*"})
    app = sim.client("kms", principal=role)
    app.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=role, Operations=["GenerateDataKey"])
    with pytest.raises(errors.AccessDeniedException) as info:
        app.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    assert "with an explicit deny in an identity-based policy" in info.value.message


def test_cross_account_needs_key_policy_and_identity_policy(sim, kms):
    other_role = f"arn:aws:iam::{OTHER}:role/Consumer"
    md = _key_with(kms, {"Sid": "OtherAccount", "Effect": "Allow",
                         "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                         "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"})
    consumer = sim.client("kms", principal=other_role)
    with pytest.raises(errors.AccessDeniedException) as info:
        consumer.encrypt(KeyId=md["Arn"], Plaintext=b"x")
    assert "because no identity-based policy allows" in info.value.message
    make_role(sim, "Consumer", ALLOW_KMS, account=OTHER)
    consumer.encrypt(KeyId=md["Arn"], Plaintext=b"x")
    # The key policy does not allow Decrypt to the other account: identity policy is not enough.
    blob = kms.encrypt(KeyId=md["Arn"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(errors.AccessDeniedException, match="no resource-based policy"):
        consumer.decrypt(CiphertextBlob=blob)
    # A key in another account must be named by its ARN.
    with pytest.raises(errors.NotFoundException):
        consumer.describe_key(KeyId=md["KeyId"])


def test_authorization_comes_before_the_key_state(sim, kms, key):
    make_role(sim, "Nobody")
    kms.disable_key(KeyId=key["KeyId"])
    nobody = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/Nobody")
    with pytest.raises(errors.AccessDeniedException):
        nobody.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    with pytest.raises(errors.DisabledException):
        kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")


def test_denial_details_explain_the_failed_condition(sim, kms):
    md = _key_with(kms, {
        "Sid": "ProdOnly", "Effect": "Allow", "Principal": {"Service": "fargate.amazonaws.com"},
        "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:aws:ecs:clusterName": "prod"}}})
    fargate = sim.client("kms", principal="fargate.amazonaws.com")
    with pytest.raises(errors.AccessDeniedException) as info:
        fargate.generate_data_key_without_plaintext(
            KeyId=md["Arn"], NumberOfBytes=64,
            EncryptionContext={"aws:ecs:clusterName": "staging"})
    msg = info.value.message
    assert msg.startswith("Service: fargate.amazonaws.com is not authorized to perform: "
                          "kms:GenerateDataKeyWithoutPlaintext on resource: ")
    assert "ProdOnly" in info.value.explanation and "staging" in info.value.explanation
    text = "\n".join(info.value.details["evaluation"]["explanation"])
    assert "kms:EncryptionContext:aws:ecs:clusterName" in text and '"prod"' in text
    assert info.value.details["decision"].decision == "implicitDeny"


@pytest.mark.parametrize(
    ("condition", "call"),
    [
        ({"StringEquals": {"kms:CallerAccount": ACCOUNT}}, {}),
        ({"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT",
                           "kms:KeyOrigin": "AWS_KMS", "kms:KeyManager": "CUSTOMER"}}, {}),
        ({"Bool": {"kms:MultiRegion": "false"}}, {}),
        # Set to the algorithm used, also when the request names none.
        ({"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}, {}),
        ({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a", "b"]},
          "Null": {"kms:EncryptionContextKeys": "false"}},
         {"EncryptionContext": {"a": "1", "b": "2"}}),
        ({"StringEquals": {"kms:EncryptionContext:A": "1"}}, {"EncryptionContext": {"a": "1"}}),
        ({"StringEquals": {"kms:RequestAlias": "alias/app"}}, {"KeyId": "alias/app"}),
        ({"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}}, {"_via": True}),
        ({"StringEquals": {"aws:ResourceTag/team": "storage"}}, {}),
        ({"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/Keyed"}}, {}),
    ],
)
def test_condition_keys_in_the_request_context(sim, kms, condition, call):
    role = f"arn:aws:iam::{ACCOUNT}:role/Keyed"
    make_role(sim, "Keyed")
    md = kms.create_key(
        Policy=policy_json(root_statement(), {
            "Sid": "Conditional", "Effect": "Allow", "Principal": {"AWS": role},
            "Action": "kms:Encrypt", "Resource": "*", "Condition": condition}),
        Tags=[{"TagKey": "team", "TagValue": "storage"}],
    )["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=md["KeyId"])
    params = {"KeyId": md["Arn"], "Plaintext": b"x", **call}
    via = params.pop("_via", False)
    client = sim.client("kms", principal=role,
                        via_service="s3.us-west-2.amazonaws.com" if via else None)
    client.encrypt(**params)
    # The same request without what the condition needs is refused.
    if via:
        with pytest.raises(errors.AccessDeniedException):
            sim.client("kms", principal=role).encrypt(**params)
    elif call:
        with pytest.raises(errors.AccessDeniedException):
            client.encrypt(KeyId=md["Arn"], Plaintext=b"x")


def test_grant_is_for_aws_resource(sim, kms):
    role = make_role(sim, "Ops")
    md = _key_with(kms, {
        "Sid": "OnlyForAwsResources", "Effect": "Allow", "Principal": {"AWS": role},
        "Action": "kms:CreateGrant", "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
    params = {"KeyId": md["Arn"], "GranteePrincipal": role, "Operations": ["Decrypt"]}
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal=role).create_grant(**params)
    sim.client("kms", principal=role, via_service="ec2.us-west-2.amazonaws.com").create_grant(
        **params)


def test_create_key_and_list_keys_need_an_identity_policy(sim):
    make_role(sim, "Nobody")
    nobody = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/Nobody")
    with pytest.raises(errors.AccessDeniedException) as info:
        nobody.create_key()
    assert info.value.message.startswith(
        f"User: arn:aws:iam::{ACCOUNT}:role/Nobody is not authorized to perform: kms:CreateKey "
        "on resource: * because no identity-based policy allows the kms:CreateKey action"
    )
    with pytest.raises(errors.AccessDeniedException):
        nobody.list_keys()
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal="fargate.amazonaws.com").create_key()
    make_role(sim, "Creator", {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
                               "Condition": {"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT"}}})
    creator = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/Creator")
    creator.create_key()
    with pytest.raises(errors.AccessDeniedException):
        creator.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")


def test_alias_operations_need_permission_on_alias_and_key(sim, kms, key):
    role = make_role(sim, "Aliaser", {"Effect": "Allow", "Action": "kms:CreateAlias",
                                      "Resource": f"arn:aws:kms:us-west-2:{ACCOUNT}:alias/ok-*"})
    aliaser = sim.client("kms", principal=role)
    with pytest.raises(errors.AccessDeniedException):
        aliaser.create_alias(AliasName="alias/other", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.AccessDeniedException,
                       match="kms:CreateAlias on resource: arn:aws:kms"):
        # Allowed on the alias, but the key's (default) policy delegates to IAM, whose policy
        # names only alias resources, not the key.
        aliaser.create_alias(AliasName="alias/ok-1", TargetKeyId=key["KeyId"])
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"])["Policy"])
    policy["Statement"].append({"Sid": "AliasOnKey", "Effect": "Allow", "Principal": {"AWS": role},
                                "Action": "kms:CreateAlias", "Resource": "*"})
    kms.put_key_policy(KeyId=key["KeyId"], Policy=json.dumps(policy))
    aliaser.create_alias(AliasName="alias/ok-1", TargetKeyId=key["KeyId"])


def test_data_key_pair_spec_condition(sim, kms):
    role = make_role(sim, "Pairs")
    md = _key_with(kms, {
        "Sid": "EccPairsOnly", "Effect": "Allow", "Principal": {"AWS": role},
        "Action": "kms:GenerateDataKeyPairWithoutPlaintext", "Resource": "*",
        "Condition": {"StringEquals": {"kms:DataKeyPairSpec": "ECC_NIST_P256"}}})
    pairs = sim.client("kms", principal=role)
    pairs.generate_data_key_pair_without_plaintext(KeyId=md["Arn"], KeyPairSpec="ECC_NIST_P256")
    with pytest.raises(errors.AccessDeniedException):
        pairs.generate_data_key_pair_without_plaintext(KeyId=md["Arn"],
                                                       KeyPairSpec="ECC_NIST_P384")
