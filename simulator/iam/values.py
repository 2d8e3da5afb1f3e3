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
import re
from datetime import UTC, date, datetime
from functools import lru_cache
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
        try:
            return legacy_epoch(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date or epoch seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


#: The range of years (and of epoch numbers) IAM's date parser takes: a 64-bit count of
#: milliseconds either side of 1970, as Java's calendar reads it.
LEGACY_YEARS = (-292275054, 292278993)
LEGACY_MAX_EPOCH = 2**63 - 1
_DIGITS = re.compile(r"\+?\d+")
_ZONE = re.compile(r"(\d+)(?:\.(\d+))?(?:(z)|([+-])(\d{2})(?::(\d{2}))?)?")


def legacy_epoch(text: str) -> float:
    """A date condition value read by IAM's own ("legacy") parser, as seconds since 1970.

    IAM takes looser text than ISO 8601: ``2016-12-13t2:00:00.593194+23``, ``01T`` (the
    year 1) or ``-292275054`` are dates; a number without ``t`` or ``-`` is epoch time in
    0 .. 2**63-1. Out-of-range fields (month 13, hour 24, a zone ``+1``, more than nine digits
    of fraction) raise ``ValueError``: IAM refuses such a policy ("The policy failed legacy
    parsing"). Negative zone offsets are read too (ISO 8601 has them; IAM's recorded answers
    do not show them either way).
    """
    low = text.strip().lower()
    if "t" not in low and "-" not in low:
        if not _DIGITS.fullmatch(low):
            raise ValueError(f"{text!r} is neither a date nor epoch time")
        number = int(low)
        if number > LEGACY_MAX_EPOCH:
            raise ValueError(f"{text!r} is past the largest epoch time IAM reads (2**63-1)")
        return float(number)
    date_part, _, time_part = low.partition("t")
    negative = date_part.startswith("-")
    fields = (date_part[1:] if negative else date_part).split("-")
    if len(fields) > 3 or not all(_DIGITS.fullmatch(f) and f[0] != "+" for f in fields):
        raise ValueError(f"{text!r}: the date must be YEAR[-MONTH[-DAY]]")
    year = -int(fields[0]) if negative else int(fields[0])
    month = int(fields[1]) if len(fields) > 1 else 1
    day = int(fields[2]) if len(fields) > 2 else 1
    if not LEGACY_YEARS[0] <= year <= LEGACY_YEARS[1]:
        raise ValueError(f"{text!r}: year {year} is out of IAM's range")
    if not 1 <= month <= 12:
        raise ValueError(f"{text!r}: month {month} is not 1-12")
    if not 1 <= day <= 31:
        raise ValueError(f"{text!r}: day {day} is not 1-31")
    seconds = 0.0
    if time_part:
        parts = time_part.split(":", 2)
        for name, part, top, unit in (("hour", parts[0], 23, 3600), ("minute", None, 59, 60)):
            if part is None:
                if len(parts) < 2:
                    break
                part = parts[1]
            if name == "hour" and part == "":
                continue
            if not part.isdigit() or int(part) > top:
                raise ValueError(f"{text!r}: {name} {part!r} is out of range")
            seconds += int(part) * unit
        if len(parts) == 3:
            m = _ZONE.fullmatch(parts[2])
            if not m:
                raise ValueError(f"{text!r}: seconds {parts[2]!r} are not SS[.fraction][zone]")
            sec, frac, _z, sign, zh, zm = m.groups()
            if int(sec) > 59 or (frac is not None and int(frac) > 999_999_999):
                raise ValueError(f"{text!r}: seconds {parts[2]!r} are out of range")
            if zh is not None and (int(zh) > 23 or (zm is not None and int(zm) > 59)):
                raise ValueError(f"{text!r}: zone offset out of range")
            seconds += int(sec) + (float("0." + frac) if frac else 0.0)
            if zh is not None:
                offset = int(zh) * 3600 + int(zm or 0) * 60
                seconds += -offset if sign == "+" else offset
    return _days_from_civil(year, month, 1) * 86400.0 + (day - 1) * 86400.0 + seconds


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, negative too)."""
    y = year - (month <= 2)
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


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


@lru_cache(maxsize=256)
def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds when there are any (``2026-01-02T03:04:05.678Z``).

    Cached: every request at one simulated instant formats the same aws:CurrentTime; equal
    datetimes are the same instant, which is all the text depends on.
    """
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
