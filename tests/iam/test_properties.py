"""Property tests: evaluation never raises, and adding a Deny never grants access."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.iam import PolicyDocument, RequestContext, evaluate
from simulator.iam.conditions import OPERATORS
from tests.iam.helpers import ACCOUNT, OTHER, principal

#: Hundreds of generated policies per property: seconds each (CI runs them; -m "not slow" skips).
pytestmark = pytest.mark.slow

ACTIONS = ["kms:Decrypt", "kms:CreateGrant", "kms:*", "kms:Gen*", "ecs:CreateCluster", "*",
           "ecs:?pdateCluster"]
RESOURCES = ["*", f"arn:aws:kms:us-west-2:{ACCOUNT}:key/*", "arn:aws:kms:*:*:key/k1",
             "arn:aws:ecs:us-west-2:*:cluster/${aws:PrincipalTag/Team}", "arn:aws:iam::*:role/*"]
KEYS = ["aws:A", "aws:B", "kms:GrantOperations", "aws:PrincipalTag/Team", "aws:SourceIp",
        "aws:CurrentTime"]
CALLERS = [ACCOUNT, OTHER, f"arn:aws:iam::{ACCOUNT}:role/R", f"arn:aws:iam::{OTHER}:role/R",
           f"arn:aws:iam::{ACCOUNT}:user/alice", "fargate.amazonaws.com",
           f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s"]
PRINCIPALS = ["*", {"AWS": ACCOUNT}, {"AWS": f"arn:aws:iam::{OTHER}:root"},
              {"AWS": f"arn:aws:iam::{ACCOUNT}:role/R"}, {"Service": "fargate.amazonaws.com"},
              {"AWS": ["*", OTHER]}]

_VALUES = {
    "String": st.sampled_from(["a", "b", "Decrypt", "a*", "${aws:username}", "x?", "${*}"]),
    "Numeric": st.sampled_from(["1", "10", 5, "-2.5"]),
    "Date": st.sampled_from(["2024-06-10T00:00:00Z", "2024-06-10", "1717977600"]),
    "Bool": st.sampled_from(["true", "false", True]),
    "Binary": st.sampled_from(["QUJD", "AAE="]),
    "Ip": st.sampled_from(["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"]),
    "Arn": st.sampled_from(["arn:aws:iam::*:role/R", "arn:aws:kms:*:${aws:PrincipalAccount}:*"]),
    "Null": st.sampled_from(["true", "false"]),
}


@st.composite
def conditions(draw):
    out = {}
    for _ in range(draw(st.integers(0, 3))):
        base = draw(st.sampled_from(sorted(OPERATORS)))
        family = OPERATORS[base][0]
        op = base
        if base != "Null" and draw(st.booleans()):
            op += "IfExists"
        qualifier = draw(st.sampled_from(["", "", "ForAllValues:", "ForAnyValue:"]))
        op = qualifier + op
        key = draw(st.sampled_from(KEYS))
        values = draw(st.lists(_VALUES[family], min_size=1, max_size=3))
        out.setdefault(op, {})[key] = values if len(values) > 1 else values[0]
    return out


@st.composite
def statements(draw, resource_policy):
    stmt = {
        "Effect": draw(st.sampled_from(["Allow", "Deny"])),
        draw(st.sampled_from(["Action", "Action", "NotAction"])):
            draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3)),
        draw(st.sampled_from(["Resource", "Resource", "NotResource"])):
            draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2)),
    }
    cond = draw(conditions())
    if cond:
        stmt["Condition"] = cond
    if resource_policy:
        key = draw(st.sampled_from(["Principal", "Principal", "NotPrincipal"]))
        stmt[key] = draw(st.sampled_from(PRINCIPALS))
    return stmt


def documents(resource_policy=False):
    # IAM takes identity policies of version 2012-10-17 only; resource policies of either.
    versions = ["2012-10-17", "2012-10-17", "2008-10-17"] if resource_policy else ["2012-10-17"]
    return st.builds(
        lambda version, stmts: {"Version": version, "Statement": stmts},
        st.sampled_from(versions),
        st.lists(statements(resource_policy), min_size=1, max_size=4),
    )


_CTX_VALUES = st.one_of(
    st.sampled_from(["a", "b", "Decrypt", "10.1.2.3", "2024-06-10T00:00:00Z", "QUJD", "x"]),
    st.integers(-5, 20), st.booleans(), st.just(b"ABC"),
    st.just(datetime(2024, 6, 10, tzinfo=UTC)),
    st.lists(st.sampled_from(["Decrypt", "Encrypt", "a"]), max_size=3),
)


@st.composite
def requests(draw):
    ctx = draw(st.dictionaries(st.sampled_from(KEYS), _CTX_VALUES, max_size=4))
    return RequestContext(
        principal(draw(st.sampled_from(CALLERS))),
        draw(st.sampled_from(["kms:Decrypt", "kms:CreateGrant", "ecs:CreateCluster",
                              "ecs:UpdateCluster", "s3:GetObject"])),
        draw(st.sampled_from(["*", f"arn:aws:kms:us-west-2:{ACCOUNT}:key/k1",
                              f"arn:aws:kms:us-west-2:{OTHER}:key/k1",
                              f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/blue"])),
        ctx,
    )


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(documents(), documents(resource_policy=True), requests())
def test_evaluation_never_raises(identity_doc, resource_doc, request):
    ident = PolicyDocument.parse(identity_doc, name="id")
    res = PolicyDocument.parse(resource_doc, kind="resource", name="rp")
    for required in (False, True):
        d = evaluate(request, [ident], res, resource_policy_required=required)
        assert d.decision in ("allowed", "explicitDeny", "implicitDeny")
        assert d.allowed == (d.decision == "allowed")
        assert isinstance(d.explanation, list) and all(isinstance(x, str) for x in d.explanation)
        d.to_evaluation_result()
        d.access_denied_message()
        assert isinstance(d.missing_context_values, list)
        for m in d.matched_statements:
            m.to_matched_statement()


@SETTINGS
@given(documents(), documents(resource_policy=True), requests(), statements(False),
       statements(True))
def test_adding_a_deny_never_grants(identity_doc, resource_doc, request, extra_i, extra_r):
    ident = PolicyDocument.parse(identity_doc, name="id")
    res = PolicyDocument.parse(resource_doc, kind="resource", name="rp")
    before = evaluate(request, [ident], res)
    deny_i = {**extra_i, "Effect": "Deny"}
    deny_r = {**extra_r, "Effect": "Deny"}
    ident2 = PolicyDocument.parse(
        {**identity_doc, "Statement": [*identity_doc["Statement"], deny_i]}, name="id")
    res2 = PolicyDocument.parse(
        {**resource_doc, "Statement": [*resource_doc["Statement"], deny_r]},
        kind="resource", name="rp")
    for i, r in ((ident2, res), (ident, res2), (ident2, res2)):
        after = evaluate(request, [i], r)
        if not before.allowed:
            assert not after.allowed
        if before.decision == "explicitDeny":
            assert after.decision == "explicitDeny"


@SETTINGS
@given(documents(), requests())
def test_statement_results_are_consistent(doc, request):
    d = PolicyDocument.parse(doc)
    result = d.evaluate(request)
    for m in result.allows + result.denies:
        assert m.applies
        assert m.explanation[0].endswith("applies")
    for m in result.near_misses:
        assert not m.applies
