"""What one policy says about one request: the statements that allowed or denied, and why."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.iam.policy import PolicyDocument, Statement
    from simulator.iam.request import RequestContext


class StatementMatch:
    """A statement that applied to a request (or, in ``near_misses``, almost did).

    ``principal_match`` is "direct" (the Principal names this caller, a service, or "*"),
    "account" (it names the caller's account: the account's identity policies must allow too)
    or None (identity policy statement). ``explanation`` is built on first access.
    """

    __slots__ = ("__dict__", "policy", "principal_match", "request", "statement")

    def __init__(
        self,
        policy: PolicyDocument,
        statement: Statement,
        request: RequestContext,
        principal_match: str | None,
    ) -> None:
        self.policy = policy
        self.statement = statement
        self.request = request
        self.principal_match = principal_match

    @property
    def policy_name(self) -> str | None:
        return self.policy.name

    @property
    def sid(self) -> str | None:
        return self.statement.sid

    @property
    def index(self) -> int:
        return self.statement.index

    @property
    def effect(self) -> str:
        return self.statement.effect

    @property
    def applies(self) -> bool:
        """True when every condition held (False for a near miss)."""
        return self.statement.conditions_hold(self.request)

    @cached_property
    def explanation(self) -> list[str]:
        return self.statement.explain(self.request, self.policy, self.principal_match)

    @property
    def label(self) -> str:
        return self.statement.label(self.policy)

    def to_matched_statement(self) -> dict[str, Any]:
        """The statement as IAM's simulator reports it (``MatchedStatements`` items)."""
        (sl, sc), (el, ec) = self.statement.position
        return {
            "SourcePolicyId": self.policy.name or "PolicyInput",
            "SourcePolicyType": self.policy.source_type,
            "StartPosition": {"Line": sl, "Column": sc},
            "EndPosition": {"Line": el, "Column": ec},
        }

    def __repr__(self) -> str:
        return (
            f"StatementMatch({self.policy_name!r}, index={self.index}, sid={self.sid!r}, "
            f"effect={self.effect!r}, principal_match={self.principal_match!r})"
        )


class PolicyResult:
    """The outcome of one policy for one request.

    ``allows`` / ``denies``: statements whose principal, action, resource and conditions all
    matched. ``near_misses``: statements whose principal, action and resource matched but a
    condition failed (what a user usually needs to see to fix a policy).
    """

    __slots__ = ("__dict__", "allows", "denies", "near_misses", "policy", "request")

    def __init__(
        self,
        policy: PolicyDocument,
        request: RequestContext,
        allows: list[StatementMatch],
        denies: list[StatementMatch],
        near_misses: list[StatementMatch],
    ) -> None:
        self.policy = policy
        self.request = request
        self.allows = allows
        self.denies = denies
        self.near_misses = near_misses

    @property
    def allowed(self) -> bool:
        """An allow and no deny in this policy alone."""
        return bool(self.allows) and not self.denies

    @property
    def explicit_deny(self) -> bool:
        return bool(self.denies)

    @property
    def decision(self) -> str:
        if self.denies:
            return "explicitDeny"
        return "allowed" if self.allows else "implicitDeny"

    @property
    def direct_allows(self) -> list[StatementMatch]:
        return [m for m in self.allows if m.principal_match != "account"]

    @property
    def account_allows(self) -> list[StatementMatch]:
        return [m for m in self.allows if m.principal_match == "account"]

    @cached_property
    def missing_context_values(self) -> list[str]:
        """Condition and variable keys that relevant statements test and the request lacks."""
        seen: dict[str, str] = {}
        for m in (*self.allows, *self.denies, *self.near_misses):
            for key in m.statement.missing_keys(self.request):
                seen.setdefault(key.lower(), key)
        return sorted(seen.values(), key=str.lower)

    def explanation(self) -> list[str]:
        lines: list[str] = []
        name = self.policy.label
        if not (self.allows or self.denies or self.near_misses):
            lines.append(
                f"{name}: no statement matches {self.request.action} on {self.request.resource}"
                + ("" if self.policy.kind == "identity" else " for this principal")
            )
            for st in self.policy.statements:
                reason = st.why_not(self.request, self.policy)
                if reason:
                    lines.append("  " + reason)
            return lines
        for m in (*self.denies, *self.allows, *self.near_misses):
            lines.extend(m.explanation)
        return lines

    def __repr__(self) -> str:
        return (
            f"PolicyResult({self.policy.name!r}, {self.decision}, allows={len(self.allows)}, "
            f"denies={len(self.denies)}, near_misses={len(self.near_misses)})"
        )
