"""``fargate-sim df``: what ``df`` and task metadata show inside a Fargate task."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from simulator.cli import fail, key_value

_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes from "1.5G", "300M", "2GiB", "500MB" or "4096" (K/M/G/T are powers of 1024, as in
    coreutils; KB/MB/GB/TB powers of 1000)."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use a number with K, M, G, T (1024) or KB, MB, GB (1000)"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``df`` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "df",
        help="what df -h and task metadata show inside a task",
        description=(
            "Model a Fargate task's ephemeral storage and print the lines df prints inside the "
            "task plus task metadata's EphemeralStorageMetrics. Constants and their sources: "
            "simulator.fargate.storage.DEFAULTS."
        ),
    )
    p.add_argument("--size", type=int, default=20, metavar="GIB",
                   help="configured ephemeral storage, 20-200 GiB (default 20)")
    p.add_argument("--cmk", action="store_true",
                   help="the cluster encrypts ephemeral storage with a customer managed key")
    p.add_argument("--cipher", metavar="SPEC", default=None,
                   help="cipher of the encryption layer, e.g. aes-xts-plain64 or "
                        "aes-gcm-random:256:4096 (AEAD metadata and journal cost space)")
    p.add_argument("--image-size", type=parse_size, default=0, metavar="SIZE",
                   help="compressed size of the container image, e.g. 1.5G")
    p.add_argument("--image-uncompressed", type=parse_size, default=None, metavar="SIZE",
                   help="uncompressed image size (default: an assumed ratio of the compressed)")
    p.add_argument("--used", type=parse_size, default=0, metavar="SIZE",
                   help="data the task has written, e.g. 300M")
    p.add_argument("--memory", type=int, default=None, metavar="MIB",
                   help="task memory, for the tmpfs lines")
    p.add_argument("--constant", action="append", default=[], type=key_value,
                   metavar="NAME=VALUE",
                   help="override a constant of the model (repeatable); names, values and "
                        "sources: --json's \"constants\" or simulator.fargate.storage.DEFAULTS")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--human", dest="format", action="store_const", const="human",
                     help="df -h (default)")
    fmt.add_argument("--bytes", dest="format", action="store_const", const="bytes",
                     help="df -B1")
    fmt.add_argument("--json", dest="format", action="store_const", const="json",
                     help="every layer, the df lines and the constants as JSON")
    p.set_defaults(func=func, format="human")
    return p


def func(args: argparse.Namespace) -> int:
    """Build the storage model from the arguments and print it."""
    from simulator.crypt import CipherSpec
    from simulator.fargate.storage import DEFAULTS, EphemeralStorage

    try:
        constants = DEFAULTS
        if args.constant:
            values: dict[str, float] = {}
            for name, text in args.constant:
                try:
                    values[name] = float(text) if any(c in text for c in ".eE") else int(text)
                except ValueError:
                    raise ValueError(f"--constant {name}={text}: not a number") from None
            constants = DEFAULTS.override(**values)
        cipher = CipherSpec.parse(args.cipher) if args.cipher else None
        storage = EphemeralStorage(
            size_gib=args.size, cmk=args.cmk, cipher=cipher, image_bytes=args.image_size,
            used_bytes=args.used, image_uncompressed_bytes=args.image_uncompressed,
            memory_mib=args.memory, constants=constants,
        )
        problem = storage.fit_problem()
        if problem:
            raise ValueError(problem)
    except ValueError as exc:
        return fail(args, exc)
    if args.format == "json":
        print(json.dumps(storage.to_dict(), indent=2))
        return 0
    print("\n".join(storage.df_lines(human=args.format != "bytes")))
    print()
    print("task metadata:", json.dumps(storage.task_metadata()))
    return 0
