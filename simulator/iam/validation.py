"""Policy validation as the owning service does it: IAM's checks in IAM's order, KMS's words.

IAM answers a malformed document with ``MalformedPolicyDocument`` and the message of the
*first* check that fails, in a fixed order (syntax, version, "legacy parsing", Sid
uniqueness, actions present, resource format, action vendor, resources present). This module
runs those checks on the decoded JSON and raises ``MalformedPolicyDocumentException`` with
IAM's exact message as ``.message`` and the simulator's explanation (the element's path and
what is wrong with it) as ``.explanation``.

Sources: the grammar, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
(elements, ``Version`` values, condition values "string" | "number" | "Boolean"); the element
pages (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html); and
IAM's answers to documents it refuses and accepts, recorded against AWS (the table in
tests/iam/test_validation.py cites them). Partitions come from botocore's ``partitions`` data.

KMS validates key policies itself: it takes both versions and Sids with spaces, keeps a
statement without Action or Resource as ineffective, answers an invalid principal with
"Policy contains a statement with one or more invalid principals." and other malformed
documents with an empty message (https://github.com/aws/aws-sdk-ruby/issues/1784).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from simulator.errors import (
    ClientError,
    KMSMalformedPolicyDocumentException,
    MalformedPolicyDocumentException,
)
from simulator.iam.values import legacy_epoch

# -- AWS's messages ----------------------------------------------------------------------------
SYNTAX = "Syntax errors in policy."
VERSION = "Policy document must be version 2012-10-17 or greater."
LEGACY = "The policy failed legacy parsing"
DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
BAD_VENDOR = "Vendor {vendor} is not valid"
NOT_ARN = 'Resource {resource} must be in ARN format or "*".'
BAD_PARTITION = 'Partition "{partition}" is not valid for resource "{arn}".'
UNQUALIFIED_VENDOR = "Resource vendor must be fully qualified and cannot contain regexes."
PRINCIPAL_NOT_ALLOWED = "Policy document should not specify a principal."
TRUST_RESOURCE = "Has prohibited field Resource."
TRUST_ACTIONS = (
    "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and "
    "sts:AssumeRoleWithWebIdentity"
)
TRUST_NO_PRINCIPAL = (
    "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
    "The passed in policy has a statement with no principals!"
)
TRUST_BAD_PRINCIPAL = 'Invalid principal in policy: "{type}":"{value}"'
KMS_INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."
KMS_MALFORMED = ""  # KMS's MalformedPolicyDocumentException for a document it cannot read

#: Which kinds of IAM policy need ``"Version": "2012-10-17"``. IAM's recorded answers show it
#: for identity policies (CreatePolicy). For a role's trust policy the sources disagree or are
#: silent: moto's validator (its cases recorded against AWS) applies the same rule on
#: UpdateAssumeRolePolicy but not on CreateRole, and AWS's older service-role examples carry
#: trust policies of 2008-10-17. The default takes 2008-10-17 in trust policies; add "trust"
#: to apply the identity rule to them as well (tests exercise both readings).
VERSION_2012_REQUIRED: set[str] = {"identity"}

# -- the grammar, as data ----------------------------------------------------------------------
TOP_LEVEL = ("Version", "Id", "Statement")
VERSIONS = ("2008-10-17", "2012-10-17")
STATEMENT_ELEMENTS = (
    "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
    "Resource", "NotResource", "Condition",
)
EFFECTS = ("Allow", "Deny")
#: Condition operators IAM knows (https://docs.aws.amazon.com/IAM/latest/UserGuide/
#: reference_policies_elements_condition_operators.html), before ``ForAllValues:`` /
#: ``ForAnyValue:`` and ``IfExists``. An unknown operator is a syntax error unless its block is
#: empty.
CONDITION_OPERATORS = frozenset(
    [f"String{c}" for c in ("Equals", "NotEquals", "EqualsIgnoreCase",
                            "NotEqualsIgnoreCase", "Like", "NotLike")]
    + [f"{f}{c}" for f in ("Numeric", "Date") for c in (
        "Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals")]
    + ["Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnLike",
       "ArnNotEquals", "ArnNotLike", "Null"]
)
SET_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")
_VENDOR = re.compile(r"^[A-Za-z0-9.-]+$")

#: Per service, what IAM checks in a resource ARN beyond its partition: whether a Region may
#: appear (``region``: the message when one does; ``region_ok``: resource prefixes that carry
#: one, such as S3 access points) and which resource paths are valid (``paths``).
SERVICE_ARN_RULES: dict[str, dict[str, Any]] = {
    "iam": {
        "region": "IAM resource {resource} cannot contain region information.",
        "paths": ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
                  "server-certificate/", "policy/", "sms-mfa/", "saml-provider/",
                  "oidc-provider/", "report/", "access-report/"),
        "path_message": 'IAM resource path must either be "*" or start with {paths}.',
    },
    "s3": {
        "region": "Resource {resource} can not contain region information.",
        "region_ok": ("accesspoint/",),
    },
}

#: The actions a role trust policy may name (AWS STS's actions that act on a role).
TRUST_POLICY_ACTIONS = (
    "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
    "sts:DecodeAuthorizationMessage", "sts:GetAccessKeyInfo", "sts:GetCallerIdentity",
    "sts:GetFederationToken", "sts:GetServiceBearerToken", "sts:GetSessionToken",
    "sts:SetSourceIdentity", "sts:TagSession",
)


@lru_cache(maxsize=1)
def partitions() -> frozenset[str]:
    """The AWS partitions botocore knows (aws, aws-cn, aws-us-gov, aws-iso, ...)."""
    from botocore.loaders import create_loader

    data = create_loader().load_data("partitions")
    return frozenset(p["id"] for p in data["partitions"])


class _Fail(Exception):
    """One failed check: AWS's message and the simulator's explanation."""

    def __init__(self, message: str, explanation: str) -> None:
        super().__init__(message)
        self.message = message
        self.explanation = explanation


def malformed(service: str, message: str, explanation: str) -> ClientError:
    """The service's MalformedPolicyDocument error (IAM's or KMS's code) with both texts."""
    cls = (KMSMalformedPolicyDocumentException if service == "kms"
           else MalformedPolicyDocumentException)
    return cls(message, explanation=explanation)


def fallback_message(service: str) -> str:
    """AWS's message for a malformed document no more specific check describes."""
    return KMS_MALFORMED if service == "kms" else SYNTAX


def loads(text: str, service: str = "iam") -> Any:
    """Decode a policy's JSON; a document that is not JSON is the service's syntax error."""
    if not text.strip():
        raise malformed(service, fallback_message(service), "the policy is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        why = f"bad JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    except (ValueError, RecursionError) as exc:
        why = f"bad JSON: {exc}" if isinstance(exc, ValueError) else "bad JSON: nested too deep"
    raise malformed(service, fallback_message(service), why)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check(raw: Any, kind: str, service: str = "iam") -> None:
    """Validate a decoded policy as ``service`` does; raise its MalformedPolicyDocument error.

    ``kind``: "identity" (attached to a user, role or group), "trust" (a role's assume-role
    policy) or "resource" (a resource's policy, such as the simulator's ResourcePolicy).
    KMS key policies (``service="kms"``) get only the structural checks IAM calls syntax.
    """
    try:
        if service == "kms":
            _syntax(raw)
            return
        _check_iam(raw, kind)
    except _Fail as fail:
        raise malformed(
            service, fail.message if service != "kms" else KMS_MALFORMED, fail.explanation
        ) from None


# -- IAM's sequence ----------------------------------------------------------------------------
def _check_iam(raw: Any, kind: str) -> None:
    statements = _syntax(raw)
    if kind in VERSION_2012_REQUIRED and raw.get("Version") != "2012-10-17":
        have = "no Version" if "Version" not in raw else f"Version {raw['Version']!r}"
        raise _Fail(VERSION, f"Version: the document has {have}; IAM's {kind} policies "
                    'need "2012-10-17" (the only version with policy variables)')
    _legacy(statements)
    resource_error = _resource_formats(statements)
    _sids(statements)
    for i, st in statements:
        if not _present(st, "Action", "NotAction"):
            raise _Fail(NO_ACTIONS, f"Statement[{i}]: has no Action or NotAction, or an empty "
                        "list")
    if resource_error is not None:
        raise resource_error
    for el in ("Action", "NotAction"):
        for i, st in statements:
            for where, action in _items(st, el, f"Statement[{i}].{el}"):
                problem = action_problem(action)
                if problem is not None:
                    raise _Fail(problem[0], f"{where}: {json.dumps(action)} {problem[1]}")
    if kind == "identity":
        for i, st in statements:
            for el in ("Principal", "NotPrincipal"):
                if el in st:
                    raise _Fail(PRINCIPAL_NOT_ALLOWED, f"Statement[{i}].{el}: an identity "
                                "policy applies to whoever it is attached to; only resource "
                                "and trust policies name principals")
        for i, st in statements:
            if not _present(st, "Resource", "NotResource"):
                raise _Fail(NO_RESOURCES, f"Statement[{i}]: has no Resource or NotResource, or "
                            "an empty list")
    if kind == "trust":
        _trust(statements)


def _syntax(raw: Any) -> list[tuple[int, dict[str, Any]]]:
    """The checks IAM reports as "Syntax errors in policy."; the statements, numbered."""
    if not isinstance(raw, dict):
        raise _Fail(SYNTAX, "the policy must be a JSON object")
    for key in raw:
        if key not in TOP_LEVEL:
            raise _Fail(SYNTAX, f"{key}: unknown top-level element (expected Version, Id, "
                        "Statement)")
    if "Version" in raw and raw["Version"] not in VERSIONS:
        raise _Fail(SYNTAX, f'Version: {json.dumps(raw["Version"])} is not "2012-10-17" or '
                    '"2008-10-17"')
    if "Id" in raw and not isinstance(raw["Id"], str):
        raise _Fail(SYNTAX, "Id: must be a string")
    if "Statement" not in raw:
        raise _Fail(SYNTAX, "missing Statement")
    stmts = raw["Statement"]
    if isinstance(stmts, dict):
        stmts = [stmts]
    elif not isinstance(stmts, list):
        raise _Fail(SYNTAX, "Statement: must be an object or a list of objects")
    if not stmts:
        raise _Fail(SYNTAX, "Statement: an empty list; a policy needs at least one statement")
    out = []
    for i, st in enumerate(stmts):
        path = f"Statement[{i}]"
        if not isinstance(st, dict):
            raise _Fail(SYNTAX, f"{path}: must be an object")
        for key in st:
            if key not in STATEMENT_ELEMENTS:
                raise _Fail(SYNTAX, f"{path}.{key}: unknown element (expected "
                            + ", ".join(STATEMENT_ELEMENTS) + ")")
        for a, b in (("Resource", "NotResource"), ("Action", "NotAction"),
                     ("Principal", "NotPrincipal")):
            if a in st and b in st:
                raise _Fail(SYNTAX, f"{path}: has both {a} and {b}")
        if "Effect" not in st:
            raise _Fail(SYNTAX, f'{path}: missing Effect ("Allow" or "Deny")')
        effect = st["Effect"]
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            raise _Fail(SYNTAX, f'{path}.Effect: {json.dumps(effect)} is not "Allow" or "Deny"')
        for el in ("Action", "NotAction", "Resource", "NotResource"):
            if el not in st:
                continue
            value = st[el]
            if isinstance(value, list):
                for j, item in enumerate(value):
                    if item is not None and not isinstance(item, str):
                        raise _Fail(SYNTAX, f"{path}.{el}[{j}]: must be a string, not "
                                    f"{json.dumps(item)}")
            elif not isinstance(value, str):
                raise _Fail(SYNTAX, f"{path}.{el}: must be a string or a list of strings")
        if "Sid" in st and not isinstance(st["Sid"], str):
            raise _Fail(SYNTAX, f"{path}.Sid: must be a string")
        if "Condition" in st:
            _condition_syntax(st["Condition"], f"{path}.Condition")
        out.append((i, st))
    return out


def condition_operator_known(operator: str) -> bool:
    """Whether IAM knows ``operator`` once ``ForAnyValue:``/``ForAllValues:`` and
    ``IfExists`` are taken off (one of each, prefix first)."""
    base = operator
    for prefix in SET_QUALIFIERS:
        if base.startswith(prefix):
            base = base[len(prefix):]
            break
    if base.endswith("IfExists"):
        base = base[: -len("IfExists")]
    return base in CONDITION_OPERATORS


def _condition_syntax(block: Any, path: str) -> None:
    if not isinstance(block, dict):
        raise _Fail(SYNTAX, f"{path}: must be an object mapping operators to {{key: values}}")
    for op, keys in block.items():
        where = f"{path}.{op}"
        if not isinstance(keys, dict):
            raise _Fail(SYNTAX, f"{where}: must be an object mapping condition keys to values")
        for key, values in keys.items():
            items = values if isinstance(values, list) else [values]
            for j, v in enumerate(items):
                if v is None or isinstance(v, dict | list):
                    at = f"{where}.{key}[{j}]" if isinstance(values, list) else f"{where}.{key}"
                    raise _Fail(SYNTAX, f"{at}: condition values are strings, numbers or "
                                f"booleans, not {json.dumps(v)}")
        if keys and not condition_operator_known(op):
            hint = difflib.get_close_matches(op, sorted(CONDITION_OPERATORS), n=1)
            extra = f" (did you mean {hint[0]}?)" if hint else ""
            raise _Fail(SYNTAX, f"{where}: unknown condition operator{extra}")


def _legacy(statements: list[tuple[int, dict[str, Any]]]) -> None:
    """IAM's "legacy parsing": the exact Effect spelling and date condition values."""
    for i, st in statements:
        if st["Effect"] not in EFFECTS:
            raise _Fail(LEGACY, f'Statement[{i}].Effect: {json.dumps(st["Effect"])} must be '
                        'spelt "Allow" or "Deny" exactly')
        for op, keys in (st.get("Condition") or {}).items():
            if not _date_operator(op):
                continue
            for key, values in keys.items():
                for j, v in enumerate(values if isinstance(values, list) else [values]):
                    if not isinstance(v, str):
                        continue
                    try:
                        legacy_epoch(v)
                    except ValueError as exc:
                        at = (f"Statement[{i}].Condition.{op}.{key}"
                              + (f"[{j}]" if isinstance(values, list) else ""))
                        raise _Fail(LEGACY, f"{at}: {exc}") from None


def _date_operator(op: str) -> bool:
    base = op
    for prefix in SET_QUALIFIERS:
        if base.startswith(prefix):
            base = base[len(prefix):]
            break
    return base.startswith("Date")


def _items(st: dict[str, Any], el: str, path: str) -> Iterator[tuple[str, str]]:
    """(path, value) of each non-null string of an element that may be a string or a list."""
    value = st.get(el)
    if value is None:
        return
    if isinstance(value, str):
        yield path, value
        return
    for j, item in enumerate(value):
        if item is not None:
            yield f"{path}[{j}]", item


def _present(st: dict[str, Any], a: str, b: str) -> bool:
    el = a if a in st else b if b in st else None
    if el is None:
        return False
    value = st[el]
    return not (isinstance(value, list) and not value)


def _resource_formats(statements: list[tuple[int, dict[str, Any]]]) -> _Fail | None:
    """The first resource-format problem (reported after the Sid and Action checks); a
    malformed ARN that IAM's older parser catches first fails at once ("legacy parsing")."""
    found: _Fail | None = None
    for i, st in statements:
        for el in ("Resource", "NotResource"):
            if el not in st:
                continue
            for where, resource in _items(st, el, f"Statement[{i}].{el}"):
                problem = resource_problem(resource)
                if problem is not None and found is None:
                    found = _Fail(problem[0], f"{where}: {json.dumps(resource)} {problem[1]}")
            if found is None:
                for where, resource in _items(st, el, f"Statement[{i}].{el}"):
                    why = _legacy_resource(resource)
                    if why is not None:
                        raise _Fail(LEGACY, f"{where}: {json.dumps(resource)} {why}")
    return found


def _legacy_resource(resource: str) -> str | None:
    if resource == "*":
        return None
    if resource.count(":") < 5 and "::" in resource:
        return "has an empty ARN field but fewer than six fields (arn:partition:service:" \
               "region:account:resource)"
    fields = resource.split(":")
    if len(fields) > 2 and fields[2] == "":
        return "has an empty service field"
    return None


def resource_problem(resource: str) -> tuple[str, str] | None:
    """IAM's message and our explanation when ``resource`` is not a valid Resource value."""
    if resource == "*":
        return None
    _, colon, rest = resource.partition(":")
    if not colon:
        return NOT_ARN.format(resource=resource), 'is neither "*" nor an ARN'
    partition, colon, rest = rest.partition(":")
    if partition != "*" and partition not in partitions():
        fields = rest.split(":")
        shown = [fields[0] if fields[0] != "" or len(fields) > 1 else "*"]
        shown += [fields[k] if len(fields) > k else "*" for k in (1, 2)]
        shown.append(":".join(fields[3:]) if len(fields) > 3 else "*")
        arn = ":".join(["arn", partition, *shown])
        return (BAD_PARTITION.format(partition=partition, arn=arn),
                f"names partition {json.dumps(partition)}; IAM knows "
                + ", ".join(sorted(partitions())))
    if not colon:
        return UNQUALIFIED_VENDOR, "has no service field after the partition"
    service, _, rest = rest.partition(":")
    region, _, rest = rest.partition(":")
    _account, _, path = rest.partition(":")
    rules = SERVICE_ARN_RULES.get(service)
    if rules is None:
        return None
    if region and "region" in rules and not path.startswith(rules.get("region_ok", ())):
        return (rules["region"].format(resource=resource),
                f"names Region {json.dumps(region)}; {service} ARNs carry no Region")
    if "paths" in rules and path != "*" and not path.startswith(rules["paths"]):
        return (rules["path_message"].format(paths=", ".join(rules["paths"])),
                f"has resource {json.dumps(path)}, which is no {service} resource type")
    return None


def action_problem(action: str) -> tuple[str, str] | None:
    """IAM's message and our explanation when ``action`` is not a valid Action value."""
    parts = action.split(":")
    if len(parts) == 1 and parts[0] != "*":
        return NO_VENDOR, 'is neither "*" nor vendor:action (e.g. kms:Decrypt)'
    if len(parts) > 2:
        return ONE_COLON, "has more than one colon"
    vendor = parts[0]
    if vendor != "*" and not _VENDOR.match(vendor):
        return (BAD_VENDOR.format(vendor=vendor),
                "has a service prefix with characters other than letters, digits, - and .")
    return None


def _sids(statements: list[tuple[int, dict[str, Any]]]) -> None:
    """Sids unique within the policy. (The Sid page says IAM's Sids are letters and digits,
    but IAM takes others, such as ``_``, so characters are not checked.)"""
    seen: dict[str, int] = {}
    for i, st in statements:
        sid = st.get("Sid")
        if not sid:
            continue
        if sid in seen:
            raise _Fail(DUPLICATE_SID, f"Statement[{i}].Sid: {json.dumps(sid)} is also "
                        f"Statement[{seen[sid]}]'s Sid")
        seen[sid] = i


def _trust(statements: list[tuple[int, dict[str, Any]]]) -> None:
    """A role trust policy: STS actions on the role, no Resource, a principal per statement."""
    from fnmatch import fnmatchcase

    allowed = [a.lower() for a in TRUST_POLICY_ACTIONS]
    for i, st in statements:
        if "Action" not in st:
            raise _Fail(TRUST_ACTIONS, f"Statement[{i}]: a trust policy names its actions with "
                        "Action (NotAction is not taken)")
        for where, action in _items(st, "Action", f"Statement[{i}].Action"):
            if not any(fnmatchcase(a, action.lower()) for a in allowed):
                raise _Fail(TRUST_ACTIONS, f"{where}: {json.dumps(action)} is not an action on "
                            "a role (" + ", ".join(TRUST_POLICY_ACTIONS) + ")")
    for i, st in statements:
        for el in ("Resource", "NotResource"):
            if el in st:
                raise _Fail(TRUST_RESOURCE, f"Statement[{i}].{el}: a trust policy's resource "
                            "is the role itself; it takes no Resource element")
    for i, st in statements:
        if "Principal" not in st and "NotPrincipal" not in st:
            raise _Fail(TRUST_NO_PRINCIPAL, f"Statement[{i}]: a trust policy statement names "
                        "who may assume the role in Principal")


def principal_message(service: str, kind: str, raw: Any, path: str) -> str:
    """AWS's message for an invalid principal at ``path`` (``.AWS[1]``) of element ``raw``."""
    if service == "kms":
        return KMS_INVALID_PRINCIPALS
    if raw is None:
        return TRUST_NO_PRINCIPAL if kind == "trust" else SYNTAX
    ptype, value = "", raw
    m = re.match(r"^\.([^.\[]+)(?:\[(\d+)\])?", path)
    if m and isinstance(raw, dict):
        ptype = m.group(1)
        value = raw.get(ptype)
        if m.group(2) is not None and isinstance(value, list):
            value = value[int(m.group(2))]
    if not ptype:
        return TRUST_BAD_PRINCIPAL.split(":", 1)[0]  # "Invalid principal in policy"
    if not isinstance(value, str):
        value = json.dumps(value)
    return TRUST_BAD_PRINCIPAL.format(type=ptype, value=value)
