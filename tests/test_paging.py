"""The one paginator: members from botocore's paginator model, tokens from each service."""

from __future__ import annotations

import pytest

from simulator import errors, paging
from simulator.ecs.common import TOKENS as ECS_TOKENS
from simulator.iam.simulate import MARKERS as IAM_MARKERS
from simulator.kms.core import MARKERS as KMS_MARKERS


def test_rules_are_botocores():
    assert paging.page_rule("kms", "ListKeys") == paging.PageRule(
        "Marker", "NextMarker", "Limit", "Keys", "Truncated"
    )
    assert paging.page_rule("iam", "ListRoles") == paging.PageRule(
        "Marker", "Marker", "MaxItems", "Roles", "IsTruncated"
    )
    assert paging.page_rule("ecs", "ListTasks") == paging.PageRule(
        "nextToken", "nextToken", "maxResults", "taskArns"
    )


@pytest.mark.parametrize("service,tokens", [("iam", IAM_MARKERS), ("kms", KMS_MARKERS),
                                            ("ecs", ECS_TOKENS)])
def test_walking_every_page_returns_every_item_once(service, tokens):
    op = {"iam": "ListUsers", "kms": "ListAliases", "ecs": "ListClusters"}[service]
    rule = paging.page_rule(service, op)
    items = list(range(7))
    seen: list[int] = []
    params: dict = {rule.limit_key: 3}
    pages = 0
    while True:
        out = paging.page(service, op, items, params, tokens)
        seen += out[rule.result_key]
        pages += 1
        if rule.output_token not in out:
            break
        if rule.more_results:
            assert out[rule.more_results] is True
        params = {rule.limit_key: 3, rule.input_token: out[rule.output_token]}
    assert seen == items and pages == 3
    if rule.more_results:
        assert out[rule.more_results] is False


def test_each_service_refuses_a_bad_token_in_its_own_words():
    with pytest.raises(errors.ClientError) as iam:
        paging.page("iam", "ListRoles", [1], {"Marker": "x"}, IAM_MARKERS)
    assert iam.value.code == "InvalidInput"
    with pytest.raises(errors.ClientError) as kms:
        paging.page("kms", "ListKeys", [1], {"Marker": "9"}, KMS_MARKERS)
    assert kms.value.code == "InvalidMarkerException"
    with pytest.raises(errors.ClientError) as ecs:
        paging.page("ecs", "ListTasks", [1], {"nextToken": "x"}, ECS_TOKENS)
    assert ecs.value.code == "InvalidParameterException"
    assert str(ecs.value.message) == "Invalid nextToken."


def test_render_touches_only_the_page():
    rendered: list[int] = []

    def render(i: int) -> int:
        rendered.append(i)
        return i * 10

    out = paging.page("kms", "ListAliases", list(range(100)), {"Limit": 2}, KMS_MARKERS,
                      render=render)
    assert out["Aliases"] == [0, 10] and rendered == [0, 1]
    assert out["NextMarker"] == "2" and out["Truncated"] is True
