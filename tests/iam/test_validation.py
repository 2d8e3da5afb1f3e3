"""Policy validation as AWS does it: IAM's recorded answers, IAM's grammar, KMS's words.

The first two tests replay every document of ``tests/vectors/iam/create_policy_answers.json``
(documents IAM's CreatePolicy refused, with the message it returned, and documents it took);
the others are cases read off IAM's grammar and element pages and KMS's API reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.errors import ClientError, MalformedPolicyDocumentException
from simulator.iam import PolicyDocument
from simulator.iam import validation as V
from simulator.iam.values import legacy_epoch
from simulator.kms.keypolicy import parse_key_policy
from tests.iam.helpers import ACCOUNT

ANSWERS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "iam" / "create_policy_answers.json").read_text()
)


def _text(document):
    return document if isinstance(document, str) else json.dumps(document)


@pytest.mark.parametrize("case", ANSWERS["refused"], ids=lambda c: c["message"][:40])
def test_iam_refuses_as_iam_did_with_its_message(case, iam):
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(_text(case["document"]), kind="identity")
    assert info.value.message == case["message"]
    assert info.value.explanation  # the simulator says where and why, beside AWS's words
    # and the same through the IAM API: the code and message a boto3 user would see
    with pytest.raises(ClientError) as api:
        iam.create_policy(PolicyName="P", PolicyDocument=_text(case["document"]))
    assert api.value.response["Error"] == {"Code": "MalformedPolicyDocument",
                                           "Message": case["message"]}


@pytest.mark.parametrize("document", ANSWERS["accepted"])
def test_iam_accepts_what_iam_accepted(document, iam):
    PolicyDocument.parse(json.dumps(document), kind="identity")
    iam.create_policy(PolicyName="P", PolicyDocument=json.dumps(document))


def test_the_recorded_answers_cover_every_message_and_both_outcomes():
    messages = {c["message"] for c in ANSWERS["refused"]}
    assert len(ANSWERS["refused"]) == 78 and len(ANSWERS["accepted"]) == 54
    for message in (V.SYNTAX, V.VERSION, V.LEGACY, V.DUPLICATE_SID, V.NO_ACTIONS,
                    V.NO_RESOURCES, V.NO_VENDOR, V.ONE_COLON, V.UNQUALIFIED_VENDOR):
        assert message in messages


# -- read off the grammar and the element pages -----------------------------------------------
OK = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}
TRUST_OK = {"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"}}


def policy(*statements, version="2012-10-17"):
    out = {"Statement": list(statements)}
    if version is not None:
        out["Version"] = version
    return out


# (document, kind, AWS's message or None when IAM takes it)
GRAMMAR = [
    # Version: identity policies need 2012-10-17; trust and resource policies take either
    (policy(OK, version="2008-10-17"), "identity", V.VERSION),
    (policy(TRUST_OK, version="2008-10-17"), "trust", None),
    (policy(TRUST_OK, version=None), "trust", None),
    (policy({**OK, "Principal": "*"}, version="2008-10-17"), "resource", None),
    # condition values: "string" | "number" | "Boolean"; not null, not an object
    (policy({**OK, "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}}),
     "identity", None),
    (policy({**OK, "Condition": {"Bool": {"aws:SecureTransport": False}}}), "identity", None),
    (policy({**OK, "Condition": {"StringEquals": {"aws:A": None}}}), "identity", V.SYNTAX),
    (policy({**OK, "Condition": {"StringEquals": {"aws:A": [["x"]]}}}), "identity", V.SYNTAX),
    # an empty block under an operator, even one IAM does not know; an unknown one with keys
    (policy({**OK, "Condition": {"NoSuchOperator": {}}}), "identity", None),
    (policy({**OK, "Condition": {"NoSuchOperator": {"aws:A": "x"}}}), "identity", V.SYNTAX),
    (policy({**OK, "Condition": {"ForAnyValue:ForAllValues:StringEquals": {"aws:A": "x"}}}),
     "identity", V.SYNTAX),
    # dates IAM's parser reads, and ones it does not
    (policy({**OK, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020"}}}),
     "identity", None),
    (policy({**OK, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-02-30"}}}),
     "identity", None),
    (policy({**OK, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T24:00"}}}),
     "identity", V.LEGACY),
    (policy({**OK, "Condition": {"ForAnyValue:DateEquals": {"aws:CurrentTime": "x"}}}),
     "identity", V.LEGACY),
    # partitions botocore knows
    (policy({**OK, "Resource": "arn:aws-cn:s3:::b"}), "identity", None),
    (policy({**OK, "Resource": "arn:aws-us-gov:iam::123456789012:role/R"}), "identity", None),
    (policy({**OK, "Resource": "arn:*:s3:::b"}), "identity", None),
    (policy({**OK, "Resource": "arn:aws-x:s3:::b"}), "identity",
     'Partition "aws-x" is not valid for resource "arn:aws-x:s3:::b".'),
    # IAM ARNs: a path of a known resource type (or "*"), no Region
    (policy({**OK, "Resource": "arn:aws:iam::123456789012:*"}), "identity", None),
    (policy({**OK, "Resource": "arn:aws:iam::123456789012:key/k"}), "identity",
     V.SERVICE_ARN_RULES["iam"]["path_message"].format(
         paths=", ".join(V.SERVICE_ARN_RULES["iam"]["paths"]))),
    (policy({**OK, "Resource": "arn:aws:iam:us-west-2:123456789012:role/R"}), "identity",
     "IAM resource arn:aws:iam:us-west-2:123456789012:role/R cannot contain region "
     "information."),
    # an identity policy names no principal
    (policy({**OK, "Principal": {"AWS": ACCOUNT}}), "identity", V.PRINCIPAL_NOT_ALLOWED),
    # a role trust policy: actions on the role, no Resource, a principal each
    (policy({**TRUST_OK, "Action": "sts:AssumeRoleWith*"}), "trust", None),
    (policy({**TRUST_OK, "Action": "s3:GetObject"}), "trust", V.TRUST_ACTIONS),
    (policy({**TRUST_OK, "Resource": "*"}), "trust", V.TRUST_RESOURCE),
    (policy({"Effect": "Allow", "Action": "sts:AssumeRole"}), "trust", V.TRUST_NO_PRINCIPAL),
    (policy({**TRUST_OK, "Principal": {"AWS": "arn:aws::iam::123456789012:root"}}), "trust",
     'Invalid principal in policy: "AWS":"arn:aws::iam::123456789012:root"'),
]


@pytest.mark.parametrize(("document", "kind", "message"), GRAMMAR)
def test_grammar_cases(document, kind, message):
    if message is None:
        PolicyDocument.parse(document, kind=kind)
        return
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(document, kind=kind)
    assert info.value.message == message
    assert info.value.explanation and info.value.explanation != message


def test_duplicate_sids_are_reported_as_duplicates_not_as_a_missing_action():
    doc = policy({**OK, "Sid": "A"}, {"Sid": "A", "Effect": "Allow"})
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(doc)
    assert info.value.message == V.DUPLICATE_SID
    assert info.value.explanation == "Statement[1].Sid: \"A\" is also Statement[0]'s Sid"


# -- KMS key policies ---------------------------------------------------------------------------
KEY_OK = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
          "Action": "kms:*", "Resource": "*"}
KMS_INVALID = "Policy contains a statement with one or more invalid principals."


@pytest.mark.parametrize(("document", "message", "why"), [
    ("{not json", "", "bad JSON at line 1"),
    (json.dumps(policy({**KEY_OK, "Effect": "Maybe"})), "", 'Statement[0].Effect: "Maybe"'),
    (json.dumps(policy({**KEY_OK, "Principal": {"AWS": "bob"}})), KMS_INVALID,
     "Statement[0].Principal.AWS: 'bob'"),
    (json.dumps(policy({k: v for k, v in KEY_OK.items() if k != "Principal"})), KMS_INVALID,
     "Statement[0]: missing Principal"),
])
def test_kms_refuses_in_its_own_words(document, message, why):
    with pytest.raises(MalformedPolicyDocumentException) as info:
        parse_key_policy(document)
    assert info.value.code == "MalformedPolicyDocumentException"
    assert info.value.message == message
    assert info.value.explanation.startswith(why)


def test_kms_takes_what_iam_would_refuse_in_an_identity_policy():
    # 2008-10-17, no Version, Sids with spaces, statements without Action or Resource
    for doc in (policy(KEY_OK, version="2008-10-17"), policy(KEY_OK, version=None),
                policy({**KEY_OK, "Sid": "Allow use of the key"},
                       {k: v for k, v in KEY_OK.items() if k != "Action"})):
        parse_key_policy(json.dumps(doc))


# -- IAM's date parser --------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "epoch"), [
    ("2017-07-01T00:00:00Z", 1498867200.0),
    ("2016-12-13T21:20:37.593194+00:00", 1481664037.593194),
    ("2016-12-13t2:00:00.593194+23", 1481511600.593194),  # one-digit hour, zone +23
    ("2016-12-13T21:20:37-05:00", 1481682037.0),
    ("01T", -62135596800.0),  # the year 1
    ("1970-01", 0.0),  # a "-" makes it a date
    ("1970", 1970.0),  # without "t" or "-" it is epoch seconds
    ("1500000000", 1500000000.0),  # epoch seconds
])
def test_legacy_dates(text, epoch):
    assert legacy_epoch(text) == pytest.approx(epoch)


@pytest.mark.parametrize("text", ["sdfdsf", "234-13", "2016-12-13t2:00:00.593194+1",
                                  "2016-12-13t2:00:00.1999999999+10:59", "9223372036854775808",
                                  "2020-01-01 10:00:00", "2020-01-32", "292278994-01"])
def test_legacy_dates_refused(text):
    with pytest.raises(ValueError):
        legacy_epoch(text)


def test_a_loose_date_evaluates_as_iam_reads_it():
    from tests.iam.helpers import allow_with, request

    doc = allow_with({"DateLessThan": {"aws:CurrentTime": "2016-12-13t2:00:00+23"}})
    before = {"aws:CurrentTime": "2016-12-12T02:59:59Z"}
    after = {"aws:CurrentTime": "2016-12-12T03:00:00Z"}
    assert doc.evaluate(request(before)).allows
    assert not doc.evaluate(request(after)).allows


@pytest.mark.parametrize("strict", [False, True])
def test_trust_policy_version_both_readings(monkeypatch, strict):
    # The sources disagree on 2008-10-17 in a role trust policy: a named choice, both tested.
    if strict:
        monkeypatch.setattr(V, "VERSION_2012_REQUIRED", {"identity", "trust"})
    old = policy(TRUST_OK, version="2008-10-17")
    if not strict:
        PolicyDocument.parse(old, kind="trust")
        return
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(old, kind="trust")
    assert info.value.message == V.VERSION


def test_the_api_returns_aws_words_and_keeps_our_explanation_apart(iam):
    iam.create_role(RoleName="R", AssumeRolePolicyDocument=json.dumps(policy(TRUST_OK)))
    with pytest.raises(ClientError) as info:
        iam.update_assume_role_policy(RoleName="R", PolicyDocument=json.dumps(
            policy({**TRUST_OK, "Resource": "*"})))
    err = info.value
    assert err.response["Error"] == {"Code": "MalformedPolicyDocument",
                                     "Message": "Has prohibited field Resource."}
    assert "Statement[0].Resource" in err.explanation
    assert err.describe() == f"MalformedPolicyDocument: Has prohibited field Resource. (why: " \
                             f"{err.explanation})"
    with pytest.raises(ClientError) as info:
        iam.simulate_custom_policy(PolicyInputList=[json.dumps(policy(OK, version=None))],
                                   ActionNames=["s3:ListBucket"])
    assert info.value.code == "InvalidInput"
    assert info.value.message == f"PolicyInputList.1: {V.VERSION}"
    assert info.value.explanation.startswith("Version: the document has no Version")
