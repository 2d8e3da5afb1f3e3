"""The JSON protocol's values: blobs and timestamps converted where the shape says, and
where it does not (a stray one), everything else passed through."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import wire
from simulator.models import service_model


def _output(service, operation):
    return service_model(service).operation_model(operation).output_shape


def test_timestamps_and_blobs_are_converted_and_metadata_dropped():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    out = json.loads(wire.to_json(_output("kms", "GenerateDataKey"), {
        "CiphertextBlob": b"\x00\x01", "Plaintext": b"k", "KeyId": "arn",
        "ResponseMetadata": {"RequestId": "r"}}))
    assert out == {"CiphertextBlob": base64.b64encode(b"\x00\x01").decode(),
                   "Plaintext": base64.b64encode(b"k").decode(), "KeyId": "arn"}
    meta = json.loads(wire.to_json(_output("kms", "DescribeKey"), {
        "KeyMetadata": {"KeyId": "k", "CreationDate": when, "Enabled": True}}))
    assert meta == {"KeyMetadata": {"KeyId": "k", "CreationDate": when.timestamp(),
                                    "Enabled": True}}


def test_a_stray_timestamp_or_blob_still_encodes():
    shape = _output("kms", "ListAliases")  # no timestamps where this value puts one
    when = datetime(2026, 1, 2, tzinfo=UTC)
    out = json.loads(wire.to_json(shape, {"Aliases": [], "Extra": when, "Raw": b"x"}))
    assert out["Extra"] == when.timestamp() and out["Raw"] == "eA=="
    with pytest.raises(TypeError):
        wire.to_json(shape, {"Aliases": [], "Bad": object()})


def test_decoding_converts_blobs_and_refuses_bad_base64():
    shape = service_model("kms").operation_model("Decrypt").input_shape
    assert wire.decode(shape, {"CiphertextBlob": "AAE="}) == {"CiphertextBlob": b"\x00\x01"}
    with pytest.raises(wire.WireError, match="CiphertextBlob"):
        wire.decode(shape, {"CiphertextBlob": "not base64!"})
    plain = service_model("kms").operation_model("DescribeKey").input_shape
    value = {"KeyId": "k"}
    assert wire.decode(plain, value) is value  # nothing to convert: taken as it is


def test_timestamps_go_out_to_the_millisecond_as_aws_sends_them():
    when = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    meta = json.loads(wire.to_json(_output("kms", "DescribeKey"), {
        "KeyMetadata": {"KeyId": "k", "CreationDate": when}}))
    assert meta["KeyMetadata"]["CreationDate"] == round(when.timestamp(), 3)
    assert repr(meta["KeyMetadata"]["CreationDate"]).split(".")[1] == "123"


def test_an_operation_without_output_answers_an_empty_object():
    # KMS EnableKey has no output shape: the SDK's ResponseMetadata never reaches the wire.
    assert service_model("kms").operation_model("EnableKey").output_shape is None
    assert wire.to_json(None, {"ResponseMetadata": {"RequestId": "r"}}) == b"{}"
    assert wire.to_json(None, None) == b"{}"


def test_blobs_and_timestamps_nested_in_lists_and_maps_are_converted():
    when = datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)
    shape = _output("ecs", "DescribeTasks")
    body = wire.to_json(shape, {"tasks": [{"createdAt": when, "attachments": [
        {"details": [{"name": "n", "value": "v"}]}]}], "failures": [],
        "ResponseMetadata": {"RequestId": "r"}})
    assert body == (b'{"tasks":[{"createdAt":%s,"attachments":[{"details":[{"name":"n",'
                    b'"value":"v"}]}]}],"failures":[]}' % repr(round(when.timestamp(), 3)).encode())
    assert wire.to_json(None, {"m": {"k": [b"\x00"]}, "s": "\u00e9"}) == \
        b'{"m":{"k":["AA=="]},"s":"\\u00e9"}'


def _outcome(read, body: bytes):
    try:
        return "value", read(body)
    except (ValueError, RecursionError) as exc:
        return "error", type(exc).__name__, str(exc)
    except UnicodeDecodeError as exc:  # pragma: no cover - a ValueError
        return "error", str(exc)


JSONISH = st.lists(st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"a", b":", b",", b" ",
                                    b"\n", b"1", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xc3\xa9",
                                    b'"KeyId"', b"null", b"\\u00e9", b"\\ud800"]),
                   max_size=12).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(body=JSONISH | st.binary(max_size=12) | st.builds(
    lambda value, tail: json.dumps(value).encode() + tail,
    st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=3),
    st.sampled_from([b"", b" ", b"\n", b"x", b"\x00", b"{}"])))
def test_request_bodies_read_as_json_loads_reads_them(body):
    assert _outcome(wire.loads, body) == _outcome(json.loads, body)
