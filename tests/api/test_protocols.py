"""IAM and STS over the query protocol, CloudTrail LookupEvents, error status codes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from simulator.api import query
from simulator.models import service_model
from tests.api.conftest import TRUST_ACCOUNT, client


def test_iam_round_trips_lists_maps_documents_and_timestamps(server):
    iam = client(server, "iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT),
                           Tags=[{"Key": "team", "Value": "a b&c"}], MaxSessionDuration=7200)
    assert role["Role"]["AssumeRolePolicyDocument"] == TRUST_ACCOUNT
    assert "MaxSessionDuration" not in role["Role"]  # CreateRole does not echo it
    assert iam.get_role(RoleName="r")["Role"]["MaxSessionDuration"] == 7200
    assert role["Role"]["CreateDate"].tzinfo is not None
    assert iam.list_role_tags(RoleName="r")["Tags"] == [{"Key": "team", "Value": "a b&c"}]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["r"]
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*",
                                                   "Resource": "*"}]}
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(doc))
    assert iam.get_role_policy(RoleName="r", PolicyName="p")["PolicyDocument"] == doc


def test_iam_errors_are_xml_with_awss_status(server):
    iam = client(server, "iam")
    with pytest.raises(ClientError) as info:
        iam.get_role(RoleName="missing")
    err = info.value.response
    assert err["Error"]["Code"] == "NoSuchEntity"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert err["ResponseMetadata"]["RequestId"]


def test_query_params_decode_by_the_input_shape():
    op = service_model("iam").operation_model("CreateRole")
    form = query.parse_form("Action=CreateRole&RoleName=r&AssumeRolePolicyDocument=%7B%7D"
                            "&Tags.member.1.Key=k&Tags.member.1.Value=v&MaxSessionDuration=3600")
    assert query.decode_params(op, form) == {
        "RoleName": "r", "AssumeRolePolicyDocument": "{}", "MaxSessionDuration": 3600,
        "Tags": [{"Key": "k", "Value": "v"}]}
    with pytest.raises(query.QueryError, match="MaxSessionDuration"):
        query.decode_params(op, {"MaxSessionDuration": "soon"})


def test_cloudtrail_lookup_events_filters_and_pages(server):
    kms = client(server, "kms")
    for _ in range(3):
        kms.create_key()
    kms.list_keys()
    ct = client(server, "cloudtrail")
    created = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])["Events"]
    assert len(created) == 3 and all(e["EventSource"] == "kms.amazonaws.com" for e in created)
    assert json.loads(created[0]["CloudTrailEvent"])["eventName"] == "CreateKey"
    assert created[0]["Username"] == "root" and created[0]["ReadOnly"] == "false"
    by_kms = [{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}]
    first = ct.lookup_events(LookupAttributes=by_kms, MaxResults=2)
    assert [e["EventName"] for e in first["Events"]] == ["ListKeys", "CreateKey"]
    rest = ct.lookup_events(LookupAttributes=by_kms, MaxResults=2,
                            NextToken=first["NextToken"])["Events"]
    assert [e["EventName"] for e in rest] == ["CreateKey", "CreateKey"]
    later = server.sim.clock.now() + timedelta(hours=1)
    assert ct.lookup_events(StartTime=later, EndTime=later + timedelta(hours=1))["Events"] == []
    with pytest.raises(ClientError) as info:
        ct.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "a"},
            {"AttributeKey": "EventName", "AttributeValue": "b"}])
    assert info.value.response["Error"]["Code"] == "InvalidLookupAttributesException"


def test_cloudtrail_names_the_access_key_that_signed(server):
    from simulator.api import DEFAULT_ROOT_KEY

    client(server, "kms").list_keys()
    ct = client(server, "cloudtrail")
    events = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "AccessKeyId", "AttributeValue": DEFAULT_ROOT_KEY[0]}])["Events"]
    assert [e["EventName"] for e in events] == ["ListKeys"]
    assert json.loads(events[0]["CloudTrailEvent"])["userIdentity"]["accessKeyId"] == \
        DEFAULT_ROOT_KEY[0]
