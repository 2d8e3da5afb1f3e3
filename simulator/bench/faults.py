"""Fault injection for the durability tests: die or fail at a named point of the store's writes.

``FARGATE_SIM_FAULT="ACTION@POINT:N[,ACTION@POINT:N...]"`` makes the N-th time the store
reaches POINT in this process do ACTION:

- ``kill``: SIGKILL this process (nothing is flushed, no handler runs: a power cut);
- ``enospc`` / ``erofs``: raise ``OSError(ENOSPC)`` / ``OSError(EROFS)``, as a full or
  read-only disk does.

Points: ``cell`` (a cell's record is durable in cells.jsonl, before the tables are written),
``jsonl`` (half of a cell's record written), ``table`` (a results.csv/parquet temporary file
written, not yet renamed), ``meta`` (a meta.json temporary written, not yet renamed).
Unset (the normal case) costs one dict lookup.
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "FARGATE_SIM_FAULT"
_hits: dict[str, int] = {}


def _plan() -> dict[str, tuple[str, int]]:
    text = os.environ.get(ENV, "")
    out: dict[str, tuple[str, int]] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        action, _, rest = item.partition("@")
        point, _, n = rest.partition(":")
        out[point] = (action, int(n or 1))
    return out


def reach(point: str, path: object = "") -> None:
    """Called by the store at ``point``; does the injected fault when its turn comes."""
    if ENV not in os.environ:
        return
    plan = _plan().get(point)
    if plan is None:
        return
    _hits[point] = _hits.get(point, 0) + 1
    action, n = plan
    if _hits[point] != n:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action in ("enospc", "erofs"):
        code = errno.ENOSPC if action == "enospc" else errno.EROFS
        raise OSError(code, os.strerror(code), str(path))
    raise ValueError(f"{ENV}: unknown action {action!r} (kill, enospc, erofs)")
