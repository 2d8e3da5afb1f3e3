"""The IAM policy simulator's response fields as the IAM API reference documents them."""

from __future__ import annotations

import json

import pytest

from simulator.errors import ClientError
from simulator.iam.evaluation import evaluate
from simulator.iam.policy import PolicyDocument
from tests.iam.helpers import ACCOUNT, OTHER, identity, request

ALLOW_GET = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})


def _one(response):
    (result,) = response["EvaluationResults"]
    return result


def test_eval_decision_details_absent_for_same_account_all_resources(iam):
    # EvaluationResult.EvalDecisionDetails: "If the simulation evaluates policies within the
    # same account and specifies all resources (*), then the parameter is not returned."
    result = _one(iam.simulate_custom_policy(PolicyInputList=[ALLOW_GET],
                                             ActionNames=["s3:GetObject"]))
    assert result["EvalDecision"] == "allowed"
    assert "EvalDecisionDetails" not in result


def test_eval_decision_details_empty_for_same_account_resource_arn(iam):
    # "If the simulation evaluates policies within the same account and includes a resource
    # ARN, then the parameter is present but the response is empty."
    result = _one(iam.simulate_custom_policy(PolicyInputList=[ALLOW_GET],
                                             ActionNames=["s3:GetObject"],
                                             ResourceArns=["arn:aws:s3:::bucket/key"]))
    assert result["EvalDecisionDetails"] == {}
    # ResourceSpecificResult.EvalDecisionDetails: "returned only for cross-account simulations"
    (specific,) = result["ResourceSpecificResults"]
    assert specific["EvalResourceDecision"] == "allowed"
    assert "EvalDecisionDetails" not in specific


def test_eval_decision_details_for_cross_account(iam):
    # "This parameter is populated for only cross-account simulations. It contains a brief
    # summary of how each policy type contributes to the final evaluation decision."
    key_arn = f"arn:aws:kms:us-west-2:{OTHER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:Decrypt", "Resource": "*"}]})
    allow = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}]})
    iam.create_user(UserName="alice")
    result = _one(iam.simulate_custom_policy(
        PolicyInputList=[allow], ActionNames=["kms:Decrypt"], ResourceArns=[key_arn],
        ResourcePolicy=key_policy, ResourceOwner=OTHER,
        CallerArn=f"arn:aws:iam::{ACCOUNT}:user/alice"))
    assert result["EvalDecision"] == "allowed"
    assert result["EvalDecisionDetails"] == {"IAM Policy": "allowed",
                                             "Resource Policy": "allowed"}
    assert result["ResourceSpecificResults"][0]["EvalDecisionDetails"] == {
        "IAM Policy": "allowed", "Resource Policy": "allowed"}


def test_simulate_principal_policy_role_with_resource_policy_needs_caller(iam):
    # CallerArn: "CallerArn is required if you include a ResourcePolicy and the
    # PolicySourceArn is not the ARN for an IAM user."
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
         "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="R", AssumeRolePolicyDocument=trust)
    bucket_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:GetObject",
         "Resource": "*"}]})
    with pytest.raises(ClientError) as info:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/R", ActionNames=["s3:GetObject"],
            ResourcePolicy=bucket_policy)
    assert info.value.code == "InvalidInput"


def test_not_principal_deny_always_denies_a_principal_with_a_boundary():
    # NotPrincipal: "The NotPrincipal element with a Deny effect will always deny any IAM
    # principal that has a permissions boundary policy attached, regardless of the values
    # specified in the NotPrincipal element."
    role = f"arn:aws:iam::{ACCOUNT}:role/Operator"
    resource_policy = PolicyDocument.parse({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "NotPrincipal": {"AWS": [role, ACCOUNT]}, "Action": "s3:*",
         "Resource": "*"}]}, kind="resource", name="bucket policy")
    allow = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert evaluate(request(caller=role), [allow], resource_policy).allowed
    boundary = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, name="b")
    decision = evaluate(request(caller=role), [allow], resource_policy, None, boundary)
    assert decision.decision == "explicitDeny"
