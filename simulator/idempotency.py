"""Client-token idempotency for the operations AWS documents it for, at the front door.

Amazon ECS: "If you retry a request that completed successfully using the same client token
and the same parameters, the retry succeeds without performing any further actions";
RunTask tokens are scoped to the cluster and live 24 hours, and a reused token with changed
parameters fails with ``ConflictException``
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html).
botocore fills RunTask's ``clientToken`` in itself (the model's ``idempotencyToken`` trait),
so every boto3 or AWS CLI RunTask carries one.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator import errors


@dataclass(frozen=True)
class TokenRule:
    """How one operation uses its client token."""

    member: str
    #: The request member that scopes a token (ECS: the cluster), or None for the account.
    scope: str | None
    lifetime: timedelta
    conflict_code: str
    conflict_message: str


#: (service, operation) -> rule; the one table of idempotent operations.
RULES: dict[tuple[str, str], TokenRule] = {
    ("ecs", "RunTask"): TokenRule(
        "clientToken", "cluster", timedelta(hours=24), "ConflictException",
        "The client token was already used with different request parameters. Retry with the "
        "same parameters, or use a new client token for a different request.",
    ),
    ("ecs", "CreateService"): TokenRule(
        "clientToken", "cluster", timedelta(hours=24), "InvalidParameterException",
        "Creation of service was not idempotent.",
    ),
}


def _fingerprint(params: dict[str, Any], member: str) -> str:
    rest = {k: v for k, v in params.items() if k != member}
    return json.dumps(rest, sort_keys=True, default=repr)


class TokenCache:
    """The responses of token-carrying requests of one simulation, by caller and scope (a
    token another caller reuses is a new request, authorised as any other)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, ...], tuple[str, datetime, dict[str, Any]]] = {}

    def _key(self, caller: str, service: str, operation: str, rule: TokenRule,
             params: dict[str, Any]) -> tuple[str, ...] | None:
        token = params.get(rule.member)
        if not token:
            return None
        scope = str(params.get(rule.scope) or "default") if rule.scope else ""
        return (caller, service, operation, scope.rsplit("/", 1)[-1], token)

    def replay(self, caller: str, service: str, operation: str, params: dict[str, Any],
               now: datetime) -> dict[str, Any] | None:
        """The earlier response for a repeated request, None for a new one, or the conflict."""
        rule = RULES.get((service, operation))
        if rule is None:
            return None
        key = self._key(caller, service, operation, rule, params)
        hit = self._seen.get(key) if key else None
        if hit is None:
            return None
        fingerprint, when, response = hit
        if now - when > rule.lifetime:
            del self._seen[key]  # type: ignore[arg-type]
            return None
        if fingerprint != _fingerprint(params, rule.member):
            raise errors.error_class(rule.conflict_code)(rule.conflict_message)
        return copy.deepcopy(response)

    def remember(self, caller: str, service: str, operation: str, params: dict[str, Any],
                 now: datetime, response: dict[str, Any]) -> None:
        """Keep a successful response so a retry with the same token gets it again."""
        rule = RULES.get((service, operation))
        if rule is None:
            return
        key = self._key(caller, service, operation, rule, params)
        if key is not None:
            self._seen[key] = (_fingerprint(params, rule.member), now, copy.deepcopy(response))
