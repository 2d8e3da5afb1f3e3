"""``fargate-sim serve``: a local AWS endpoint (KMS, ECS, IAM, STS, CloudTrail, CloudFormation)."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import math
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from simulator.cli import key_value
from simulator.clock import LAST_INSTANT

DEFAULT_STATE = "fargate-sim-state.db"
#: The cyclic collector's thresholds while serving (Python's defaults: 700, 10, 10).
GC_THRESHOLDS = (10_000, 50, 1_000)
#: The default audit retention (``simulator.api.endpoint.AuditRetention``).
AUDIT_EVENTS = 20_000
AUDIT_DAYS = 90.0
#: How far the simulated clock may be from wall time before the banner says what that means.
SKEW_NOTE_SECONDS = 3600.0


def _fail(message: str) -> int:
    print(f"fargate-sim serve: {message}", file=sys.stderr)
    return 2


def _root_key(text: str) -> tuple[str, str]:
    akid, sep, secret = text.partition(":")
    if not sep or not akid or not secret:
        raise argparse.ArgumentTypeError(f"expected ACCESS_KEY_ID:SECRET, got {text!r}")
    return akid, secret


def _start_time(text: str) -> datetime:
    """``--start-time``: an ISO 8601 instant (``2026-06-01``, ``2026-06-01T12:00:00Z``); a
    time without a zone is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-06-01T12:00:00Z, got {text!r}") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when.timestamp() >= LAST_INSTANT - 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} leaves the clock no time before 9999-12-31")
    return when


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _command(args: argparse.Namespace) -> int:
    from simulator.api import DEFAULT_ROOT_KEY, Authenticator
    from simulator.api.endpoint import AuditRetention, Endpoint
    from simulator.api.server import SimulatorServer
    from simulator.api.store import StateError, StateStore
    from simulator.world import Simulation

    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port} is not a TCP port (0-65535)")
    if not 0 <= args.speed < math.inf:
        return _fail(f"--speed {args.speed} must be a number >= 0 (simulated seconds per "
                     "wall second)")
    speed = 0.0 if args.clock == "manual" else args.speed
    try:
        retention = AuditRetention(args.audit_retention, args.audit_retention_days)
    except ValueError as exc:
        return _fail(f"--audit-retention: {exc}")
    if args.root_key and args.no_auth:
        return _fail("--root-key and --no-auth contradict each other: pick one")

    def make_sim() -> Simulation:
        return Simulation(account_id=args.account, region=args.region,
                          quotas=not args.no_quotas,
                          start_time=args.start_time or datetime.now(UTC).replace(microsecond=0))

    store = None
    sim = None
    if not args.ephemeral:
        try:
            store = StateStore(Path(args.state))
            sim = store.load()
        except (StateError, OSError, Exception) as exc:
            return _fail(f"cannot use --state {args.state}: {exc}")
        if sim is not None and (sim.account_id, sim.region) != (args.account, args.region):
            return _fail(f"--state {args.state} holds account {sim.account_id} in "
                         f"{sim.region}; pass those or another --state file")
        if sim is not None and args.start_time is not None:
            return _fail(f"--start-time starts a new simulation, and --state {args.state} "
                         f"holds one (now {sim.clock.now():%Y-%m-%dT%H:%M:%SZ}): pass "
                         "--ephemeral or another --state file, or drop --start-time")
    restored = sim is not None
    if sim is None:
        sim = make_sim()
    elif speed > 0 and store is not None:
        # The world kept running while the server was down: a restored clock moves on by the
        # wall time since the last save, at this speed (tasks due to start have started,
        # sessions due to expire have expired). State saved before the save time was kept
        # catches up with wall time, as that state's clock followed it.
        saved = store.saved_at
        behind = ((time.time() - saved) * speed if saved is not None
                  else time.time() - sim.clock.time())
        behind = min(behind, LAST_INSTANT - 1.0 - sim.clock.time())
        if behind > 0:
            sim.clock.advance(behind)
    root = args.root_key or DEFAULT_ROOT_KEY
    auth = None if args.no_auth else Authenticator(root)
    endpoint = Endpoint(sim, auth=auth, principals=dict(args.principal or []), store=store,
                        speed=speed, make_sim=make_sim, retention=retention)
    try:
        server = SimulatorServer(endpoint, (args.host, args.port))
    except (OSError, OverflowError, socket.gaierror) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return _fail(f"cannot listen on {args.host}:{args.port}: {reason}")
    if store is not None and not restored:
        endpoint.save()
    print(f"fargate-sim serving KMS, ECS, IAM, STS, CloudTrail and CloudFormation for account "
          f"{sim.account_id} in {sim.region} at {server.url}")
    where = "memory only (--ephemeral)" if store is None else str(store.path)
    pace = "manual" if speed == 0 else f"wall time x{speed:g}"
    print(f"  state: {where}{' (restored)' if restored else ''}; clock: {pace}, "
          f"now {sim.clock.now():%Y-%m-%dT%H:%M:%SZ}")
    if abs(sim.clock.time() - time.time()) > SKEW_NOTE_SECONDS:
        print("  NOTE: the simulated clock is not wall time: STS credentials expire in "
              "simulated time, and SDKs that cache them (AWS CLI role profiles, boto3's "
              "AssumeRole provider) judge that by their own clock, so they may call them "
              "expired; pass the keys from 'aws sts assume-role' instead")
    if auth is None:
        print("  WARNING: --no-auth: signatures are not checked; any key calls as the root "
              "(or as --principal maps it)")
        if not _loopback(args.host):
            print(f"  WARNING: {args.host} is not a loopback address and requests are not "
                  "authenticated: anyone who can reach it acts as the account root")
    else:
        print(f"  root credentials: AWS_ACCESS_KEY_ID={root[0]} AWS_SECRET_ACCESS_KEY={root[1]}")
    print(f"  AWS_ENDPOINT_URL={server.url} AWS_DEFAULT_REGION={sim.region} aws kms list-keys")
    print(f"  audit trail: the last {retention.events or 'unlimited'} events, "
          f"{retention.days:g} days (--audit-retention, --audit-retention-days)")
    print(f"  admin API: {server.url}/_fargate-sim/status (fargate-sim admin --help)")
    sys.stdout.flush()

    # Everything made so far (botocore's models, the restored state) lives as long as the
    # server: kept out of the cyclic collector's generations, which requests then scan
    # faster (https://docs.python.org/3/library/gc.html#gc.freeze). Requests allocate many
    # short-lived objects while the kept audit trail is large: collecting less often cut the
    # collector's share of a DescribeKey about threefold at 20,000 kept records.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    worker.start()
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    server.shutdown()
    server.server_close()
    if store is not None:
        store.close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    p = subparsers.add_parser(
        "serve", help="serve KMS, ECS, IAM, STS, CloudTrail and CloudFormation over HTTP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--account", default="111122223333")
    p.add_argument("--region", default="us-west-2")
    p.add_argument("--root-key", type=_root_key, metavar="ACCESS_KEY_ID:SECRET",
                   help="the account root's access key pair (default: AWS's documentation "
                        "example pair, printed at start)")
    p.add_argument("--no-auth", action="store_true",
                   help="accept any signature, or none (calls are the root's unless "
                        "--principal maps the key)")
    p.add_argument("--principal", action="append", metavar="ACCESS_KEY_ID=ARN", type=key_value,
                   help="with --no-auth: call as ARN when a request names ACCESS_KEY_ID")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated seconds per wall second (default 1)")
    p.add_argument("--start-time", type=_start_time, metavar="ISO8601",
                   help="the simulated time a new simulation starts at (default: now), e.g. "
                        "2026-06-01T00:00:00Z to try what was so before a date")
    p.add_argument("--clock", choices=("wall", "manual"), default="wall",
                   help="manual: time moves only by the admin API")
    p.add_argument("--state", default=DEFAULT_STATE,
                   help=f"SQLite state file (default ./{DEFAULT_STATE}; its key beside it)")
    p.add_argument("--ephemeral", action="store_true", help="keep state in memory only")
    p.add_argument("--no-quotas", action="store_true", help="switch request-rate quotas off")
    p.add_argument("--audit-retention", type=int, default=AUDIT_EVENTS, metavar="EVENTS",
                   help=f"audit records kept for LookupEvents and the admin API (default "
                        f"{AUDIT_EVENTS:,}; 0: no limit); it bounds the server's memory")
    p.add_argument("--audit-retention-days", type=float, default=AUDIT_DAYS, metavar="DAYS",
                   help=f"drop audit records older than DAYS of simulated time (default "
                        f"{AUDIT_DAYS:g}, CloudTrail's event history; 0: no limit)")
    p.set_defaults(func=_command)
