"""Issue 2/README: fargate-sim policy simulate / lint; strict response shapes."""

import json

import pytest

from simulator import Simulation
from simulator.cli import main

from .conftest import ACCOUNT, seed_policy

KEY = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/k"


@pytest.fixture
def keypol(tmp_path):
    p = tmp_path / "key_policy.json"
    p.write_text(json.dumps(seed_policy(cluster="web")))
    return p


def simulate(capsys, keypol, ops):
    args = [
        "policy",
        "simulate",
        "--resource-policy",
        str(keypol),
        "--action",
        "kms:CreateGrant",
        "--caller",
        "fargate.amazonaws.com",
        "--resource",
        KEY,
        "--context",
        f"kms:EncryptionContext:aws:ecs:clusterAccount={ACCOUNT}",
        "--context",
        "kms:EncryptionContext:aws:ecs:clusterName=web",
        "--context",
        f"kms:GrantOperations={ops}",
        "--context-type",
        "kms:GrantOperations=stringList",
    ]
    rc = main(args)
    return rc, capsys.readouterr()


def test_policy_simulate_allowed_exit0(capsys, keypol):
    rc, cap = simulate(capsys, keypol, "Decrypt")
    assert rc in (0, None), cap.out


def test_policy_simulate_denied_exit1_explains(capsys, keypol):
    rc, cap = simulate(capsys, keypol, "Decrypt,Encrypt")
    assert rc == 1
    assert "ForAllValues:StringEquals" in cap.out and "kms:GrantOperations" in cap.out


def test_policy_simulate_malformed_exit2_names_path(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": "s3:*",
                        "Resource": "*",
                        "Condition": {"StringEqual": {"a:b": "c"}},
                    },
                ],
            }
        )
    )
    rc = main(["policy", "simulate", "--policy", str(bad), "--action", "s3:GetObject"])
    cap = capsys.readouterr()
    assert rc == 2
    assert "Statement[1].Condition.StringEqual" in cap.out + cap.err


def test_policy_lint_seed_policy_ok(capsys, keypol):
    rc = main(
        [
            "policy",
            "lint",
            str(keypol),
            "--cluster",
            "web",
            "--operator",
            f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role",
        ]
    )
    cap = capsys.readouterr()
    assert rc in (0, None), cap.out


def test_policy_lint_detects_lockout_S9(capsys, tmp_path):
    pol = seed_policy(cluster="web")
    pol["Statement"] = pol["Statement"][1:]  # no administrator: nobody can change the policy
    p = tmp_path / "k.json"
    p.write_text(json.dumps(pol))
    rc = main(["policy", "lint", str(p), "--cluster", "web"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "ERROR" in cap.out or "lock" in cap.out.lower()


def test_policy_lint_wrong_cluster_is_error(capsys, keypol):
    rc = main(["policy", "lint", str(keypol), "--cluster", "other"])
    cap = capsys.readouterr()
    assert rc == 1 and "ERROR" in cap.out


def test_strict_shapes_full_flow():
    sim = Simulation(strict_shapes=True)
    kms = sim.client("kms")
    k = kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]
    kms.describe_key(KeyId=k["KeyId"])
    kms.list_keys()
    g = kms.create_grant(
        KeyId=k["KeyId"],
        GranteePrincipal="arn:aws:iam::111122223333:role/x",
        Operations=["Decrypt"],
    )
    kms.list_grants(KeyId=k["KeyId"])
    kms.revoke_grant(KeyId=k["KeyId"], GrantId=g["GrantId"])
    kms.generate_data_key_without_plaintext(KeyId=k["KeyId"], NumberOfBytes=64)
    ecs = sim.client("ecs")
    ecs.create_cluster(
        clusterName="c",
        configuration={
            "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": k["Arn"]}
        },
    )
    ecs.describe_clusters(
        clusters=["c"], include=["CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"]
    )
    ecs.list_clusters()


def test_disabled_exception_message(kms):
    from simulator.errors import ClientError

    k = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=k["KeyId"])
    with pytest.raises(ClientError) as ei:
        kms.encrypt(KeyId=k["KeyId"], Plaintext=b"x")
    assert "is not enabled" in ei.value.message or "disabled" in ei.value.message.lower()
    assert k["Arn"] in ei.value.message or k["KeyId"] in ei.value.message
