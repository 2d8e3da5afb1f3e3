"""``fargate-sim deploy TEMPLATE``: deploy a CloudFormation template into a simulation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simulator.cli import fail, key_value
from simulator.cloudformation import TemplateError, deploy


def _command(args: argparse.Namespace) -> int:
    from simulator.world import Simulation

    params = dict(args.parameter or [])
    sim = Simulation(account_id=args.account, region=args.region)
    try:
        report = deploy(sim, Path(args.template), parameters=params, stack_name=args.stack_name,
                        principal=args.principal, rollback=not args.disable_rollback)
    except TemplateError as exc:
        return fail(args, exc)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``deploy`` command."""
    p = subparsers.add_parser("deploy", help="deploy a CloudFormation template (YAML or JSON)")
    p.add_argument("template", help="template file")
    p.add_argument("--parameter", action="append", metavar="KEY=VALUE", type=key_value)
    p.add_argument("--stack-name", default="fargate-sim-stack")
    p.add_argument("--principal", help="deploy as this ARN (default: the account root)")
    p.add_argument("--account", default="111122223333")
    p.add_argument("--region", default="us-west-2")
    p.add_argument("--disable-rollback", action="store_true",
                   help="keep what was created when a resource fails")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_command)
