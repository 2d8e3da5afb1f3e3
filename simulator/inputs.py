"""Reading the documents people hand the simulator: bounded, decoded, parsed with limits.

Every file the CLI, a scenario, a template or an experiment spec names is read here: at most
``limit`` bytes (``/dev/zero`` or a huge file is refused, not read to the end), decoded as
UTF-8 with an error that names the file and the offending byte, and parsed as JSON, YAML or
TOML with a nesting limit and, for YAML, a limit on the nodes aliases expand to (a "billion
laughs" document is refused before anything walks it). Every problem is an ``InputError``
whose message is one line naming the file and what is wrong.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

#: Default cap on a document read from a file: far above any policy, template, scenario or
#: experiment spec the simulator takes, far below what would exhaust memory.
DEFAULT_LIMIT = 1 << 20
#: Deepest nesting of lists and maps accepted in a JSON, YAML or TOML document.
MAX_DEPTH = 64
#: Most nodes a YAML document may hold once its aliases are expanded.
MAX_YAML_NODES = 100_000


class InputError(ValueError):
    """A document that cannot be used as given; the message names the file and the reason."""


def read_bytes(source: str | Path, *, limit: int = DEFAULT_LIMIT, what: str = "file") -> bytes:
    """The bytes of ``source`` (``-``: standard input), refusing more than ``limit`` bytes."""
    name = str(source)
    try:
        if name == "-" and not isinstance(source, Path):
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:  # a text stream (tests, embedding): already decoded
                data = sys.stdin.read(limit + 1).encode("utf-8")
            else:
                data = stream.read(limit + 1)
        else:
            with open(source, "rb") as fh:
                data = fh.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a {what}") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{name}: larger than the {limit:,}-byte limit for a {what}")
    return data


def decode(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text (a leading byte order mark is dropped), or an InputError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff")


def read_text(source: str | Path, *, limit: int = DEFAULT_LIMIT, what: str = "file") -> str:
    """The UTF-8 text of ``source``, bounded by ``limit`` bytes."""
    return decode(read_bytes(source, limit=limit, what=what), str(source))


def check_depth(value: Any, name: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``value`` when its lists and maps nest deeper than ``max_depth`` (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen: set[int] = set()
    children: Any
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise InputError(f"{name}: nested more than {max_depth} levels deep")
        if id(item) in seen:  # YAML aliases share objects; each is walked once
            continue
        seen.add(id(item))
        stack.extend((child, depth + 1) for child in children)


def _too_deep(name: str, max_depth: int) -> InputError:
    return InputError(f"{name}: nested more than {max_depth} levels deep")


def parse_json(text: str, name: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``text`` as JSON, nested at most ``max_depth`` levels."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise _too_deep(name, max_depth) from None
    check_depth(value, name, max_depth)
    return value


def parse_toml(text: str, name: str, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """``text`` as TOML, nested at most ``max_depth`` levels."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{name}: not valid TOML: {exc}") from None
    except RecursionError:
        raise _too_deep(name, max_depth) from None
    check_depth(value, name, max_depth)
    return value


def parse_yaml(
    text: str,
    name: str,
    *,
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_YAML_NODES,
) -> Any:
    """``text`` as YAML (one document), refusing deep nesting and alias expansion beyond
    ``max_nodes`` before anything is constructed."""
    _check_flow_depth(text, name, max_depth)
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        _check_yaml_graph(node, name, max_depth, max_nodes)
        return parser.construct_document(node)
    except yaml.YAMLError as exc:
        raise InputError(f"{name}: not valid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise _too_deep(name, max_depth) from None
    finally:
        parser.dispose()


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|#[^\n]*')
_BRACKETS = re.compile(r"[\[\]{}]")


def _check_flow_depth(text: str, name: str, max_depth: int) -> None:
    """Refuse deeply nested flow collections before PyYAML's scanner (quadratic in the
    nesting of ``[`` and ``{``) sees them; quoted strings and comments are skipped."""
    depth = 0
    for m in _BRACKETS.finditer(_QUOTED.sub("", text)):
        depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
        if depth > max_depth:
            raise _too_deep(name, max_depth)


def _check_yaml_graph(root: yaml.Node, name: str, max_depth: int, max_nodes: int) -> None:
    """Depth and expanded size of a composed YAML graph, computed without expanding it."""
    size: dict[int, int] = {}
    visiting: set[int] = set()
    # Post-order walk: a node's expanded size is 1 + its children's (aliases counted in full).
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > max_depth:
            raise _too_deep(name, max_depth)
        kids = _children(node)
        if done:
            visiting.discard(id(node))
            size[id(node)] = 1 + sum(size[id(k)] for k in kids)
            if size[id(node)] > max_nodes:
                raise InputError(
                    f"{name}: expands to more than {max_nodes:,} YAML nodes (aliases "
                    "repeat what they refer to); refused before it is read"
                )
            continue
        if id(node) in size:
            continue
        if id(node) in visiting:
            raise InputError(f"{name}: a YAML alias refers to a node that contains it")
        visiting.add(id(node))
        stack.append((node, depth, True))
        stack.extend((k, depth + 1, False) for k in kids if id(k) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
