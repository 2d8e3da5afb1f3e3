"""CloudFormation CreateStack / DescribeStacks / DeleteStack over the deploy engine, via boto3."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.api.conftest import client, user_with_key

STACK = (Path(__file__).resolve().parents[2] / "experiments" / "seed" / "stack.yaml").read_text()


def test_the_seed_stack_deploys_describes_and_deletes(server):
    cfn = client(server, "cloudformation")
    with pytest.raises(ClientError) as info:
        cfn.create_stack(StackName="seed", TemplateBody=STACK)
    assert info.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    stack_id = cfn.create_stack(StackName="seed", TemplateBody=STACK,
                                Parameters=[{"ParameterKey": "ClusterName",
                                             "ParameterValue": "web"}],
                                Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-west-2:111122223333:stack/seed/")
    cfn.get_waiter("stack_create_complete").wait(StackName="seed",
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    stack = cfn.describe_stacks(StackName="seed")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Parameters"] == [{"ParameterKey": "ClusterName", "ParameterValue": "web"}]
    ecs = client(server, "ecs")
    cluster = ecs.describe_clusters(clusters=["web"], include=["CONFIGURATIONS"])["clusters"][0]
    assert cluster["configuration"]["managedStorageConfiguration"][
        "fargateEphemeralStorageKmsKeyId"]
    with pytest.raises(ClientError) as info:
        cfn.create_stack(StackName="seed", TemplateBody=STACK,
                         Capabilities=["CAPABILITY_NAMED_IAM"])
    assert info.value.response["Error"]["Code"] == "AlreadyExistsException"

    cfn.delete_stack(StackName="seed")
    assert ecs.describe_clusters(clusters=["web"])["clusters"][0]["status"] == "INACTIVE"
    with pytest.raises(ClientError) as info:
        cfn.describe_stacks(StackName="seed")
    assert info.value.response["Error"]["Message"] == "Stack with id seed does not exist"
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == \
        "DELETE_COMPLETE"
    cfn.delete_stack(StackName="seed")  # deleting what is gone succeeds


def test_a_bad_template_is_a_validation_error(server):
    cfn = client(server, "cloudformation")
    with pytest.raises(ClientError) as info:
        cfn.create_stack(StackName="bad", TemplateBody="{not: [valid")
    assert info.value.response["Error"]["Code"] == "ValidationError"


def test_a_denied_stack_call_is_cloudformations_403_access_denied(server):
    """CloudFormation denies as IAM does, AccessDenied with HTTP 403, on the stack's ARN
    pattern (anomalyco/sst#3006), not as KMS and ECS do (AccessDeniedException, 400)."""
    key = user_with_key(server, "deployer")
    cfn = client(server, "cloudformation", key=key)
    with pytest.raises(ClientError) as info:
        cfn.describe_stacks(StackName="seed")
    err = info.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == (
        "AccessDenied", 403)
    assert ("cloudformation:DescribeStacks on resource: "
            "arn:aws:cloudformation:us-west-2:111122223333:stack/seed/*") in err["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        cfn.describe_stacks()
    assert "on resource: *" in info.value.response["Error"]["Message"]


def test_aws_cloudformation_deploy_creates_updates_and_reports_no_changes(server, tmp_path):
    """The AWS CLI's `cloudformation deploy` (change sets, their waiter, GetTemplateSummary
    and UsePreviousValue on the second run) against the endpoint, as a user runs it."""
    from tests.api.test_awscli_story import Aws
    from tests.cfn.test_update import rotated

    aws = Aws(tmp_path, server.url)
    (tmp_path / "stack.yaml").write_text(STACK)
    (tmp_path / "rotated.yaml").write_text(rotated(STACK))
    deploy = ["cloudformation", "deploy", "--stack-name", "seed",
              "--capabilities", "CAPABILITY_NAMED_IAM", "--template-file"]
    run = aws.run(*deploy, str(tmp_path / "stack.yaml"))
    assert run.returncode == 0, run.stderr
    assert "Successfully created/updated stack - seed" in run.stdout
    time.sleep(1.1)  # see below
    same = aws.run(*deploy, str(tmp_path / "stack.yaml"), "--no-fail-on-empty-changeset")
    assert same.returncode == 0, same.stderr
    assert "No changes to deploy. Stack seed is up to date" in same.stdout
    # The CLI names change sets by the second; the FAILED one above keeps its name (as on
    # AWS), so the next deploy must come in another second.
    time.sleep(1.1)
    run = aws.run(*deploy, str(tmp_path / "rotated.yaml"))
    assert run.returncode == 0, run.stderr
    stack = aws("cloudformation", "describe-stacks", "--stack-name", "seed")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    cluster = aws("ecs", "describe-clusters", "--clusters", "web", "--include",
                  "CONFIGURATIONS")["clusters"][0]
    key = cluster["configuration"]["managedStorageConfiguration"][
        "fargateEphemeralStorageKmsKeyId"]
    described = aws("kms", "describe-key", "--key-id", key)["KeyMetadata"]
    assert described["Description"] == "Fargate ephemeral storage, rotated"
