"""The AWS CLI's way of taking parameters, driven by botocore's models.

``aws ecs create-cluster --cluster-name X --configuration '{...}'``: every top-level input
member becomes a ``--kebab-case`` option (unique prefixes accepted, as the AWS CLI's parser
accepts ``--cluster`` for ``--cluster-name``); scalars are typed from the model, structures,
maps and lists of structures are JSON (or ``file://path``), lists of scalars take several
values, booleans are ``--flag`` / ``--no-flag``. Output is JSON as the AWS CLI prints it.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore import xform_name
from botocore.model import OperationModel, Shape

from simulator import inputs
from simulator.models import service_model

if TYPE_CHECKING:
    from simulator.world import Simulation


class CliInputError(ValueError):
    """A command line the AWS CLI would refuse, with the reason."""


def _load_value(text: str) -> str:
    """An argument's value, read from the file a ``file://PATH`` names (bounded, UTF-8)."""
    if text.startswith("file://"):
        return _read(text[len("file://") :], binary=False)  # type: ignore[return-value]
    return text


def _read(path: str, *, binary: bool) -> str | bytes:
    try:
        data = inputs.read_bytes(Path(path).expanduser(), what="file")
        return data if binary else inputs.decode(data, path)
    except inputs.InputError as exc:
        raise CliInputError(str(exc)) from None


def _scalar(shape: Shape, text: str, option: str) -> Any:
    t = shape.type_name
    if t in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise CliInputError(f"{option}: expected an integer, got {text!r}") from None
    if t in ("double", "float"):
        try:
            return float(text)
        except ValueError:
            raise CliInputError(f"{option}: expected a number, got {text!r}") from None
    if t == "blob":
        if text.startswith("fileb://"):
            return _read(text[len("fileb://") :], binary=True)
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise CliInputError(f"{option}: expected base64 or fileb://PATH") from None
    if t == "timestamp":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise CliInputError(f"{option}: expected an ISO 8601 time, got {text!r}") from None
    if t == "boolean":
        return text.lower() == "true"
    return _load_value(text)


def _json(shape: Shape, text: str, option: str) -> Any:
    raw = _load_value(text)
    try:
        return inputs.parse_json(raw, option)
    except inputs.InputError as exc:
        raise CliInputError(
            f"{exc}; give {shape.name} as JSON, e.g. '{{\"key\": \"value\"}}', or file://PATH"
        ) from None


def parse_arguments(service: str, operation: str, argv: list[str]) -> dict[str, Any]:
    """Turn AWS CLI options for ``service operation`` into boto3 parameters."""
    op = operation_model(service, operation)
    parser = _parser(service, op)
    shape = op.input_shape
    members = shape.members if shape is not None else {}
    try:
        ns, extra = parser.parse_known_args(argv)
    except SystemExit:
        raise CliInputError(f"bad arguments for {service} {xform_name(op.name, '-')}") from None
    if extra:
        allowed = ", ".join("--" + xform_name(n, "-") for n in members)
        raise CliInputError(f"Unknown options: {', '.join(extra)}; valid options are: {allowed}")
    params: dict[str, Any] = {}
    for name, member in members.items():
        value = getattr(ns, name)
        if value is None:
            continue
        opt = "--" + xform_name(name, "-")
        if member.type_name in ("structure", "map"):
            params[name] = _json(member, value, opt)
        elif member.type_name == "list":
            if member.member.type_name in ("structure", "map"):
                params[name] = _json(member, value, opt)
            elif len(value) == 1 and value[0].lstrip().startswith("["):
                params[name] = _json(member, value[0], opt)
            else:
                params[name] = [_scalar(member.member, v, opt) for v in value]
        elif member.type_name == "boolean":
            params[name] = bool(value)
        else:
            params[name] = _scalar(member, value, opt)
    return params


def _parser(service: str, op: OperationModel, *, docs: bool = False) -> argparse.ArgumentParser:
    """The operation's options as an argparse parser (with the model's docs for ``--help``)."""
    parser = argparse.ArgumentParser(
        prog=f"fargate-sim {service} {xform_name(op.name, '-')}", allow_abbrev=True,
        add_help=False, description=_first_sentences(op.documentation, 600) if docs else None,
    )
    shape = op.input_shape
    members = shape.members if shape is not None else {}
    required = set(shape.required_members) if shape is not None else set()
    for name, member in members.items():
        opt = "--" + xform_name(name, "-")
        text = None
        if docs:
            kind = member.type_name if member.type_name not in ("structure", "map") else "JSON"
            text = (f"({kind}{', required' if name in required else ''}) "
                    + _first_sentences(member.documentation, 200)).replace("%", "%%")
        if member.type_name == "boolean":
            parser.add_argument(opt, dest=name, action="store_const", const=True, default=None,
                                help=text)
            parser.add_argument(
                "--no-" + xform_name(name, "-"), dest=name, action="store_const", const=False,
                help=argparse.SUPPRESS if docs else None,
            )
        elif member.type_name == "list" and member.member.type_name not in ("structure", "map"):
            parser.add_argument(opt, dest=name, nargs="+", help=text)
        else:
            parser.add_argument(opt, dest=name, help=text)
    return parser


def _first_sentences(html: str | None, limit: int) -> str:
    text = " ".join(re.sub(r"<[^>]+>", " ", html or "").split())
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[: cut + 1] if cut > 0 else text[:limit].rstrip() + "..."


def operation_help(service: str, operation: str) -> str:
    """``fargate-sim SERVICE OPERATION --help``: the operation's options from the model."""
    return _parser(service, operation_model(service, operation), docs=True).format_help()


def operation_model(service: str, operation: str) -> OperationModel:
    """The operation named ``create-cluster``, ``create_cluster`` or ``CreateCluster``."""
    model = service_model(service)
    wanted = operation.replace("-", "_").lower()
    for name in model.operation_names:
        if xform_name(name) == wanted or name.lower() == wanted.replace("_", ""):
            return model.operation_model(name)
    raise CliInputError(f"{service} has no operation {operation!r}")


def operations(service: str) -> list[str]:
    """The AWS CLI names (``create-cluster``) of a service's operations."""
    return sorted(xform_name(n, "-") for n in service_model(service).operation_names)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot print {type(value).__name__}")


def format_output(response: dict[str, Any]) -> str:
    """A response as the AWS CLI prints it (JSON, 4-space indent, no ResponseMetadata)."""
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return json.dumps(body, indent=4, default=_default)


#: The services the AWS CLI commands can call.
SERVICES = ("ecs", "kms", "iam")


def run_aws_cli(sim: Simulation, argv: list[str], principal: str | None = None) -> tuple[dict, str]:
    """Run ``[service, operation, --options...]`` in ``sim``; return the response and its text
    as the AWS CLI prints it."""
    service, operation, *rest = argv
    if service not in SERVICES:
        raise CliInputError(f"unknown service {service!r}; the simulator has {', '.join(SERVICES)}")
    params = parse_arguments(service, operation, rest)
    op = operation_model(service, operation)
    response = sim.client(service, principal=principal).call(op.name, params)
    return response, format_output(response)
