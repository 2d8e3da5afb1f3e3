"""The request an access decision is about: who, which action, which resource, which context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.iam.principal import Principal

_MULTI = (list, tuple, set, frozenset)
#: Exact types of single values, for the hot loops below (anything else: ``_normalise``).
_SCALAR_TYPES = frozenset({str, bool, int, float})


def _normalise(value: Any) -> tuple[Any, ...]:
    if isinstance(value, _MULTI):
        return tuple(value)
    return (value,)



def principal_keys(principal: Principal | None) -> dict[str, tuple[Any, ...]]:
    """The request-context keys every request of ``principal`` carries, keys lower-cased.

    These are facts of the caller (aws:PrincipalArn, aws:PrincipalAccount, aws:userid, ...);
    time, region and network keys come from ``simulator.iam.context.global_context``.
    """
    if principal is None:
        return {}
    out: dict[str, tuple[Any, ...]] = {}
    if principal.is_service:
        out["aws:principalservicename"] = (principal.service or principal.arn,)
        out["aws:principalisawsservice"] = (True,)
        return out
    out["aws:principalarn"] = (principal.arn,)
    out["aws:principalaccount"] = (principal.account,)
    out["aws:principaltype"] = (principal.principal_type,)
    out["aws:principalisawsservice"] = (False,)
    if principal.kind == "Role":
        session = principal.name
        if principal.session_arn:
            session = principal.session_arn.rsplit("/", 1)[-1]
        out["aws:userid"] = (f"{principal.unique_id}:{session}",)
    else:
        out["aws:userid"] = (principal.unique_id,)
    if principal.kind == "User":
        out["aws:username"] = (principal.name,)
    for k, v in (principal.tags or {}).items():
        out[f"aws:principaltag/{k.lower()}"] = (v,)
    return out


#: A request context prepared for ``RequestContext.prepared``: lower-cased key -> (key as
#: given, values as a tuple).
Prepared = dict[str, tuple[str, tuple[Any, ...]]]


def prepare_context(context: Mapping[str, Any] | None) -> Prepared:
    """``context`` as a RequestContext keeps it (keys lower-cased, ``None`` values dropped)."""
    ctx: Prepared = {}
    if context:
        for key, value in context.items():
            if value is None:
                continue
            kind = value.__class__  # _normalise(value), the common types inline
            ctx[key.lower()] = (key, (value,) if kind in _SCALAR_TYPES else
                                value if kind is tuple else _normalise(value))
    return ctx


class RequestContext:
    """A request to authorise.

    ``context`` maps condition keys to a value or a list of values (str, bool, int, float,
    datetime, bytes, ip address). Keys are case-insensitive. Keys that describe the principal
    (aws:PrincipalArn, aws:PrincipalAccount, aws:username, aws:userid, aws:PrincipalTag/...)
    are derived from ``principal`` unless ``context`` gives them. A value of ``None`` means the
    key is absent.
    """

    __slots__ = ("_ctx", "_derived", "action", "action_l", "principal", "resource")

    def __init__(
        self,
        principal: Principal | None,
        action: str,
        resource: str = "*",
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.principal = principal
        self.action = action
        self.action_l = action.lower()
        self.resource = resource
        self._ctx = prepare_context(context)
        self._derived: dict[str, tuple[Any, ...]] | None = None

    @classmethod
    def prepared(
        cls,
        principal: Principal | None,
        action: str,
        resource: str,
        base: Prepared,
        extra: Mapping[str, Any] | None = None,
    ) -> RequestContext:
        """The request with context ``{**base, **extra}`` (as a dict update: an ``extra`` value
        of None removes the key spelt the same), ``base`` prepared by ``prepare_context`` and
        shared, never changed here."""
        self = cls.__new__(cls)
        self.principal = principal
        self.action = action
        self.action_l = action.lower()
        self.resource = resource
        if extra:
            ctx = dict(base)
            for key, value in extra.items():
                if value is None:
                    hit = ctx.get(key.lower())
                    if hit is not None and hit[0] == key:
                        del ctx[key.lower()]
                else:
                    kind = value.__class__
                    ctx[key.lower()] = (key, (value,) if kind in _SCALAR_TYPES else
                                        value if kind is tuple else _normalise(value))
            self._ctx = ctx
        else:
            self._ctx = base
        self._derived = None
        return self

    def lookup(self, key_l: str) -> tuple[Any, ...] | None:
        """The values of a (lower-cased) key, or ``None`` when the request does not carry it."""
        hit = self._ctx.get(key_l)
        if hit is not None:
            return hit[1]
        derived = self._derived
        if derived is None:
            derived = self._derived = principal_keys(self.principal)
        return derived.get(key_l)

    def get(self, key: str) -> tuple[Any, ...] | None:
        return self.lookup(key.lower())

    def __contains__(self, key: str) -> bool:
        return self.lookup(key.lower()) is not None

    @property
    def context(self) -> dict[str, Any]:
        """The explicit context, original key spelling, values as given (tuples)."""
        return {k: v for k, v in self._ctx.values()}

    def with_context(self, **changes: Any) -> RequestContext:
        merged = {k: v for k, v in self._ctx.values()}
        merged.update(changes)
        return RequestContext(self.principal, self.action, self.resource, merged)

    def replace(
        self, *, action: str | None = None, resource: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> RequestContext:
        return RequestContext(
            self.principal,
            action if action is not None else self.action,
            resource if resource is not None else self.resource,
            context if context is not None else {k: v for k, v in self._ctx.values()},
        )

    def __repr__(self) -> str:
        who = self.principal.arn if self.principal else None
        return f"RequestContext({who!r}, {self.action!r}, {self.resource!r}, {self.context!r})"
