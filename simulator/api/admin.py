"""The admin API: control of the simulation that AWS has no API for.

Under the reserved path ``/_fargate-sim/`` (as LocalStack reserves ``/_localstack/`` and moto
``/moto-api/``), JSON in and out, unsigned:

- ``GET  /_fargate-sim/status``         the clock, speed, services, counts
- ``POST /_fargate-sim/clock/advance``  ``{"seconds": N}``: move simulated time forward
- ``POST /_fargate-sim/settle``         run every task and deployment to its desired state
- ``POST /_fargate-sim/reset``          forget all state (a fresh simulation)
- ``GET  /_fargate-sim/audit?since=N&limit=M``  the audit trail's records from index N
  (indices count every record made; those past the retention are gone, ``first`` says
  where the kept ones start)
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from simulator.api import endpoint as E

PATHS = ("status", "clock/advance", "settle", "reset", "audit")


def _ok(body: dict[str, Any]) -> E.Response:
    return 200, {"Content-Type": "application/json",
                 "x-amzn-RequestId": E.new_request_id()}, json.dumps(body, default=str).encode()


def _bad(status: int, code: str, message: str) -> E.Response:
    return E.json_error(status, code, message)


def _number(body: dict[str, Any], name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def status(ep: E.Endpoint) -> dict[str, Any]:
    sim = ep.sim
    return {
        "account": sim.account_id, "region": sim.region, "now": sim.clock.now().isoformat(),
        "speed": ep.clock.speed, "clock": "manual" if ep.clock.speed == 0 else "wall",
        "auth": ep.auth is not None, "state": str(ep.store.path) if ep.store else None,
        "pendingEvents": sim.clock.pending, "auditRecords": len(sim.audit_trail),
        "auditRetention": {"events": ep.retention.events, "days": ep.retention.days,
                           "first": ep.audit_base},
        "requests": ep.requests,
    }


def handle(ep: E.Endpoint, method: str, path: str, query_string: str, body: bytes
           ) -> E.Response:
    path = path.strip("/")
    if path not in PATHS:
        return _bad(404, "ResourceNotFoundException",
                    f"no admin path /_fargate-sim/{path}; there are " +
                    ", ".join(f"/_fargate-sim/{p}" for p in PATHS))
    want = "GET" if path in ("status", "audit") else "POST"
    if method != want:
        return _bad(405, "MethodNotAllowed", f"/_fargate-sim/{path} takes {want}")
    try:
        args = json.loads(body or b"{}")
        if not isinstance(args, dict):
            raise ValueError("the body must be a JSON object")
    except (ValueError, RecursionError) as exc:
        return _bad(400, "SerializationException", f"admin request body: {exc}")
    try:
        with ep.lock:
            ep.clock.sync()
            if path == "status":
                return _ok(status(ep))
            if path == "clock/advance":
                seconds = _number(args, "seconds")
                ep.sim.clock.advance(seconds)
                ep.clock.moved()
                ep.save()
                return _ok({"now": ep.sim.clock.now().isoformat()})
            if path == "settle":
                limit = _number(args, "maxSeconds", 3600.0)
                ep.sim.fargate.settle(limit)
                ep.clock.moved()
                ep.save()
                return _ok({"now": ep.sim.clock.now().isoformat()})
            if path == "reset":
                ep.reset()
                return _ok({"reset": True, "now": ep.sim.clock.now().isoformat()})
            q = dict(parse_qsl(query_string))
            since = int(q.get("since", 0))
            limit = int(q.get("limit", 1000))
            if since < 0 or limit < 0:
                raise ValueError("since and limit must be >= 0")
            # Indices count every record the server made; records older than the
            # retention keeps are gone ("first" says where the kept ones start).
            base = ep.audit_base
            start = max(since, base) - base
            records = ep.sim.audit_trail[start:start + limit]
            return _ok({"records": records, "next": base + start + len(records),
                        "first": base, "total": base + len(ep.sim.audit_trail)})
    except ValueError as exc:
        return _bad(400, "ValidationException", str(exc))
