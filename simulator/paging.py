"""One paginator for every List/Describe operation, driven by botocore's paginator model.

botocore's ``paginators-1`` model states, per operation, the request member carrying the
token (``input_token``), the response member returning it (``output_token``), the page size
member (``limit_key``), the listed member (``result_key``) and, for IAM and KMS, the flag
saying more pages follow (``more_results``). What the model does not state is each service's
own: how its tokens look, which are refused with which error, and its page sizes; a service
gives those as a ``Tokens`` object.
"""

from __future__ import annotations

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


class Tokens(Protocol):
    """A service's own page tokens and page sizes, with its own errors for bad ones."""

    def start(self, token: str | None, count: int) -> int:
        """The offset a request's token names (0 for none); the service's error if invalid."""
        ...

    def token(self, offset: int) -> str:
        """The token naming ``offset``."""
        ...

    def size(self, limit: int | None, default: int | None) -> int:
        """The page size for a request's limit; the service's error if out of range."""
        ...


def page(
    service: str, operation: str, items: Sequence[T], params: dict[str, Any], tokens: Tokens,
    *, default_limit: int | None = None, render: Callable[[T], Any] | None = None,
) -> dict[str, Any]:
    """The response members of one page of ``items``: the result, the next token when more
    follow, and the more-results flag where the service has one. ``render`` turns each item
    of the page (only) into its response form."""
    rule = page_rule(service, operation)
    size = tokens.size(params.get(rule.limit_key), default_limit)
    start = tokens.start(params.get(rule.input_token), len(items))
    chunk = items[start : start + size]
    out: dict[str, Any] = {
        rule.result_key: [render(i) for i in chunk] if render is not None else list(chunk)
    }
    more = start + size < len(items)
    if more:
        out[rule.output_token] = tokens.token(start + size)
    if rule.more_results is not None:
        out[rule.more_results] = more
    return out
