"""SigV4 verified with botocore's signer; access keys, assumed-role sessions, AWS's errors."""

from __future__ import annotations

import json

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpsession import URLLib3Session

from simulator.api import identity
from simulator.iam.seed import seed_key_policy
from tests.api.conftest import (
    ACCOUNT,
    OPERATOR_ROLE,
    TRUST_ACCOUNT,
    client,
    operator_session,
    user_with_key,
)


def _error(call, *args, **kw):
    with pytest.raises(ClientError) as info:
        call(*args, **kw)
    return info.value.response


def test_the_root_key_signs_as_the_root(server):
    who = client(server, "sts").get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{ACCOUNT}:root" and who["UserId"] == ACCOUNT


@pytest.mark.parametrize("service,code,status", [
    ("kms", "UnrecognizedClientException", 400), ("iam", "InvalidClientTokenId", 403)])
def test_an_unknown_key_is_refused_in_each_protocols_words(server, service, code, status):
    c = client(server, service, ("AKIAUNKNOWNKEY000000", "x"))
    call = c.list_keys if service == "kms" else c.list_users
    err = _error(call)
    assert err["Error"]["Code"] == code
    words = identity.INVALID_TOKEN if service == "kms" else identity.INVALID_TOKEN[:-1]
    assert err["Error"]["Message"] == words  # AWS's words alone; ours in their own header
    assert err["ResponseMetadata"]["HTTPHeaders"]["x-fargate-sim-explanation"] == \
        "no access key AKIAUNKNOWNKEY000000 in this simulation"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status
    assert err["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize("service,code", [
    ("kms", "InvalidSignatureException"), ("sts", "SignatureDoesNotMatch")])
def test_a_wrong_secret_is_a_bad_signature(server, service, code):
    c = client(server, service, (identity.DEFAULT_ROOT_KEY[0], "wrong-secret"))
    call = c.list_keys if service == "kms" else c.get_caller_identity
    err = _error(call)
    assert err["Error"]["Code"] == code
    assert err["Error"]["Message"] == identity.BAD_SIGNATURE


def test_an_unsigned_request_is_refused(server):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.url + "/", data=b"{}", headers={
        "X-Amz-Target": "TrentService.ListKeys", "Content-Type": "application/x-amz-json-1.1"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    body = json.loads(info.value.read())
    assert info.value.code == 400
    assert body["__type"] == "MissingAuthenticationTokenException"


def test_iam_user_keys_sign_as_the_user_and_can_be_deleted(server):
    key = user_with_key(server, "alice", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]})
    alice_sts = client(server, "sts", key)
    assert alice_sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    alice_kms = client(server, "kms", key)
    alice_kms.list_keys()
    err = _error(alice_kms.create_key)
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert "user/alice is not authorized to perform: kms:CreateKey" in err["Error"]["Message"]
    # the simulator's reason beside AWS's words, in its own header, over both protocols
    assert "implicitly denied" in err["ResponseMetadata"]["HTTPHeaders"][
        "x-fargate-sim-explanation"]
    iam = client(server, "iam")
    denied = _error(client(server, "iam", key).list_users)
    assert denied["Error"]["Code"] == "AccessDenied"
    assert "x-fargate-sim-explanation" in denied["ResponseMetadata"]["HTTPHeaders"]
    assert [k["AccessKeyId"] for k in
            iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]] == [key[0]]
    assert _error(iam.delete_user, UserName="alice")["Error"]["Code"] == "DeleteConflict"
    iam.delete_access_key(UserName="alice", AccessKeyId=key[0])
    assert _error(alice_sts.get_caller_identity)["Error"]["Code"] == "InvalidClientTokenId"


def test_assume_role_returns_a_session_that_key_policies_see_as_the_role(server):
    creds = operator_session(server)
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    session = (creds["AccessKeyId"], creds["SecretAccessKey"])
    who = client(server, "sts", session, creds["SessionToken"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{OPERATOR_ROLE}/ops"
    assert who["UserId"].startswith("AROA") and who["UserId"].endswith(":ops")
    # The seed's key policy names the role ARN; its session may DescribeKey, not Encrypt.
    root_kms = client(server, "kms")
    key = root_kms.create_key(Policy=json.dumps(seed_key_policy(ACCOUNT, "c")))["KeyMetadata"]
    ops_kms = client(server, "kms", session, creds["SessionToken"])
    ops_kms.describe_key(KeyId=key["Arn"])
    # Without the session token the key is not the session's.
    err = _error(client(server, "kms", session).list_keys)
    assert err["Error"]["Code"] == "UnrecognizedClientException"


def test_assume_role_is_decided_by_the_trust_policy(server):
    iam = client(server, "iam")
    iam.create_role(RoleName="nobody", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ecs.amazonaws.com"}}]}))
    key = user_with_key(server, "bob", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    err = _error(client(server, "sts", key).assume_role,
                 RoleArn=f"arn:aws:iam::{ACCOUNT}:role/nobody", RoleSessionName="ss")
    assert err["Error"]["Code"] == "AccessDenied"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "user/bob is not authorized to perform: sts:AssumeRole" in err["Error"]["Message"]
    root = _error(client(server, "sts").assume_role,
                  RoleArn=f"arn:aws:iam::{ACCOUNT}:role/nobody", RoleSessionName="ss")
    assert root["Error"]["Message"] == "Roles may not be assumed by root accounts."


def test_session_credentials_expire_with_duration_seconds(server):
    creds = operator_session(server)
    session = (creds["AccessKeyId"], creds["SecretAccessKey"])
    kms = client(server, "kms", session, creds["SessionToken"])
    kms.list_keys()
    server.sim.clock.advance(3600)
    err = _error(kms.list_keys)
    assert err["Error"]["Code"] == "ExpiredTokenException"
    assert err["Error"]["Message"] == identity.EXPIRED
    query = _error(client(server, "sts", session, creds["SessionToken"]).get_caller_identity)
    assert query["Error"]["Code"] == "ExpiredToken"


def test_duration_seconds_beyond_the_roles_maximum_is_refused(server):
    client(server, "iam").create_role(RoleName="short", AssumeRolePolicyDocument=json.dumps(
        TRUST_ACCOUNT))
    key = user_with_key(server, "carol", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    sts = client(server, "sts", key)
    arn = f"arn:aws:iam::{ACCOUNT}:role/short"
    err = _error(sts.assume_role, RoleArn=arn, RoleSessionName="ss", DurationSeconds=7200)
    assert err["Error"]["Code"] == "ValidationError"
    assert "MaxSessionDuration" in err["Error"]["Message"]
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="ss", DurationSeconds=900)
    left = creds["Credentials"]["Expiration"].timestamp() - server.sim.clock.time()
    assert left == 900


def test_a_presigned_url_is_verified(server):
    creds = Credentials(*identity.DEFAULT_ROOT_KEY)
    url = f"{server.url}/?Action=GetCallerIdentity&Version=2011-06-15"

    def send(secret_ok: bool):
        request = AWSRequest(method="GET", url=url)
        signer = SigV4QueryAuth(creds if secret_ok else Credentials(creds.access_key, "bad"),
                                "sts", "us-west-2", expires=300)
        signer.add_auth(request)
        return URLLib3Session().send(request.prepare())

    good = send(True)
    assert good.status_code == 200 and b"arn:aws:iam::111122223333:root" in good.content
    bad = send(False)
    assert bad.status_code == 403 and b"SignatureDoesNotMatch" in bad.content


def test_an_old_presigned_url_has_expired_whatever_its_x_amz_expires(server, monkeypatch):
    import time as time_module

    creds = Credentials(*identity.DEFAULT_ROOT_KEY)
    request = AWSRequest(method="GET",
                         url=f"{server.url}/?Action=GetCallerIdentity&Version=2011-06-15")
    real = time_module.time()
    monkeypatch.setattr(identity, "wall_time", lambda: real + 3600)  # the server, an hour on
    SigV4QueryAuth(creds, "sts", "us-west-2", expires=86400).add_auth(request)
    response = URLLib3Session().send(request.prepare())
    assert response.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.content
    assert b"Signature expired:" in response.content and b"- 15 min.)" in response.content


@pytest.mark.parametrize("content_sha", [None, "UNSIGNED-PAYLOAD", "body"])
def test_verify_accepts_what_botocore_signs_and_a_tampered_body_fails(content_sha):
    import hashlib

    from botocore.auth import SigV4Auth

    from simulator.api import sigv4

    body = b'{"KeyId": "k"}'
    headers = {"X-Amz-Target": "TrentService.DescribeKey", "Host": "127.0.0.1:9"}
    if content_sha is not None:
        headers["X-Amz-Content-SHA256"] = (hashlib.sha256(body).hexdigest()
                                           if content_sha == "body" else content_sha)
    request = AWSRequest("POST", "http://127.0.0.1:9/", data=body, headers=headers)
    SigV4Auth(Credentials("AKID", "secret"), "kms", "us-west-2").add_auth(request)
    got = {k.lower(): (v.decode() if isinstance(v, bytes) else v)
           for k, v in request.headers.items()}
    signed = sigv4.parse(got, "")
    assert sigv4.verify(signed, "secret", "POST", "/", "", got, body)
    assert not sigv4.verify(signed, "other", "POST", "/", "", got, body)
    tampered_ok = content_sha == "UNSIGNED-PAYLOAD"  # an unsigned payload is not covered
    assert sigv4.verify(signed, "secret", "POST", "/", "", got, b'{"KeyId": "x"}') \
        is tampered_ok


def test_a_signature_from_a_skewed_clock_is_refused_in_awss_words():
    from simulator.api.identity import signature_skew

    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert signature_skew("20231114T221000Z", 5, now) is None
    assert signature_skew("20231114T220000Z", 5, now) == (
        "Signature expired: 20231114T220000Z is now earlier than 20231114T220820Z "
        "(20231114T221320Z - 5 min.)")
    assert signature_skew("20231114T223000Z", 15, now) == (
        "Signature not yet current: 20231114T223000Z is still later than 20231114T222820Z "
        "(20231114T221320Z + 15 min.)")


def test_the_root_key_owner_follows_the_account_and_the_secret():
    """The root's KeyOwner is made once, not per request, yet never outlives what it says."""
    from types import SimpleNamespace

    auth = identity.Authenticator(("AKIDROOT", "first"))
    one, other = SimpleNamespace(account_id="111122223333"), SimpleNamespace(
        account_id="444455556666")
    assert auth.owner(one, "AKIDROOT") == identity.KeyOwner("first", "111122223333")
    assert auth.owner(other, "AKIDROOT") == identity.KeyOwner("first", "444455556666")
    auth.root_key = ("AKIDROOT", "second")
    assert auth.owner(other, "AKIDROOT") == identity.KeyOwner("second", "444455556666")
