"""Authorising a call: the caller's identity policies (and a resource policy) against a request.

``authorize(sim, ctx, "ecs:CreateCluster", cluster_arn, {"ecs:fargate-ephemeral-storage-kms-key":
key_arn})`` builds the full request context (global keys + the given keys), evaluates, and
raises ``AccessDeniedException`` with AWS's wording when the request is denied; the Decision is
attached as ``exc.details["evaluation"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from simulator.errors import AccessDeniedException, ClientError
from simulator.iam.context import global_context
from simulator.iam.evaluation import Decision, evaluate
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import Principal
from simulator.iam.request import RequestContext

if TYPE_CHECKING:
    from simulator.service import SimulationSurface


def request_context(
    sim: SimulationSurface,
    ctx_or_principal: Any,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
) -> RequestContext:
    """The full request context of a call: global keys (time, Region, caller, caller's tags,
    source IP, via-service) plus ``context``, which wins on conflicts."""
    principal, now, region, source_ip, via = _call_facts(sim, ctx_or_principal)
    iam = sim.service("iam")
    tags = None
    if principal.kind in ("Role", "User"):
        tags = iam.tags(principal)  # type: ignore[attr-defined]
    merged = global_context(
        principal, now=now, region=region, source_ip=source_ip, via_service=via,
        tags=tags or None,
    )
    if context:
        merged.update(context)
    return RequestContext(principal, action, resource, merged)


def _call_facts(
    sim: SimulationSurface, ctx_or_principal: Any
) -> tuple[Principal, Any, str, Any, Any]:
    if isinstance(ctx_or_principal, Principal):
        return ctx_or_principal, sim.clock.now(), sim.region, None, None
    if isinstance(ctx_or_principal, str) or ctx_or_principal is None:
        return sim.principal(ctx_or_principal), sim.clock.now(), sim.region, None, None
    ctx = ctx_or_principal
    source_ip = getattr(ctx, "source_ip", None)
    if ctx.caller.kind == "AWSService":
        source_ip = None  # AWS services call from AWS networks: no aws:SourceIp
    return ctx.caller, ctx.now, ctx.region, source_ip, getattr(ctx, "via_service", None)


def authorize(
    sim: SimulationSurface,
    ctx_or_principal: Any,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    resource_policy: PolicyDocument | None = None,
    *,
    resource_account: str | None = None,
    resource_policy_required: bool = False,
    raise_on_deny: bool = True,
) -> Decision:
    """Decide a call by ``ctx_or_principal`` (a CallContext, a Principal, or an ARN string).

    Evaluates the caller's identity policies and permissions boundary from IAM, plus
    ``resource_policy`` if given. Raises ``AccessDeniedException`` when denied (unless
    ``raise_on_deny=False``) with the Decision in ``exc.details["evaluation"]``.
    """
    request = request_context(sim, ctx_or_principal, action, resource, context)
    principal = request.principal
    assert principal is not None
    iam = sim.service("iam")
    identity = iam.identity_policies(principal)  # type: ignore[attr-defined]
    boundary = iam.permissions_boundary(principal)  # type: ignore[attr-defined]
    decision = evaluate(
        request,
        identity,
        resource_policy,
        resource_account=resource_account,
        permissions_boundary=boundary,
        resource_policy_required=resource_policy_required,
    )
    if raise_on_deny and not decision.allowed:
        raise access_denied(decision)
    return decision


def access_denied(decision: Decision) -> ClientError:
    """The AccessDeniedException AWS would raise for a denied ``decision``."""
    return AccessDeniedException(decision.access_denied_message(), evaluation=decision)
