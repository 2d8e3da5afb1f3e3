"""The key policy lint: rehearsed KMS calls tell whether Fargate tasks would start."""

from __future__ import annotations

import copy
import json

from simulator.cli import main
from simulator.iam.seed import seed_key_policy
from simulator.kms.lint import lint_key_policy

ACCOUNT = "111122223333"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role"


def _codes(findings, severity):
    return {f.code for f in findings if f.severity == severity}


def test_seed_policy_passes_for_its_cluster_and_operator():
    findings = lint_key_policy(seed_key_policy(ACCOUNT, "web"), operators=[OPERATOR])
    assert _codes(findings, "error") == set()
    assert _codes(findings, "warning") == set()
    assert {"administrable", "fargate-data-key", "fargate-grant",
            "operator-describe-key"} <= _codes(findings, "ok")


def test_S9_policy_without_administrators_is_a_lockout():
    findings = lint_key_policy(_without_admin(seed_key_policy(ACCOUNT, "web")))
    assert "lockout" in _codes(findings, "error")


def test_a_named_admin_role_is_enough():
    policy = _without_admin(seed_key_policy(ACCOUNT, "web"))
    policy["Statement"].append({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/KeyAdmin"},
        "Action": "kms:*", "Resource": "*",
    })
    findings = lint_key_policy(policy)
    assert "lockout" not in _codes(findings, "error")
    assert any("KeyAdmin" in f.message for f in findings if f.code == "administrable")


def test_another_cluster_fails_with_kms_explanation():
    findings = lint_key_policy(seed_key_policy(ACCOUNT, "web"), clusters=["api"])
    errors = [f for f in findings if f.severity == "error"]
    assert {f.code for f in errors} == {"fargate-data-key", "fargate-grant"}
    assert all('request has "api"' in f.detail for f in errors)


def test_unrestricted_policy_gets_warnings():
    policy = seed_key_policy(ACCOUNT, "web")
    for st in policy["Statement"][1:3]:
        st.pop("Condition")
    findings = lint_key_policy(policy, clusters=["web"])
    assert {"grant-operations", "any-cluster", "any-account"} <= _codes(findings, "warning")


def test_operator_not_named_is_a_warning_and_a_denied_one_an_error():
    findings = lint_key_policy(seed_key_policy(ACCOUNT, "web"),
                               operators=[f"arn:aws:iam::{ACCOUNT}:role/Other"])
    assert "operator-describe-key" in _codes(findings, "warning")
    policy = seed_key_policy(ACCOUNT, "web")
    policy["Statement"].append({
        "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Other"},
        "Action": "kms:DescribeKey", "Resource": "*",
    })
    findings = lint_key_policy(policy, operators=[f"arn:aws:iam::{ACCOUNT}:role/Other"])
    assert "operator-describe-key" in _codes(findings, "error")


def test_malformed_policy_is_one_error():
    (finding,) = lint_key_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]})
    assert finding.code == "malformed" and finding.severity == "error"


def test_lint_cli_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(seed_key_policy(ACCOUNT, "web")))
    assert main(["policy", "lint", str(good), "--operator", OPERATOR]) == 0
    assert "OK      fargate-grant" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_without_admin(seed_key_policy(ACCOUNT, "web"))))
    assert main(["policy", "lint", str(bad), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert {"severity": "error", "code": "lockout"}.items() <= out[0].items()
    malformed = tmp_path / "m.json"
    malformed.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}')
    assert main(["policy", "lint", str(malformed)]) == 2
    notjson = tmp_path / "x.json"
    notjson.write_text("{")
    assert main(["policy", "lint", str(notjson)]) == 2


def _without_admin(policy):
    policy = copy.deepcopy(policy)
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Action") != "kms:*"]
    return policy


