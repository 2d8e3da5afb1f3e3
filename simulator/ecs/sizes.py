"""Fargate task sizes: the valid cpu/memory pairs and the string forms ECS accepts.

Task-level ``cpu`` is in CPU units (1024 = 1 vCPU) and ``memory`` in MiB; ECS also accepts
``"1 vCPU"``, ``"0.25 vcpu"``, ``"2 GB"``, ``"512 MiB"`` and stores the unit numbers as
strings (``"1024"``, ``"2048"``). Windows tasks run on 1, 2 or 4 vCPU only.
"""

from __future__ import annotations

import re

from simulator import errors

GIB = 1024


def _range(lo_gb: int, hi_gb: int, step_gb: int) -> tuple[int, ...]:
    return tuple(gb * GIB for gb in range(lo_gb, hi_gb + 1, step_gb))


#: Fargate's valid task sizes: CPU units -> memory values in MiB.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _range(1, 4, 1),
    1024: _range(2, 8, 1),
    2048: _range(4, 16, 1),
    4096: _range(8, 30, 1),
    8192: _range(16, 60, 4),
    16384: _range(32, 120, 8),
}

#: CPU sizes Fargate offers Windows tasks.
WINDOWS_CPU = (1024, 2048, 4096)

#: CPU sizes that need platform version 1.4.0 or later.
LARGE_CPU = (8192, 16384)

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_CPU_TEXT = re.compile(rf"^\s*{_NUMBER}\s*(vcpu)?\s*$", re.IGNORECASE)
_MEM_TEXT = re.compile(rf"^\s*{_NUMBER}\s*(gb|gib|mb|mib)?\s*$", re.IGNORECASE)


def parse_cpu(value: str | int) -> int:
    """CPU units from ``"256"``, ``256``, ``"1 vCPU"`` or ``"0.5 vcpu"``."""
    m = _CPU_TEXT.match(str(value))
    if not m:
        raise errors.ClientException(
            f"Invalid 'cpu' setting for task: '{value}'.",
            explanation="Give CPU units (256, 512, 1024, ...) or vCPU ('0.25 vCPU', '1 vCPU', "
                        "...).")
    number = float(m.group(1))
    units = number * 1024 if m.group(2) else number
    if units != int(units) or units <= 0:
        raise errors.ClientException(f"Invalid 'cpu' setting for task: '{value}'.")
    return int(units)


def parse_memory(value: str | int) -> int:
    """MiB from ``"2048"``, ``2048``, ``"2 GB"``, ``"0.5GB"`` or ``"512 MiB"``."""
    m = _MEM_TEXT.match(str(value))
    if not m:
        raise errors.ClientException(
            f"Invalid 'memory' setting for task: '{value}'.",
            explanation="Give MiB (512, 1024, ...) or GB ('0.5 GB', '2 GB', ...).")
    number = float(m.group(1))
    unit = (m.group(2) or "mb").lower()
    mib = number * GIB if unit in ("gb", "gib") else number
    if mib != int(mib) or mib <= 0:
        raise errors.ClientException(f"Invalid 'memory' setting for task: '{value}'.")
    return int(mib)


def check_fargate_size(cpu: int, memory: int, windows: bool = False) -> None:
    """ClientException unless (cpu, memory) is a size Fargate offers (for Windows if asked)."""
    allowed = FARGATE_SIZES.get(cpu, ())
    if memory not in allowed or (windows and cpu not in WINDOWS_CPU):
        # AWS's words, e.g. as quoted in https://docs.convox.com/reference/rack-parameters/
        # and the ECS troubleshooting guide's "No Fargate configuration exists" entry.
        why = ("Windows tasks run with 1, 2 or 4 vCPU." if windows and allowed else
               f"Fargate pairs {cpu} CPU units with {', '.join(map(str, allowed))} MiB of memory."
               if allowed else f"{cpu} CPU units is not a Fargate task size.")
        raise errors.ClientException(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values.", explanation=why)


def valid_memory(cpu: int) -> tuple[int, ...]:
    """The memory sizes (MiB) Fargate pairs with ``cpu`` units (empty for an invalid cpu)."""
    return FARGATE_SIZES.get(cpu, ())
