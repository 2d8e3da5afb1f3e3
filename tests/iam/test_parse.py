"""Parsing and validation: every malformed document is refused with the path to the problem."""

from __future__ import annotations

import json

import pytest

from simulator.errors import MalformedPolicyDocumentException
from simulator.iam import PolicyDocument

OK = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
OK_R = {**OK, "Principal": {"AWS": "111122223333"}}


def doc(*statements, **top):
    return {"Version": "2012-10-17", "Statement": list(statements), **top}


# (document, kind, expected message prefix)
MALFORMED = [
    (doc(OK, {**OK, "Condition": {"StringEqual": {"aws:A": "x"}}}), "identity",
     "Statement[1].Condition.StringEqual: unknown operator"),
    (doc({**OK, "Effect": "allow"}), "identity", 'Statement[0].Effect: must be "Allow" or "Deny"'),
    (doc({"Action": "kms:Decrypt", "Resource": "*"}), "identity", "Statement[0]: missing Effect"),
    (doc({**OK, "NotAction": "kms:Encrypt"}), "identity",
     "Statement[0]: has both Action and NotAction"),
    (doc({**OK, "NotResource": "*"}), "identity",
     "Statement[0]: has both Resource and NotResource"),
    (doc(OK, OK, {**OK, "Principal": "*"}), "identity",
     "Statement[2].Principal: not allowed in an identity policy"),
    (doc({**OK, "NotPrincipal": {"AWS": "111122223333"}}), "identity",
     "Statement[0].NotPrincipal: not allowed in an identity policy"),
    (doc(OK), "resource", "Statement[0]: missing Principal"),
    (doc({**OK_R, "NotPrincipal": {"AWS": "111122223333"}}), "resource",
     "Statement[0]: has both Principal and NotPrincipal"),
    (doc({k: v for k, v in OK.items() if k != "Action"}), "identity",
     "Statement[0]: missing Action"),
    (doc({k: v for k, v in OK.items() if k != "Resource"}), "identity",
     "Statement[0]: missing Resource"),
    (doc({k: v for k, v in OK_R.items() if k != "Resource"}), "resource",
     "Statement[0]: missing Resource"),
    (doc({**OK, "Actions": "kms:Decrypt"}), "identity", "Statement[0].Actions: unknown element"),
    (doc(OK, Policy="x"), "identity", "Policy: unknown top-level element"),
    ({"Version": "2012-10-17"}, "identity", "missing Statement"),
    ({"Version": "2013-01-01", "Statement": [OK]}, "identity", "Version: must be"),
    ({"Version": "2012-10-17", "Statement": "x"}, "identity", "Statement: must be an object"),
    (doc("x"), "identity", "Statement[0]: must be an object"),
    (doc({**OK, "Action": "Decrypt"}), "identity", 'Statement[0].Action: "Decrypt" must be "*"'),
    (doc({**OK, "Action": ["kms:Decrypt", 7]}), "identity", "Statement[0].Action[1]: must be a"),
    (doc({**OK, "Action": []}), "identity", "Statement[0].Action: must not be an empty list"),
    (doc({**OK, "Resource": "bucket"}), "identity",
     'Statement[0].Resource: "bucket" must be "*" or an ARN'),
    (doc({**OK, "Resource": ["*", "nope"]}), "identity", "Statement[0].Resource[1]:"),
    (doc({**OK, "Condition": {"NumericLessThan": {"aws:A": "ten"}}}), "identity",
     "Statement[0].Condition.NumericLessThan.aws:A: NumericLessThan needs numbers"),
    (doc({**OK, "Condition": {"NumericEquals": {"aws:A": ["1", "x"]}}}), "identity",
     "Statement[0].Condition.NumericEquals.aws:A[1]:"),
    (doc({**OK, "Condition": {"DateLessThan": {"aws:CurrentTime": "yesterday"}}}), "identity",
     "Statement[0].Condition.DateLessThan.aws:CurrentTime: DateLessThan needs dates"),
    (doc({**OK, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}), "identity",
     "Statement[0].Condition.Bool.aws:SecureTransport: Bool needs"),
    (doc({**OK, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}), "identity",
     "Statement[0].Condition.IpAddress.aws:SourceIp: IpAddress needs CIDR blocks"),
    (doc({**OK, "Condition": {"Null": {"aws:A": "maybe"}}}), "identity",
     "Statement[0].Condition.Null.aws:A: Null needs"),
    (doc({**OK, "Condition": {"NullIfExists": {"aws:A": "true"}}}), "identity",
     "Statement[0].Condition.NullIfExists: Null cannot take IfExists"),
    (doc({**OK, "Condition": {"BinaryEquals": {"aws:A": "!!notbase64"}}}), "identity",
     "Statement[0].Condition.BinaryEquals.aws:A: BinaryEquals needs base64"),
    (doc({**OK, "Condition": {"ForEachValue:StringEquals": {"aws:A": "x"}}}), "identity",
     "Statement[0].Condition.ForEachValue:StringEquals: unknown set qualifier"),
    (doc({**OK, "Condition": {"StringEquals": {"aws:A": {"x": 1}}}}), "identity",
     "Statement[0].Condition.StringEquals.aws:A: condition values must be"),
    (doc({**OK, "Condition": {"StringEquals": {"aws:A": []}}}), "identity",
     "Statement[0].Condition.StringEquals.aws:A: needs at least one value"),
    (doc({**OK, "Condition": {"StringEquals": "x"}}), "identity",
     "Statement[0].Condition.StringEquals: must be an object"),
    (doc({**OK, "Condition": ["x"]}), "identity", "Statement[0].Condition: must be an object"),
    (doc({**OK_R, "Principal": {"AWS": "bob"}}), "resource",
     "Statement[0].Principal.AWS: 'bob' is not a valid AWS principal"),
    (doc({**OK_R, "Principal": {"AWS": ["111122223333", "arn:aws:s3:::b"]}}), "resource",
     "Statement[0].Principal.AWS[1]:"),
    (doc({**OK_R, "Principal": {"Users": "x"}}), "resource",
     "Statement[0].Principal.Users: unknown principal type"),
    (doc({**OK_R, "Principal": "everyone"}), "resource", "Statement[0].Principal: must be"),
    (doc({**OK_R, "Principal": {"AWS": "arn:aws:iam::*:role/x"}}), "resource",
     "Statement[0].Principal.AWS: 'arn:aws:iam::*:role/x' is not a valid AWS principal"),
    (doc({**OK_R, "Principal": {"Service": "not a service"}}), "resource",
     "Statement[0].Principal.Service:"),
    (doc({**OK, "Sid": "has spaces"}), "identity", "Statement[0].Sid: must contain only letters"),
    (doc({**OK, "Sid": "A"}, {**OK, "Sid": "A"}), "identity", "Statement[1].Sid: duplicate Sid"),
    (doc({**OK, "Resource": "arn:aws:s3:::${aws:username"}), "identity", None),  # literal: ok
    (doc({**OK, "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
          "Principal": {"Service": "ecs-tasks.amazonaws.com"}}), "trust",
     "Statement[0].Resource: not allowed in a role trust policy"),
]


@pytest.mark.parametrize(("document", "kind", "message"), MALFORMED)
def test_malformed_documents_name_the_path(document, kind, message):
    if message is None:
        PolicyDocument.parse(document, kind=kind)
        return
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(document, kind=kind)
    assert info.value.message.startswith(message), info.value.message
    assert info.value.code == "MalformedPolicyDocument"


def test_unknown_operator_suggests_the_right_one():
    with pytest.raises(MalformedPolicyDocumentException, match="did you mean StringEquals"):
        PolicyDocument.parse(doc({**OK, "Condition": {"StringEqual": {"aws:A": "x"}}}))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"Version": "2012-10-17", "Statement": [}', "line 1 column"),
        ('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow",,}\n  ]\n}',
         "line 4 column"),
        ("", "the policy is empty"),
        ('{"Version": NaN}', "bad JSON"),
        ("[]", "the policy must be a JSON object"),
    ],
)
def test_bad_json_says_where(text, where):
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(text)
    assert where in info.value.message


def test_accepted_shapes():
    # Statement as a single object, values as strings or lists, condition values of any scalar
    d = PolicyDocument.parse(
        {"Version": "2012-10-17", "Id": "x", "Statement": {
            "Sid": "A1", "Effect": "Deny", "NotAction": ["kms:*"], "NotResource": "*",
            "Condition": {"NumericLessThan": {"aws:A": 5}, "Bool": {"aws:B": True},
                          "StringEquals": {"aws:C": ["x", 1, True]}},
        }}
    )
    assert len(d.statements) == 1 and d.statements[0].not_action
    # no Version: 2008-10-17, variables not honoured
    assert PolicyDocument.parse({"Statement": [OK]}).version == "2008-10-17"
    # resource policies accept every principal form
    PolicyDocument.parse(doc({**OK_R, "Principal": {
        "AWS": ["*", "111122223333", "arn:aws:iam::111122223333:root",
                "arn:aws:iam::111122223333:role/path/R", "arn:aws:iam::111122223333:user/U",
                "arn:aws:sts::111122223333:assumed-role/R/session"],
        "Service": ["fargate.amazonaws.com", "ec2.amazonaws.com"],
        "Federated": "cognito-identity.amazonaws.com",
    }}), kind="resource")
    # KMS-style Sids with spaces are fine in resource policies
    PolicyDocument.parse(doc({**OK_R, "Sid": "Allow use of the key."}), kind="resource")


def test_round_trip_and_positions():
    text = json.dumps(doc(OK, {**OK, "Effect": "Deny"}), indent=2)
    d = PolicyDocument.parse(text, name="p")
    assert json.loads(d.to_json()) == json.loads(text)
    (s0, e0), (s1, e1) = (st.position for st in d.statements)
    assert s0 < e0 <= s1 < e1
    lines = text.splitlines()
    assert lines[s0[0] - 1][s0[1] - 1] == "{"
    assert lines[s1[0] - 1][s1[1] - 1] == "{"


def test_url_encoded_documents_are_accepted_by_the_service_layer():
    from simulator.iam.service import _decode

    encoded = "%7B%22Version%22%3A%222012-10-17%22%7D"
    assert _decode(encoded) == '{"Version":"2012-10-17"}'
