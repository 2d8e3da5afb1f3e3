"""The Principal / NotPrincipal element: parsing and matching a caller against it."""

from __future__ import annotations

import re
from typing import Any

from simulator.iam.principal import ACCOUNT_ID, Principal

PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
_IAM_ARN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):(iam|sts)::(\d{12}):(.+)$"
)
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.[a-z0-9.-]+$")

_ARN_TYPES = {
    ("iam", "role"), ("iam", "user"), ("iam", "group"),
    ("sts", "assumed-role"), ("sts", "federated-user"),
}

DIRECT = "direct"
ACCOUNT = "account"


class PrincipalError(ValueError):
    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def _strings(raw: Any, path: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, list) and not raw:
        raise PrincipalError("needs at least one value", path)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            where = f"{path}[{i}]" if isinstance(raw, list) else path
            raise PrincipalError("must be a non-empty string or a list of them", where)
    return items


class PrincipalSpec:
    """A parsed Principal element. ``match(principal)`` -> "direct", "account" or None."""

    __slots__ = ("accounts", "arns", "canonical", "federated", "raw", "services", "wildcard")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.wildcard = False
        self.accounts: frozenset[str] = frozenset()
        self.arns: frozenset[str] = frozenset()
        self.services: frozenset[str] = frozenset()
        self.federated: frozenset[str] = frozenset()
        self.canonical: frozenset[str] = frozenset()
        if raw == "*":
            self.wildcard = True
            return
        if not isinstance(raw, dict):
            raise PrincipalError('must be "*" or an object such as {"AWS": "arn:..."}')
        if not raw:
            raise PrincipalError("must name at least one principal")
        accounts, arns = set(), set()
        for ptype, values in raw.items():
            path = f".{ptype}"
            if ptype not in PRINCIPAL_TYPES:
                raise PrincipalError(
                    "unknown principal type (expected AWS, Service, Federated or CanonicalUser)",
                    path,
                )
            items = _strings(values, path)
            if ptype == "AWS":
                for i, item in enumerate(items):
                    where = f"{path}[{i}]" if isinstance(values, list) else path
                    if item == "*":
                        self.wildcard = True
                    elif ACCOUNT_ID.match(item):
                        accounts.add(item)
                    else:
                        m = _IAM_ARN.match(item)
                        if not m:
                            raise PrincipalError(
                                f"{item!r} is not a valid AWS principal (an account id, an "
                                "account root ARN, or an IAM role, user or assumed-role ARN)",
                                where,
                            )
                        service, account, resource = m.group(2), m.group(3), m.group(4)
                        if "*" in item or "?" in item:
                            raise PrincipalError(
                                f"{item!r}: wildcards are not allowed in principal ARNs "
                                '(use "*" with an aws:PrincipalArn condition)',
                                where,
                            )
                        if service == "iam" and resource == "root":
                            accounts.add(account)
                        elif (service, resource.split("/", 1)[0]) in _ARN_TYPES:
                            arns.add(item)
                        else:
                            raise PrincipalError(f"{item!r} is not a valid AWS principal", where)
            elif ptype == "Service":
                for i, item in enumerate(items):
                    where = f"{path}[{i}]" if isinstance(values, list) else path
                    if item != "*" and not _SERVICE.match(item.lower()):
                        raise PrincipalError(
                            f"{item!r} is not a service principal (such as fargate.amazonaws.com)",
                            where,
                        )
                self.services = frozenset(s.lower() for s in items)
            elif ptype == "Federated":
                self.federated = frozenset(items)
            else:
                self.canonical = frozenset(items)
        self.accounts = frozenset(accounts)
        self.arns = frozenset(arns)

    def match(self, principal: Principal | None) -> str | None:
        if self.wildcard:
            return DIRECT
        if principal is None:
            return None
        if principal.kind == "AWSService":
            services = self.services
            name = (principal.service or principal.arn).lower()
            if services and (name in services or "*" in services):
                return DIRECT
            return None
        arns = self.arns
        if arns and (principal.arn in arns or (principal.session_arn or "") in arns):
            return DIRECT
        if principal.account in self.accounts:
            return DIRECT if principal.kind == "Root" else ACCOUNT
        if principal.arn in self.federated:
            return DIRECT
        return None

    def excludes(self, principal: Principal | None) -> bool:
        """Whether a ``NotPrincipal`` element with this value exempts ``principal``.

        IAM evaluates the caller's whole chain: "AWS verifies the account first, then the
        role, and finally the assumed-role user", so a caller is exempt only when its account,
        its role or user ARN and (for a role session) its session ARN are all listed; naming
        only the role or user "might deny access to the entire account containing the
        principal" (IAM User Guide, NotPrincipal).
        """
        if self.wildcard:
            return True
        if principal is None:
            return False
        if principal.kind == "AWSService":
            return self.match(principal) is not None
        if principal.account not in self.accounts:
            return False
        if principal.kind == "Root":
            return True
        if principal.arn not in self.arns and principal.arn not in self.federated:
            return False
        return principal.session_arn is None or principal.session_arn in self.arns

    def describe(self) -> str:
        import json

        return json.dumps(self.raw)
