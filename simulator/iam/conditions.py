"""Condition operators: parsing policy values once, testing requests fast, explaining results.

Semantics (AWS IAM):
- several values for one key OR together; for a negated operator (``...Not...``,
  ``NotIpAddress``) they NOR together: the request value must match none of them;
- a key absent from the request: a non-negated operator is false, a negated one true,
  ``...IfExists`` true; ``ForAllValues:`` true; ``ForAnyValue:`` false; ``Null`` tests presence;
- a request key with several values and no set qualifier: a non-negated operator holds when any
  value matches, a negated one when no value matches;
- ``ForAllValues:`` every request value must satisfy the operator (true when there is none);
  ``ForAnyValue:`` at least one must;
- a request value that cannot be read as the operator's type (a number, a date, ...) satisfies
  neither the operator nor its negation;
- policy values with variables whose key the request lacks are dropped; with no value left the
  condition is false.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.iam import values as V
from simulator.iam.variables import Template, VariableError, parse_template
from simulator.iam.wildcard import arn_body, compile_alternatives, glob_body

if TYPE_CHECKING:
    from simulator.iam.request import RequestContext

# family, negated, comparison
_STRING = "String"
_NUMERIC = "Numeric"
_DATE = "Date"
_BOOL = "Bool"
_BINARY = "Binary"
_IP = "Ip"
_ARN = "Arn"
_NULL = "Null"

_CMP_WORDS = {
    "Equals": "==", "NotEquals": "!=", "LessThan": "<", "LessThanEquals": "<=",
    "GreaterThan": ">", "GreaterThanEquals": ">=",
}
_CMP_FUNCS: dict[str, Callable[[float, float], bool]] = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a == b,  # negated: the match is equality, negation applied after
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

OPERATORS: dict[str, tuple[str, bool, str]] = {
    "StringEquals": (_STRING, False, "eq"),
    "StringNotEquals": (_STRING, True, "eq"),
    "StringEqualsIgnoreCase": (_STRING, False, "eqi"),
    "StringNotEqualsIgnoreCase": (_STRING, True, "eqi"),
    "StringLike": (_STRING, False, "like"),
    "StringNotLike": (_STRING, True, "like"),
    "Bool": (_BOOL, False, "eq"),
    "BinaryEquals": (_BINARY, False, "eq"),
    "IpAddress": (_IP, False, "in"),
    "NotIpAddress": (_IP, True, "in"),
    "ArnEquals": (_ARN, False, "like"),
    "ArnLike": (_ARN, False, "like"),
    "ArnNotEquals": (_ARN, True, "like"),
    "ArnNotLike": (_ARN, True, "like"),
    "Null": (_NULL, False, "null"),
}
for _cmp in _CMP_WORDS:
    OPERATORS[f"Numeric{_cmp}"] = (_NUMERIC, _cmp == "NotEquals", _cmp)
    OPERATORS[f"Date{_cmp}"] = (_DATE, _cmp == "NotEquals", _cmp)

QUALIFIERS = ("ForAllValues", "ForAnyValue")
_NONE, _ALL, _ANY = 0, 1, 2


class ConditionError(ValueError):
    """A malformed condition; ``path`` is relative to the operator (``""`` or ``.key[2]``)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def split_operator(name: str) -> tuple[int, str, bool]:
    """``ForAllValues:StringEqualsIfExists`` -> (qualifier, base operator, if_exists)."""
    qualifier = _NONE
    base = name
    if ":" in name:
        prefix, base = name.split(":", 1)
        if prefix == "ForAllValues":
            qualifier = _ALL
        elif prefix == "ForAnyValue":
            qualifier = _ANY
        else:
            raise ConditionError(
                f"unknown set qualifier {prefix!r} (expected ForAllValues or ForAnyValue)"
            )
    if_exists = False
    if base.endswith("IfExists") and base[: -len("IfExists")] in OPERATORS:
        base = base[: -len("IfExists")]
        if_exists = True
    if base not in OPERATORS:
        hint = difflib.get_close_matches(base, list(OPERATORS), n=1)
        extra = f" (did you mean {hint[0]}?)" if hint else ""
        raise ConditionError(f"unknown operator{extra}")
    if if_exists and base == "Null":
        raise ConditionError("Null cannot take IfExists (it already tests whether the key exists)")
    return qualifier, base, if_exists


def _as_list(raw: Any) -> list[Any]:
    if isinstance(raw, list):
        return raw
    return [raw]


class Condition:
    """One operator applied to one key with its policy values."""

    __slots__ = (
        "_like_re",
        "_plain_eq",
        "_static",
        "base",
        "cmp",
        "family",
        "if_exists",
        "key",
        "key_l",
        "negated",
        "operator",
        "qualifier",
        "raw_values",
        "templates",
    )

    def __init__(self, operator: str, key: str, raw: Any, *, variables: bool = True) -> None:
        self.operator = operator
        self.qualifier, self.base, self.if_exists = split_operator(operator)
        self.family, self.negated, self.cmp = OPERATORS[self.base]
        if not isinstance(key, str) or not key.strip():
            raise ConditionError("condition key must be a non-empty string")
        self.key = key
        self.key_l = key.lower()
        items = _as_list(raw)
        for i, item in enumerate(items):
            if item is None or isinstance(item, dict | list):
                where = f"[{i}]" if isinstance(raw, list) else ""
                raise ConditionError(
                    "condition values must be strings, numbers or booleans", where
                )
        self.raw_values = tuple(items)
        self.templates: tuple[Template, ...] = ()
        self._like_re: re.Pattern[str] | None = None
        self._static = self._prepare(items, raw, variables)
        #: StringEquals of plain strings (no variables, not negated): the common key-policy
        #: test, answered directly for text values (``test``).
        self._plain_eq = (self.family == _STRING and self.cmp == "eq" and not self.negated
                          and not self.templates and bool(self._static))

    # -- preparation -----------------------------------------------------------------------
    def _prepare(self, items: list[Any], raw: Any, variables: bool) -> Any:
        family = self.family

        def fail(i: int, reason: str) -> ConditionError:
            return ConditionError(reason, f"[{i}]" if isinstance(raw, list) else "")

        if family in (_STRING, _ARN):
            strings = [V.to_string(v) for v in items]
            templates = []
            plain = []
            for i, s in enumerate(strings):
                t = None
                if variables:
                    try:
                        t = parse_template(s)
                    except VariableError as exc:
                        raise fail(i, str(exc)) from None
                if t is None:
                    plain.append(s)
                else:
                    templates.append(t)
            self.templates = tuple(templates)
            if self.cmp == "eq":
                return frozenset(plain)
            if self.cmp == "eqi":
                return frozenset(s.lower() for s in plain)
            # like / arn
            body = arn_body if family == _ARN else glob_body
            self._like_re = compile_alternatives([body(s) for s in plain])
            return tuple(plain)
        if family == _NUMERIC:
            out = []
            for i, v in enumerate(items):
                try:
                    out.append(V.to_number(v))
                except ValueError as exc:
                    raise fail(i, f"{self.base} needs numbers: {exc}") from None
            return tuple(out)
        if family == _DATE:
            out = []
            for i, v in enumerate(items):
                try:
                    out.append(V.to_epoch(v))
                except ValueError as exc:
                    raise fail(i, f"{self.base} needs dates: {exc}") from None
            return tuple(out)
        if family in (_BOOL, _NULL):
            out_b = []
            for i, v in enumerate(items):
                try:
                    out_b.append(V.to_bool(v))
                except ValueError:
                    msg = f'{self.base} needs "true" or "false", got {V.show(v)}'
                    raise fail(i, msg) from None
            return frozenset(out_b)
        if family == _BINARY:
            out_y = []
            for i, v in enumerate(items):
                try:
                    out_y.append(V.to_bytes(v))
                except ValueError:
                    raise fail(i, f"BinaryEquals needs base64 values, got {V.show(v)}") from None
            return frozenset(out_y)
        if family == _IP:
            out_n = []
            for i, v in enumerate(items):
                try:
                    out_n.append(V.to_network(v))
                except ValueError as exc:
                    raise fail(i, f"{self.base} needs CIDR blocks: {exc}") from None
            return tuple(out_n)
        raise AssertionError(family)  # pragma: no cover

    # -- evaluation ------------------------------------------------------------------------
    def _resolved(self, request: RequestContext) -> tuple[Any, re.Pattern[str] | None]:
        """The policy values for this request (variables substituted) and the like-regex."""
        if not self.templates:
            return self._static, self._like_re
        extra = []
        for t in self.templates:
            chunks = t.resolve(request)
            if chunks is not None:
                extra.append(chunks)
        if self.cmp in ("eq", "eqi"):
            texts = ["".join(c for c, _ in ch) for ch in extra]
            if self.cmp == "eqi":
                texts = [t.lower() for t in texts]
            return self._static | frozenset(texts), None
        bodies = [
            (arn_body if self.family == _ARN else glob_body)(s) for s in self._static
        ]
        texts = []
        for ch in extra:
            bodies.append(_chunks_body(ch, arn=self.family == _ARN))
            texts.append("".join(c for c, _ in ch))
        return tuple(self._static) + tuple(texts), compile_alternatives(bodies)

    def _match(self, value: Any, policy: Any, like: re.Pattern[str] | None) -> bool | None:
        """Does one request value match any policy value (before negation)? None: unreadable."""
        family = self.family
        try:
            if family in (_STRING, _ARN):
                s = value if type(value) is str else V.to_string(value)
                cmp = self.cmp
                if cmp == "eq":
                    return s in policy
                if cmp == "eqi":
                    return s.lower() in policy
                return like is not None and like.fullmatch(s) is not None
            if family == _NUMERIC:
                n = V.to_number(value)
                f = _CMP_FUNCS[self.cmp]
                return any(f(n, p) for p in policy)
            if family == _DATE:
                d = V.to_epoch(value)
                f = _CMP_FUNCS[self.cmp]
                return any(f(d, p) for p in policy)
            if family == _BOOL:
                return V.to_bool(value) in policy
            if family == _BINARY:
                return V.to_bytes(value, strict=False) in policy
            if family == _IP:
                addr = V.to_address(value)
                return any(addr.version == net.version and addr in net for net in policy)
        except ValueError:
            return None
        raise AssertionError(family)  # pragma: no cover

    def test(self, request: RequestContext) -> bool:
        values = request.lookup(self.key_l)
        if self._plain_eq and values:
            # The general path below for text values, without its per-value calls; any other
            # value (a number, a bool) takes the general path.
            static = self._static
            if self.qualifier == _ALL:
                for v in values:
                    if v.__class__ is not str:
                        break
                    if v not in static:
                        return False
                else:
                    return True
            else:
                for v in values:
                    if v.__class__ is not str:
                        break
                    if v in static:
                        return True
                else:
                    return False
        if self.family == _NULL:
            absent = values is None or len(values) == 0
            return absent in self._static
        if not values:
            if self.qualifier == _ALL:
                return True
            if self.qualifier == _ANY:
                return False
            return self.if_exists or self.negated
        policy, like = self._resolved(request)
        if not policy:
            return False
        match = self._match
        if self.negated:
            if self.qualifier == _ANY:
                return any(match(v, policy, like) is False for v in values)
            return all(match(v, policy, like) is False for v in values)
        if self.qualifier == _ALL:
            return all(match(v, policy, like) is True for v in values)
        return any(match(v, policy, like) is True for v in values)

    # -- explanation -----------------------------------------------------------------------
    def missing_keys(self, request: RequestContext) -> list[str]:
        """Keys this condition tests (or substitutes) that the request does not carry."""
        out = []
        if request.lookup(self.key_l) is None:
            out.append(self.key)
        for t in self.templates:
            out.extend(t.missing_keys(request))
        return out

    def _wants(self, policy_values: Any) -> str:
        shown = V.show_list(policy_values)
        base, fam = self.base, self.family
        if fam == _STRING:
            if self.cmp == "like":
                what = (
                    f"no match for any of {shown}" if self.negated
                    else f"a match for one of {shown}"
                )
            else:
                what = f"none of {shown}" if self.negated else f"one of {shown}"
                if self.cmp == "eqi":
                    what += " (ignoring case)"
        elif fam == _ARN:
            what = f"an ARN matching {'none' if self.negated else 'one'} of {shown}"
        elif fam in (_NUMERIC, _DATE):
            noun = "a number" if fam == _NUMERIC else "a date"
            if self.negated:
                what = f"{noun} equal to none of {shown}"
            else:
                what = f"{noun} {_CMP_WORDS[self.cmp]} one of {shown}"
        elif fam == _BOOL:
            what = f"one of {shown}"
        elif fam == _BINARY:
            what = f"bytes equal to one of {shown}"
        elif fam == _IP:
            what = f"an address in {'none' if self.negated else 'one'} of {shown}"
        else:  # pragma: no cover
            what = f"{base} {shown}"
        if self.qualifier == _ALL:
            return "every value to be " + what
        if self.qualifier == _ANY:
            return "at least one value to be " + what
        return what

    def explain(self, request: RequestContext) -> str:
        """One line: what the request has, what the policy wants, and the result."""
        result = self.test(request)
        head = f"{self.operator} {self.key}: "
        tail = f" -> {'true' if result else 'false'}"
        values = request.lookup(self.key_l)
        if self.family == _NULL:
            present = bool(values)
            has = (
                f"request has {_show_request(values)}" if present
                else "key is absent from the request"
            )
            want = " or ".join(
                "absent (true)" if b else "present (false)"
                for b in sorted(self._static, reverse=True)
            )
            return f"{head}{has}, policy wants the key {want}{tail}"
        shown_policy = list(self.raw_values)
        notes = []
        if self.templates:
            policy, _ = self._resolved(request)
            resolved = []
            for t in self.templates:
                text = t.resolve_text(request)
                if text is None:
                    missing = ", ".join(t.missing_keys(request)) or "a multi-valued key"
                    notes.append(
                        f"policy value {V.show(t.source)} dropped: {missing} not in the request"
                    )
                else:
                    resolved.append((t.source, text))
            shown_policy = [v for v in shown_policy if not (isinstance(v, str) and "${" in v)]
            shown_policy += [text for _, text in resolved]
        if not values:
            if self.qualifier == _ALL:
                why = "ForAllValues holds for an absent or empty key"
            elif self.qualifier == _ANY:
                why = "ForAnyValue fails for an absent or empty key"
            elif self.if_exists:
                why = "IfExists skips an absent key"
            elif self.negated:
                why = "a negated operator holds for an absent key"
            else:
                why = (
                    "a non-negated operator fails for an absent key; "
                    "add IfExists to make it optional"
                )
            wants = self._wants(shown_policy)
            line = f"{head}key is absent from the request ({why}), policy wants {wants}{tail}"
        else:
            wants = self._wants(shown_policy)
            line = f"{head}request has {_show_request(values)}, policy wants {wants}{tail}"
            policy, like = self._resolved(request)
            unreadable = (
                [v for v in values if self._match(v, policy, like) is None] if policy else []
            )
            if unreadable:
                notes.append(f"unreadable as {self.family.lower()}: {V.show_list(unreadable)}")
            if not result and policy and len(values) > 1:
                if self.negated:
                    bad = [v for v in values if self._match(v, policy, like) is True]
                    if bad:
                        notes.append(f"matching: {V.show_list(bad)}")
                elif self.qualifier == _ALL:
                    bad = [v for v in values if self._match(v, policy, like) is not True]
                    if bad:
                        notes.append(f"not allowed: {V.show_list(bad)}")
            if not policy:
                notes.append("no policy value left to compare")
        if notes:
            line += " (" + "; ".join(notes) + ")"
        return line

    def __repr__(self) -> str:
        return f"Condition({self.operator!r}, {self.key!r}, {list(self.raw_values)!r})"


def _show_request(values: Any) -> str:
    if values is None:
        return "nothing"
    if len(values) == 1:
        return V.show(values[0])
    return V.show_list(values)


def _chunks_body(chunks: tuple[tuple[str, bool], ...], *, arn: bool) -> str:
    """A regex body for resolved template chunks; only literal policy text keeps wildcards."""
    return chunks_regex(chunks, arn=arn)


def chunks_regex(
    chunks: tuple[tuple[str, bool], ...], *, arn: bool, resource: bool = False
) -> str:
    """Regex body for resolved template chunks; only literal policy text keeps wildcards.

    ``arn``: ARN segments are matched separately; ``resource``: as the Resource element
    does, where a ``*`` ending a segment may cross the colon.
    """
    chars: list[tuple[str, bool]] = []
    for text, wild in chunks:
        chars.extend((c, wild) for c in text)
    whole = "".join(c for c, _ in chars)
    segmented = arn and whole.startswith("arn:")
    out = []
    colons = 0
    for i, (c, wild) in enumerate(chars):
        in_head = segmented and colons < 5
        if c == ":" and segmented:
            colons += 1
        if wild and c == "*":
            ends_segment = i + 1 == len(chars) or chars[i + 1][0] == ":"
            out.append("[^:]*" if in_head and not (resource and ends_segment) else ".*")
        elif wild and c == "?":
            out.append("[^:]" if in_head else ".")
        else:
            out.append(re.escape(c))
    return "".join(out)


def parse_block(block: Any, *, variables: bool) -> tuple[Condition, ...]:
    """Parse a statement's Condition element. Raises ConditionError with a relative path."""
    if not isinstance(block, dict):
        raise ConditionError("must be an object mapping operators to {key: values}")
    out = []
    for op, keys in block.items():
        if isinstance(keys, dict) and not keys:
            # IAM takes an empty block under any operator, even one it does not know; it
            # tests nothing.
            continue
        try:
            split_operator(op)
        except ConditionError as exc:
            raise ConditionError(str(exc), f".{op}") from None
        if not isinstance(keys, dict):
            raise ConditionError("must be an object mapping condition keys to values", f".{op}")
        for key, raw in keys.items():
            # An empty value list is accepted (IAM does): the condition has no value to
            # match, so it holds only where an absent key makes it hold.
            try:
                out.append(Condition(op, key, raw, variables=variables))
            except ConditionError as exc:
                raise ConditionError(str(exc), f".{op}.{key}{exc.path}") from None
    return tuple(out)
