"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/Team}``, ``${*}``, defaults.

Only documents with ``"Version": "2012-10-17"`` honour variables; with 2008-10-17 (or no
Version) ``${...}`` is literal text. A template is parsed once into parts; resolving it for a
request yields chunks ``(text, wildcards_allowed)`` so that a substituted value (or ``${*}``)
is always matched literally, never as a wildcard. A variable whose key the request lacks (and
that has no default) leaves the template unresolved: the element that uses it does not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.iam.values import to_string

if TYPE_CHECKING:
    from simulator.iam.request import RequestContext

_VAR = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s][^,]*?)\s*,\s*'([^']*)'\s*$")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True)
class Variable:
    key: str
    key_l: str
    default: str | None = None


@dataclass(frozen=True)
class Template:
    """A string with policy variables. ``parts`` alternate literal text and variables;
    literal text may hold wildcards, ``Variable`` values and special escapes never do."""

    source: str
    parts: tuple[str | Variable | tuple[str], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.parts if isinstance(p, Variable))

    def resolve(self, request: RequestContext) -> tuple[tuple[str, bool], ...] | None:
        """Chunks ``(text, wildcards_allowed)``, or ``None`` when a variable has no value."""
        out: list[tuple[str, bool]] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append((part, True))
            elif isinstance(part, tuple):
                out.append((part[0], False))
            else:
                values = request.lookup(part.key_l)
                if values is None or len(values) != 1:
                    if part.default is None:
                        return None
                    out.append((part.default, False))
                else:
                    out.append((to_string(values[0]), False))
        return tuple(out)

    def resolve_text(self, request: RequestContext) -> str | None:
        chunks = self.resolve(request)
        return None if chunks is None else "".join(c for c, _ in chunks)

    def missing_keys(self, request: RequestContext) -> list[str]:
        return [
            p.key
            for p in self.parts
            if isinstance(p, Variable) and p.default is None and request.lookup(p.key_l) is None
        ]


class VariableError(ValueError):
    pass


def parse_template(text: str) -> Template | None:
    """Parse ``text``; ``None`` when it holds no variable. Raises VariableError when malformed."""
    if "${" not in text:
        return None
    parts: list[str | Variable | tuple[str]] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        inner = m.group(1)
        if inner in _SPECIAL:
            parts.append((_SPECIAL[inner],))
        else:
            dm = _DEFAULT.match(inner)
            if dm:
                key, default = dm.group(1), dm.group(2)
            else:
                key, default = inner.strip(), None
            if not key or "," in key or "'" in key:
                raise VariableError(f"malformed policy variable ${{{inner}}}")
            parts.append(Variable(key, key.lower(), default))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    if not any(isinstance(p, Variable | tuple) for p in parts):
        return None
    return Template(text, tuple(parts))
