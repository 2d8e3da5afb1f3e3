"""Every condition operator family, qualifier, absent-key rule, IfExists and case rule."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from tests.iam.helpers import ABSENT, allow_with, request

K = "aws:TestKey"

# (operator, policy value(s), request value or ABSENT, expected)
CASES = [
    # String
    ("StringEquals", "abc", "abc", True),
    ("StringEquals", "abc", "ABC", False),
    ("StringEquals", ["x", "abc"], "abc", True),
    ("StringEquals", "abc", ABSENT, False),
    ("StringEquals", "a*", "abc", False),  # no wildcards in Equals
    ("StringEquals", "true", True, True),  # booleans compare as "true"/"false"
    ("StringEquals", 10, "10", True),  # numbers in the policy compare as text
    ("StringNotEquals", "abc", "abc", False),
    ("StringNotEquals", "abc", "abd", True),
    ("StringNotEquals", ["a", "b"], "b", False),  # NOR: must match none
    ("StringNotEquals", ["a", "b"], "c", True),
    ("StringNotEquals", "abc", ABSENT, True),  # negated operator on an absent key
    ("StringEqualsIgnoreCase", "AbC", "aBc", True),
    ("StringEqualsIgnoreCase", "abc", "abd", False),
    ("StringNotEqualsIgnoreCase", "AbC", "abc", False),
    ("StringNotEqualsIgnoreCase", "AbC", "abd", True),
    ("StringLike", "a*c", "abbbc", True),
    ("StringLike", "a?c", "abc", True),
    ("StringLike", "a?c", "abbc", False),
    ("StringLike", "a*", "A", False),  # Like is case-sensitive
    ("StringLike", ["x*", "*z"], "xyz", True),
    ("StringLike", "a.c", "abc", False),  # regex characters are literal
    ("StringLike", "*", "", True),
    ("StringNotLike", "a*", "abc", False),
    ("StringNotLike", "a*", "bcd", True),
    ("StringNotLike", "a*", ABSENT, True),
    # Numeric
    ("NumericEquals", "10", 10, True),
    ("NumericEquals", 10, "10.0", True),
    ("NumericEquals", "10", 11, False),
    ("NumericNotEquals", "10", 11, True),
    ("NumericNotEquals", ["10", "11"], 11, False),
    ("NumericLessThan", "10", 9, True),
    ("NumericLessThan", "10", 10, False),
    ("NumericLessThanEquals", "10", 10, True),
    ("NumericGreaterThan", "10", 11, True),
    ("NumericGreaterThan", "10", 10, False),
    ("NumericGreaterThanEquals", "10", 10, True),
    ("NumericGreaterThanEquals", "10", 9.5, False),
    ("NumericLessThan", "10", "not a number", False),
    ("NumericNotEquals", "10", "not a number", False),  # unreadable: neither
    ("NumericLessThan", "10", ABSENT, False),
    ("NumericNotEquals", "10", ABSENT, True),
    # Date
    ("DateEquals", "2024-06-10T00:00:00Z", "2024-06-10T00:00:00Z", True),
    ("DateEquals", "2024-06-10", datetime(2024, 6, 10, tzinfo=UTC), True),
    ("DateEquals", "1717977600", "2024-06-10T00:00:00Z", True),  # epoch seconds
    ("DateNotEquals", "2024-06-10", "2024-06-11", True),
    ("DateLessThan", "2024-06-10T00:00:00Z", "2024-06-09T23:59:59Z", True),
    ("DateLessThan", "2024-06-10T00:00:00Z", "2024-06-10T00:00:00Z", False),
    ("DateLessThanEquals", "2024-06-10T00:00:00Z", "2024-06-10T00:00:00Z", True),
    ("DateGreaterThan", "2024-06-10T00:00:00Z", 1717977601, True),
    ("DateGreaterThanEquals", "2024-06-10T00:00:00+02:00", "2024-06-09T22:00:00Z", True),
    ("DateGreaterThan", "2024-06-10", "garbage", False),
    # Bool
    ("Bool", "true", True, True),
    ("Bool", "true", "TRUE", True),
    ("Bool", "true", False, False),
    ("Bool", False, "false", True),
    ("Bool", "true", ABSENT, False),
    ("Bool", "true", "yes", False),
    # Binary
    ("BinaryEquals", base64.b64encode(b"\x00\x01").decode(), b"\x00\x01", True),
    ("BinaryEquals", base64.b64encode(b"\x00\x01").decode(), b"\x00\x02", False),
    ("BinaryEquals", "QUJD", "QUJD", True),
    # IP
    ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "203.0.113.0/24", "203.0.114.7", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),
    ("IpAddress", "2001:db8::/32", "2001:db8::1", True),
    ("IpAddress", "2001:db8::/32", "203.0.113.7", False),
    ("IpAddress", "203.0.113.0/24", "not-an-ip", False),
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", "203.0.113.0/24", "203.0.113.1", False),
    ("NotIpAddress", "203.0.113.0/24", ABSENT, True),
    # ARN
    ("ArnEquals", "arn:aws:iam::111122223333:role/A", "arn:aws:iam::111122223333:role/A", True),
    ("ArnEquals", "arn:aws:iam::111122223333:role/A", "arn:aws:iam::111122223333:role/a", False),
    ("ArnLike", "arn:aws:iam::*:role/A", "arn:aws:iam::444455556666:role/A", True),
    ("ArnLike", "arn:aws:iam::*:role/*", "arn:aws:iam::444455556666:role/path/A", True),
    # a wildcard in the account segment does not span segments
    ("ArnLike", "arn:aws:iam::*", "arn:aws:iam::444455556666:role/A", False),
    ("ArnLike", "arn:aws:iam::1111222233?3:role/A", "arn:aws:iam::111122223333:role/A", True),
    ("ArnLike", "arn:aws:kms:*:*:key/*", "not an arn", False),
    ("ArnNotEquals", "arn:aws:iam::111122223333:role/A", "arn:aws:iam::111122223333:role/B", True),
    ("ArnNotLike", "arn:aws:iam::*:role/A", "arn:aws:iam::444455556666:role/A", False),
    ("ArnNotLike", "arn:aws:iam::*:role/A", ABSENT, True),
    ("ArnLike", "arn:aws:iam::*:role/A", ABSENT, False),
    # Null
    ("Null", "true", ABSENT, True),
    ("Null", "true", "x", False),
    ("Null", "false", "x", True),
    ("Null", "false", ABSENT, False),
    ("Null", True, [], True),  # an empty list is no value
    # IfExists
    ("StringEqualsIfExists", "abc", ABSENT, True),
    ("StringEqualsIfExists", "abc", "abd", False),
    ("StringEqualsIfExists", "abc", "abc", True),
    ("NumericLessThanIfExists", "10", ABSENT, True),
    ("NumericLessThanIfExists", "10", 11, False),
    ("DateLessThanIfExists", "2024-01-01", ABSENT, True),
    ("BoolIfExists", "true", ABSENT, True),
    ("BoolIfExists", "true", False, False),
    ("BinaryEqualsIfExists", "QUJD", ABSENT, True),
    ("IpAddressIfExists", "10.0.0.0/8", ABSENT, True),
    ("IpAddressIfExists", "10.0.0.0/8", "11.0.0.1", False),
    ("ArnLikeIfExists", "arn:aws:iam::*:role/A", ABSENT, True),
    ("StringNotEqualsIfExists", "abc", "abc", False),
    # several request values without a qualifier: any value (negated: none)
    ("StringEquals", "a", ["b", "a"], True),
    ("StringNotEquals", "a", ["b", "a"], False),
    ("StringNotEquals", "a", ["b", "c"], True),
    # ForAllValues
    ("ForAllValues:StringEquals", ["Decrypt"], ["Decrypt"], True),
    ("ForAllValues:StringEquals", ["Decrypt"], ["Decrypt", "Encrypt"], False),
    ("ForAllValues:StringEquals", ["Decrypt", "Encrypt"], ["Encrypt"], True),
    ("ForAllValues:StringEquals", ["Decrypt"], ABSENT, True),  # absent: true
    ("ForAllValues:StringEquals", ["Decrypt"], [], True),  # empty: true
    ("ForAllValues:StringLike", ["team-*"], ["team-a", "team-b"], True),
    ("ForAllValues:StringNotEquals", ["admin"], ["a", "b"], True),
    ("ForAllValues:StringNotEquals", ["admin"], ["a", "admin"], False),
    ("ForAllValues:NumericLessThan", "5", [1, 2, 3], True),
    ("ForAllValues:NumericLessThan", "5", [1, 7], False),
    ("ForAllValues:StringEqualsIfExists", ["a"], ABSENT, True),
    # ForAnyValue
    ("ForAnyValue:StringEquals", ["Decrypt"], ["Encrypt", "Decrypt"], True),
    ("ForAnyValue:StringEquals", ["Decrypt"], ["Encrypt"], False),
    ("ForAnyValue:StringEquals", ["Decrypt"], ABSENT, False),  # absent: false
    ("ForAnyValue:StringEquals", ["Decrypt"], [], False),
    ("ForAnyValue:StringNotEquals", ["admin"], ["admin", "b"], True),
    ("ForAnyValue:StringNotEquals", ["admin"], ["admin"], False),
    ("ForAnyValue:StringLike", ["*-prod"], ["x-dev", "y-prod"], True),
    ("ForAnyValue:StringEqualsIgnoreCase", ["DECRYPT"], ["decrypt"], True),
    ("ForAnyValue:IpAddress", "10.0.0.0/8", ["192.168.0.1", "10.1.2.3"], True),
]


@pytest.mark.parametrize(("operator", "policy_value", "request_value", "expected"), CASES)
def test_operator(operator, policy_value, request_value, expected):
    doc = allow_with({operator: {K: policy_value}})
    ctx = {} if request_value is ABSENT else {K: request_value}
    result = doc.evaluate(request(ctx))
    assert bool(result.allows) is expected, "\n".join(result.explanation())
    # the explanation always names the operator, the key and the outcome
    match = (result.allows or result.near_misses)[0]
    line = next(x for x in match.explanation if operator in x)
    assert K in line
    assert f"-> {'true' if expected else 'false'}" in line


def test_condition_keys_are_case_insensitive():
    doc = allow_with({"StringEquals": {"kms:EncryptionContext:aws:ecs:ClusterName": "c1"}})
    assert doc.evaluate(request({"KMS:encryptioncontext:AWS:ECS:clustername": "c1"})).allows
    assert not doc.evaluate(request({"kms:EncryptionContext:aws:ecs:clusterName": "C1"})).allows


def test_several_keys_and_operators_and_together():
    doc = allow_with({
        "StringEquals": {"aws:A": "1", "aws:B": "2"},
        "NumericLessThan": {"aws:C": "5"},
    })
    assert doc.evaluate(request({"aws:A": "1", "aws:B": "2", "aws:C": 4})).allows
    assert not doc.evaluate(request({"aws:A": "1", "aws:B": "3", "aws:C": 4})).allows
    assert not doc.evaluate(request({"aws:A": "1", "aws:B": "2", "aws:C": 6})).allows


def test_missing_context_values_are_reported():
    doc = allow_with({"StringEquals": {"aws:A": "1", "aws:B": "2"}})
    result = doc.evaluate(request({"aws:A": "1"}))
    assert result.missing_context_values == ["aws:B"]
    assert not result.allows


def test_explanation_of_a_failed_string_condition():
    doc = allow_with(
        {"StringEquals": {"kms:EncryptionContext:aws:ecs:clusterName": ["clusterName"]}}
    )
    result = doc.evaluate(request({"kms:EncryptionContext:aws:ecs:clusterName": "other"}))
    lines = result.near_misses[0].explanation
    assert (
        '  condition StringEquals kms:EncryptionContext:aws:ecs:clusterName: request has '
        '"other", policy wants one of ["clusterName"] -> false'
    ) in lines


def test_explanation_names_the_values_forallvalues_rejects():
    doc = allow_with({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}})
    result = doc.evaluate(request({"kms:GrantOperations": ["Decrypt", "Encrypt"]}))
    text = "\n".join(result.near_misses[0].explanation)
    assert 'not allowed: ["Encrypt"]' in text
    assert "every value" in text


def test_explanation_of_an_absent_key_suggests_ifexists():
    doc = allow_with({"StringEquals": {"aws:A": "1"}})
    text = "\n".join(doc.evaluate(request()).explanation())
    assert "absent" in text and "IfExists" in text


def test_date_condition_with_the_current_time():
    doc = allow_with({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})
    assert doc.evaluate(request({"aws:CurrentTime": "2025-01-01T00:00:00Z"})).allows
    assert not doc.evaluate(request({"aws:CurrentTime": "2031-01-01T00:00:00Z"})).allows
