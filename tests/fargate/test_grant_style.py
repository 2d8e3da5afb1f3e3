"""The Fargate agent's grant style: the CloudTrail sequence, or service-principal grants."""

from __future__ import annotations

import pytest

from simulator.fargate.agent import grantee_principal, retiring_principal
from simulator.models import service_model
from tests.ecs.helpers import CLUSTER, CMK_START, make_cluster, make_key, register, run

needs_144 = pytest.mark.skipif(
    "GranteeServicePrincipal" not in service_model("kms").operation_model(
        "CreateGrant").input_shape.members,
    reason="the installed botocore has no service-principal grants")


def _kms(sim, since):
    return [r for r in sim.audit_trail[since:] if r["eventSource"] == "kms.amazonaws.com"]


@needs_144
def test_service_principal_grants_run_the_same_flow(sim):
    sim.fargate.grant_style = "service-principal"
    make_cluster(sim, key=make_key(sim))
    before = len(sim.audit_trail)
    [task] = run(sim, register(sim))
    assert task["lastStatus"] == "RUNNING"
    recs = _kms(sim, before)
    assert [r["eventName"] for r in recs] == CMK_START
    grant = recs[3]["requestParameters"]
    region = sim.region
    assert grant["granteeServicePrincipal"] == grantee_principal(region)
    assert grant["retiringServicePrincipal"] == retiring_principal(region)
    assert grant["constraints"]["sourceArn"] == task["taskArn"]
    assert "granteePrincipal" not in grant
    entry = sim.client("kms").list_grants(KeyId=task["fargateEphemeralStorage"]["kmsKeyId"])
    assert entry["Grants"][0]["GranteeServicePrincipal"] == grantee_principal(region)
    sim.client("ecs").stop_task(cluster=CLUSTER, task=task["taskArn"])
    sim.fargate.settle()
    retire = _kms(sim, before)[-1]
    assert retire["eventName"] == "RetireGrant" and "errorCode" not in retire
    assert sim.fargate.retire_failures == []


def test_default_style_keeps_cloudtrails_grantee_principal(sim):
    make_cluster(sim, key=make_key(sim))
    before = len(sim.audit_trail)
    run(sim, register(sim))
    grant = _kms(sim, before)[3]["requestParameters"]
    assert grant["granteePrincipal"] == grantee_principal(sim.region)
    assert grant["retiringPrincipal"] == retiring_principal(sim.region)
    assert "sourceArn" not in grant["constraints"]


def test_an_unknown_grant_style_fails_the_task_with_a_reason(sim):
    sim.fargate.grant_style = "telepathy"
    make_cluster(sim, key=make_key(sim))
    [task] = run(sim, register(sim))
    assert task["lastStatus"] == "STOPPED"
    assert "grant_style is 'telepathy'" in task["stoppedReason"]
