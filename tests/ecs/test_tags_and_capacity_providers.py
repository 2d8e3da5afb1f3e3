"""TagResource, UntagResource, ListTagsForResource and PutClusterCapacityProviders, with the
shapes of the AWS CLI's examples (awscli/examples/ecs/tag-resource.rst and neighbours)."""

from __future__ import annotations

import pytest

from simulator.errors import ClientError
from tests.ecs.helpers import ACCOUNT, CLUSTER, NET, make_cluster, register, run

ARN = f"arn:aws:ecs:us-west-2:{ACCOUNT}"


def _code(call, **kw) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    return info.value.code, info.value.message


def test_tags_on_a_cluster_are_added_overwritten_listed_and_removed(sim):
    ecs = sim.client("ecs")
    arn = make_cluster(sim, tags=[{"key": "team", "value": "a"}])["clusterArn"]
    out = ecs.tag_resource(resourceArn=arn, tags=[
        {"key": "key1", "value": "value1"}, {"key": "team", "value": "b"}])
    assert set(out) == {"ResponseMetadata"}
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "key1", "value": "value1"}, {"key": "team", "value": "b"}]
    ecs.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "key1", "value": "value1"}]
    described = ecs.describe_clusters(clusters=[CLUSTER], include=["TAGS"])["clusters"][0]
    assert described["tags"] == [{"key": "key1", "value": "value1"}]


def test_tasks_services_and_task_definitions_are_tagged(sim):
    ecs = sim.client("ecs")
    make_cluster(sim)
    td = register(sim)
    task = run(sim, td)[0]["taskArn"]
    svc = ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td,
                             desiredCount=0, launchType="FARGATE",
                             networkConfiguration=NET)["service"]["serviceArn"]
    for arn in (td, task, svc):
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": arn[-4:]}])
        assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [
            {"key": "k", "value": arn[-4:]}]
    shown = ecs.describe_tasks(cluster=CLUSTER, tasks=[task], include=["TAGS"])["tasks"][0]
    assert shown["tags"] == [{"key": "k", "value": task[-4:]}]


def test_tagging_errors(sim):
    ecs = sim.client("ecs")
    arn = make_cluster(sim)["clusterArn"]
    assert _code(ecs.list_tags_for_resource, resourceArn=f"{ARN}:cluster/nope") == (
        "ClusterNotFoundException", "Cluster not found.")
    assert _code(ecs.list_tags_for_resource,
                 resourceArn=f"{ARN}:task/{CLUSTER}/0123456789abcdef0123456789abcdef")[0] == (
        "ResourceNotFoundException")
    assert _code(ecs.list_tags_for_resource, resourceArn="not-an-arn")[0] == (
        "InvalidParameterException")
    assert _code(ecs.tag_resource, resourceArn=arn,
                 tags=[{"key": "aws:x", "value": "y"}])[0] == "InvalidParameterException"
    ecs.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": ""} for i in range(50)])
    assert _code(ecs.tag_resource, resourceArn=arn, tags=[{"key": "one-more", "value": ""}])[
        0] == "InvalidParameterException"
    assert len(ecs.list_tags_for_resource(resourceArn=arn)["tags"]) == 50


def test_put_cluster_capacity_providers_replaces_both_lists(sim):
    ecs = sim.client("ecs")
    make_cluster(sim)
    out = ecs.put_cluster_capacity_providers(
        cluster=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    assert out["cluster"]["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert out["cluster"]["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    ecs.put_cluster_capacity_providers(cluster=CLUSTER, capacityProviders=[],
                                       defaultCapacityProviderStrategy=[])
    shown = ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]
    assert shown["capacityProviders"] == [] and shown["defaultCapacityProviderStrategy"] == []
    assert _code(ecs.put_cluster_capacity_providers, cluster=CLUSTER,
                 capacityProviders=["MyCapacityProvider1"],
                 defaultCapacityProviderStrategy=[])[0] == "InvalidParameterException"
    assert _code(ecs.put_cluster_capacity_providers, cluster="nope", capacityProviders=[],
                 defaultCapacityProviderStrategy=[])[0] == "ClusterNotFoundException"


def test_a_cluster_arn_of_another_account_is_not_this_accounts_cluster(sim):
    """Tagging another account's ARN is evaluated against that ARN (and denied), and never
    lands on the caller's cluster of the same name."""
    ecs = sim.client("ecs")
    make_cluster(sim)
    other = f"arn:aws:ecs:us-west-2:444455556666:cluster/{CLUSTER}"
    assert _code(ecs.tag_resource, resourceArn=other, tags=[{"key": "k", "value": "v"}])[
        0] == "AccessDeniedException"
    assert ecs.list_tags_for_resource(resourceArn=f"{ARN}:cluster/{CLUSTER}")["tags"] == []


def test_a_capacity_provider_in_use_cannot_be_removed(sim):
    ecs = sim.client("ecs")
    make_cluster(sim, capacityProviders=["FARGATE", "FARGATE_SPOT"])
    td = register(sim)
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td, desiredCount=0,
                       capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT",
                                                  "weight": 1}],
                       networkConfiguration=NET)
    assert _code(ecs.put_cluster_capacity_providers, cluster=CLUSTER,
                 capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[]) == (
        "ResourceInUseException",
        "The specified capacity provider is in use and cannot be removed.")
    ecs.delete_service(cluster=CLUSTER, service="web", force=True)
    sim.fargate.settle()
    ecs.put_cluster_capacity_providers(cluster=CLUSTER, capacityProviders=["FARGATE"],
                                       defaultCapacityProviderStrategy=[])
