"""Who may do what with a KMS key: the key policy, IAM identity policies and grants.

The rules, as AWS KMS documents them:

* The key policy is the primary authority. A statement naming the caller (its role or user
  ARN, a service principal, or ``"*"``) allows on its own for callers in the key's account.
  A statement naming the caller's *account* ("Enable IAM User Permissions") delegates: the
  caller's identity policies (and permissions boundary) must allow as well.
* A caller from another account needs both the key policy and its own identity policies.
* AWS service principals have no identity policies: only the key policy or a grant allows them.
* A grant allows its grantee the grant's operations when the request's encryption context
  meets the grant's constraints (constraints never restrict DescribeKey or RetireGrant).
* An explicit Deny in the key policy or an identity policy wins over every allow and grant.

A refusal raises ``AccessDeniedException`` in AWS's wording (``User: <arn> is not authorized
to perform: kms:Decrypt on resource: <key arn> because no resource-based policy allows the
kms:Decrypt action``). Service principals are named ``Service: fargate.amazonaws.com ...``,
the closest form to IAM's for a caller that is not a user (a documented simulator choice).
``exc.explanation`` says why in a line (the denying statement, the condition that failed, the
grant that did not apply), beside AWS's sentence; ``exc.details["evaluation"]`` holds the full
evaluation (matched statements, per-condition explanation, grants considered) and
``exc.details["decision"]`` the IAM engine's ``Decision``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.iam.authorization import RequestContexts, caller_policies
from simulator.iam.evaluation import EXPLICIT_DENY, Decision, evaluate
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import Principal, root_arn
from simulator.iam.request import RequestContext
from simulator.kms.grants import Grant
from simulator.kms.keys import KmsKey

if TYPE_CHECKING:
    from simulator.kms.core import KmsCore
    from simulator.service import CallContext


def encryption_context_keys(context: Mapping[str, str] | None) -> dict[str, Any]:
    """``kms:EncryptionContext:<key>`` for each pair plus ``kms:EncryptionContextKeys``."""
    if not context:
        return {}
    out: dict[str, Any] = {f"kms:EncryptionContext:{k}": v for k, v in context.items()}
    out["kms:EncryptionContextKeys"] = list(context)
    return out


def key_context(key: KmsKey) -> dict[str, Any]:
    """The condition keys that describe the key itself (cached on the key until it changes)."""
    cached = key._static_context
    if cached is None:
        cached = {
            "kms:KeySpec": key.key_spec,
            "kms:CustomerMasterKeySpec": key.key_spec,
            "kms:KeyUsage": key.key_usage,
            "kms:CustomerMasterKeyUsage": key.key_usage,
            "kms:KeyOrigin": key.origin,
            "kms:KeyManager": key.key_manager,
            "kms:MultiRegion": key.multi_region,
        }
        if key.multi_region:
            cached["kms:MultiRegionKeyType"] = "PRIMARY"
        if key.aliases:
            cached["kms:ResourceAliases"] = sorted(key.aliases)
        for k, v in key.tags.items():
            cached[f"aws:ResourceTag/{k}"] = v
        key._static_context = cached
    return cached


def kms_caller_keys(ctx: Any) -> dict[str, Any]:
    """The condition keys KMS adds for the caller: kms:CallerAccount, kms:ViaService
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html)."""
    out: dict[str, Any] = {"kms:CallerAccount": ctx.caller.account}
    if ctx.via_service:
        out["kms:ViaService"] = ctx.via_service
    return out


def grantee_names(principal: Principal) -> tuple[str, ...]:
    """The GranteePrincipal / RetiringPrincipal values that name this caller."""
    if principal.is_service:
        return (principal.service or principal.arn,)
    if principal.is_root:
        return (principal.arn, principal.account)
    names = [principal.arn]
    if principal.session_arn:
        names.append(principal.session_arn)
    return tuple(names)


def caller_label(principal: Principal) -> str:
    """How AccessDenied messages name the caller (``User: arn`` or ``Service: name``)."""
    if principal.is_service:
        return f"Service: {principal.service or principal.arn}"
    return f"User: {principal.session_arn or principal.arn}"


class Authorizer:
    """Authorization for one KMS service (its KmsCore): builds request contexts and decides."""

    def __init__(self, service: KmsCore) -> None:
        self.service = service
        self.sim = service.sim
        #: The request contexts of KMS's calls: the shared builder with KMS's caller keys.
        self.contexts = RequestContexts(self.sim, service_keys=kms_caller_keys)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled authorizer (one pickled before the shared builder, too)."""
        state.pop("_contexts", None)
        self.__dict__.update(state)
        if "contexts" not in state:
            self.contexts = RequestContexts(self.sim, service_keys=kms_caller_keys)

    # -- inputs -------------------------------------------------------------------------
    def identity_side(self, principal: Principal) -> tuple[list[PolicyDocument], Any]:
        """The caller's identity policies and permissions boundary (none for services/roots)."""
        return caller_policies(self.sim, principal)

    def request_context(
        self, ctx: CallContext, key: KmsKey | None, extra: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Global keys, KMS caller keys, the key's own keys and the operation's keys."""
        out = self.contexts.keys(ctx, key_context(key) if key is not None else None)
        if extra:
            out.update(extra)
        return out

    def _request(
        self, ctx: CallContext, action: str, resource: str, key: KmsKey | None,
        extra: Mapping[str, Any] | None,
    ) -> RequestContext:
        """The RequestContext of ``request_context(ctx, key, extra)``, built by the one path
        every service shares (its common part prepared once per caller, instant and key)."""
        if key is None:
            return self.contexts.request(ctx, action, resource, extra)
        return self.contexts.request(ctx, action, resource, extra, own=key_context(key),
                                     own_label=key.arn)

    # -- decisions ----------------------------------------------------------------------
    def authorize(
        self,
        ctx: CallContext,
        key: KmsKey,
        operation: str,
        *,
        extra: Mapping[str, Any] | None = None,
        encryption_context: Mapping[str, str] | None = None,
        grant_operation: str | None = None,
        grant_check: Any = None,
        resource_label: str | None = None,
        notes: list[str] | None = None,
        grant_tokens: Sequence[str] = (),
    ) -> Grant | None:
        """Allow ``kms:<operation>`` on ``key`` or raise AccessDeniedException.

        ``grant_operation`` is the grant operation that can stand in for a policy allow (None:
        grants cannot allow this operation); ``encryption_context`` is checked against grant
        constraints; ``grant_check(grant)`` may add a test (CreateGrant through a grant);
        ``notes`` are added to a refusal's explanation; the grants the request's
        ``grant_tokens`` name are tried first. Returns the grant that allowed the request, or
        None when a policy did.
        """
        action = "kms:" + operation
        request = self._request(ctx, action, key.arn, key, extra)
        identity, boundary = self.identity_side(ctx.caller)
        decision = evaluate(
            request,
            identity,
            key.policy_doc,
            key.account,
            boundary,
            resource_policy_required=True,
        )
        if decision.allowed:
            return None
        grants: list[Grant] = []
        if decision.decision != EXPLICIT_DENY and grant_operation is not None:
            grant, grants = self._grant_for(
                ctx.caller, key, grant_operation, encryption_context, decision, grant_check,
                ctx.source_arn, grant_tokens,
            )
            if grant is not None:
                return grant
        raise self.denied(ctx, decision, grants, grant_operation, encryption_context,
                          resource_label, notes)

    def _grant_for(
        self,
        principal: Principal,
        key: KmsKey,
        operation: str,
        context: Mapping[str, str] | None,
        decision: Decision,
        grant_check: Any,
        source_arn: str | None = None,
        grant_tokens: Sequence[str] = (),
    ) -> tuple[Grant | None, list[Grant]]:
        store = self.service.grants
        names = grantee_names(principal)
        # The grant a token names first: every Fargate task's grant has the same grantee, so
        # scanning them all would make each Decrypt cost O(tasks running on the key).
        for token in grant_tokens:
            grant_id = store.grant_id_from_token(token)
            grant = store.get(grant_id) if grant_id is not None else None
            if (grant is not None and grant.key_id == key.key_id and grant.grantee in names
                    and grant.permits(operation, context, source_arn)
                    and (grant_check is None or grant_check(grant))):
                return grant, [grant]
        seen: list[Grant] = []
        for grant in store.for_grantee(key.key_id, names):
            seen.append(grant)
            if grant.permits(operation, context, source_arn) and (
                grant_check is None or grant_check(grant)
            ):
                return grant, seen
        if not principal.is_service and not principal.is_root:
            # A grant to the caller's account applies when the caller's IAM policies allow.
            identity_allows = any(r.allows for r in decision.identity_results)
            for grant in store.for_grantee(key.key_id, (root_arn(principal.account),
                                                         principal.account)):
                seen.append(grant)
                if (identity_allows and grant.permits(operation, context, source_arn)
                        and (grant_check is None or grant_check(grant))):
                    return grant, seen
        return None, seen

    def authorize_identity(
        self,
        ctx: CallContext,
        operation: str,
        resource: str = "*",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Allow an operation IAM policies alone control (CreateKey, ListKeys ...) or raise."""
        action = "kms:" + operation
        request = self._request(ctx, action, resource, None, extra)
        if not ctx.caller.is_service:
            identity, boundary = self.identity_side(ctx.caller)
            decision = evaluate(request, identity, None, ctx.caller.account, boundary)
        else:
            decision = Decision(
                request, "implicitDeny", [], identity_results=[], resource_result=None,
                boundary_result=None, cross_account=False, denied_by="identity",
                reason="implicitly denied: AWS service principals have no identity policies",
            )
        if not decision.allowed:
            raise self.denied(ctx, decision, [], None, None, None)

    def policy_allows_update(
        self, ctx: CallContext, document: PolicyDocument, key: KmsKey
    ) -> bool:
        """Would the caller still be allowed kms:PutKeyPolicy under ``document``? (lockout)"""
        request = self._request(ctx, "kms:PutKeyPolicy", key.arn, key, None)
        identity, boundary = self.identity_side(ctx.caller)
        decision = evaluate(
            request, identity, document, key.account, boundary, resource_policy_required=True
        )
        return decision.allowed

    # -- refusals -----------------------------------------------------------------------
    def denied(
        self,
        ctx: CallContext,
        decision: Decision,
        grants: list[Grant],
        grant_operation: str | None,
        context: Mapping[str, str] | None,
        resource_label: str | None,
        notes: list[str] | None = None,
    ) -> errors.ClientError:
        """The AccessDeniedException for a refused request, with the evaluation attached."""
        request = decision.request
        action = request.action
        where = resource_label or f"resource: {request.resource}"
        policy_kind = {
            "identity": "identity-based policy",
            "boundary": "permissions boundary",
            "session": "session policy",
        }.get(decision.denied_by or "resource", "resource-based policy")
        if decision.decision == EXPLICIT_DENY:
            article = "an" if policy_kind.startswith("identity") else "a"
            tail = f"with an explicit deny in {article} {policy_kind}"
            arn = decision.denying_policy_arn()  # a same-account managed policy's ARN
            if arn:
                tail += f": {arn}"
        else:
            tail = f"because no {policy_kind} allows the {action} action"
        grant_lines = [g.why_not(grant_operation or "", context, ctx.source_arn)
                       for g in grants]
        if grant_operation is not None and not grants:
            grant_lines.append(f"no grant on this key names {request.principal} as grantee")
        grant_lines.extend(notes or ())
        why = _short_reason(decision, grant_lines)
        # AWS's sentence ends at "... action" (or "... policy" for a deny); the simulator's
        # reason goes beside it, in ``explanation``.
        message = (
            f"{caller_label(ctx.caller)} is not authorized to perform: {action} on {where} "
            f"{tail}"
        )
        evaluation = {
            "decision": decision.decision,
            "denied_by": decision.denied_by,
            "reason": decision.reason,
            "action": action,
            "resource": request.resource,
            "matched_statements": [m.label for m in decision.matched_statements],
            "explanation": list(decision.explanation) + grant_lines,
            "grants": grant_lines,
            "missing_context_values": list(decision.missing_context_values),
        }
        return errors.AccessDeniedException(message, explanation=why, evaluation=evaluation,
                                            decision=decision)


def _short_reason(decision: Decision, grant_lines: list[str]) -> str:
    """One line saying why: the denying statement, or the condition that failed."""
    if decision.decision == EXPLICIT_DENY and decision.matched_statements:
        return f"explicitly denied by {decision.matched_statements[0].label}"
    request = decision.request
    for result in decision.results:
        for miss in result.near_misses:
            for cond in miss.statement.conditions:
                if not cond.test(request):
                    return f"{miss.label} did not apply: {cond.explain(request)}"
    reason = decision.reason
    if grant_lines:
        reason += "; " + grant_lines[0]
    return reason
