"""Policy documents: parse, validate as the owning service does, compile, evaluate.

``PolicyDocument.parse(text_or_dict, kind="identity"|"resource"|"trust", name=None,
service="iam"|"kms")``. Validation is ``simulator.iam.validation``'s: a malformed document
raises the service's MalformedPolicyDocument error with AWS's message and, as
``.explanation``, the path to the bad element and why. Identity policies may not have
Principal/NotPrincipal; resource policies (KMS key policies) must. ``lenient=True``, used for
KMS key policies, accepts a statement without Action or Resource as ineffective, as KMS does.
Variables (``${...}``) are honoured with ``"Version": "2012-10-17"`` only.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping
from typing import Any

from simulator.iam import validation
from simulator.iam.conditions import Condition, ConditionError, chunks_regex, parse_block
from simulator.iam.principal_element import ACCOUNT, DIRECT, PrincipalError, PrincipalSpec
from simulator.iam.request import RequestContext
from simulator.iam.results import PolicyResult, StatementMatch
from simulator.iam.values import show
from simulator.iam.variables import Template, VariableError, parse_template
from simulator.iam.wildcard import compile_alternatives, glob_body, resource_body

VERSIONS = validation.VERSIONS
#: identity: attached to a user or role (no Principal); resource: a resource's policy such as
#: a KMS key policy (Principal required); trust: a role's assume-role policy (Principal
#: required, no Resource).
KINDS = ("identity", "resource", "trust")
TOP_LEVEL = validation.TOP_LEVEL
STATEMENT_ELEMENTS = validation.STATEMENT_ELEMENTS
_CACHE_LIMIT = 2048
_LAZY = False  # a regex not compiled yet (a singleton, so statements pickle)


class PolicyElementError(ValueError):
    """A document the engine cannot compile: the element's path and why (and, for a bad
    principal, the Principal element itself, for the service's message)."""

    def __init__(self, path: str, reason: str, principal: Any = None,
                 principal_path: str | None = None) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.explanation = str(self)
        self.principal = principal
        #: None unless the problem is the statement's principal ("" for a missing one)
        self.principal_path = principal_path


def _malformed(path: str, message: str) -> PolicyElementError:
    return PolicyElementError(path, message)


def _string_list(raw: Any, path: str) -> list[str]:
    """A string-or-list element's strings; JSON nulls in a list are skipped, as IAM does."""
    items = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, list) and not raw:
        raise _malformed(path, "must not be an empty list")
    out = []
    for i, item in enumerate(items):
        if item is None and isinstance(raw, list):
            continue
        if not isinstance(item, str):
            where = f"{path}[{i}]" if isinstance(raw, list) else path
            raise _malformed(where, f"must be a string or a list of strings, not {show(item)}")
        out.append(item)
    return out


class Statement:
    """One parsed statement, compiled for fast matching."""

    __slots__ = (
        "_action_cache",
        "_action_re",
        "_plain_resources",
        "_resource_cache",
        "_resource_re",
        "_resource_templates",
        "actions",
        "conditions",
        "effect",
        "index",
        "is_allow",
        "not_action",
        "not_principal",
        "not_resource",
        "position",
        "principal",
        "raw",
        "resource_any",
        "resources",
        "sid",
    )

    def __init__(
        self, raw: Any, index: int, kind: str, variables: bool, lenient: bool = False,
        service: str = "iam",
    ) -> None:
        path = f"Statement[{index}]"
        self.index = index
        self.raw = raw
        self.position: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
        if not isinstance(raw, dict):
            raise _malformed(path, "must be an object")
        for key in raw:
            if key not in STATEMENT_ELEMENTS:
                raise _malformed(
                    f"{path}.{key}",
                    "unknown element (expected " + ", ".join(STATEMENT_ELEMENTS) + ")",
                )
        # Sid
        sid = raw.get("Sid")
        if sid is not None and not isinstance(sid, str):
            raise _malformed(f"{path}.Sid", "must be a string")
        self.sid = sid
        # Effect
        if "Effect" not in raw:
            raise _malformed(path, 'missing Effect ("Allow" or "Deny")')
        if raw["Effect"] not in ("Allow", "Deny"):
            raise _malformed(f"{path}.Effect", 'must be "Allow" or "Deny"')
        self.effect = raw["Effect"]
        self.is_allow = self.effect == "Allow"
        # Principal
        has_p, has_np = "Principal" in raw, "NotPrincipal" in raw
        if has_p and has_np:
            raise _malformed(path, "has both Principal and NotPrincipal")
        self.principal: PrincipalSpec | None = None
        self.not_principal = has_np
        if kind == "identity":
            if has_p or has_np:
                el = "Principal" if has_p else "NotPrincipal"
                raise _malformed(f"{path}.{el}", "not allowed in an identity policy")
        else:
            if not (has_p or has_np):
                raise PolicyElementError(
                    path, "missing Principal (a resource policy statement needs Principal or "
                    "NotPrincipal)", principal_path="",
                )
            el = "Principal" if has_p else "NotPrincipal"
            try:
                self.principal = PrincipalSpec(raw[el])
            except PrincipalError as exc:
                raise PolicyElementError(
                    f"{path}.{el}{exc.path}", str(exc), raw[el], exc.path
                ) from None
        # Action
        if "Action" in raw and "NotAction" in raw:
            raise _malformed(path, "has both Action and NotAction")
        el = "NotAction" if "NotAction" in raw else "Action"
        self.not_action = el == "NotAction"
        if el in raw:
            self.actions = _string_list(raw[el], f"{path}.{el}")
        elif lenient:
            self.actions = []  # an ineffective statement: it matches no action
        else:
            raise _malformed(path, "missing Action (or NotAction)")
        for i, action in enumerate(self.actions):
            problem = validation.action_problem(action)
            if problem is not None:
                where = f"{path}.{el}[{i}]" if isinstance(raw[el], list) else f"{path}.{el}"
                raise _malformed(where, f"{show(action)} {problem[1]}")
        # Regexes are compiled on first use: a large policy is read in time linear in its
        # length, and a statement never evaluated costs no compilation.
        self._action_re: Any = _LAZY
        self._action_cache: dict[str, bool] = {}
        # Resource
        if kind == "trust":
            for el in ("Resource", "NotResource"):
                if el in raw:
                    raise _malformed(f"{path}.{el}", "not allowed in a role trust policy")
            raw = {**raw, "Resource": "*"}
        if "Resource" in raw and "NotResource" in raw:
            raise _malformed(path, "has both Resource and NotResource")
        el = "NotResource" if "NotResource" in raw else "Resource"
        self.not_resource = el == "NotResource"
        if el in raw:
            self.resources = _string_list(raw[el], f"{path}.{el}")
        elif lenient:
            self.resources = []  # an ineffective statement: it matches no resource
        else:
            raise _malformed(path, "missing Resource (or NotResource)")
        plain: list[str] = []
        templates: list[Template] = []
        for i, res in enumerate(self.resources):
            where = f"{path}.{el}[{i}]" if isinstance(raw[el], list) else f"{path}.{el}"
            # IAM's resource rules are validation's; KMS keeps the engine's plain one.
            if service == "kms" and res != "*" and not res.startswith(("arn:", "${")):
                raise _malformed(where, f'{show(res)} must be "*" or an ARN')
            t = None
            if variables:
                try:
                    t = parse_template(res)
                except VariableError as exc:
                    raise _malformed(where, str(exc)) from None
            if t is None:
                plain.append(res)
            else:
                templates.append(t)
        self.resource_any = "*" in plain and not self.not_resource
        self._plain_resources = tuple(plain)
        self._resource_re: Any = _LAZY
        self._resource_templates: tuple[Template, ...] = tuple(templates)
        self._resource_cache: dict[str, bool] = {}
        # Condition
        self.conditions: tuple[Condition, ...] = ()
        if "Condition" in raw:
            try:
                self.conditions = parse_block(raw["Condition"], variables=variables)
            except ConditionError as exc:
                raise _malformed(f"{path}.Condition{exc.path}", str(exc)) from None

    # -- matching --------------------------------------------------------------------------
    def principal_match(self, principal: Any) -> str | None:
        spec = self.principal
        if spec is None:
            return None
        if self.not_principal:
            return None if spec.excludes(principal) else DIRECT
        return spec.match(principal)

    def matches_action(self, action_l: str) -> bool:
        cache = self._action_cache
        hit = cache.get(action_l)
        if hit is None:
            regex = self._action_re
            if regex is _LAZY:
                regex = self._action_re = compile_alternatives(
                    [glob_body(a) for a in self.actions], True
                )
            hit = regex is not None and regex.fullmatch(action_l) is not None
            if self.not_action:
                hit = not hit
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            cache[action_l] = hit
        return hit

    def _resource_hit(self, request: RequestContext) -> bool:
        resource = request.resource
        cache = self._resource_cache
        hit = cache.get(resource)
        if hit is None:
            regex = self._resource_re
            if regex is _LAZY:
                regex = self._resource_re = compile_alternatives(
                    [resource_body(r) for r in self._plain_resources]
                )
            hit = regex is not None and regex.fullmatch(resource) is not None
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            cache[resource] = hit
        if not hit and self._resource_templates:
            for t in self._resource_templates:
                chunks = t.resolve(request)
                if chunks is not None and _template_re(chunks).fullmatch(resource):
                    return True
        return hit

    def matches_resource(self, request: RequestContext) -> bool:
        if self.resource_any:
            return True
        hit = self._resource_hit(request)
        return not hit if self.not_resource else hit

    def conditions_hold(self, request: RequestContext) -> bool:
        for c in self.conditions:  # noqa: SIM110 - a loop, no generator: the hot path
            if not c.test(request):
                return False
        return True

    def missing_keys(self, request: RequestContext) -> list[str]:
        out = []
        for c in self.conditions:
            out.extend(c.missing_keys(request))
        for t in self._resource_templates:
            out.extend(t.missing_keys(request))
        return out

    # -- explanation -----------------------------------------------------------------------
    def label(self, policy: PolicyDocument | None = None) -> str:
        where = f"{policy.label} " if policy is not None else ""
        sid = f" {show(self.sid)}" if self.sid else ""
        return f"{where}Statement[{self.index}]{sid} ({self.effect})"

    def explain(
        self, request: RequestContext, policy: PolicyDocument | None, principal_match: str | None
    ) -> list[str]:
        holds = self.conditions_hold(request)
        verdict = ("applies" if holds else "does not apply: a condition failed")
        lines = [f"{self.label(policy)} {verdict}"]
        if self.principal is not None:
            who = request.principal.arn if request.principal else "(no principal)"
            el = "NotPrincipal" if self.not_principal else "Principal"
            how = {
                DIRECT: "names this caller",
                ACCOUNT: "names the caller's account: the account's IAM policies must allow too",
            }.get(principal_match or "", "does not match")
            if self.not_principal:
                how = "does not list this caller, so the statement applies to it"
            lines.append(f"  principal {who}: {el} {self.principal.describe()} {how}")
        el = "NotAction" if self.not_action else "Action"
        verb = "is not in" if self.not_action else "matches"
        lines.append(f"  action {request.action} {verb} {el} {show(_one(self.actions))}")
        el = "NotResource" if self.not_resource else "Resource"
        verb = "is not in" if self.not_resource else "matches"
        lines.append(f"  resource {request.resource} {verb} {el} {show(_one(self.resources))}")
        if not self.conditions:
            lines.append("  no conditions")
        for c in self.conditions:
            lines.append("  condition " + c.explain(request))
        return lines

    def why_not(self, request: RequestContext, policy: PolicyDocument | None = None) -> str | None:
        """Why this statement does not target ``request`` (principal, action or resource), or
        None when it does (its conditions decide)."""
        head = self.label(policy)
        if self.principal is not None and self.principal_match(request.principal) is None:
            who = request.principal.arn if request.principal else "(no caller)"
            el = "NotPrincipal" if self.not_principal else "Principal"
            verb = "is excluded by" if self.not_principal else "is not named by"
            return f"{head}: caller {who} {verb} {el} {self.principal.describe()}"
        if not self.matches_action(request.action_l):
            el = "NotAction" if self.not_action else "Action"
            verb = "is excluded by" if self.not_action else "does not match"
            return f"{head}: action {request.action} {verb} {el} {show(_one(self.actions))}"
        if not self.matches_resource(request):
            el = "NotResource" if self.not_resource else "Resource"
            verb = "is excluded by" if self.not_resource else "does not match"
            extra = ""
            missing = [k for t in self._resource_templates for k in t.missing_keys(request)]
            if missing:
                extra = f" (variables without a value: {', '.join(missing)})"
            return (f"{head}: resource {request.resource} {verb} {el} "
                    f"{show(_one(self.resources))}{extra}")
        return None

    def __repr__(self) -> str:
        return f"Statement(index={self.index}, sid={self.sid!r}, effect={self.effect!r})"


def _one(items: list[str]) -> Any:
    return items[0] if len(items) == 1 else items


_TEMPLATE_RE: dict[tuple[tuple[str, bool], ...], re.Pattern[str]] = {}


def _template_re(chunks: tuple[tuple[str, bool], ...]) -> re.Pattern[str]:
    pattern = _TEMPLATE_RE.get(chunks)
    if pattern is None:
        if len(_TEMPLATE_RE) > 4 * _CACHE_LIMIT:
            _TEMPLATE_RE.clear()
        pattern = _TEMPLATE_RE[chunks] = re.compile(
            chunks_regex(chunks, arn=True, resource=True), re.DOTALL
        )
    return pattern


def _statement_spans(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) line/column (1-based) of each statement object in the JSON text."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")

    def skip(i: int) -> int:
        return ws.match(text, i).end()  # type: ignore[union-attr]

    # Offsets of the newlines, once: each lookup is then a bisection, not a count from the
    # start (which made a policy of n statements cost n**2).
    newlines = [m.start() for m in re.finditer("\n", text)]

    def linecol(offset: int) -> tuple[int, int]:
        before = bisect.bisect_left(newlines, offset)
        start = newlines[before - 1] + 1 if before else 0
        return before + 1, offset - start + 1

    spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
    try:
        i = skip(0)
        if text[i] != "{":
            return spans
        i = skip(i + 1)
        while i < len(text) and text[i] != "}":
            key, i = decoder.raw_decode(text, i)
            i = skip(i)
            i = skip(i + 1)  # ':'
            if key == "Statement" and text[i] == "[":
                i = skip(i + 1)
                while text[i] != "]":
                    _, end = decoder.raw_decode(text, i)
                    spans.append((linecol(i), linecol(end)))
                    i = skip(end)
                    if text[i] == ",":
                        i = skip(i + 1)
                i += 1
            else:
                start = i
                _, i = decoder.raw_decode(text, i)
                if key == "Statement":
                    spans.append((linecol(start), linecol(i)))
            i = skip(i)
            if text[i] == ",":
                i = skip(i + 1)
    except (ValueError, IndexError):
        return spans
    return spans


class PolicyDocument:
    """A parsed, validated policy. ``kind`` is "identity" or "resource"."""

    __slots__ = (
        "_by_action",
        "has_principals",
        "id",
        "kind",
        "name",
        "raw",
        "service",
        "source_type",
        "statements",
        "text",
        "version",
    )

    def __init__(
        self,
        raw: dict[str, Any],
        *,
        kind: str,
        name: str | None,
        text: str,
        source_type: str | None = None,
        lenient: bool = False,
        service: str = "iam",
    ) -> None:
        self.raw = raw
        self.kind = kind
        self.name = name
        self.text = text
        self.service = service
        self.source_type = source_type or ("none" if kind == "identity" else "resource")
        validation.check(raw, kind, service)
        try:
            self._compile(raw, kind, text, lenient, service)
        except PolicyElementError as exc:
            message = validation.fallback_message(service)
            if exc.principal_path is not None:
                message = validation.principal_message(
                    service, kind, exc.principal, exc.principal_path
                )
            raise validation.malformed(service, message, exc.explanation) from None

    def _compile(
        self, raw: dict[str, Any], kind: str, text: str, lenient: bool, service: str
    ) -> None:
        for key in raw:
            if key not in TOP_LEVEL:
                raise _malformed(key, "unknown top-level element (expected Version, Id, Statement)")
        version = raw.get("Version", "2008-10-17")
        if version not in VERSIONS:
            raise _malformed("Version", 'must be "2012-10-17" or "2008-10-17"')
        self.version = version
        pid = raw.get("Id")
        if pid is not None and not isinstance(pid, str):
            raise _malformed("Id", "must be a string")
        self.id = pid
        if "Statement" not in raw:
            raise _malformed("", "missing Statement")
        stmts = raw["Statement"]
        if isinstance(stmts, dict):
            stmts = [stmts]
        elif not isinstance(stmts, list):
            raise _malformed("Statement", "must be an object or a list of objects")
        variables = version == "2012-10-17"
        self.statements: tuple[Statement, ...] = tuple(
            Statement(s, i, kind, variables, lenient, service) for i, s in enumerate(stmts)
        )
        spans = _statement_spans(text)
        if len(spans) == len(self.statements):
            for st, span in zip(self.statements, spans, strict=True):
                st.position = span
        self.has_principals = kind != "identity"
        #: The statements whose Action/NotAction matches, by lower-cased action (the document
        #: never changes once parsed, so this is computed once per action).
        self._by_action: dict[str, tuple[Statement, ...]] = {}

    def __setstate__(self, state: Any) -> None:
        """Restore a pickled document (one pickled before ``_by_action`` existed too)."""
        self._by_action = {}
        slots = state[1] if isinstance(state, tuple) else state
        for name, value in (slots or {}).items():
            setattr(self, name, value)

    @classmethod
    def parse(
        cls,
        document: str | bytes | Mapping[str, Any] | PolicyDocument,
        kind: str = "identity",
        name: str | None = None,
        *,
        source_type: str | None = None,
        lenient: bool = False,
        service: str = "iam",
    ) -> PolicyDocument:
        """Parse and validate a policy as ``service`` ("iam" or "kms") does; raise its
        MalformedPolicyDocument error (AWS's message; the path and why in ``.explanation``).

        ``lenient=True`` accepts statements without Action or Resource as ineffective (they
        match nothing), as KMS does for key policies: "If either of the required Resource or
        Action elements are missing from a key policy statement, the policy statement has no
        effect ... the PutKeyPolicy API request succeeds".
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be 'identity', 'resource' or 'trust', not {kind!r}")
        if isinstance(document, PolicyDocument):
            return cls(document.raw, kind=kind, name=name or document.name,
                       text=document.text, source_type=source_type, lenient=lenient,
                       service=service)
        if isinstance(document, bytes):
            try:
                document = document.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise validation.malformed(
                    service, validation.fallback_message(service), f"not UTF-8 text: {exc}"
                ) from None
        if isinstance(document, str):
            text = document
            raw = validation.loads(text, service)
        elif isinstance(document, Mapping):
            raw = _plain(document)
            text = json.dumps(raw, indent=2)
        else:
            raise validation.malformed(
                service, validation.fallback_message(service),
                f"a policy must be JSON text or an object, not {type(document).__name__}",
            )
        return cls(raw, kind=kind, name=name, text=text, source_type=source_type,
                   lenient=lenient, service=service)

    @property
    def label(self) -> str:
        return self.name or {"identity": "policy", "resource": "resource policy"}.get(
            self.kind, "trust policy"
        )

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.raw, indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.raw))

    @property
    def condition_keys(self) -> list[str]:
        """Every condition key and variable key the policy uses (for GetContextKeysForPolicy)."""
        keys: dict[str, str] = {}
        for st in self.statements:
            for c in st.conditions:
                keys.setdefault(c.key_l, c.key)
                for t in c.templates:
                    for k in t.keys:
                        keys.setdefault(k.lower(), k)
            for t in st._resource_templates:
                for k in t.keys:
                    keys.setdefault(k.lower(), k)
        return sorted(keys.values(), key=str.lower)

    def evaluate(self, request: RequestContext) -> PolicyResult:
        """Which statements allow or deny ``request`` (and which almost applied)."""
        allows: list[StatementMatch] = []
        denies: list[StatementMatch] = []
        near: list[StatementMatch] = []
        action_l = request.action_l
        principal = request.principal
        resource_kind = self.has_principals
        candidates = self._by_action.get(action_l)
        if candidates is None:
            if len(self._by_action) > _CACHE_LIMIT:
                self._by_action.clear()
            candidates = self._by_action[action_l] = tuple(
                st for st in self.statements if st.matches_action(action_l))
        for st in candidates:
            pm = None
            if resource_kind:
                pm = st.principal_match(principal)
                if pm is None:
                    continue
            if not st.resource_any and not st.matches_resource(request):
                continue
            match = StatementMatch(self, st, request, pm)
            if st.conditions and not st.conditions_hold(request):
                near.append(match)
            elif st.is_allow:
                allows.append(match)
            else:
                denies.append(match)
        return PolicyResult(self, request, allows, denies, near)

    def not_principal_denies(self, request: RequestContext) -> list[StatementMatch]:
        """Deny statements with NotPrincipal that exempt the caller but otherwise apply.

        IAM: "The NotPrincipal element with a Deny effect will always deny any IAM principal
        that has a permissions boundary policy attached, regardless of the values specified in
        the NotPrincipal element." The evaluation adds these for such callers.
        """
        out = []
        for st in self.statements:
            if not (st.not_principal and not st.is_allow):
                continue
            if st.principal_match(request.principal) is not None:
                continue  # already applies through the normal path
            if not st.matches_action(request.action_l) or not st.matches_resource(request):
                continue
            if st.conditions_hold(request):
                out.append(StatementMatch(self, st, request, None))
        return out

    def __repr__(self) -> str:
        n = len(self.statements)
        return f"PolicyDocument({self.name!r}, kind={self.kind!r}, statements={n})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicyDocument):
            return NotImplemented
        return (self.raw, self.kind) == (other.raw, other.kind)

    def __hash__(self) -> int:
        return hash(self.to_json())


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
