"""One paginator for every List/Describe operation, driven by botocore's paginator model.

botocore's ``paginators-1`` model states, per operation, the request member carrying the
token (``input_token``), the response member returning it (``output_token``), the page size
member (``limit_key``), the listed member (``result_key``) and, for IAM and KMS, the flag
saying more pages follow (``more_results``). What the model does not state is each service's
own: how its tokens look, which are refused with which error, and its page sizes; a service
gives those as a ``Tokens`` object.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeVar

import botocore.session

T = TypeVar("T")


@dataclass(frozen=True)
class PageRule:
    """The members one operation pages with, as botocore's paginator model names them."""

    input_token: str
    output_token: str
    limit_key: str
    result_key: str
    more_results: str | None = None


#: Operations botocore has no paginator for, though their shapes page the same way.
UNMODELLED: dict[tuple[str, str], PageRule] = {
    ("ecs", "ListServiceDeployments"): PageRule(
        "nextToken", "nextToken", "maxResults", "serviceDeployments"
    ),
    # botocore's paginator names three result keys; IAM pages them as one list (groups, then
    # users, then roles), which the operation splits again.
    ("iam", "ListEntitiesForPolicy"): PageRule(
        "Marker", "Marker", "MaxItems", "Entities", "IsTruncated"
    ),
    ("ecs", "DescribeCapacityProviders"): PageRule(
        "nextToken", "nextToken", "maxResults", "capacityProviders"
    ),
}


@cache
def _paginator_model(service: str) -> Any:
    return botocore.session.get_session().get_paginator_model(service)


@cache
def page_rule(service: str, operation: str) -> PageRule:
    """The paging members of ``service``'s ``operation`` (botocore's paginator model)."""
    if (service, operation) in UNMODELLED:
        return UNMODELLED[(service, operation)]
    config = _paginator_model(service).get_paginator(operation)
    return PageRule(
        input_token=config["input_token"], output_token=config["output_token"],
        limit_key=config["limit_key"], result_key=config["result_key"],
        more_results=config.get("more_results"),
    )


@dataclass(frozen=True)
class Position:
    """Where the next page begins: an offset, and the items on either side of it (digests of
    their identities), so that items removed or added before it between two pages neither
    skip a live item nor return one twice, as a bare offset would."""

    offset: int
    after: str | None = None  # the last item of the page before
    first: str | None = None  # the first item of this page, as it was then

    def pack(self) -> bytes:
        """The position as compact JSON, for a service's token to carry (opaque to callers)."""
        return json.dumps([self.offset, self.after, self.first], separators=(",", ":")).encode()

    @classmethod
    def unpack(cls, data: bytes) -> Position:
        """The position ``pack`` wrote; ValueError for anything else."""
        try:
            offset, after, first = json.loads(data)
        except (ValueError, TypeError) as exc:
            raise ValueError("not a page position") from exc
        if not (type(offset) is int and offset >= 0
                and all(v is None or isinstance(v, str) for v in (after, first))):
            raise ValueError("not a page position")
        return cls(offset, after, first)


def packed_token(position: Position) -> str:
    """The usual token: the packed position in base64 (every service's token alphabet)."""
    return base64.b64encode(position.pack()).decode()


def unpacked_token(token: str) -> Position:
    """The position of a ``packed_token``; ValueError for any other text."""
    try:
        return Position.unpack(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a page token") from exc


class Tokens(Protocol):
    """A service's own page tokens and page sizes, with its own errors for bad ones."""

    def read(self, token: str) -> Position:
        """The position a request's token names; the service's error if it names none."""
        ...

    def write(self, position: Position) -> str:
        """The token naming ``position``."""
        ...

    def size(self, limit: int | None, default: int | None) -> int:
        """The page size for a request's limit; the service's error if out of range."""
        ...


def identity(item: Any) -> str:
    """A digest naming an item across requests: its text, or its JSON (rendered) form."""
    text = item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=9).hexdigest()


def resume(position: Position, items: Sequence[T], key: Callable[[T], str]) -> int:
    """The offset in ``items`` (as they are now) that ``position`` names: just after the
    item that ended the last page, else at the one that was to begin this one, else at the
    offset itself (both are gone), never past the end."""
    o, n = position.offset, len(items)
    after, first = position.after, position.first
    if after is None and first is None:
        return min(o, n)
    if after is not None and 0 < o <= n and key(items[o - 1]) == after:
        return o
    if after is None and o < n and key(items[o]) == first:
        return o
    keys = [key(i) for i in items]  # the list changed between the pages: find the anchors
    if after is not None and after in keys:
        return keys.index(after) + 1
    if first is not None and first in keys:
        return keys.index(first)
    return min(o, n)


def page(
    service: str, operation: str, items: Sequence[T], params: dict[str, Any], tokens: Tokens,
    *, default_limit: int | None = None, render: Callable[[T], Any] | None = None,
    key: Callable[[T], Any] | None = None,
) -> dict[str, Any]:
    """The response members of one page of ``items``: the result, the next token when more
    follow, and the more-results flag where the service has one. ``render`` turns each item
    of the page (only) into its response form; ``key`` names an item for the token (its
    rendered form by default), so the next page starts after the last item returned even if
    items before it went away meanwhile."""
    rule = page_rule(service, operation)
    size = tokens.size(params.get(rule.limit_key), default_limit)

    def name(item: T) -> str:
        return identity(key(item) if key is not None else
                        render(item) if render is not None else item)

    token = params.get(rule.input_token)
    start = resume(tokens.read(token), items, name) if token else 0
    chunk = items[start : start + size]
    out: dict[str, Any] = {
        rule.result_key: [render(i) for i in chunk] if render is not None else list(chunk)
    }
    end = start + size
    more = end < len(items)
    if more:
        out[rule.output_token] = tokens.write(Position(end, name(items[end - 1]),
                                                       name(items[end])))
    if rule.more_results is not None:
        out[rule.more_results] = more
    return out
