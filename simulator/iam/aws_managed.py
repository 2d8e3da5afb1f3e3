"""AWS managed policies: their documents are package data, ``managed_policies/PATH/NAME.json``.

A file's folder below ``managed_policies`` is the policy's path and its stem the policy's name,
so ``managed_policies/service-role/AmazonECSTaskExecutionRolePolicy.json`` is
``arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy``. Each document is
AWS's default version as the AWS Managed Policy Reference shows it
(https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html), except
ReadOnlyAccess, whose thousands of listed actions are abbreviated to ``*:Describe*``,
``*:Get*`` and ``*:List*``. A new one is a new file; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

PACKAGE = "simulator.iam"
FOLDER = "managed_policies"


@dataclass(frozen=True)
class AwsManagedPolicy:
    """One AWS managed policy as shipped: its name, its path and its document's text."""

    name: str
    path: str
    document: str

    def arn(self, partition: str) -> str:
        return f"arn:{partition}:iam::aws:policy{self.path}{self.name}"


def _walk(folder: Traversable, path: str) -> Iterator[AwsManagedPolicy]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, f"{path}{entry.name}/")
        elif entry.name.endswith(".json"):
            yield AwsManagedPolicy(entry.name[:-5], path, entry.read_text("utf-8"))


@cache
def aws_managed_policies() -> tuple[AwsManagedPolicy, ...]:
    """Every AWS managed policy the simulator knows, sorted by path and name."""
    return tuple(_walk(resources.files(PACKAGE).joinpath(FOLDER), "/"))
