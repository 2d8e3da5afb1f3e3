"""``fargate-sim scenario FILE``: run a scenario and report each step; non-zero on failure."""

from __future__ import annotations

import argparse
import json

from simulator.cli import fail
from simulator.scenario import ScenarioError, run_scenario


def _command(args: argparse.Namespace) -> int:
    try:
        report = run_scenario(args.file)
    except ScenarioError as exc:
        return fail(args, exc)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json
          else report.render(verbose=args.verbose))
    return 0 if report.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scenario`` command."""
    p = subparsers.add_parser("scenario", help="run a scenario file (TOML) and report each step")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true", help="show every step's output")
    p.set_defaults(func=_command)
