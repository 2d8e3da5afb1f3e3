"""``fargate-sim serve``: an AWS JSON-protocol endpoint for boto3 and the AWS CLI."""

from __future__ import annotations

import argparse
import time

from simulator.cli import key_value


def _command(args: argparse.Namespace) -> int:
    from simulator.api import serve
    from simulator.world import Simulation

    principals = dict(args.principal or [])
    sim = Simulation(account_id=args.account, region=args.region, quotas=not args.no_quotas)
    server = serve(sim, args.host, args.port, principals)
    print(f"serving KMS and ECS for account {sim.account_id} in {sim.region} at {server.url}")
    print("  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x "
          f"aws --endpoint-url {server.url} --region {sim.region} kms create-key")
    print("  (IAM is not served over HTTP; use fargate-sim iam or the Python client)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    p = subparsers.add_parser("serve", help="serve KMS and ECS over AWS's JSON protocol")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--account", default="111122223333")
    p.add_argument("--region", default="us-west-2")
    p.add_argument("--principal", action="append", metavar="ACCESS_KEY_ID=ARN", type=key_value,
                   help="call as ARN when a request is signed with ACCESS_KEY_ID")
    p.add_argument("--no-quotas", action="store_true", help="switch request-rate quotas off")
    p.set_defaults(func=_command)
