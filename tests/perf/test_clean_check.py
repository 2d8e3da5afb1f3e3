"""The compiled fast path of request validation never passes what the full checks refuse.

``clean_check(op)(params)`` lets the front door skip botocore's ParamValidator and the
constraint checks; it may only say True when both would report nothing. Differential test:
random requests (mostly valid, some corrupted) for every KMS, ECS and IAM operation.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.models import (
    clean_check,
    constraint_errors,
    encode_blobs,
    param_errors,
    service_model,
)


def _value(shape: Any, rng: random.Random, depth: int = 0) -> Any:
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        out = {}
        members = list(shape.members.items())
        if shape.is_tagged_union and members:
            members = [rng.choice(members)]
        for name, member in members:
            if name in meta.get("required", ()) or (depth < 3 and rng.random() < 0.4):
                out[name] = _value(member, rng, depth + 1)
        return out
    if t == "list":
        lo, hi = meta.get("min", 0), min(meta.get("max", 3), 3)
        return [_value(shape.member, rng, depth + 1)
                for _ in range(rng.randint(lo, max(lo, hi)))] if depth < 4 else []
    if t == "map":
        return {f"k{i}": _value(shape.value, rng, depth + 1) for i in range(rng.randint(0, 2))}
    if t == "string":
        if shape.enum:
            return rng.choice(shape.enum)
        lo = meta.get("min", 0)
        return "a" * max(lo, rng.randint(lo, lo + 5))
    if t in ("integer", "long"):
        return rng.randint(meta.get("min", 0), min(meta.get("max", 100), 10**6))
    if t == "boolean":
        return rng.random() < 0.5
    if t in ("double", "float"):
        return rng.random()
    if t == "blob":
        return b"x" * max(meta.get("min", 0), 1)
    if t == "timestamp":
        return datetime(2025, 1, 1, tzinfo=UTC)
    return None


_BAD = [None, "", "x" * 5000, -1, 10**12, True, 1.5, b"", [], {}, "NotAnEnumValue", "text"]


def _corrupt(value: Any, rng: random.Random) -> Any:
    """``value`` with one member, item or scalar replaced by something often invalid."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        k = rng.choice(list(value))
        return {**value, k: _corrupt(value[k], rng)}
    if isinstance(value, dict) and rng.random() < 0.5:
        return {**value, "NoSuchMember": 1}
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        return [*value[:i], _corrupt(value[i], rng), *value[i + 1:]]
    return rng.choice(_BAD)


@pytest.mark.parametrize("service", ["kms", "ecs", "iam"])
def test_clean_only_when_botocore_and_the_constraints_report_nothing(service):
    model = service_model(service)
    rng = random.Random(13)
    passed = refused = 0
    for name in model.operation_names:
        op = model.operation_model(name)
        check = clean_check(op)
        if op.input_shape is None or check is None:
            continue
        for _ in range(12):
            params = _value(op.input_shape, rng)
            if rng.random() < 0.6:
                params = _corrupt(params, rng)
            full = param_errors(op, params) is None and not constraint_errors(
                op, encode_blobs(op, params))
            if check(params):
                assert full, (name, params)
                passed += 1
            else:
                refused += 1
    # The fast path is taken for many valid requests, and refuses the corrupted ones.
    assert passed > 50 and refused > 50


def test_clean_check_refuses_what_each_check_reports():
    op = service_model("kms").operation_model("GenerateDataKeyWithoutPlaintext")
    check = clean_check(op)
    good = {"KeyId": "alias/x", "NumberOfBytes": 32, "EncryptionContext": {"a": "b"}}
    assert check(good)
    assert not check({"NumberOfBytes": 32})  # missing KeyId (botocore)
    assert not check({**good, "Bogus": 1})  # unknown member (botocore)
    assert not check({**good, "NumberOfBytes": "32"})  # wrong type (botocore)
    assert not check({**good, "NumberOfBytes": 2000})  # over the max (constraint)
    assert not check({**good, "KeySpec": "AES_512"})  # not in the enum (constraint)
    assert not check({**good, "KeyId": ""})  # below the min length (constraint)
    assert not check({**good, "EncryptionContext": {"a": None}})  # None value (botocore)
    assert clean_check(service_model("kms").operation_model("ListKeys"))({})
