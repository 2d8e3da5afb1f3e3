"""DescribeCapacityProviders: Fargate's two capacity providers, which every account has."""

from __future__ import annotations

import pytest

from simulator import Simulation, errors

ACCOUNT = "111122223333"
ARN = f"arn:aws:ecs:us-west-2:{ACCOUNT}:capacity-provider/"


@pytest.fixture
def ecs():
    return Simulation(account_id=ACCOUNT).client("ecs")


def described(out: dict) -> list[str]:
    return [p["name"] for p in out["capacityProviders"]]


def test_every_account_has_fargate_and_fargate_spot_as_the_cli_example_shows(ecs):
    out = ecs.describe_capacity_providers()
    # awscli/examples/ecs/describe-capacity-providers.rst (its Fargate entries), with the
    # type member botocore's model has since added (its enum names FARGATE and FARGATE_SPOT)
    assert out["capacityProviders"] == [
        {"capacityProviderArn": ARN + "FARGATE", "name": "FARGATE", "status": "ACTIVE",
         "type": "FARGATE", "tags": []},
        {"capacityProviderArn": ARN + "FARGATE_SPOT", "name": "FARGATE_SPOT",
         "status": "ACTIVE", "type": "FARGATE_SPOT", "tags": []},
    ]
    assert out["failures"] == [] and "nextToken" not in out


def test_named_by_name_or_arn_and_the_rest_missing(ecs):
    out = ecs.describe_capacity_providers(
        capacityProviders=[ARN + "FARGATE_SPOT", "FARGATE", "MyProvider"], include=["TAGS"])
    assert described(out) == ["FARGATE_SPOT", "FARGATE"]
    assert out["failures"] == [{"arn": ARN + "MyProvider", "reason": "MISSING"}]
    other = "arn:aws:ecs:us-west-2:444455556666:capacity-provider/FARGATE"
    assert ecs.describe_capacity_providers(capacityProviders=[other])["failures"] == [
        {"arn": other, "reason": "MISSING"}]


def test_paged_and_by_cluster(ecs):
    first = ecs.describe_capacity_providers(maxResults=1)
    assert described(first) == ["FARGATE"] and first["nextToken"]
    rest = ecs.describe_capacity_providers(maxResults=1, nextToken=first["nextToken"])
    assert described(rest) == ["FARGATE_SPOT"] and "nextToken" not in rest
    ecs.create_cluster(clusterName="web", capacityProviders=["FARGATE_SPOT"])
    assert described(ecs.describe_capacity_providers(cluster="web")) == ["FARGATE_SPOT"]
    with pytest.raises(errors.ClientError) as info:
        ecs.describe_capacity_providers(cluster="nowhere")
    assert info.value.code == "ClusterNotFoundException"


def test_the_models_limits(ecs):
    for bad in (0, 11):
        with pytest.raises(errors.InvalidParameterException, match="between 1 and 10"):
            ecs.describe_capacity_providers(maxResults=bad)
    with pytest.raises(errors.InvalidParameterException, match="Up to 100"):
        ecs.describe_capacity_providers(capacityProviders=[f"p{n}" for n in range(101)])
