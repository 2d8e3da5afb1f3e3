"""CloudFormation CreateStack / DescribeStacks / DeleteStack over the deploy engine, via boto3."""

from __future__ import annotations

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
