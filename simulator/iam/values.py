"""Conversions of condition values (from policies and from request contexts) per operator family.

Each ``to_*`` returns the converted value or raises ``ValueError`` with a short reason; the
caller decides whether that is a malformed policy (policy side) or a non-matching request
value (request side).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
from datetime import UTC, date, datetime
from typing import Any


def to_string(value: Any) -> str:
    """A request or policy value as IAM compares it in string operators."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def to_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    else:
        raise ValueError(f"{type(value).__name__} is not a number")
    if math.isnan(result) or math.isinf(result):
        raise ValueError(f"{value!r} is not a finite number")
    return result


def to_epoch(value: Any) -> float:
    """A date as seconds since the epoch: ISO 8601 text, epoch seconds, or a datetime."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a date")
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return dt.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{type(value).__name__} is not a date")
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date or epoch seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{value!r} is not true or false")


def to_bytes(value: Any, *, strict: bool = True) -> bytes:
    """Binary values: bytes as they are, text as base64."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            if strict:
                raise ValueError(f"{value!r} is not base64") from None
            return value.encode()
    raise ValueError(f"{type(value).__name__} is not binary data")


def to_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address or CIDR block")
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR block") from None


def to_address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address")
    text = value.strip()
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            if net.num_addresses != 1:
                raise ValueError
            return net.network_address
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def format_datetime(value: datetime) -> str:
    dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond // 1000:03d}"
    return text + "Z"


def show(value: Any) -> str:
    """A value as an explanation shows it: JSON-ish, strings quoted."""
    if isinstance(value, datetime):
        return json.dumps(format_datetime(value))
    if isinstance(value, bytes | bytearray):
        return "b64:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return json.dumps(str(value))
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def show_list(values: Any) -> str:
    return "[" + ", ".join(show(v) for v in values) + "]"
