"""``fargate-sim ecs|kms|iam OPERATION [--options]``: the AWS CLI's commands, simulated.

The options are the AWS CLI's (``aws ecs create-cluster --cluster NAME --configuration
JSON``), taken from botocore's model, and the output is printed as the AWS CLI prints it.
Each invocation runs in a fresh simulation; KMS keys that the arguments name by ARN are
created in it first (with a key policy that lets the account use them and Fargate work, the
seed's policy) so that a command copied from the AWS documentation runs as written.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from simulator.awscli import (
    SERVICES,
    CliInputError,
    operation_help,
    operations,
    parse_arguments,
    run_aws_cli,
)
from simulator.cli import fail
from simulator.errors import ClientError

_KEY_ARN = re.compile(
    r"arn:(?P<partition>aws[\w-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<id>[\w-]+)"
)


def referenced_keys(argv: list[str]) -> list[re.Match[str]]:
    """KMS key ARNs that appear anywhere in the arguments."""
    return [m for arg in argv for m in _KEY_ARN.finditer(arg)]


#: The simulator's own options, which may also follow the operation's options.
_OWN_FLAGS: dict[str, str | None] = {
    "--no-create-keys": None, "--principal": "principal", "--account": "account",
    "--region": "region",
}


def _own_options(args: argparse.Namespace) -> list[str]:
    """Take the simulator's options out of the AWS CLI's options wherever they stand."""
    rest: list[str] = []
    it = iter(args.options)
    for item in it:
        flag, eq, value = item.partition("=")
        if flag not in _OWN_FLAGS:
            rest.append(item)
        elif _OWN_FLAGS[flag] is None:
            args.no_create_keys = True
        else:
            setattr(args, str(_OWN_FLAGS[flag]), value if eq else next(it, None))
    return rest


def _command(args: argparse.Namespace) -> int:
    from simulator.world import Simulation

    argv = [args.service, args.operation, *_own_options(args)]
    if "--help" in argv[2:] or "-h" in argv[2:]:
        try:
            print(operation_help(args.service, args.operation))
        except CliInputError as exc:
            return fail(args, exc)
        return 0
    keys = referenced_keys(argv)
    account = args.account or (keys[0]["account"] if keys else "111122223333")
    region = args.region or (keys[0]["region"] if keys else "us-west-2")
    sim = Simulation(account_id=account, region=region)
    cluster = _cluster_name(argv)
    if not args.no_create_keys:
        for m in keys:
            if m["account"] == account and m["region"] == region:
                created = ensure_key(sim, m["id"], cluster)
                if created:
                    print(f"note: created KMS key {m.group(0)} in the simulated account "
                          "(the seed's key policy); --no-create-keys to skip", file=sys.stderr)
    try:
        _, text = run_aws_cli(sim, argv, principal=args.principal)
    except CliInputError as exc:
        return fail(args, exc)
    except ClientError as exc:
        print(f"\n{exc}", file=sys.stderr)  # as the AWS CLI prints it
        if exc.explanation and exc.explanation != exc.message:
            print(f"  why: {exc.explanation}", file=sys.stderr)  # the simulator's reason
        return 254
    print(text)
    return 0


def _cluster_name(argv: list[str]) -> str:
    """The cluster the command names (for the key policy's encryption context condition)."""
    try:
        params = parse_arguments(argv[0], argv[1], argv[2:])
    except CliInputError:
        return "default"
    name = params.get("clusterName") or params.get("cluster") or "default"
    return str(name).rsplit("/", 1)[-1]


def ensure_key(sim: Any, key_id: str, cluster_name: str) -> bool:
    """Create the key ``key_id`` in ``sim`` unless it exists; True when created."""
    from simulator.iam.seed import seed_key_policy

    kms = sim.service("kms")
    if kms.has_key(key_id):
        return False
    kms.create_key_with_id(
        key_id, policy=seed_key_policy(sim.account_id, cluster_name, partition=sim.partition)
    )
    return True


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ecs``, ``kms`` and ``iam`` command groups."""
    for service in SERVICES:
        p = subparsers.add_parser(
            service,
            help=f"AWS CLI '{service}' commands against a simulation",
            description=f"The AWS CLI's '{service}' commands: " + ", ".join(operations(service)),
        )
        p.add_argument("operation", help="e.g. " + operations(service)[0])
        p.add_argument("options", nargs=argparse.REMAINDER, help="the AWS CLI's options")
        p.add_argument("--principal", help="call as this ARN or service principal (default: root)")
        p.add_argument("--account", help="the simulated account (default: from the key ARNs)")
        p.add_argument("--region", help="the simulated Region (default: from the key ARNs)")
        p.add_argument("--no-create-keys", action="store_true",
                       help="do not create the KMS keys named in the arguments")
        p.set_defaults(func=_command, service=service)
