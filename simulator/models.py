"""botocore's service models: the reference for every request and response shape.

The simulator validates requests with botocore's ``ParamValidator`` plus the server-side
constraints (ranges, lengths, enums) the model declares, and can check every response
against the operation's output shape.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator, ValidationErrors


@lru_cache(maxsize=1)
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(name: str) -> ServiceModel:
    """The botocore model of service ``name`` (``"kms"``, ``"ecs"``, ``"iam"``), cached."""
    return _session().get_service_model(name)


_VALIDATOR = ParamValidator()
#: botocore's client-side reports that AWS makes on the server, in its own words (a value
#: below a member's minimum, a string or list too short, a required member left out):
#: ``constraint_errors`` reports them. A missing member is AWS's "Value null at 'keyId'
#: failed to satisfy constraint: Member must not be null" (an SDK that does not check
#: required members, as the JavaScript SDK v3, gets that from AWS), not botocore's "Missing
#: required parameter in input".
_SERVER_SIDE = frozenset({"invalid range", "invalid length", "missing required field"})


def param_errors(operation: OperationModel, params: dict[str, Any]) -> str | None:
    """botocore's report on ``params`` (missing, unknown, wrong type), or None.

    Range and length violations are left to ``constraint_errors``, which words them as AWS
    does ("Value '0' at 'numberOfBytes' failed to satisfy constraint: ...").
    """
    shape = operation.input_shape
    if shape is None:
        if params:
            names = ", ".join(sorted(params))
            return f"Unknown parameter in input: {names}, the operation takes no parameters"
        return None
    report = _VALIDATOR.validate(params, shape)
    if not report.has_errors():
        return None
    kept = ValidationErrors()
    kept._errors = [e for e in report._errors if e[0] not in _SERVER_SIDE]
    return kept.generate_report() if kept.has_errors() else None


def constraint_errors(operation: OperationModel, params: dict[str, Any]) -> list[str]:
    """Server-side checks of the model's max, min and enum traits, in AWS's wording.

    Returns messages like ``Value '2000' at 'numberOfBytes' failed to satisfy constraint:
    Member must have value less than or equal to 1024``.
    """
    out: list[str] = []
    if operation.input_shape is not None:
        _check(operation.input_shape, params, "", out)
    return out


def _lower_first(name: str) -> str:
    """A member name as CloudTrail writes it: the first letter lower-cased, unless the name
    starts with two capitals (an acronym), which stays as it is (Java's
    ``Introspector.decapitalize``): ``KeyId`` -> ``keyId`` but ``AWSAccountId`` stays
    (ct-createkey.html: ``"AWSAccountId": "111122223333"`` in ``keyMetadata``)."""
    if name[:2].isupper() and len(name) > 1:
        return name
    return name[:1].lower() + name[1:]


def _member_at(path: str, name: str) -> str:
    """Where member ``name`` of the structure at ``path`` is, as AWS's constraint messages
    name it: ``encryptionContext``, ``tags.1.member.tagKey``."""
    return f"{path}.{_lower_first(name)}" if path else _lower_first(name)


def _constrained(shape: Shape, seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``shape`` or anything inside it carries a max, min, enum or pattern trait, or
    required members."""
    hit = getattr(shape, "_sim_constrained", None)
    if hit is not None:
        return hit
    if shape.name in seen:  # a recursive shape: decided by its other members
        return False
    seen = seen | {shape.name}
    t = shape.type_name
    if t == "structure":
        hit = bool(shape.required_members) or any(
            _constrained(m, seen) for m in shape.members.values())
    elif t == "list":
        hit = "min" in shape.metadata or "max" in shape.metadata or _constrained(
            shape.member, seen)
    elif t == "map":
        hit = _constrained(shape.key, seen) or _constrained(shape.value, seen)
    elif t in ("integer", "long"):
        hit = "min" in shape.metadata or "max" in shape.metadata
    elif t == "string":
        hit = bool("min" in shape.metadata or "max" in shape.metadata or shape.enum
                   or shape.metadata.get("pattern"))
    elif t == "blob":
        hit = "min" in shape.metadata or "max" in shape.metadata
    else:
        hit = False
    shape._sim_constrained = hit  # type: ignore[attr-defined]  # memo on the cached shape
    return hit


def _check(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if not _constrained(shape):
        return
    meta = shape.metadata
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return
        required = shape.required_members
        for name, member in shape.members.items():
            present = name in value and value[name] is not None
            if present or name in required:
                sub = _member_at(path, name)
                if present:
                    _check(member, value[name], sub, out)
                else:
                    out.append(f"Value null at '{sub}' failed to satisfy constraint: "
                               "Member must not be null")
    elif t == "list":
        if not isinstance(value, list | tuple):
            return
        if "min" in meta and len(value) < meta["min"]:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {meta['min']}"
            )
        if "max" in meta and len(value) > meta["max"]:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}.{i + 1}.member", out)
    elif t == "map":
        if not isinstance(value, dict):
            return
        for k, v in value.items():
            _check(shape.key, k, f"{path}.key", out)
            _check(shape.value, v, f"{path}.value", out)
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return
        if "min" in meta and value < meta["min"]:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {meta['max']}"
            )
    elif t == "blob":
        # botocore checks a blob's type only; like AWS, name the parameter, never the value.
        if not isinstance(value, bytes | bytearray):
            return
        if "min" in meta and len(value) < meta["min"]:
            out.append(
                f"Value at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {meta['min']}"
            )
        if "max" in meta and len(value) > meta["max"]:
            out.append(
                f"Value at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
    elif t == "string":
        if not isinstance(value, str):
            return
        if "min" in meta and len(value) < meta["min"]:
            out.append(
                f"{_shown(meta, value)} at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {meta['min']}"
            )
        if "max" in meta and len(value) > meta["max"]:
            out.append(
                f"{_shown(meta, value)} at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
        if shape.enum and value not in shape.enum:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        pattern = meta.get("pattern")
        if pattern and not _pattern(pattern).fullmatch(value):
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )


def _shown(meta: dict[str, Any], value: str) -> str:
    """How AWS names a string in a constraint message: its value, unless it is sensitive."""
    return "Value" if meta.get("sensitive") else f"Value '{value}'"


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return re.compile(".*", re.DOTALL)


_PY_TYPES: dict[str, tuple[type[Any], ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (float, int),
    "float": (float, int),
    "timestamp": (datetime,),
    "blob": (bytes, bytearray),
    "list": (list,),
    "map": (dict,),
    "structure": (dict,),
}


def shape_mismatches(shape: Shape | None, value: Any, path: str = "") -> list[str]:
    """Where ``value`` departs from ``shape``: unknown members, wrong types, bad enums."""
    out: list[str] = []
    if shape is None:
        if value:
            out.append(f"{path or '<root>'}: the operation returns nothing, got {value!r}")
        return out
    _mismatch(shape, value, path or "<root>", out, top=True)
    return out


def _mismatch(shape: Shape, value: Any, path: str, out: list[str], top: bool = False) -> None:
    t = shape.type_name
    allowed = _PY_TYPES.get(t, (object,))
    if value is None:
        out.append(f"{path}: None is not a valid {t}")
        return
    if t in ("integer", "long") and isinstance(value, bool):
        out.append(f"{path}: bool given where {t} expected")
        return
    if t == "string" and shape.name == "policyDocumentType" and isinstance(value, dict):
        return  # botocore decodes IAM policy documents into dicts (json_decode_policies)
    if not isinstance(value, allowed):
        out.append(f"{path}: {type(value).__name__} given where {t} ({shape.name}) expected")
        return
    if t == "structure":
        for name, v in value.items():
            if top and name == "ResponseMetadata":
                continue
            if name not in shape.members:
                out.append(f"{path}.{name}: not a member of {shape.name}")
                continue
            _mismatch(shape.members[name], v, f"{path}.{name}", out)
        for name in shape.required_members:
            if name not in value:
                out.append(f"{path}.{name}: required member of {shape.name} missing")
    elif t == "list":
        for i, item in enumerate(value):
            _mismatch(shape.member, item, f"{path}[{i}]", out)
    elif t == "map":
        for k, v in value.items():
            _mismatch(shape.key, k, f"{path}<key>", out)
            _mismatch(shape.value, v, f"{path}[{k!r}]", out)
    elif t == "string" and shape.enum and value not in shape.enum:
        out.append(f"{path}: {value!r} is not one of {shape.name}'s values {shape.enum}")


def to_cloudtrail(shape: Shape | None, value: Any, lower: bool) -> Any:
    """A request or response as CloudTrail logs it: sensitive members and blobs dropped,
    timestamps as CloudTrail writes them, member names with a lower-case first letter for
    Pascal-case services (CloudTrail logs KMS's ``KeyId`` as ``keyId``)."""
    if shape is None:
        return None
    return _converter(shape, lower)(value)


_Convert = Any  # Callable[[Any], Any]; a converter per shape, built once


def _identity(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    return value


def _drop(value: Any) -> None:
    return None


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%b %d, %Y, %I:%M:%S %p")
    return value


def _converter(shape: Shape, lower: bool) -> _Convert:
    """The CloudTrail converter of ``shape``, built on first use and kept on the shape."""
    attr = "_sim_ct_lower" if lower else "_sim_ct"
    conv = shape.__dict__.get(attr)
    if conv is not None:
        return conv
    t = shape.type_name
    if shape.metadata.get("sensitive") or t == "blob":
        conv = _drop
    elif t == "structure":
        table: dict[str, tuple[str, _Convert]] = {}

        def structure(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            out = {}
            for name, v in value.items():
                entry = table.get(name)
                if entry is None:
                    continue
                c = entry[1](v)
                if c is not None:
                    out[entry[0]] = c
            return out

        setattr(shape, attr, structure)  # before the members: shapes may be recursive
        for name, member in shape.members.items():
            if member.metadata.get("sensitive") or member.type_name == "blob":
                continue
            table[name] = (_lower_first(name) if lower else name, _converter(member, lower))
        return structure
    elif t == "list":
        setattr(shape, attr, _drop)
        item = _converter(shape.member, lower)

        def listing(value: Any) -> Any:
            if not isinstance(value, list | tuple):
                return value
            return [item(v) for v in value]

        conv = listing
    elif t == "map":
        setattr(shape, attr, _drop)
        val = _converter(shape.value, lower)

        def mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return {k: val(v) for k, v in value.items()}

        conv = mapping
    elif t == "timestamp":
        conv = _timestamp
    else:
        conv = _identity
    setattr(shape, attr, conv)
    return conv


def encode_blobs(operation: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with text given for blob members encoded as UTF-8, as botocore's
    serializer sends it (boto3 accepts ``Plaintext="text"``); other values untouched."""
    shape = operation.input_shape
    if shape is None or not _has_blob(shape):
        return params
    return _encode(shape, params)


def _has_blob(shape: Shape, seen: frozenset[str] = frozenset()) -> bool:
    hit = shape.__dict__.get("_sim_has_blob")
    if hit is not None:
        return hit
    if shape.name in seen:
        return False
    seen = seen | {shape.name}
    t = shape.type_name
    if t == "blob":
        hit = True
    elif t == "structure":
        hit = any(_has_blob(m, seen) for m in shape.members.values())
    elif t == "list":
        hit = _has_blob(shape.member, seen)
    elif t == "map":
        hit = _has_blob(shape.value, seen)
    else:
        hit = False
    shape._sim_has_blob = hit  # type: ignore[attr-defined]
    return hit


def _encode(shape: Shape, value: Any) -> Any:
    t = shape.type_name
    if t == "blob":
        return value.encode("utf-8") if isinstance(value, str) else value
    if not _has_blob(shape):
        return value
    if t == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _encode(members[k], v) if k in members else v for k, v in value.items()}
    if t == "list" and isinstance(value, list):
        return [_encode(shape.member, v) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: _encode(shape.value, v) for k, v in value.items()}
    return value


# -- JSON types on the wire ------------------------------------------------------------------
#: What AWS's JSON front end calls a member type in its SerializationException messages
#: ("STRING_VALUE can not be converted to an Integer").
_JAVA_TYPE = {"integer": "an Integer", "long": "a Long", "boolean": "a Boolean",
              "double": "a Double", "float": "a Float", "string": "an String",
              "blob": "an String"}


def _json_kind(value: Any) -> str:
    return ("boolean" if isinstance(value, bool) else "number" if isinstance(value, int | float)
            else "string" if isinstance(value, str) else "list" if isinstance(value, list)
            else "object" if isinstance(value, dict) else type(value).__name__)


def json_type_error(shape: Shape | None, value: Any, path: str = "") -> str | None:
    """Where a request's JSON value has a type its member cannot take, in the words of AWS's
    JSON front end (a SerializationException), with what and where beside them; None when
    every value fits. botocore lets ``True`` through as an integer; AWS's server does not.
    Values already decoded (bytes for a blob, datetime for a timestamp) fit."""
    if shape is None or value is None:
        return None
    t = shape.type_name
    where = path or "the request"

    def wrong(aws: str) -> str:
        return (f"{aws} (fargate-sim: {where} is a JSON {_json_kind(value)}; the model says "
                f"{t})")

    if t in ("structure", "list", "map"):
        if t == "structure" and shape.is_document_type:
            return None
        container: Any = list if t == "list" else dict
        if not isinstance(value, container):
            return wrong(_unexpected(value) if isinstance(value, dict | list)
                         else f"Unexpected token; expected the start of a {t}")
        parts: Any  # (member shape, value, path) of each part
        if t == "structure":
            parts = ((shape.members[k], v, f"{path}.{k}" if path else k)
                     for k, v in value.items() if k in shape.members)
        elif t == "list":
            parts = ((shape.member, v, f"{path}[{i}]") for i, v in enumerate(value))
        else:
            parts = ((shape.value, v, f"{path}.{k}") for k, v in value.items())
        return next((found for s, v, p in parts if (found := json_type_error(s, v, p))), None)
    if isinstance(value, dict | list):
        return wrong(_unexpected(value))
    java = _JAVA_TYPE.get(t)
    if java is None:  # timestamps: numbers or text, as AWS reads them
        return None
    if t in ("string", "blob"):
        if isinstance(value, str | bytes | bytearray):
            return None
        if isinstance(value, bool):
            return wrong(f"class java.lang.Boolean can not be converted to {java}")
        return wrong(f"class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not "
                     f"be converted to {java}")
    if t == "boolean":
        if isinstance(value, bool):
            return None
        token = "STRING_VALUE" if isinstance(value, str) else "NUMBER_VALUE"
        return wrong(f"{token} can not be converted to {java}")
    # numbers
    if isinstance(value, bool):
        return wrong(f"class java.lang.Boolean can not be converted to {java}")
    if isinstance(value, str):
        return wrong(f"STRING_VALUE can not be converted to {java}")
    if t in ("integer", "long") and isinstance(value, float) and not value.is_integer():
        return wrong(f"NUMBER_VALUE can not be converted to {java}")
    return None


def _unexpected(value: Any) -> str:
    return ("Start of structure or map found where not expected." if isinstance(value, dict)
            else "Start of list found where not expected.")


class JsonReading:
    """A JSON request as AWS's JSON front end reads it, before any validation: a member the
    model does not have is skipped (``ignored`` names it), a ``null`` member is absent, a
    whole-number float in an integer member is that integer (JSON's ``2.0`` is 2), and a
    ``null`` list element or map value is refused (``nulls``, in AWS's constraint wording).
    ``json_type_error`` has refused every other value of the wrong type."""

    def __init__(self) -> None:
        self.ignored: list[str] = []
        self.nulls: list[str] = []

    def request(self, shape: Shape | None, value: Any) -> Any:
        """``value`` (a request's parameters) as the service receives them."""
        return self._read(shape, value, "", "")

    def _read(self, shape: Shape | None, value: Any, path: str, where: str) -> Any:
        if shape is None or value is None:
            return value
        t = shape.type_name
        if t == "structure" and isinstance(value, dict) and not shape.is_document_type:
            out = {}
            for k, v in value.items():
                sub = f"{path}.{k}" if path else k
                member = shape.members.get(k)
                if member is None:
                    self.ignored.append(sub)
                elif v is not None:
                    out[k] = self._read(member, v, sub, _member_at(where, k))
            return out
        if t == "list" and isinstance(value, list):
            return [self._element(shape.member, v, f"{path}[{i}]", f"{where}.{i + 1}.member")
                    for i, v in enumerate(value)]
        if t == "map" and isinstance(value, dict):
            return {k: self._element(shape.value, v, f"{path}.{k}", f"{where}.value")
                    for k, v in value.items()}
        if t in ("integer", "long") and isinstance(value, float):
            return int(value)
        return value

    def _element(self, shape: Shape, value: Any, path: str, where: str) -> Any:
        if value is None:
            self.nulls.append(f"Value null at '{where}' failed to satisfy constraint: "
                              "Member must not be null")
        return self._read(shape, value, path, where)


# -- the compiled fast path -------------------------------------------------------------------
#: A compiled check: True when a value passes both botocore's ParamValidator (ignoring the
#: range/length reports ``param_errors`` leaves out) and ``constraint_errors``.
_Clean = Any  # Callable[[Any], bool]
_SLOW = "_sim_clean_slow"


def _always(value: Any) -> bool:
    return True


def clean_check(operation: OperationModel) -> _Clean | None:
    """A function telling whether ``params`` of ``operation`` are certainly valid.

    Built once per operation (kept on the model). True means ``param_errors`` would return
    None and ``constraint_errors`` an empty list, so the caller may skip them; False means
    "look closer": the caller runs both, which word every problem exactly as before. None:
    the input has a shape this fast path does not model (documents, JSON-value headers);
    always look closer.
    """
    cached = operation.__dict__.get("_sim_clean", _SLOW)
    if cached is not _SLOW:
        return cached
    shape = operation.input_shape
    if shape is None:
        check: _Clean | None = _no_params
    else:
        check = _compile(shape)
    operation._sim_clean = check  # type: ignore[attr-defined]
    return check


def _no_params(value: Any) -> bool:
    return not value


def _compile(shape: Shape) -> _Clean | None:
    """The clean-check of ``shape`` (None: not modelled), built once and kept on the shape."""
    cached = shape.__dict__.get("_sim_clean", _SLOW)
    if cached is not _SLOW:
        return cached
    serialization = getattr(shape, "serialization", {}) or {}
    if serialization.get("jsonvalue") and serialization.get("location") == "header":
        shape._sim_clean = None  # type: ignore[attr-defined]
        return None
    t = shape.type_name
    meta = shape.metadata
    lo, hi = meta.get("min"), meta.get("max")
    check: _Clean | None
    if t == "structure":
        if shape.is_document_type:
            shape._sim_clean = None  # type: ignore[attr-defined]
            return None
        table: dict[str, _Clean] = {}
        required = tuple(meta.get("required", ()))
        union = shape.is_tagged_union
        slow = [False]

        def structure(value: Any) -> bool:
            if slow[0] or (value.__class__ is not dict and not isinstance(value, dict)):
                return False
            if union and len(value) != 1:
                return False
            for name in required:
                if name not in value:
                    return False
            for name, v in value.items():
                sub = table.get(name)
                if sub is None or not sub(v):
                    return False
            return True

        shape._sim_clean = structure  # type: ignore[attr-defined]  # before members: recursion
        for name, member in shape.members.items():
            sub = _compile(member)
            if sub is None:
                slow[0] = True
                break
            table[name] = sub
        if slow[0]:
            shape._sim_clean = None  # type: ignore[attr-defined]
            return None
        return structure
    if t == "list":
        shape._sim_clean = None  # type: ignore[attr-defined]  # recursion guard
        item = _compile(shape.member)
        if item is None:
            return None

        def listing(value: Any) -> bool:
            if not isinstance(value, list | tuple):
                return False
            n = len(value)
            if (lo is not None and n < lo) or (hi is not None and n > hi):
                return False
            for v in value:  # noqa: SIM110 - as in mapping
                if not item(v):
                    return False
            return True

        check = listing
    elif t == "map":
        shape._sim_clean = None  # type: ignore[attr-defined]
        key, val = _compile(shape.key), _compile(shape.value)
        if key is None or val is None:
            return None

        def mapping(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for k, v in value.items():  # noqa: SIM110 - a loop, no generator: the hot path
                if not (key(k) and val(v)):
                    return False
            return True

        check = mapping
    elif t == "string":
        enum = frozenset(shape.enum) if shape.enum else None
        pattern = meta.get("pattern")
        regex = _pattern(pattern) if pattern else None
        if lo is None and hi is None and enum is None and regex is None:
            def string(value: Any) -> bool:
                return value.__class__ is str or isinstance(value, str)
        else:
            def string(value: Any) -> bool:
                if not isinstance(value, str):
                    return False
                n = len(value)
                if (lo is not None and n < lo) or (hi is not None and n > hi):
                    return False
                if enum is not None and value not in enum:
                    return False
                return regex is None or regex.fullmatch(value) is not None
        check = string
    elif t in ("integer", "long"):
        def integer(value: Any) -> bool:
            if not isinstance(value, int):
                return False
            if isinstance(value, bool):
                return False  # botocore accepts it; AWS does not (json_type_error)
            return (lo is None or value >= lo) and (hi is None or value <= hi)
        check = integer
    elif t == "boolean":
        def boolean(value: Any) -> bool:
            return isinstance(value, bool)
        check = boolean
    elif t in ("double", "float"):
        valid = ParamValidator.SCALAR_TYPES[t]

        def number(value: Any) -> bool:
            return isinstance(value, valid)
        check = number
    elif t == "blob":
        def blob(value: Any) -> bool:
            # Text and file-like blobs take the full path (text is encoded before the
            # length checks).
            if not isinstance(value, bytes | bytearray):
                return False
            n = len(value)
            return (lo is None or n >= lo) and (hi is None or n <= hi)
        check = blob
    elif t == "timestamp":
        def timestamp(value: Any) -> bool:
            return isinstance(value, datetime)
        check = timestamp
    else:
        check = None
    shape._sim_clean = check  # type: ignore[attr-defined]
    return check
