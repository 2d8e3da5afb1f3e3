"""Wildcard matching as IAM does it: ``*`` (any run of characters) and ``?`` (one character).

Patterns are translated once into compiled regular expressions and cached. ARN-shaped
patterns (``arn:partition:service:region:account:resource``) match segment-wise, as IAM
documents for ``Resource`` and the ``Arn*`` condition operators: a wildcard in the first five
segments stays inside its segment, one in the resource segment may span ``/`` and ``:``.
"""

from __future__ import annotations

import re
from functools import lru_cache

_FLAGS = re.DOTALL


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def glob_body(pattern: str, *, segment: bool = False) -> str:
    """The regex body for a glob: ``*`` and ``?`` are wildcards, everything else literal.

    With ``segment=True`` the wildcards do not cross a ``:`` (one ARN segment).
    """
    star, one = ("[^:]*", "[^:]") if segment else (".*", ".")
    out = []
    literal: list[str] = []
    for ch in pattern:
        if ch == "*" or ch == "?":
            if literal:
                out.append(re.escape("".join(literal)))
                literal = []
            out.append(star if ch == "*" else one)
        else:
            literal.append(ch)
    if literal:
        out.append(re.escape("".join(literal)))
    return "".join(out)


def arn_body(pattern: str) -> str:
    """The regex body for an ARN pattern, matched segment-wise (see the module docstring)."""
    parts = pattern.split(":", 5)
    if parts[0] != "arn":
        return glob_body(pattern)
    if len(parts) < 6:  # fewer segments than an ARN: wildcards still stay in their segment
        return ":".join(glob_body(p, segment=True) for p in parts)
    head = ":".join(glob_body(p, segment=True) for p in parts[:5])
    return head + ":" + glob_body(parts[5])


def resource_body(pattern: str) -> str:
    """The regex body for a ``Resource`` element pattern.

    As ``arn_body``, except that a ``*`` ending an ARN segment may expand past the colon
    (IAM: "if the * is the last character of a resource ARN segment, it can expand to match
    beyond the colon boundaries"), so ``arn:aws:iam::*`` covers every IAM ARN.
    """
    parts = pattern.split(":", 5)
    if parts[0] != "arn":
        return glob_body(pattern)
    head = parts[:5]
    out = []
    for p in head:
        if p.endswith("*"):
            out.append(glob_body(p[:-1], segment=True) + ".*")
        else:
            out.append(glob_body(p, segment=True))
    body = ":".join(out)
    if len(parts) == 6:
        body += ":" + glob_body(parts[5])
    return body


@lru_cache(maxsize=8192)
def compile_glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A compiled regex that ``fullmatch``-es exactly what the glob ``pattern`` matches."""
    return re.compile(glob_body(pattern), _FLAGS | (re.IGNORECASE if ignore_case else 0))


@lru_cache(maxsize=8192)
def compile_arn(pattern: str) -> re.Pattern[str]:
    """A compiled regex for an ARN pattern matched segment-wise."""
    return re.compile(arn_body(pattern), _FLAGS)


def compile_alternatives(bodies: list[str], ignore_case: bool = False) -> re.Pattern[str] | None:
    """One regex matching any of ``bodies`` in full (``None`` for an empty list)."""
    if not bodies:
        return None
    return _compile_alternatives(tuple(sorted(set(bodies))), ignore_case)


@lru_cache(maxsize=4096)
def _compile_alternatives(bodies: tuple[str, ...], ignore_case: bool) -> re.Pattern[str]:
    return re.compile(
        "(?:" + "|".join(bodies) + ")", _FLAGS | (re.IGNORECASE if ignore_case else 0)
    )


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return compile_glob(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    return compile_arn(pattern).fullmatch(value) is not None
