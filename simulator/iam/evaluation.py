"""Combining policies into an access decision, as IAM does it.

Order: an explicit Deny in any policy wins. Otherwise, for a caller in the resource's account,
the request is allowed when the resource policy allows the caller directly, or an identity
policy allows it (and the permissions boundary, if any, allows it too). For a caller from
another account, both the resource policy and the caller's identity policies must allow. The
account root is allowed on the identity side (it is the account's administrator); AWS
service principals have no identity policies, so only a resource policy can allow them.

With ``resource_policy_required=True`` (KMS key policies) identity policies only count when
the resource policy delegates to the account (a statement naming the account that matches the
request): the key policy is the primary authority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import Any

from simulator.arn import Arn
from simulator.iam.policy import PolicyDocument
from simulator.iam.request import RequestContext
from simulator.iam.results import PolicyResult, StatementMatch

__all__ = [
    "ALLOWED",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "Decision",
    "PolicyResult",
    "RequestContext",
    "StatementMatch",
    "evaluate",
]

ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"
IMPLICIT_DENY = "implicitDeny"


class Decision:
    """The access decision for one request.

    ``decision``: "allowed" / "explicitDeny" / "implicitDeny". ``matched_statements``: the
    statements that decided (the denies for an explicit deny, the allows for an allow).
    ``denied_by``: for a denial, which kind of policy is responsible ("identity", "resource",
    "boundary", "session"), used for AWS's AccessDenied wording. ``to_session``: allowed by a
    same-account resource policy that names the caller itself (a user, a role session's own
    ARN, or ``"*"``), which session policies do not limit. ``explanation`` is built on access.
    """

    __slots__ = (
        "__dict__",
        "_reason",
        "boundary_result",
        "cross_account",
        "decision",
        "denied_by",
        "identity_results",
        "matched_statements",
        "request",
        "resource_result",
        "to_session",
    )

    def __init__(
        self,
        request: RequestContext,
        decision: str,
        matched: list[StatementMatch],
        *,
        identity_results: Sequence[PolicyResult],
        resource_result: PolicyResult | None,
        boundary_result: PolicyResult | None,
        cross_account: bool,
        denied_by: str | None,
        reason: str | Callable[[], str],
        to_session: bool = False,
    ) -> None:
        self.request = request
        self.decision = decision
        self.matched_statements = matched
        self.identity_results = list(identity_results)
        self.resource_result = resource_result
        self.boundary_result = boundary_result
        self.cross_account = cross_account
        self.denied_by = denied_by
        self._reason = reason
        self.to_session = to_session

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED

    def __bool__(self) -> bool:
        return self.allowed

    def __getstate__(self) -> Any:
        """The state to pickle, with the reason made (a function would not pickle)."""
        _ = self.reason
        return object.__getstate__(self)

    @property
    def reason(self) -> str:
        """A one-line summary (made when first asked for: most decisions are never read)."""
        reason = self._reason
        if not isinstance(reason, str):
            reason = self._reason = reason()
        return reason

    @property
    def results(self) -> list[PolicyResult]:
        out = list(self.identity_results)
        if self.resource_result is not None:
            out.append(self.resource_result)
        if self.boundary_result is not None:
            out.append(self.boundary_result)
        return out

    @cached_property
    def missing_context_values(self) -> list[str]:
        seen: dict[str, str] = {}
        for r in self.results:
            for key in r.missing_context_values:
                seen.setdefault(key.lower(), key)
        return sorted(seen.values(), key=str.lower)

    @cached_property
    def explanation(self) -> list[str]:
        req = self.request
        who = req.principal.arn if req.principal else "(no caller)"
        lines = [f"{self.decision}: {who} -> {req.action} on {req.resource}", self.reason]
        if self.cross_account:
            lines.append("cross-account request: the resource policy and the caller's identity "
                         "policies must both allow")
        for r in self.results:
            lines.extend(r.explanation())
        if not self.results:
            lines.append("no policy was evaluated")
        if self.missing_context_values:
            lines.append(
                "request lacks context keys the policies test: "
                + ", ".join(self.missing_context_values)
            )
        return lines

    def explain(self) -> str:
        return "\n".join(self.explanation)

    def access_denied_message(self) -> str:
        """AWS's AccessDenied wording for this (denied) decision."""
        req = self.request
        p = req.principal
        who = (p.session_arn or p.arn) if p is not None else "anonymous"
        base = (
            f"User: {who} is not authorized to perform: {req.action} "
            f"on resource: {req.resource}"
        )
        policy_kind = {
            "identity": "identity-based policy",
            "resource": "resource-based policy",
            "boundary": "permissions boundary",
            "session": "session policy",
        }.get(self.denied_by or "identity", "identity-based policy")
        if self.decision == EXPLICIT_DENY:
            article = "an" if policy_kind.startswith("identity") else "a"  # a session policy
            return f"{base} with an explicit deny in {article} {policy_kind}" + (
                f": {arn}" if (arn := self.denying_policy_arn()) else "")
        return f"{base} because no {policy_kind} allows the {req.action} action"

    def denying_policy_arn(self) -> str | None:
        """The ARN AWS appends to an explicit deny's AccessDenied message: that of the managed
        policy whose statement denied, when it is an identity-based policy, permissions
        boundary or (managed) session policy of the caller's own account and the request stays
        in that account. "The ARN of the denying policy is only provided in same-account and
        same-organization scenarios" and covers "permissions boundaries policies, session
        policies, and identity-based policies"
        (https://aws.amazon.com/blogs/security/enhanced-access-denied-error-messages-with-policy-arns/).
        Inline policies have no ARN; AWS managed policies (account ``aws``) are left out, a
        simulator reading."""
        if (self.decision != EXPLICIT_DENY or self.cross_account or not self.matched_statements
                or self.denied_by not in ("identity", "boundary", "session")):
            return None
        policy = self.matched_statements[0].policy
        principal = self.request.principal
        name = policy.name or ""
        if (policy.source_type != "user-managed" or principal is None
                or not name.startswith(f"arn:{principal.arn.split(':')[1]}:iam::"
                                       f"{principal.account}:policy/")):
            return None
        return name

    def to_evaluation_result(self) -> dict[str, Any]:
        """IAM's simulator ``EvaluationResults`` item (without the resource-specific list)."""
        out: dict[str, Any] = {
            "EvalActionName": self.request.action,
            "EvalResourceName": self.request.resource,
            "EvalDecision": self.decision,
            "MatchedStatements": [m.to_matched_statement() for m in self.matched_statements],
            "MissingContextValues": list(self.missing_context_values),
        }
        # IAM: EvalDecisionDetails "is populated for only cross-account simulations ... If the
        # simulation evaluates policies within the same account and includes a resource ARN,
        # then the parameter is present but the response is empty ... (and for *) not returned".
        if self.cross_account:
            out["EvalDecisionDetails"] = self.decision_details()
        elif self.request.resource != "*":
            out["EvalDecisionDetails"] = {}
        if self.boundary_result is not None:
            out["PermissionsBoundaryDecisionDetail"] = {
                "AllowedByPermissionsBoundary": self.boundary_result.allowed
            }
        return out

    def decision_details(self) -> dict[str, str]:
        """How each policy type decided: ``{"IAM Policy": ..., "Resource Policy": ...}``."""
        details: dict[str, str] = {}
        if self.identity_results or self.cross_account:
            details["IAM Policy"] = _combine([r.decision for r in self.identity_results])
        if self.resource_result is not None:
            details["Resource Policy"] = self.resource_result.decision
        return details

    def __repr__(self) -> str:
        return f"Decision({self.decision!r}, {self.reason!r})"


def _combine(decisions: Iterable[str]) -> str:
    ds = list(decisions)
    if EXPLICIT_DENY in ds:
        return EXPLICIT_DENY
    return ALLOWED if ALLOWED in ds else IMPLICIT_DENY


def _names_session(match: StatementMatch, principal: Any) -> bool:
    """Whether a resource policy's allow names a role session itself (its session ARN, or
    ``"*"``) rather than its role. An allow through ``NotPrincipal`` names no one directly and
    counts as the role's (a simulator reading: AWS documents only the two forms)."""
    statement = match.statement
    spec = statement.principal
    if spec is None or statement.not_principal:
        return False
    return spec.wildcard or (principal.session_arn is not None
                             and principal.session_arn in spec.arns)


def _resource_account(resource: str) -> str | None:
    if not resource.startswith("arn:"):
        return None
    try:
        account = Arn.parse(resource).account
    except ValueError:
        return None
    return account or None


def evaluate(
    request: RequestContext,
    identity_policies: Iterable[PolicyDocument] = (),
    resource_policy: PolicyDocument | None = None,
    resource_account: str | None = None,
    permissions_boundary: PolicyDocument | None = None,
    *,
    resource_policy_required: bool = False,
) -> Decision:
    """Decide ``request`` against the caller's identity policies and the resource policy.

    ``resource_account`` defaults to the account in the resource ARN (same account as the
    caller when the resource is ``*`` or has no account). An assumed-role session's session
    policies (``principal.session_policies``) then limit the result: "The resulting session's
    permissions are the intersection of the role's identity-based policy and the session
    policies", and an explicit deny in one denies
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_assumerole.html,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
    A same-account resource policy that names the session's own ARN is not limited by them:
    "A resource-based policy can specify the ARN of the session as a principal. In that case,
    the permissions from the resource-based policy are added after the session is created. The
    resource-based policy permissions are not limited by the session policy"; one naming the
    role's ARN is (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
    """
    decision = _evaluate(request, identity_policies, resource_policy, resource_account,
                         permissions_boundary, resource_policy_required=resource_policy_required)
    principal = request.principal
    if principal is None or not principal.session_policies:
        return decision
    return _limit_by_session(decision, principal.session_policies)


def _limit_by_session(decision: Decision, session_policies: Iterable[PolicyDocument]
                      ) -> Decision:
    request = decision.request
    results = [p.evaluate(request) for p in session_policies]
    denies = [m for r in results for m in r.denies]

    def limited(verdict: str, matched: list[StatementMatch], reason: str) -> Decision:
        return Decision(
            request, verdict, matched, identity_results=[*decision.identity_results, *results],
            resource_result=decision.resource_result, boundary_result=decision.boundary_result,
            cross_account=decision.cross_account, denied_by="session", reason=reason,
        )

    if denies and decision.decision != EXPLICIT_DENY:
        return limited(EXPLICIT_DENY, denies,
                       f"explicitly denied by {denies[0].label} (a session policy)")
    if not decision.allowed or any(r.allows for r in results):
        return decision
    granted = decision.matched_statements[0].label if decision.matched_statements else "the role"
    if decision.to_session:
        # Named directly, the session keeps what the resource policy grants (see evaluate).
        principal = request.principal
        naming = next((m for m in decision.matched_statements
                       if m.statement.is_allow and _names_session(m, principal)), None)
        named = "the session's own ARN"
        if naming is not None:
            granted = naming.label
            spec = naming.statement.principal
            session_arn = principal.session_arn if principal is not None else None
            if spec is not None and spec.wildcard and (session_arn is None
                                                       or session_arn not in spec.arns):
                named = "every principal (*)"
        return Decision(
            request, ALLOWED, decision.matched_statements,
            identity_results=[*decision.identity_results, *results],
            resource_result=decision.resource_result, boundary_result=decision.boundary_result,
            cross_account=False, denied_by=None, to_session=True,
            reason=f"allowed by {granted}, which names {named}: the session "
                   "policies, which allow none of it, do not limit it")
    return limited(IMPLICIT_DENY, [],
                   f"implicitly denied: {granted} allows it, but no session policy does (a "
                   "session policy limits what the role's policies and resource policies "
                   "naming the role grant; only a resource policy naming the session's own "
                   "ARN is exempt)")


def _evaluate(
    request: RequestContext,
    identity_policies: Iterable[PolicyDocument],
    resource_policy: PolicyDocument | None,
    resource_account: str | None,
    permissions_boundary: PolicyDocument | None,
    *,
    resource_policy_required: bool,
) -> Decision:
    principal = request.principal
    identity_results = ([p.evaluate(request) for p in identity_policies]
                        if identity_policies else [])  # services and roots have none
    resource_result = resource_policy.evaluate(request) if resource_policy is not None else None
    boundary_result = (
        permissions_boundary.evaluate(request) if permissions_boundary is not None else None
    )
    if (permissions_boundary is not None and resource_result is not None
            and principal is not None and principal.kind in ("Role", "User")):
        # NotPrincipal with Deny "will always deny any IAM principal that has a permissions
        # boundary policy attached, regardless of the values specified in the NotPrincipal".
        resource_result.denies.extend(
            resource_policy.not_principal_denies(request)  # type: ignore[union-attr]
        )
    if resource_account is None:
        resource_account = _resource_account(request.resource)
    is_service = principal is not None and principal.kind == "AWSService"
    cross = (
        principal is not None
        and not is_service
        and resource_account is not None
        and principal.account != resource_account
    )

    def decide(decision: str, matched: list[StatementMatch], denied_by: str | None,
               reason: str | Callable[[], str], to_session: bool = False) -> Decision:
        return Decision(
            request, decision, matched,
            identity_results=identity_results, resource_result=resource_result,
            boundary_result=boundary_result, cross_account=cross, denied_by=denied_by,
            reason=reason, to_session=to_session,
        )

    # 1. explicit deny anywhere wins
    denies: list[StatementMatch] = []
    denied_by = None
    for r in identity_results:
        if r.denies:
            denies.extend(r.denies)
            denied_by = denied_by or "identity"
    if resource_result is not None and resource_result.denies:
        denies.extend(resource_result.denies)
        denied_by = denied_by or "resource"
    if boundary_result is not None and boundary_result.denies:
        denies.extend(boundary_result.denies)
        denied_by = denied_by or "boundary"
    if denies:
        first = denies[0]
        return decide(EXPLICIT_DENY, denies, denied_by,
                      lambda: f"explicitly denied by {first.label}")

    res_direct = resource_result.direct_allows if resource_result is not None else []
    res_account = resource_result.account_allows if resource_result is not None else []

    # 2. service principals: only a resource policy can allow
    if is_service:
        if res_direct:
            return decide(ALLOWED, res_direct, None, lambda: f"allowed by {res_direct[0].label}")
        return decide(IMPLICIT_DENY, [], "resource",
                      "implicitly denied: no resource policy statement allows this service "
                      "principal (services have no identity policies)")

    is_root = principal is not None and principal.kind == "Root"
    identity_allows: list[StatementMatch] = []
    for r in identity_results:
        identity_allows.extend(r.allows)
    identity_ok = bool(identity_allows) or is_root
    boundary_blocks = (
        boundary_result is not None and not boundary_result.allows and not is_root
    )
    # Within one account a resource policy naming the caller itself (a user's ARN, a role
    # session's ARN, or "*") is not limited by an implicit deny in the boundary or the session
    # policies; one naming the role's ARN is: "Resource-based policies that grant permissions
    # to an IAM role ARN are limited by an implicit deny in a permissions boundary or session
    # policy ... Permissions boundaries and session policies do not limit permissions granted
    # using the aws:PrincipalArn condition key with a wildcard(*) in the Principal element"
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html).
    to_session = bool(res_direct) and not cross and principal is not None
    if to_session and principal is not None and principal.kind == "Role":
        to_session = any(_names_session(m, principal) for m in res_direct)
        if not to_session and boundary_blocks:
            named = res_direct[0].label
            return decide(IMPLICIT_DENY, [], "boundary",
                          lambda: f"implicitly denied: {named} names the role's ARN, which the "
                                  "permissions boundary limits, and the boundary does not "
                                  "allow it")
    if resource_policy_required:
        delegated = bool(res_account) or (is_root and bool(res_direct))
        if res_direct and not cross:
            return decide(ALLOWED, res_direct, None, lambda: f"allowed by {res_direct[0].label}",
                          to_session)
        if not delegated and not res_direct:
            return decide(IMPLICIT_DENY, [], "resource",
                          "implicitly denied: no resource policy statement allows this caller")
        if not identity_ok or boundary_blocks:
            by = "boundary" if identity_ok else "identity"
            return decide(IMPLICIT_DENY, [], by,
                          "implicitly denied: the resource policy delegates to the account but "
                          + ("the permissions boundary does not allow it"
                             if by == "boundary" else "no identity-based policy allows it"))
        matched = (res_direct or res_account) + identity_allows
        return decide(ALLOWED, matched, None,
                      lambda: f"allowed by {matched[0].label}"
                      + (f" and {identity_allows[0].label}" if identity_allows else
                         " (the account root has every identity permission)"))

    if not cross:
        if res_direct:
            return decide(ALLOWED, res_direct, None, lambda: f"allowed by {res_direct[0].label}",
                          to_session)
        if identity_ok and not boundary_blocks:
            if identity_allows:
                return decide(ALLOWED, identity_allows, None,
                              lambda: f"allowed by {identity_allows[0].label}")
            return decide(ALLOWED, res_account, None,
                          "allowed: the account root has every permission in its own account")
        if identity_ok and boundary_blocks:
            return decide(IMPLICIT_DENY, [], "boundary",
                          "implicitly denied: an identity policy allows but the permissions "
                          "boundary does not")
        if res_account:
            return decide(IMPLICIT_DENY, [], "identity",
                          f"implicitly denied: {res_account[0].label} delegates to the account, "
                          "but no identity-based policy allows this request")
        return decide(IMPLICIT_DENY, [], "identity",
                      "implicitly denied: no policy statement allows this request")

    # 3. cross-account: both sides must allow
    res_allows = res_direct + res_account
    if not res_allows:
        return decide(IMPLICIT_DENY, [], "resource",
                      "implicitly denied: cross-account access needs a resource-based policy "
                      "that allows the caller, and none does")
    if not identity_ok or boundary_blocks:
        by = "boundary" if identity_ok else "identity"
        return decide(IMPLICIT_DENY, [], by,
                      "implicitly denied: the resource policy allows, but the caller's "
                      + ("permissions boundary" if by == "boundary" else
                         "identity-based policies") + " do not")
    return decide(ALLOWED, res_allows + identity_allows, None,
                  lambda: f"allowed by {res_allows[0].label}"
                  + (f" and {identity_allows[0].label}" if identity_allows else ""))
