"""SigV4 verification: the fast canonical request is botocore's, byte for byte."""

from __future__ import annotations

import hashlib

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import DEFAULT_ROOT_KEY, sigv4

DATE = "20260101T000000Z"
NAMES = ["host", "x-amz-date", "content-type", "x-amz-target", "x-amz-content-sha256",
         "x-amz-security-token", "user-agent", "expect", "connection", "x-custom", "Host",
         "", "a b", "content-length"]
# Header values as the HTTP reader hands them on: ISO-8859-1 text, no line breaks.
VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=20) | \
    st.sampled_from(["UNSIGNED-PAYLOAD", "  a   b  ", "\t", "x\x85y", "\xa0"])
HOSTS = st.sampled_from(["127.0.0.1:4566", "localhost", "[::1]:80", "x/y", "a?b", "[::1",
                         "", "h:", "a@b", "kms.us-west-2.amazonaws.com"]) | VALUES


def _signed(names: list[str], presigned: bool, token: str | None = None
            ) -> sigv4.SignedRequest:
    return sigv4.SignedRequest(DEFAULT_ROOT_KEY[0], DATE, "us-west-2", "kms",
                               tuple(n.lower() for n in names), "00", presigned, token)


@settings(max_examples=200, deadline=None)
@given(method=st.sampled_from(["POST", "GET", "put", "Delete"]),
       path=st.sampled_from(["/", "/a", "/a b/../c", "//", "/%7E"]),
       query=st.sampled_from(["", "Action=ListUsers&Version=2010-05-08", "b=2&a=1", "x"]),
       headers=st.dictionaries(st.sampled_from(NAMES).map(str.lower), VALUES, max_size=8),
       host=HOSTS, signed_names=st.lists(st.sampled_from(NAMES), max_size=8),
       presigned=st.booleans(), body=st.binary(max_size=40))
def test_the_fast_canonical_request_is_botocores_byte_for_byte(
        method, path, query, headers, host, signed_names, presigned, body):
    headers = {**headers, "host": host}
    signed = _signed(signed_names, presigned)
    body_hash = hashlib.sha256(body).hexdigest()
    fast = sigv4.fast_canonical_request(signed, method, path, query, headers, body_hash)
    if fast is not None:
        assert fast == sigv4.botocore_canonical_request(signed, method, path, query, headers,
                                                        body)


TOKEN_NAMES = ["x-amz-date", "content-type", "x-amz-target", "x-amz-content-sha256",
               "x-amz-security-token", "user-agent", "x-custom", "content-length", "expect"]


@settings(max_examples=200, deadline=None)
@given(method=st.sampled_from(["POST", "GET", "post"]),
       headers=st.dictionaries(st.sampled_from(TOKEN_NAMES), VALUES, max_size=8),
       host=st.sampled_from(["127.0.0.1:4566", "localhost", "[::1]:80", "h:"]) | HOSTS,
       signed_names=st.lists(st.sampled_from(TOKEN_NAMES), max_size=8),
       body=st.binary(max_size=40))
def test_the_common_shape_takes_the_fast_path_and_matches_botocore(
        method, headers, host, signed_names, body):
    """Signed in the header, path ``/``, no query: what SDKs send to JSON and query services."""
    headers = {**headers, "host": host}
    signed = _signed(["host", *signed_names], False)
    body_hash = hashlib.sha256(body).hexdigest()
    fast = sigv4.fast_canonical_request(signed, method, "/", "", headers, body_hash)
    if fast is None:  # only a Host no URL keeps as it is
        assert not sigv4._PLAIN_HOST.fullmatch(host)
    else:
        assert fast == sigv4.botocore_canonical_request(signed, method, "/", "", headers, body)


def _boto_signed(body: bytes, extra: dict[str, str] | None = None) -> dict[str, str]:
    request = AWSRequest("POST", "http://127.0.0.1:4566/", data=body, headers={
        "X-Amz-Target": "TrentService.DescribeKey", "Content-Type": "application/x-amz-json-1.1",
        "Host": "127.0.0.1:4566", **(extra or {})})
    SigV4Auth(Credentials(*DEFAULT_ROOT_KEY), "kms", "us-west-2").add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


def test_a_request_botocore_signs_takes_the_fast_path_and_verifies():
    body = b'{"KeyId": "alias/x"}'
    headers = _boto_signed(body)
    signed = sigv4.parse(headers, "")
    assert signed is not None
    assert sigv4.fast_canonical_request(signed, "POST", "/", "", headers,
                                        hashlib.sha256(body).hexdigest()) is not None
    assert sigv4.verify(signed, DEFAULT_ROOT_KEY[1], "POST", "/", "", headers, body)


def test_the_fast_path_refuses_a_changed_body_header_or_secret():
    body = b'{"KeyId": "alias/x"}'
    headers = _boto_signed(body)
    signed = sigv4.parse(headers, "")
    assert signed is not None
    secret = DEFAULT_ROOT_KEY[1]
    assert not sigv4.verify(signed, secret, "POST", "/", "", headers, b'{"KeyId": "alias/y"}')
    changed = {**headers, "x-amz-target": "TrentService.ScheduleKeyDeletion"}
    assert not sigv4.verify(signed, secret, "POST", "/", "", changed, body)
    assert not sigv4.verify(signed, secret + "x", "POST", "/", "", headers, body)
    assert not sigv4.verify(signed, secret, "PUT", "/", "", headers, body)


def test_an_unusual_request_is_verified_by_botocore():
    body = b"Action=ListUsers&Version=2010-05-08"
    request = AWSRequest("POST", "http://127.0.0.1:4566/p/?b=2&a=1", data=body,
                         headers={"Host": "127.0.0.1:4566"})
    SigV4Auth(Credentials(*DEFAULT_ROOT_KEY), "iam", "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    signed = sigv4.parse(headers, "b=2&a=1")
    assert signed is not None
    assert sigv4.fast_canonical_request(signed, "POST", "/p/", "b=2&a=1", headers,
                                        hashlib.sha256(body).hexdigest()) is None
    assert sigv4.verify(signed, DEFAULT_ROOT_KEY[1], "POST", "/p/", "b=2&a=1", headers, body)
    assert not sigv4.verify(signed, DEFAULT_ROOT_KEY[1], "POST", "/p/", "a=1", headers, body)


class _SignsEverything(SigV4Auth):
    """A signer that signs User-Agent and Expect too, as some SDKs do (botocore never does)."""

    def headers_to_sign(self, request):
        names = super().headers_to_sign(request)
        for name in ("User-Agent", "Expect"):
            if name in request.headers:
                names[name.lower()] = request.headers[name]
        return names


def test_headers_botocore_never_signs_are_verified_when_a_client_signs_them():
    body = b'{"KeyId": "alias/x"}'
    for path, query in (("/", ""), ("/p/", "b=2&a=1")):  # the fast path, then botocore's
        url = f"http://127.0.0.1:4566{path}" + (f"?{query}" if query else "")
        request = AWSRequest("POST", url, data=body, headers={
            "Host": "127.0.0.1:4566", "User-Agent": "aws-sdk-other/1.0", "Expect": "100-continue"})
        _SignsEverything(Credentials(*DEFAULT_ROOT_KEY), "kms", "us-west-2").add_auth(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        signed = sigv4.parse(headers, query)
        assert signed is not None and "user-agent" in signed.signed_headers
        assert sigv4.verify(signed, DEFAULT_ROOT_KEY[1], "POST", path, query, headers, body)
        changed = {**headers, "user-agent": "aws-sdk-other/2.0"}
        assert not sigv4.verify(signed, DEFAULT_ROOT_KEY[1], "POST", path, query, changed, body)
