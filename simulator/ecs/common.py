"""What every ECS operation shares: ARNs and ids, references, pagination, tags, authorisation."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from simulator import errors, paging
from simulator.arn import Arn
from simulator.iam.authorization import authorize

if TYPE_CHECKING:
    from simulator.service import CallContext

#: The cluster a call uses when it names none (as ECS does).
DEFAULT_CLUSTER = "default"

#: Resource names ECS accepts for clusters, services and task definition families.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

#: ListClusters, ListTasks, ListServices, ListTaskDefinitions: page size bounds.
MAX_PAGE = 100


def plain_copy(value: Any) -> Any:
    """A deep copy of request-shaped data (dicts, lists, scalars), as ``copy.deepcopy`` makes
    it but without its memo: the describe operations copy what they return on every call."""
    kind = type(value)
    if kind is dict:
        return {k: plain_copy(v) for k, v in value.items()}
    if kind is list:
        return [plain_copy(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


_ATOMS = frozenset({str, int, bool, float, type(None)})


def ecs_arn(ctx_or_region: Any, account: str, resource: str, partition: str = "aws") -> str:
    """``arn:aws:ecs:<region>:<account>:<resource>``."""
    region = ctx_or_region if isinstance(ctx_or_region, str) else ctx_or_region.region
    return f"arn:{partition}:ecs:{region}:{account}:{resource}"


def hex_id(sim: Any, digits: int = 32) -> str:
    """A lower-case hex identifier from the simulation's seeded generator."""
    return f"{sim.rng.getrandbits(digits * 4):0{digits}x}"


def short_id(sim: Any, digits: int = 17) -> str:
    """An EC2-style resource suffix such as the 17 hex digits of ``vol-…`` or ``eni-…``."""
    return hex_id(sim, digits)


def parse_reference(ref: str, resource_type: str) -> tuple[str | None, str]:
    """Split a name-or-ARN reference into (account or None, last path element).

    ``parse_reference("arn:aws:ecs:us-west-2:1:cluster/a", "cluster") == ("1", "a")``;
    a plain name gives ``(None, name)``. Raises InvalidParameterException for an ARN of
    another resource type.
    """
    if not ref.startswith("arn:"):
        return None, ref
    try:
        arn = Arn.parse(ref)
    except ValueError:
        raise errors.InvalidParameterException(f"Invalid {resource_type} ARN: {ref}") from None
    if arn.service != "ecs" or arn.resource_type != resource_type:
        raise errors.InvalidParameterException(
            f"{ref} is not an ECS {resource_type} ARN "
            f"(arn:aws:ecs:<region>:<account>:{resource_type}/...)."
        )
    return arn.account, arn.resource_id.rsplit("/", 1)[-1]


def check_name(value: str, what: str) -> None:
    """InvalidParameterException unless ``value`` is 1–255 letters, digits, ``-`` and ``_``."""
    if not NAME_PATTERN.match(value):
        raise errors.InvalidParameterException(
            f"{what} name '{value}' is not valid: up to 255 letters (uppercase and lowercase), "
            "numbers, underscores, and hyphens are allowed."
        )


class EcsTokens:
    """ECS's page tokens: opaque (base64 of the page's position, ``paging.Position``);
    maxResults 1 to MAX_PAGE."""

    def read(self, token: str) -> paging.Position:
        """The position a nextToken names; InvalidParameterException when it names none."""
        try:
            return paging.unpacked_token(token)
        except ValueError:
            raise errors.InvalidParameterException("Invalid nextToken.") from None

    def write(self, position: paging.Position) -> str:
        """The nextToken of the page at ``position``."""
        return paging.packed_token(position)

    def size(self, limit: int | None, default: int | None) -> int:
        """maxResults (else the operation's default, else MAX_PAGE), checked."""
        if default is not None:
            limit = limit or default
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise errors.InvalidParameterException(
                f"maxResults must be between 1 and {MAX_PAGE}, got {limit}."
            )
        return limit or MAX_PAGE


TOKENS = EcsTokens()


def paginate(
    operation: str, items: Sequence[Any], params: dict[str, Any],
    default_limit: int | None = None,
) -> dict[str, Any]:
    """The response of one page of ``items``: the result and, when more follow, nextToken."""
    return paging.page("ecs", operation, items, params, TOKENS, default_limit=default_limit)


def copy_tags(tags: list[dict[str, str]] | None) -> list[dict[str, str]]:
    """The tags as ECS stores them (``[{key, value}]``), checked for reserved prefixes."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for tag in tags or []:
        key = tag.get("key")
        if not key:
            raise errors.InvalidParameterException("Tag keys must not be empty.")
        if key.lower().startswith("aws:"):
            raise errors.InvalidParameterException(
                f"Tag key '{key}' uses the reserved prefix 'aws:'."
            )
        if key in seen:
            raise errors.InvalidParameterException(f"Duplicate tag key '{key}'.")
        seen.add(key)
        out.append({"key": key, "value": tag.get("value", "")})
    return out


def authorize_call(
    ctx: CallContext,
    resource: str = "*",
    context: dict[str, Any] | None = None,
    action: str | None = None,
) -> None:
    """Evaluate the caller's identity policies for ``ecs:<operation>`` on ``resource``.

    Raises AccessDeniedException (AWS wording, the evaluation in ``details``) when denied.
    """
    authorize(ctx.sim, ctx, action or f"ecs:{ctx.operation}", resource, context=context)
