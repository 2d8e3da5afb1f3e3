"""Sizes as fio and cryptsetup write them: ``4k``, ``64KiB``, ``1m``, ``2g`` (powers of 1024)."""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)

MIB = 2**20
MB = 10**6


def parse_size(value: int | str) -> int:
    """Bytes from an int or a size string (``4k``, ``64KiB``, ``1MiB``), as fio reads them."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(m.group(1)) * _UNITS[m.group(2).lower()]
    raise ValueError(f"{value!r} is not a size (an integer of bytes or e.g. '4k', '64KiB', '1m')")


def format_size(n: int) -> str:
    """The shortest exact fio-style spelling of ``n`` bytes (``4k``, ``1m``, ``512``)."""
    for suffix, unit in (("g", 2**30), ("m", 2**20), ("k", 2**10)):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)
