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
    assert out["Aliases"] == [0, 10] and rendered[:2] == [0, 1]
    assert set(rendered) == {0, 1, 2}  # and the next item, to name it in the token
    assert out["Truncated"] is True


SERVICES = [("iam", "ListUsers", IAM_MARKERS), ("kms", "ListAliases", KMS_MARKERS),
            ("ecs", "ListClusters", ECS_TOKENS)]


def _walk(service, op, tokens, items, between, size=2):
    """Every item a walk of pages returns, calling ``between(items, page)`` after each."""
    rule = paging.page_rule(service, op)
    seen: list = []
    params: dict = {rule.limit_key: size}
    for _ in range(100):
        out = paging.page(service, op, items, params, tokens)
        seen += out[rule.result_key]
        if rule.output_token not in out:
            return seen
        between(items, out[rule.result_key])
        params = {rule.limit_key: size, rule.input_token: out[rule.output_token]}
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("service,op,tokens", SERVICES)
def test_items_removed_between_pages_shift_no_live_item_out_of_the_walk(service, op, tokens):
    items = [f"item-{i}" for i in range(9)]

    def remove_first_returned(items, page):
        items.remove(page[0])

    seen = _walk(service, op, tokens, items, remove_first_returned)
    assert set(items) <= set(seen) and len(seen) == len(set(seen)) == 9


@pytest.mark.parametrize("service,op,tokens", SERVICES)
def test_items_added_before_the_token_are_not_returned_twice(service, op, tokens):
    items = [f"item-{i}" for i in range(1, 9)]

    def add_in_front(items, page):
        items.insert(0, f"item-0{len(items)}")

    seen = _walk(service, op, tokens, items, add_in_front)
    assert len(seen) == len(set(seen))
    assert {f"item-{i}" for i in range(1, 9)} <= set(seen)


@pytest.mark.parametrize("service,op,tokens", SERVICES)
def test_a_token_the_service_gave_stays_valid_when_the_list_shrinks_below_it(
        service, op, tokens):
    items = [f"item-{i}" for i in range(6)]
    rule = paging.page_rule(service, op)
    out = paging.page(service, op, items, {rule.limit_key: 2}, tokens)
    del items[:5]  # the page's items and the next, and then some
    rest = paging.page(service, op, items, {rule.limit_key: 2,
                                            rule.input_token: out[rule.output_token]}, tokens)
    assert rest[rule.result_key] == [] and rule.output_token not in rest


def test_the_item_that_began_the_next_page_anchors_it_when_the_last_returned_went_away():
    items = [f"item-{i}" for i in range(6)]
    out = paging.page("kms", "ListKeys", items, {"Limit": 3}, KMS_MARKERS)
    items.remove("item-2")
    items.insert(0, "item-new")
    rest = paging.page("kms", "ListKeys", items, {"Limit": 3, "Marker": out["NextMarker"]},
                       KMS_MARKERS)
    assert rest["Keys"] == ["item-3", "item-4", "item-5"]


def test_a_position_unpacks_only_what_pack_wrote():
    pos = paging.Position(3, "a", "b")
    assert paging.Position.unpack(pos.pack()) == pos
    for bad in (b"[]", b"[-1,null,null]", b"[1.5,null,null]", b"[1,2,null]", b"{}", b"x"):
        with pytest.raises(ValueError):
            paging.Position.unpack(bad)
