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


SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
PRINCIPAL = 'Invalid principal in policy: "{}":"{}"'

# (document, kind, AWS's message, the start of the simulator's explanation)
MALFORMED = [
    (doc(OK, {**OK, "Condition": {"StringEqual": {"aws:A": "x"}}}), "identity", SYNTAX,
     "Statement[1].Condition.StringEqual: unknown condition operator"),
    (doc({**OK, "Effect": "allow"}), "identity", LEGACY,
     'Statement[0].Effect: "allow" must be spelt "Allow" or "Deny" exactly'),
    (doc({"Action": "kms:Decrypt", "Resource": "*"}), "identity", SYNTAX,
     "Statement[0]: missing Effect"),
    (doc({**OK, "NotAction": "kms:Encrypt"}), "identity", SYNTAX,
     "Statement[0]: has both Action and NotAction"),
    (doc({**OK, "NotResource": "*"}), "identity", SYNTAX,
     "Statement[0]: has both Resource and NotResource"),
    (doc(OK, OK, {**OK, "Principal": "*"}), "identity",
     "Policy document should not specify a principal.", "Statement[2].Principal:"),
    (doc({**OK, "NotPrincipal": {"AWS": "111122223333"}}), "identity",
     "Policy document should not specify a principal.", "Statement[0].NotPrincipal:"),
    (doc(OK), "resource", SYNTAX, "Statement[0]: missing Principal"),
    (doc({**OK_R, "NotPrincipal": {"AWS": "111122223333"}}), "resource", SYNTAX,
     "Statement[0]: has both Principal and NotPrincipal"),
    (doc({k: v for k, v in OK.items() if k != "Action"}), "identity",
     "Policy statement must contain actions.", "Statement[0]: has no Action or NotAction"),
    (doc({k: v for k, v in OK.items() if k != "Resource"}), "identity",
     "Policy statement must contain resources.", "Statement[0]: has no Resource"),
    (doc({k: v for k, v in OK_R.items() if k != "Resource"}), "resource", SYNTAX,
     "Statement[0]: missing Resource"),
    (doc({**OK, "Actions": "kms:Decrypt"}), "identity", SYNTAX,
     "Statement[0].Actions: unknown element"),
    (doc(OK, Policy="x"), "identity", SYNTAX, "Policy: unknown top-level element"),
    ({"Version": "2012-10-17"}, "identity", SYNTAX, "missing Statement"),
    ({"Version": "2013-01-01", "Statement": [OK]}, "identity", SYNTAX,
     'Version: "2013-01-01" is not'),
    ({"Version": "2012-10-17", "Statement": "x"}, "identity", SYNTAX,
     "Statement: must be an object"),
    (doc("x"), "identity", SYNTAX, "Statement[0]: must be an object"),
    (doc({**OK, "Action": "Decrypt"}), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
     'Statement[0].Action: "Decrypt" is neither "*" nor vendor:action'),
    (doc({**OK, "Action": ["kms:Decrypt", 7]}), "identity", SYNTAX,
     "Statement[0].Action[1]: must be a string"),
    (doc({**OK, "Action": []}), "identity", "Policy statement must contain actions.",
     "Statement[0]: has no Action or NotAction, or an empty list"),
    (doc({**OK, "Resource": "bucket"}), "identity",
     'Resource bucket must be in ARN format or "*".',
     'Statement[0].Resource: "bucket" is neither "*" nor an ARN'),
    (doc({**OK, "Resource": ["*", "nope"]}), "identity",
     'Resource nope must be in ARN format or "*".', "Statement[0].Resource[1]:"),
    (doc({**OK, "Condition": {"NumericLessThan": {"aws:A": "ten"}}}), "identity", SYNTAX,
     "Statement[0].Condition.NumericLessThan.aws:A: NumericLessThan needs numbers"),
    (doc({**OK, "Condition": {"NumericEquals": {"aws:A": ["1", "x"]}}}), "identity", SYNTAX,
     "Statement[0].Condition.NumericEquals.aws:A[1]:"),
    (doc({**OK, "Condition": {"DateLessThan": {"aws:CurrentTime": "yesterday"}}}), "identity",
     LEGACY, "Statement[0].Condition.DateLessThan.aws:CurrentTime: 'yesterday'"),
    (doc({**OK, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}), "identity", SYNTAX,
     "Statement[0].Condition.Bool.aws:SecureTransport: Bool needs"),
    (doc({**OK, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}), "identity",
     SYNTAX, "Statement[0].Condition.IpAddress.aws:SourceIp: IpAddress needs CIDR blocks"),
    (doc({**OK, "Condition": {"Null": {"aws:A": "maybe"}}}), "identity", SYNTAX,
     "Statement[0].Condition.Null.aws:A: Null needs"),
    (doc({**OK, "Condition": {"NullIfExists": {"aws:A": "true"}}}), "identity", SYNTAX,
     "Statement[0].Condition.NullIfExists: Null cannot take IfExists"),
    (doc({**OK, "Condition": {"BinaryEquals": {"aws:A": "!!notbase64"}}}), "identity", SYNTAX,
     "Statement[0].Condition.BinaryEquals.aws:A: BinaryEquals needs base64"),
    (doc({**OK, "Condition": {"ForEachValue:StringEquals": {"aws:A": "x"}}}), "identity",
     SYNTAX, "Statement[0].Condition.ForEachValue:StringEquals: unknown condition operator"),
    (doc({**OK, "Condition": {"StringEquals": {"aws:A": {"x": 1}}}}), "identity", SYNTAX,
     "Statement[0].Condition.StringEquals.aws:A: condition values are strings, numbers"),
    (doc({**OK, "Condition": {"StringEquals": "x"}}), "identity", SYNTAX,
     "Statement[0].Condition.StringEquals: must be an object"),
    (doc({**OK, "Condition": ["x"]}), "identity", SYNTAX,
     "Statement[0].Condition: must be an object"),
    (doc({**OK_R, "Principal": {"AWS": "bob"}}), "resource", PRINCIPAL.format("AWS", "bob"),
     "Statement[0].Principal.AWS: 'bob' is not a valid AWS principal"),
    (doc({**OK_R, "Principal": {"AWS": ["111122223333", "arn:aws:s3:::b"]}}), "resource",
     PRINCIPAL.format("AWS", "arn:aws:s3:::b"), "Statement[0].Principal.AWS[1]:"),
    (doc({**OK_R, "Principal": {"Users": "x"}}), "resource", PRINCIPAL.format("Users", "x"),
     "Statement[0].Principal.Users: unknown principal type"),
    (doc({**OK_R, "Principal": "everyone"}), "resource", "Invalid principal in policy",
     "Statement[0].Principal: must be"),
    (doc({**OK_R, "Principal": {"AWS": "arn:aws:iam::*:role/x"}}), "resource",
     PRINCIPAL.format("AWS", "arn:aws:iam::*:role/x"),
     "Statement[0].Principal.AWS: 'arn:aws:iam::*:role/x' is not a valid AWS principal"),
    (doc({**OK_R, "Principal": {"Service": "not a service"}}), "resource",
     PRINCIPAL.format("Service", "not a service"), "Statement[0].Principal.Service:"),
    (doc({**OK, "Sid": "A"}, {**OK, "Sid": "A"}), "identity",
     "Statement IDs (SID) in a single policy must be unique.",
     "Statement[1].Sid: \"A\" is also Statement[0]'s Sid"),
    (doc({**OK, "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
          "Principal": {"Service": "ecs-tasks.amazonaws.com"}}), "trust",
     "Has prohibited field Resource.", "Statement[0].Resource: a trust policy"),
]


@pytest.mark.parametrize(("document", "kind", "message", "explanation"), MALFORMED)
def test_malformed_documents_give_aws_message_and_the_path(document, kind, message, explanation):
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(document, kind=kind)
    assert info.value.message == message
    assert info.value.explanation.startswith(explanation), info.value.explanation
    assert info.value.code == "MalformedPolicyDocument"
    assert info.value.response["Error"] == {"Code": "MalformedPolicyDocument", "Message": message}


def test_unknown_operator_suggests_the_right_one():
    with pytest.raises(MalformedPolicyDocumentException) as info:
        PolicyDocument.parse(doc({**OK, "Condition": {"StringEqual": {"aws:A": "x"}}}))
    assert "did you mean StringEquals" in info.value.explanation


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
    assert info.value.message == SYNTAX
    assert where in info.value.explanation


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
    # no Version: 2008-10-17, variables not honoured (IAM takes that for resource policies;
    # its identity policies need 2012-10-17)
    assert PolicyDocument.parse({"Statement": [OK_R]}, kind="resource").version == "2008-10-17"
    # an empty value list, an empty block under an operator IAM does not know, Sids with
    # characters beyond letters and digits: IAM takes all three
    PolicyDocument.parse(doc({**OK, "Sid": "with_underscore", "Condition": {
        "StringEquals": {"aws:A": []}, "NoSuchOperator": {}}}))
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
    from simulator.iam.core import decode as _decode

    encoded = "%7B%22Version%22%3A%222012-10-17%22%7D"
    assert _decode(encoded) == '{"Version":"2012-10-17"}'


def test_positions_of_many_statements():
    # found with one pass over the text's newlines (was a count from the start per statement)
    statements = [{**OK, "Sid": f"S{i}"} for i in range(300)]
    text = json.dumps(doc(*statements), indent=2)
    d = PolicyDocument.parse(text)
    lines = text.splitlines()
    starts = [st.position[0] for st in d.statements]
    assert starts == sorted(starts) and len(set(starts)) == 300
    for (line, col), (end_line, _) in (st.position for st in d.statements):
        assert lines[line - 1][col - 1] == "{" and end_line > line
