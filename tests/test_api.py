"""boto3 talks to the simulator over AWS's JSON protocol."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError as BotoClientError

from simulator import Simulation
from simulator.api import serve
from simulator.iam.seed import seed_key_policy

OPERATOR = "arn:aws:iam::111122223333:role/customer-chosen-role"


@pytest.fixture
def server():
    sim = Simulation()
    srv = serve(sim, principals={"AKIDOPERATOR": OPERATOR})
    yield srv
    srv.shutdown()
    srv.server_close()


def _client(server, service, akid="AKIDROOT"):
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-west-2",
        aws_access_key_id=akid,
        aws_secret_access_key="x",
    )


def test_boto3_round_trip_with_blobs_and_timestamps(server):
    kms = _client(server, "kms")
    key = kms.create_key(Description="over HTTP")["KeyMetadata"]
    assert key["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert key["CreationDate"].year == 2025
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello", EncryptionContext={"a": "b"})
    out = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"hello"
    assert out["KeyId"] == key["Arn"]


def test_errors_arrive_as_botocore_client_errors(server):
    kms = _client(server, "kms")
    with pytest.raises(BotoClientError) as info:
        kms.describe_key(KeyId="alias/missing")
    assert info.value.response["Error"]["Code"] == "NotFoundException"


def test_access_key_selects_the_principal(server):
    root_kms = _client(server, "kms")
    key = root_kms.create_key(
        Policy=json.dumps(seed_key_policy("111122223333", "c"))
    )["KeyMetadata"]
    op_kms = _client(server, "kms", akid="AKIDOPERATOR")
    assert op_kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(BotoClientError) as info:
        op_kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "customer-chosen-role" in info.value.response["Error"]["Message"]


def test_ecs_over_http(server):
    ecs = _client(server, "ecs")
    cluster = ecs.create_cluster(clusterName="web")["cluster"]
    assert cluster["clusterArn"].endswith(":cluster/web")
    assert ecs.list_clusters()["clusterArns"] == [cluster["clusterArn"]]


def test_a_request_signed_for_another_region_is_refused(server):
    kms = boto3.client("kms", endpoint_url=server.url, region_name="eu-west-1",
                       aws_access_key_id="AKID", aws_secret_access_key="x")
    with pytest.raises(BotoClientError) as info:
        kms.list_keys()
    error = info.value.response
    assert error["Error"]["Message"] == "Credential should be scoped to a valid region."
    assert "simulates us-west-2" in \
        error["ResponseMetadata"]["HTTPHeaders"]["x-fargate-sim-explanation"]


@pytest.mark.parametrize("service, target", [
    ("kms", "TrentService.ListKeys"),
    ("ecs", "AmazonEC2ContainerServiceV20141113.ListClusters"),
])
def test_a_request_signed_for_another_service_is_refused(server, service, target):
    """SigV4's scope names the service: a request to KMS signed for ECS (or the reverse)
    gets AWS's InvalidSignatureException, 400, in AWS's words (aws/aws-sdk-ruby#431)."""
    import urllib.error
    import urllib.request

    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    other = "ecs" if service == "kms" else "kms"
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=server.url + "/", data=b"{}",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKID", "x"), other,
                            "us-west-2").add_auth(req)
    prepared = req.prepare()
    http = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                                  headers=dict(prepared.headers))
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(http, timeout=30)
    assert info.value.code == 400
    body = json.loads(info.value.read())
    assert body["__type"] == "InvalidSignatureException"
    assert body["message"] == f"Credential should be scoped to correct service: '{service}'. "
