"""``fargate-sim policy simulate`` and ``policy validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.cli.policy import parse_context, simulate_seed_key_policy
from simulator.iam.seed import EXAMPLE_KEY_ARN

SEED = Path(__file__).parent / "seed_policies"
KEY_POLICY = str(SEED / "key_policy.json")
ALLOW = str(SEED / "allow_approved_keys.json")
DENY = str(SEED / "deny_without_key.json")
CLUSTER_KEY = "ecs:fargate-ephemeral-storage-kms-key"


def run(capsys, *argv):
    code = main(["policy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_allowed_exits_zero(capsys):
    code, out, _ = run(capsys, "simulate", "--policy", ALLOW, "--policy", DENY,
                       "--action", "ecs:CreateCluster", "--context",
                       f"{CLUSTER_KEY}={EXAMPLE_KEY_ARN}")
    assert code == 0
    assert "ecs:CreateCluster on *: allowed" in out


def test_explicit_deny_exits_one_and_explains(capsys):
    code, out, _ = run(capsys, "simulate", "--policy", ALLOW, "--policy", DENY,
                       "--action", "ecs:CreateCluster", "--action", "ecs:UpdateCluster")
    assert code == 1
    assert "ecs:CreateCluster on *: explicitDeny" in out
    assert "Null ecs:fargate-ephemeral-storage-kms-key: key is absent" in out
    assert f"missing context values: {CLUSTER_KEY}" in out


def test_resource_policy_with_grant_operations(capsys):
    common = ["simulate", "--resource-policy", KEY_POLICY, "--caller", "fargate.amazonaws.com",
              "--action", "kms:CreateGrant", "--resource", EXAMPLE_KEY_ARN,
              "--context", "kms:EncryptionContext:aws:ecs:clusterAccount=111122223333",
              "--context", "kms:EncryptionContext:aws:ecs:clusterName=clusterName",
              "--context-type", "kms:GrantOperations=stringList"]
    code, out, _ = run(capsys, *common, "--context", "kms:GrantOperations=Decrypt")
    assert code == 0, out
    code, out, _ = run(capsys, *common, "--context", "kms:GrantOperations=Decrypt,Encrypt")
    assert code == 1
    assert 'not allowed: ["Encrypt"]' in out


def test_json_output(capsys):
    code, out, _ = run(capsys, "simulate", "--policy", DENY, "--action", "ecs:CreateCluster",
                       "--json")
    assert code == 1
    data = json.loads(out)
    result = data["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MissingContextValues"] == [CLUSTER_KEY]
    assert result["Explanation"][0].startswith("explicitDeny")


def test_malformed_policy_exits_two_with_the_path(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*",
         "Condition": {"StringEqual": {"aws:A": "x"}}}]}))
    code, _, err = run(capsys, "simulate", "--policy", str(bad), "--action", "kms:Decrypt")
    assert code == 2
    # AWS's code and message, then the simulator's explanation beside them
    assert "bad.json: MalformedPolicyDocument: Syntax errors in policy.\n" in err
    assert "  why: Statement[1].Condition.StringEqual: unknown condition operator" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--action", "kms:Decrypt"],  # no policy
        ["simulate", "--resource-policy", KEY_POLICY, "--action", "kms:Decrypt"],  # no caller
        ["simulate", "--policy", "/nonexistent.json", "--action", "kms:Decrypt"],
        ["simulate", "--policy", ALLOW, "--action", "kms:Decrypt", "--context", "novalue"],
        ["simulate", "--policy", ALLOW, "--action", "kms:Decrypt", "--context", "aws:N=x",
         "--context-type", "aws:N=numeric"],
        ["simulate", "--policy", ALLOW, "--action", "kms:Decrypt", "--context-type", "aws:N=int"],
        ["simulate", "--policy", ALLOW, "--action", "kms:Decrypt", "--caller", "bob"],
    ],
)
def test_bad_input_exits_two(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "error" in err


def test_validate(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", KEY_POLICY, "--kind", "resource")
    assert code == 0 and "4 statements" in out and "kms:GrantOperations" in out
    code, _, err = run(capsys, "validate", KEY_POLICY, "--kind", "key")  # as KMS reads it
    assert code == 0
    code, _, err = run(capsys, "validate", KEY_POLICY)  # not an identity policy
    assert code == 2
    assert "MalformedPolicyDocument: Policy document should not specify a principal." in err
    assert "why: Statement[0].Principal:" in err


def test_parse_context_types():
    ctx = parse_context(["aws:N=5", "aws:L=a,b", "aws:L=c", "aws:S=x,y", "aws:B=true"],
                        ["aws:N=numeric", "aws:L=stringList", "aws:B=boolean"])
    assert ctx == {"aws:N": 5, "aws:L": ["a", "b", "c"], "aws:S": "x,y", "aws:B": True}


def test_simulate_seed_key_policy():
    assert simulate_seed_key_policy().allowed
    assert not simulate_seed_key_policy(cluster_name="other").allowed
    assert not simulate_seed_key_policy(grant_operations=["Decrypt", "Encrypt"]).allowed
    assert simulate_seed_key_policy("arn:aws:iam::111122223333:role/customer-chosen-role",
                                    "kms:DescribeKey").allowed


def test_validate_key_policy_shows_kms_message_and_explanation(capsys, tmp_path):
    bad = tmp_path / "key.json"
    bad.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "kms:*", "Resource": "*"}]}))
    code, _, err = run(capsys, "validate", str(bad), "--kind", "key")
    assert code == 2
    assert ("MalformedPolicyDocumentException: Policy contains a statement with one or more "
            "invalid principals.") in err
    assert "why: Statement[0].Principal.AWS: 'bob' is not a valid AWS principal" in err
    bad.write_text("{not json")
    code, _, err = run(capsys, "validate", str(bad), "--kind", "key")
    assert code == 2
    # KMS says nothing more than its code for a document it cannot read; we say where
    assert "key.json: MalformedPolicyDocumentException\n  why: bad JSON at line 1" in err


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: "/dev/zero", "larger than the"),
    (lambda d: str(d), "is a directory"),
    (lambda d: (d / "latin1.json").write_bytes(b'{"Sid": "caf\xe9"}') and str(d / "latin1.json"),
     "not UTF-8 text"),
])
def test_unreadable_policy_files_are_one_line_and_exit_two(capsys, tmp_path, make, message):
    code, _, err = run(capsys, "validate", make(tmp_path))
    assert code == 2 and message in err and "Traceback" not in err


def test_aws_style_commands_print_aws_error_then_our_reason(capsys, tmp_path):
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:us-east-1::b"}]}))
    code = main(["iam", "create-policy", "--policy-name", "x",
                 "--policy-document", f"file://{doc}"])
    err = capsys.readouterr().err
    assert code == 254
    assert ("An error occurred (MalformedPolicyDocument) when calling the CreatePolicy "
            "operation: Resource arn:aws:s3:us-east-1::b can not contain region information."
            ) in err
    assert '  why: Statement[0].Resource: "arn:aws:s3:us-east-1::b" names Region' in err
