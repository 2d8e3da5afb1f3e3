"""ARN parsing and formatting: ``arn:partition:service:region:account:resource``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arn:
    """A parsed Amazon Resource Name."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        """Parse ``text``; raise ``ValueError`` naming what is wrong when it is not an ARN."""
        if not isinstance(text, str):
            raise ValueError(f"an ARN must be a string, not {type(text).__name__}")
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise ValueError(
                f"{text!r} is not an ARN (arn:partition:service:region:account:resource)"
            )
        _, partition, service, region, account, resource = parts
        if not partition or not service:
            raise ValueError(f"{text!r} is not an ARN: partition and service must not be empty")
        return cls(partition, service, region, account, resource)

    @property
    def resource_type(self) -> str:
        """The resource before the first ``/`` or ``:`` (``key``, ``role``, ``cluster``)."""
        for sep in ("/", ":"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[0]
        return ""

    @property
    def resource_id(self) -> str:
        """The part of the resource after its type (``1234abcd-...``, ``Operator``)."""
        for sep in ("/", ":"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[1]
        return self.resource

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def is_arn(text: object) -> bool:
    """True when ``text`` parses as an ARN."""
    try:
        Arn.parse(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def make_arn(service: str, region: str, account: str, resource: str, partition: str = "aws") -> str:
    """Format an ARN string."""
    return str(Arn(partition, service, region, account, resource))
