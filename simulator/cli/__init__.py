"""``fargate-sim``: the command line. Thin: parse, call the library, print.

Each command group lives in its own module of this package and exposes
``register(subparsers)``; the parsed arguments carry ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

#: Command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "run",  # the benchmark harness: run, compare, plot, bench
    "policy",  # policy simulate
    "df",  # what df shows inside a task
    "aws",  # ecs|kms|iam OPERATION as the AWS CLI takes it
    "deploy",  # CloudFormation templates
    "scenario",  # scenario files
    "serve",  # an AWS endpoint: KMS, ECS, IAM, STS, CloudTrail
    "admin",  # the endpoint's admin API
)


class CommandError(Exception):
    """Bad input to a command: printed as one ``fargate-sim CMD: error: ...`` line, exit 2."""


def prog(args: argparse.Namespace) -> str:
    """How error lines name the command (``fargate-sim policy lint``), as argparse does."""
    words = ["fargate-sim", getattr(args, "command", None), getattr(args, "policy_command", None)]
    return " ".join(w for w in words if w)


def fail(args: argparse.Namespace, message: object) -> int:
    """Print one error line in the one style every command uses; return exit status 2."""
    print(f"{prog(args)}: error: {message}", file=sys.stderr)
    return 2


def key_value(text: str) -> tuple[str, str]:
    """An argparse ``type`` for ``KEY=VALUE`` options: refused at parse time when malformed."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command group that is installed."""
    parser = argparse.ArgumentParser(
        prog="fargate-sim",
        description=(
            "Simulate AWS Fargate ephemeral storage encrypted with a customer-managed KMS key: "
            "policies, KMS, ECS tasks, and benchmarks of the encrypted volume."
        ),
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the package, botocore and verified model versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"simulator.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"simulator.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


class _Version(argparse.Action):
    """``--version``: printed unwrapped (argparse's own action rewraps it to the terminal)."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from simulator.drift import version_report

        print(version_report())
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fargate-sim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    from simulator.inputs import InputError

    if args.command in ("run", "scenario"):
        from simulator.heap import freeze_long_lived

        freeze_long_lived()  # long simulations: full collections skip the process's base
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (CommandError, InputError) as exc:
        return fail(args, exc)
    except OSError as exc:  # e.g. an --out directory that cannot be created
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(args, f"{where}{exc.strerror or exc}")
    except Exception as exc:
        # A simulator bug: one line, not a traceback (FARGATE_SIM_TRACEBACK=1 shows it).
        if os.environ.get("FARGATE_SIM_TRACEBACK"):
            raise
        detail = " ".join(str(exc).split())
        print(f"{prog(args)}: internal error: {type(exc).__name__}: {detail} (a simulator bug; "
              "FARGATE_SIM_TRACEBACK=1 shows where)", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
