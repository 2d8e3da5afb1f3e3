"""``fargate-sim deploy TEMPLATE``: deploy a CloudFormation template into a simulation.

As with ``fargate-sim ecs ...``, KMS keys the template names by ARN are created first (with
the seed's key policy, for the template's cluster) so that a documentation template, such as
the one in the Fargate storage encryption page, deploys as written; ``--no-create-keys``
shows what happens when the key is not there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from simulator.cli import fail, key_value
from simulator.cloudformation import TemplateError, deploy, load_template


def _command(args: argparse.Namespace) -> int:
    from simulator.cli.aws import ensure_key, referenced_keys
    from simulator.world import Simulation

    params = dict(args.parameter or [])
    try:
        doc = load_template(Path(args.template))
    except TemplateError as exc:
        return fail(args, exc)
    keys = referenced_keys([json.dumps(doc)])
    account = args.account or (keys[0]["account"] if keys else "111122223333")
    region = args.region or (keys[0]["region"] if keys else "us-west-2")
    sim = Simulation(account_id=account, region=region)
    if not args.no_create_keys:
        cluster = _cluster_name(doc, params, args.stack_name)
        for m in keys:
            if (m["account"], m["region"]) == (account, region) and ensure_key(
                    sim, m["id"], cluster):
                print(f"note: created KMS key {m.group(0)} in the simulated account (the "
                      "seed's key policy); --no-create-keys to skip", file=sys.stderr)
    try:
        report = deploy(sim, doc, parameters=params, stack_name=args.stack_name,
                        principal=args.principal, rollback=not args.disable_rollback)
    except TemplateError as exc:
        return fail(args, exc)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


def _cluster_name(doc: dict[str, Any], params: dict[str, str], stack: str) -> str:
    """The name of the template's (first) ECS cluster, for the key policy's encryption
    context condition: a literal ClusterName, a Ref to a parameter, or the generated name."""
    for lid, res in doc["Resources"].items():
        if res.get("Type") != "AWS::ECS::Cluster":
            continue
        name = (res.get("Properties") or {}).get("ClusterName")
        if isinstance(name, dict) and set(name) == {"Ref"}:
            decl = (doc.get("Parameters") or {}).get(name["Ref"]) or {}
            name = params.get(name["Ref"], decl.get("Default"))
        return str(name) if isinstance(name, str | int) else f"{stack}-{lid}"
    return "default"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``deploy`` command."""
    p = subparsers.add_parser("deploy", help="deploy a CloudFormation template (YAML or JSON)")
    p.add_argument("template", help="template file")
    p.add_argument("--parameter", action="append", metavar="KEY=VALUE", type=key_value)
    p.add_argument("--stack-name", default="fargate-sim-stack")
    p.add_argument("--principal", help="deploy as this ARN (default: the account root)")
    p.add_argument("--account",
                   help="the simulated account (default: from the key ARNs, or 111122223333)")
    p.add_argument("--region", help="the simulated Region (default: from the key ARNs, or "
                                    "us-west-2)")
    p.add_argument("--no-create-keys", action="store_true",
                   help="do not create the KMS keys the template names by ARN")
    p.add_argument("--disable-rollback", action="store_true",
                   help="keep what was created when a resource fails")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_command)
