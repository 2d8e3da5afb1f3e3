"""IAM's policy simulator (SimulateCustomPolicy / SimulatePrincipalPolicy) as pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from simulator import paging
from simulator.errors import InvalidInputException, MalformedPolicyDocumentException
from simulator.iam import values as V
from simulator.iam.evaluation import Decision, evaluate
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import ACCOUNT_ID, Principal
from simulator.iam.request import RequestContext

CONTEXT_TYPES = (
    "string", "stringList", "numeric", "numericList", "boolean", "booleanList",
    "ip", "ipList", "binary", "binaryList", "date", "dateList",
)
_ROOT = re.compile(r"^arn:[\w-]+:iam::(\d{12}):root$")


def convert_context_value(key: str, kind: str, value: str) -> Any:
    """One ContextKeyValues item read as ``kind`` (``numeric``, ``boolean``, ...)."""
    base = kind[:-4] if kind.endswith("List") else kind
    try:
        if base == "string":
            return value
        if base == "numeric":
            n = V.to_number(value)
            return int(n) if n.is_integer() and "." not in str(value) else n
        if base == "boolean":
            return V.to_bool(value)
        if base == "ip":
            V.to_address(value)
            return value
        if base == "binary":
            return V.to_bytes(value)
        if base == "date":
            V.to_epoch(value)
            return value
    except ValueError as exc:
        raise InvalidInputException(
            f"ContextEntries {key}: value {value!r} is not a valid {base}: {exc}"
        ) from None
    raise InvalidInputException(
        f"ContextEntries {key}: unknown ContextKeyType {kind!r} (expected one of "
        + ", ".join(CONTEXT_TYPES) + ")"
    )


def context_from_entries(entries: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    """IAM ``ContextEntries`` -> a request context mapping (key -> value or list)."""
    out: dict[str, Any] = {}
    for i, entry in enumerate(entries or ()):
        key = entry.get("ContextKeyName")
        if not key:
            raise InvalidInputException(f"ContextEntries[{i}]: ContextKeyName is required")
        kind = entry.get("ContextKeyType") or "string"
        raw = list(entry.get("ContextKeyValues") or [])
        vals = [convert_context_value(key, kind, v) for v in raw]
        if kind.endswith("List"):
            out[key] = vals
        elif len(vals) == 1:
            out[key] = vals[0]
        elif vals:
            out[key] = vals
    return out


def parse_inputs(
    texts: Sequence[str] | None, prefix: str, kind: str = "identity"
) -> list[PolicyDocument]:
    """Parse ``PolicyInputList``-style documents, naming them ``prefix.1``, ``prefix.2`` ...

    ``kind="any"`` takes a document with a Principal element as a resource policy.
    """
    docs = []
    for i, text in enumerate(texts or (), start=1):
        name = f"{prefix}.{i}"
        k = kind
        if kind == "any":
            k = "resource" if '"Principal"' in text or '"NotPrincipal"' in text else "identity"
        try:
            docs.append(PolicyDocument.parse(text, kind=k, name=name, source_type="none"))
        except MalformedPolicyDocumentException as exc:
            raise InvalidInputException(
                f"{name}: {exc.message}", explanation=exc.explanation
            ) from None
    return docs


def merge_boundaries(docs: Sequence[PolicyDocument]) -> PolicyDocument | None:
    if not docs:
        return None
    if len(docs) == 1:
        return docs[0]
    statements: list[Any] = []
    for d in docs:
        stmts = d.raw["Statement"]
        statements.extend(stmts if isinstance(stmts, list) else [stmts])
    version = "2012-10-17" if any(d.version == "2012-10-17" for d in docs) else "2008-10-17"
    return PolicyDocument.parse(
        {"Version": version, "Statement": statements}, name=docs[0].name, source_type="none"
    )


def owner_account(resource_owner: str | None) -> str | None:
    if not resource_owner:
        return None
    if ACCOUNT_ID.match(resource_owner):
        return resource_owner
    m = _ROOT.match(resource_owner)
    if not m:
        raise InvalidInputException(
            f"ResourceOwner {resource_owner!r} must be an account id or arn:aws:iam::ACCOUNT:root"
        )
    return m.group(1)


def decision_result(decisions: Sequence[Decision], action: str) -> dict[str, Any]:
    """One ``EvaluationResults`` item for ``action`` over its resources' decisions."""
    first = decisions[0]
    item = first.to_evaluation_result()
    if len(decisions) > 1:
        ordered = ["explicitDeny", "implicitDeny", "allowed"]
        worst = min((d.decision for d in decisions), key=ordered.index)
        item["EvalResourceName"] = "*"
        item["EvalDecision"] = worst
        item["MatchedStatements"] = [
            m.to_matched_statement() for d in decisions for m in d.matched_statements
        ]
        missing: dict[str, str] = {}
        for d in decisions:
            for k in d.missing_context_values:
                missing.setdefault(k.lower(), k)
        item["MissingContextValues"] = sorted(missing.values(), key=str.lower)
    specific = []
    for d in decisions:
        res = d.to_evaluation_result()
        entry: dict[str, Any] = {
            "EvalResourceName": res["EvalResourceName"],
            "EvalResourceDecision": res["EvalDecision"],
            "MatchedStatements": res["MatchedStatements"],
            "MissingContextValues": res["MissingContextValues"],
        }
        if d.cross_account:  # "This parameter is returned only for cross-account simulations"
            entry["EvalDecisionDetails"] = d.decision_details()
        if "PermissionsBoundaryDecisionDetail" in res:
            entry["PermissionsBoundaryDecisionDetail"] = res["PermissionsBoundaryDecisionDetail"]
        specific.append(entry)
    item["ResourceSpecificResults"] = specific
    item["EvalActionName"] = action
    return item


def simulate(
    identity_policies: Sequence[PolicyDocument],
    actions: Sequence[str],
    resources: Sequence[str] | None = None,
    *,
    caller: Principal | None = None,
    context: Mapping[str, Any] | None = None,
    resource_policy: PolicyDocument | None = None,
    resource_owner: str | None = None,
    permissions_boundary: PolicyDocument | None = None,
) -> list[tuple[str, list[Decision]]]:
    """Decide every action on every resource; ``[(action, [Decision per resource])]``."""
    resources = list(resources or ["*"])
    account = owner_account(resource_owner)
    out = []
    for action in actions:
        decisions = []
        for resource in resources:
            request = RequestContext(caller, action, resource, context or {})
            decisions.append(
                evaluate(
                    request,
                    identity_policies,
                    resource_policy,
                    resource_account=account or (
                        caller.account if caller is not None and resource == "*" else None
                    ),
                    permissions_boundary=permissions_boundary,
                )
            )
        out.append((action, decisions))
    return out


class IamMarkers:
    """IAM's page tokens: opaque (base64 of the page's position, ``paging.Position``);
    MaxItems defaults to 100."""

    def read(self, token: str) -> paging.Position:
        """The position a Marker names; InvalidInputException when it is not one IAM gave."""
        try:
            return paging.unpacked_token(token)
        except ValueError:
            raise InvalidInputException(f"Marker {token!r} is not valid") from None

    def write(self, position: paging.Position) -> str:
        """The Marker of the page at ``position``."""
        return paging.packed_token(position)

    def size(self, limit: int | None, default: int | None) -> int:
        """MaxItems, or 100."""
        return limit or default or 100


MARKERS = IamMarkers()


def paginate(operation: str, items: list[Any], params: dict[str, Any]) -> dict[str, Any]:
    """IAM's Marker/MaxItems/IsTruncated page of ``items`` for ``operation``."""
    return paging.page("iam", operation, items, params, MARKERS)
