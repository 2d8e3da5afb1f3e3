"""Model drift: which input members of each implemented operation the simulator handles.

The simulator validates requests with the botocore model a user installs, which grows new
members over time (botocore 1.44 added KMS grants for service principals). A handler written
against an older model would silently ignore a new member, or trip over a member that became
optional. ``simulator/model_members.toml`` is the one table of what each handler implements;
the front door refuses any other member with the service's own error naming it, and
``tests/test_model_drift.py`` walks the installed model and fails, listing every member the
table does not decide. ``VERIFIED_BOTOCORE`` is the model version the table was last checked
against (``fargate-sim --version`` prints it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from simulator import errors

#: The botocore release whose models ``model_members.toml`` was last verified against.
VERIFIED_BOTOCORE = "1.44.8"


@dataclass(frozen=True)
class OperationMembers:
    """What the simulator does with each input member of one operation."""

    supported: frozenset[str]
    #: Member (or ``Structure.Member``) -> why the simulator refuses it.
    unsupported: dict[str, str]
    #: Structure members whose own members are tracked (``Constraints`` -> ``Constraints.X``).
    structures: frozenset[str]

    def decided(self, member: str) -> bool:
        """Whether the table says anything about ``member``."""
        return member in self.supported or member in self.unsupported


@cache
def _table() -> dict[str, Any]:
    text = resources.files("simulator").joinpath("model_members.toml").read_text("utf-8")
    return tomllib.loads(text)


@cache
def error_code(service: str) -> str:
    """The error code ``service`` uses to refuse a member the simulator does not implement."""
    return _table()[service]["error"]


@cache
def operation_members(service: str, operation: str) -> OperationMembers | None:
    """The table's entry for one operation, or None when the operation has none."""
    entry = _table().get(service, {}).get(operation)
    if not isinstance(entry, dict):
        return None
    return OperationMembers(
        supported=frozenset(entry.get("supported", ())),
        unsupported=dict(entry.get("unsupported", {})),
        structures=frozenset(entry.get("structures", ())),
    )


def refusal(service: str, operation: str, params: dict[str, Any]) -> errors.ClientError | None:
    """The error for the first member of ``params`` the simulator does not implement, or None.

    Runs after botocore's validation, so every key is a member of the installed model. A
    refused member given as an empty list or map is accepted: it asks for nothing.
    """
    table = operation_members(service, operation)
    if table is None:
        if not params:
            return None
        return _error(service, operation, sorted(params)[0],
                      "the simulator has not been verified against this operation's model")
    supported = table.supported
    for name, value in params.items():
        if name not in supported:
            if name in table.unsupported and _empty(value):
                continue  # an empty list or map asks for nothing the simulator lacks
            return _error(service, operation, name, table.unsupported.get(name))
        if name in table.structures and isinstance(value, dict):
            for sub in value:
                path = f"{name}.{sub}"
                if path not in supported:
                    return _error(service, operation, path, table.unsupported.get(path))
    return None


def _empty(value: Any) -> bool:
    return isinstance(value, list | dict) and not value


def _error(service: str, operation: str, member: str, reason: str | None) -> errors.ClientError:
    why = reason or (
        "the installed botocore model has this member, but the simulator was verified against "
        f"botocore {VERIFIED_BOTOCORE} and does not implement it"
    )
    return errors.error_class(error_code(service))(
        f"parameter {member} of {operation} is not supported by this simulator: {why}."
    )


def undecided_members(service: str, operation: str, input_shape: Any) -> list[str]:
    """Members of ``input_shape`` the table neither supports nor refuses (for the drift test)."""
    table = operation_members(service, operation)
    if input_shape is None:
        return []
    names: list[str] = []
    for name, member in input_shape.members.items():
        names.append(name)
        if table is not None and name in table.structures and member.type_name == "structure":
            names.extend(f"{name}.{sub}" for sub in member.members)
    if table is None:
        return names
    return [n for n in names if not table.decided(n)]


def version_report() -> str:
    """The package version, the installed botocore, and the model version last verified."""
    import botocore

    from simulator import __version__

    return (
        f"fargate-sim {__version__} (botocore {botocore.__version__} installed; "
        f"service models last verified against botocore {VERIFIED_BOTOCORE})"
    )
