"""Who is calling: an account root, an IAM role or user, or an AWS service principal."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.arn import Arn

ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Principal:
    """A resolved caller identity.

    ``kind`` is ``"Root"``, ``"Role"``, ``"User"`` or ``"AWSService"``. ``arn`` is the
    principal ARN a policy's ``Principal`` element and ``aws:PrincipalArn`` see (for an
    assumed-role session, the role's ARN); ``session_arn`` is the caller's own ARN.
    ``account`` is the account the principal belongs to; for a service principal it is the
    account on whose behalf the service acts. ``access_key_id`` is the key that signed the
    request, when it came signed over HTTP (CloudTrail's ``userIdentity.accessKeyId``).
    For an assumed-role session, ``tags`` are its session tags (they override the role's
    tags of the same key).
    """

    kind: str
    arn: str
    account: str
    name: str = ""
    service: str | None = None
    session_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    invoked_by: str | None = None
    #: The AWS service that makes this caller's request with the caller's own credentials
    #: (forward access: CloudFormation creating a stack's resources), which IAM sees as
    #: aws:ViaAWSService and aws:CalledVia.
    called_via: str | None = None
    access_key_id: str | None = field(default=None, compare=False, hash=False)
    #: An assumed-role session's session policies (``PolicyDocument``s): they limit what the
    #: role's policies allow and never grant more (``simulator.iam.evaluation.evaluate``).
    session_policies: tuple[Any, ...] = field(default=(), compare=False, hash=False)
    #: When the temporary credentials that signed were issued (STS sessions over HTTP):
    #: CloudTrail's ``userIdentity.sessionContext.attributes.creationDate``.
    session_issued: datetime | None = field(default=None, compare=False, hash=False)

    @property
    def is_service(self) -> bool:
        return self.kind == "AWSService"

    @property
    def is_root(self) -> bool:
        return self.kind == "Root"

    @property
    def principal_type(self) -> str:
        """The value of ``aws:PrincipalType``: Account, AssumedRole, User or AWSService."""
        return {"Root": "Account", "Role": "AssumedRole"}.get(self.kind, self.kind)

    @property
    def unique_id(self) -> str:
        """A stable principal id in the style of CloudTrail's ``principalId``."""
        if self.is_root or self.is_service:
            return self.account if self.is_root else (self.service or "")
        return unique_id(self.kind, self.arn)

    def __str__(self) -> str:
        return self.arn


_ID_PREFIX = {"Role": "AROA", "User": "AIDA", "Policy": "ANPA", "Group": "AGPA"}


def unique_id(kind: str, arn: str) -> str:
    """IAM's unique id of an entity (``AROA...`` for roles, ``AIDA...`` for users): 21
    characters, derived from the ARN so that it is stable across runs."""
    digest = base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode()
    return _ID_PREFIX.get(kind, "AIDA") + digest[:17]


def root_arn(account: str, partition: str = "aws") -> str:
    """The ARN of an account's root user."""
    return f"arn:{partition}:iam::{account}:root"


def resolve_principal(text: str | None, default_account: str) -> Principal:
    """Resolve a caller given as an ARN, an account id, or a service principal name.

    ``None`` means the default account's root. Raises ``ValueError`` naming the problem when
    ``text`` is none of the accepted forms.
    """
    if text is None:
        text = default_account
    if not isinstance(text, str) or not text:
        raise ValueError("a principal must be a non-empty string")
    if ACCOUNT_ID.match(text):
        return Principal("Root", root_arn(text), text, name="root")
    if text.endswith(".amazonaws.com") or text.endswith(".amazonaws.com.cn"):
        return Principal("AWSService", text, default_account, name=text, service=text)
    try:
        arn = Arn.parse(text)
    except ValueError as exc:
        raise ValueError(
            f"unknown principal {text!r}: give an account id, an account root, role or user ARN, "
            "or a service principal such as fargate.amazonaws.com"
        ) from exc
    if not ACCOUNT_ID.match(arn.account):
        raise ValueError(f"principal {text!r} has no 12-digit account id")
    if arn.service == "iam" and arn.resource == "root":
        return Principal("Root", text, arn.account, name="root")
    if arn.service == "iam" and arn.resource_type == "role":
        return Principal("Role", text, arn.account, name=arn.resource.rsplit("/", 1)[-1])
    if arn.service == "iam" and arn.resource_type == "user":
        return Principal("User", text, arn.account, name=arn.resource.rsplit("/", 1)[-1])
    if arn.service == "sts" and arn.resource_type == "assumed-role":
        parts = arn.resource.split("/")
        if len(parts) < 3:
            raise ValueError(f"assumed-role ARN {text!r} needs a role name and a session name")
        role_arn = f"arn:{arn.partition}:iam::{arn.account}:role/{parts[1]}"
        return Principal("Role", role_arn, arn.account, name=parts[1], session_arn=text)
    raise ValueError(
        f"unsupported principal {text!r}: only account roots, IAM roles and users, assumed-role "
        "sessions and service principals can call the simulator"
    )
