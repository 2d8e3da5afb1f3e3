"""AWS's query protocol (IAM, STS): form-encoded requests in, XML responses out.

Both directions walk botocore's shapes, so every operation of a query service is served
without a hand-written codec: ``Tags.member.1.Key=k`` becomes ``{"Tags": [{"Key": "k"}]}``
by the input shape, and a response dict becomes
``<OpResponse><OpResult>...</OpResult><ResponseMetadata><RequestId>`` by the output shape.
https://smithy.io/2.0/aws/protocols/aws-query-protocol.html
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel, Shape


class QueryError(ValueError):
    """A request parameter that does not fit its shape."""


def _list_prefix(shape: Shape, prefix: str) -> str:
    if shape.serialization.get("flattened"):
        return prefix
    return f"{prefix}.{shape.member.serialization.get('name', 'member')}"


def _scalar(shape: Shape, text: str, name: str) -> Any:
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(text)
        if t in ("float", "double"):
            return float(text)
        if t == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if t == "blob":
            return base64.b64decode(text, validate=True)
        if t == "timestamp":
            try:
                return datetime.fromtimestamp(float(text), tz=UTC)
            except ValueError:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
                return value if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, binascii.Error):
        raise QueryError(f"Invalid value {text!r} for parameter {name}: expected {t}") from None
    return text


def _decode(shape: Shape, form: dict[str, str], prefix: str) -> Any:
    t = shape.type_name
    if t == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            value = _decode(member, form, f"{prefix}.{key}" if prefix else key)
            if value is not None:
                out[name] = value
        return out if out or not prefix else None
    if t == "list":
        base = _list_prefix(shape, prefix)
        if form.get(prefix) == "" and not any(k.startswith(base + ".") for k in form):
            return []  # Foo= is an empty list
        head = base + "."
        present = {k[len(head):].split(".", 1)[0] for k in form if k.startswith(head)}
        items, i = [], 1
        while str(i) in present:  # Foo.member.1, .2, ... up to the first gap
            items.append(_decode(shape.member, form, f"{base}.{i}"))
            i += 1
        return items or None
    if t == "map":
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        out, i = {}, 1
        while f"{base}.{i}.{kname}" in form:
            out[form[f"{base}.{i}.{kname}"]] = _decode(shape.value, form, f"{base}.{i}.{vname}")
            i += 1
        return out or None
    if prefix in form:
        return _scalar(shape, form[prefix], prefix)
    return None


def parse_form(body: bytes | str) -> dict[str, str]:
    """A form-encoded body (or query string) as a flat dict; the last value of a key wins."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False))


def decode_params(op: OperationModel, form: dict[str, str]) -> dict[str, Any]:
    """The operation's parameters from the flat form (``Action`` and ``Version`` dropped)."""
    if op.input_shape is None:
        return {}
    return _decode(op.input_shape, form, "") or {}


def _xml(shape: Shape | None, value: Any, tag: str) -> str:
    if value is None:
        return ""
    t = shape.type_name if shape is not None else ""
    if shape is not None and t == "structure" and isinstance(value, dict):
        inner = "".join(
            _xml(shape.members[k], v, shape.members[k].serialization.get("name", k))
            for k, v in value.items() if k in shape.members
        )
        return f"<{tag}>{inner}</{tag}>"
    if shape is not None and t == "list" and isinstance(value, list):
        mtag = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            return "".join(_xml(shape.member, v, tag) for v in value)
        return f"<{tag}>" + "".join(_xml(shape.member, v, mtag) for v in value) + f"</{tag}>"
    if shape is not None and t == "map" and isinstance(value, dict):
        kt = shape.key.serialization.get("name", "key")
        vt = shape.value.serialization.get("name", "value")
        entries = "".join(
            f"<entry><{kt}>{escape(str(k))}</{kt}>{_xml(shape.value, v, vt)}</entry>"
            for k, v in value.items()
        )
        return f"<{tag}>{entries}</{tag}>"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(value, bytes | bytearray):
        text = base64.b64encode(bytes(value)).decode()
    elif isinstance(value, dict | list):
        # IAM returns policy documents URL-encoded (botocore decodes them).
        text = urllib.parse.quote(json.dumps(value))
    else:
        text = str(value)
    return f"<{tag}>{escape(text)}</{tag}>"


def response_xml(model: ServiceModel, op: OperationModel, response: dict[str, Any],
                 request_id: str) -> bytes:
    """``<OpResponse><OpResult>...</OpResult><ResponseMetadata>`` for a successful call."""
    ns = model.metadata.get("xmlNamespace", "")
    shape = op.output_shape
    result = ""
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
        body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        result = _xml(shape, body, wrapper)
    return (
        f'<{op.name}Response xmlns="{ns}">{result}'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{op.name}Response>"
    ).encode()


def error_xml(model: ServiceModel | None, code: str, message: str, request_id: str,
              sender: bool = True) -> bytes:
    """The query protocol's ``<ErrorResponse>``, with the request id."""
    ns = (model.metadata.get("xmlNamespace", "") if model is not None else
          "https://iam.amazonaws.com/doc/2010-05-08/")
    kind = "Sender" if sender else "Receiver"
    return (
        f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
