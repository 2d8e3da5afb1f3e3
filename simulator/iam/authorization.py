"""Authorising a call: the caller's identity policies (and a resource policy) against a request.

The one path every service's authorisation takes: ``RequestContexts`` builds the request
context of a call, ``caller_policies`` fetches the caller's identity policies and boundary
from IAM, ``evaluate`` decides. A service adds only what is its own (KMS: its caller keys,
the key's keys, grants and its AccessDenied wording, in ``simulator.kms.authorization``).

``authorize(sim, ctx, "ecs:CreateCluster", cluster_arn, {"ecs:fargate-ephemeral-storage-kms-key":
key_arn})`` builds the full request context (global keys + the given keys), evaluates, and
raises ``AccessDeniedException`` with AWS's wording when the request is denied; the Decision is
attached as ``exc.details["evaluation"]``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast
from weakref import WeakKeyDictionary

from simulator.errors import AccessDeniedException, ClientError
from simulator.iam.context import global_context, time_keys
from simulator.iam.evaluation import Decision, evaluate
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import Principal
from simulator.iam.request import Prepared, RequestContext, prepare_context

if TYPE_CHECKING:
    from simulator.service import SimulationSurface


class IdentityStore(Protocol):
    """What authorisation reads of IAM (``simulator.iam``'s service): a caller's identity
    policies, permissions boundary and tags."""

    def identity_policies(self, principal: Principal) -> list[PolicyDocument]: ...

    def permissions_boundary(self, principal: Principal) -> PolicyDocument | None: ...

    def tags(self, principal: Principal) -> dict[str, str]: ...


def _iam(sim: SimulationSurface) -> IdentityStore:
    return cast(IdentityStore, sim.service("iam"))


class CallFacts(NamedTuple):
    """What a request context is made of besides the operation's own keys: who calls, when,
    where from and on whose behalf (a ``CallContext`` has the same attributes)."""

    caller: Principal
    now: Any
    region: str
    source_ip: str | None = None
    via_service: str | None = None
    source_arn: str | None = None


def call_facts(sim: SimulationSurface, ctx_or_principal: Any) -> Any:
    """The call's facts: a CallContext as it is, a Principal or caller ARN at the clock's now."""
    if isinstance(ctx_or_principal, Principal):
        return CallFacts(ctx_or_principal, sim.clock.now(), sim.region)
    if isinstance(ctx_or_principal, str) or ctx_or_principal is None:
        return CallFacts(sim.principal(ctx_or_principal), sim.clock.now(), sim.region)
    return ctx_or_principal


def caller_policies(sim: SimulationSurface, principal: Principal) -> tuple[list[PolicyDocument],
                                                                   PolicyDocument | None]:
    """The caller's identity policies and permissions boundary, from IAM (none for account
    roots and AWS service principals, which IAM holds no policies for)."""
    if principal.kind not in ("Role", "User"):
        return [], None
    iam = _iam(sim)
    return iam.identity_policies(principal), iam.permissions_boundary(principal)


class RequestContexts:
    """Builds the request context of every call of one simulation, for every service.

    A request carries the global keys (time, Region, source IP, the service a call comes
    through, the resource a service acts for, the caller's IAM tags), the calling service's
    own caller keys (``service_keys``, e.g. kms:CallerAccount), the resource's keys (``own``,
    e.g. a KMS key's tags) and the operation's keys (``extra``). The part without ``extra``
    is prepared once per caller and resource, and at each new instant only its time keys
    (aws:CurrentTime, aws:EpochTime) are replaced: it depends only on the facts in the cache
    key, the instant and ``own``, which must be a new dict whenever the resource changes (a
    stale entry then never matches). An IAM role's or user's tags can change between calls of one
    instant (TagRole), so their contexts are built afresh.
    """

    def __init__(self, sim: SimulationSurface,
                 service_keys: Callable[[Any], Mapping[str, Any]] | None = None) -> None:
        self.sim = sim
        self.service_keys = service_keys
        self._prepared: dict[tuple[Any, ...], _Prepared] = {}

    def keys(self, facts: Any, own: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every condition key of the call but the operation's own (principal keys such as
        aws:PrincipalArn are derived from the caller by ``RequestContext``)."""
        caller = facts.caller
        out = global_context(
            None,
            now=facts.now,
            region=facts.region,
            # AWS services call from AWS networks: no aws:SourceIp.
            source_ip=None if caller.kind == "AWSService" else facts.source_ip,
            via_service=facts.via_service,
            called_via=caller.called_via,
        )
        if caller.kind in ("Role", "User"):
            for k, v in _iam(self.sim).tags(caller).items():
                out[f"aws:PrincipalTag/{k}"] = v
        source_arn = facts.source_arn
        if source_arn:
            # A service's request on behalf of a resource carries the resource's ARN and
            # account (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcearn).
            out["aws:SourceArn"] = source_arn
            account = source_arn.split(":")[4:5]
            if account and account[0]:
                out["aws:SourceAccount"] = account[0]
        if self.service_keys is not None:
            out.update(self.service_keys(facts))
        if own:
            out.update(own)
        return out

    def request(
        self,
        facts: Any,
        action: str,
        resource: str,
        extra: Mapping[str, Any] | None = None,
        *,
        own: Mapping[str, Any] | None = None,
        own_label: str | None = None,
    ) -> RequestContext:
        """The request ``action`` on ``resource`` with context ``{**keys(facts, own),
        **extra}``; ``own_label`` names the resource ``own`` describes (the cache key)."""
        caller = facts.caller
        if caller.kind in ("Role", "User"):
            keys = self.keys(facts, own)
            if extra:
                keys.update(extra)
            return RequestContext(caller, action, resource, keys)
        now = facts.now
        cache_key = (caller, facts.region, facts.source_ip, facts.via_service,
                     facts.source_arn, own_label)
        hit = self._prepared.get(cache_key)
        if hit is None or hit.own is not own:
            if len(self._prepared) >= 256:
                self._prepared.clear()  # callers and resources of the past: built again
            prepared = prepare_context(self.keys(facts, own))
            self._prepared[cache_key] = _Prepared(
                own, now, prepared, _has_time_keys_of(prepared, now))
        elif hit.now != now:
            if hit.retimable:
                # Another instant: the same keys with this instant's time keys (a new dict;
                # requests made earlier keep theirs). Only the keys of ``time_keys`` depend
                # on the instant: a new time-dependent key must be added there, or it goes
                # stale here.
                prepared = dict(hit.prepared)
                prepared.update(prepare_context(time_keys(now)))
            else:  # own or the service's keys set a time key themselves: built afresh
                prepared = prepare_context(self.keys(facts, own))
            # a new entry in one step: a caller on another thread reads a whole one
            self._prepared[cache_key] = _Prepared(own, now, prepared, hit.retimable)
        else:
            prepared = hit.prepared
        return RequestContext.prepared(caller, action, resource, prepared, extra)


class _Prepared:
    """One cached request context: the ``own`` it was built with, the instant its time keys
    are of, the prepared keys, and whether those time keys are the global ones (so another
    instant needs only them replaced)."""

    __slots__ = ("now", "own", "prepared", "retimable")

    def __init__(self, own: Any, now: Any, prepared: Prepared, retimable: bool) -> None:
        self.own = own
        self.now = now
        self.prepared = prepared
        self.retimable = retimable


def _has_time_keys_of(prepared: Prepared, now: Any) -> bool:
    """Whether ``prepared``'s aws:CurrentTime and aws:EpochTime are ``now``'s global keys."""
    timed = prepare_context(time_keys(now))
    return all(prepared.get(k) == v for k, v in timed.items())


#: Each simulation's builder for the services without keys of their own (IAM, ECS, STS ...).
_CONTEXTS: WeakKeyDictionary[Any, RequestContexts] = WeakKeyDictionary()


def contexts(sim: SimulationSurface) -> RequestContexts:
    """The simulation's ``RequestContexts`` for services that add no caller keys."""
    built = _CONTEXTS.get(sim)
    if built is None:
        # Through a weak proxy: a value that held the simulation would keep its key alive.
        built = _CONTEXTS[sim] = RequestContexts(weakref.proxy(sim))
    return built


def request_context(
    sim: SimulationSurface,
    ctx_or_principal: Any,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
) -> RequestContext:
    """The full request context of a call: global keys (time, Region, caller, caller's tags,
    source IP, via-service) plus ``context``, which wins on conflicts."""
    return contexts(sim).request(call_facts(sim, ctx_or_principal), action, resource, context)


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
    identity, boundary = caller_policies(sim, principal)
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
    """The AccessDeniedException AWS would raise for a denied ``decision``, its
    ``explanation`` saying which policy denied (the statement, or the kind of policy that
    allows nothing)."""
    return AccessDeniedException(decision.access_denied_message(), explanation=decision.reason,
                                 evaluation=decision)
