"""``fargate-sim admin``: the running endpoint's admin API (clock, settle, reset, audit)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


def _call(endpoint: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{endpoint.rstrip('/')}/_fargate-sim/{path}", data=data,
                                 method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _command(args: argparse.Namespace) -> int:
    endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
    try:
        if args.action == "status":
            out = _call(endpoint, "GET", "status")
        elif args.action == "advance":
            out = _call(endpoint, "POST", "clock/advance", {"seconds": args.seconds})
        elif args.action == "settle":
            out = _call(endpoint, "POST", "settle", {"maxSeconds": args.max_seconds})
        elif args.action == "reset":
            out = _call(endpoint, "POST", "reset", {})
        else:
            out = _call(endpoint, "GET", f"audit?since={args.since}&limit={args.limit}")
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read())
            detail = f"{err.get('__type')}: {err.get('message', '')}"
        except ValueError:
            detail = str(exc)
        print(f"fargate-sim admin: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"fargate-sim admin: cannot reach {endpoint}: "
              f"{getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"seconds must be a finite number >= 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``admin`` command."""
    p = subparsers.add_parser("admin", help="control a running `fargate-sim serve`")
    p.add_argument("--endpoint", help=f"the server (default $AWS_ENDPOINT_URL or "
                                      f"{DEFAULT_ENDPOINT})")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("status", help="the clock, speed and counts")
    a = sub.add_parser("advance", help="move simulated time forward")
    a.add_argument("seconds", type=_seconds)
    s = sub.add_parser("settle", help="run every task to its desired state")
    s.add_argument("--max-seconds", type=_seconds, default=3600.0)
    sub.add_parser("reset", help="forget all state")
    au = sub.add_parser("audit", help="the audit trail (CloudTrail records)")
    au.add_argument("--since", type=int, default=0)
    au.add_argument("--limit", type=int, default=1000)
    for q in (p,):
        q.set_defaults(func=_command)
