"""Grants: delegated permissions on one key, indexed so authorization finds them in O(1).

A grant allows its grantee the listed operations on one key. Encryption-context constraints
(``EncryptionContextEquals``: the request's context must be exactly this map;
``EncryptionContextSubset``: these pairs must all be in the request's context) restrict the
cryptographic operations, never DescribeKey or RetireGrant; their keys match without regard to
case, their values exactly (AWS's GrantConstraints). A ``SourceArn`` constraint allows the
grant's operations only for requests made on behalf of that AWS resource, "effectively the
same as having the aws:SourceArn global condition key in the grant"; it does not apply to
RetireGrant, and applies to DescribeKey only when the request names a source
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html). A grant's
grantee and retiring principal are either principals (``GranteePrincipal``) or AWS service
principals (``GranteeServicePrincipal``, ``RetiringServicePrincipal``). Grant tokens are
self-contained and authenticated: version byte, grant id, nonce and an HMAC under a
per-service secret, base64url-encoded, so a forged or mangled token is recognised without a lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.kms.specs import UNCONSTRAINED_OPERATIONS

EQUALS = "EncryptionContextEquals"
SUBSET = "EncryptionContextSubset"
SOURCE_ARN = "SourceArn"
#: The encryption-context constraint kinds (maps); SourceArn is a single ARN.
CONTEXT_CONSTRAINTS = (EQUALS, SUBSET)
_TOKEN_VERSION = 1
_MAC_BYTES = 16


@dataclass
class Grant:
    """One grant on one key."""

    grant_id: str
    key_id: str
    key_arn: str
    grantee: str
    operations: tuple[str, ...]
    created: datetime
    issuing_account: str
    retiring: str | None = None
    #: ``{EncryptionContextEquals|EncryptionContextSubset: {k: v}, SourceArn: arn}``.
    constraints: dict[str, Any] | None = None
    name: str | None = None
    #: The grantee is an AWS service principal (``GranteeServicePrincipal``).
    grantee_is_service: bool = False
    #: The retiring principal is an AWS service principal (``RetiringServicePrincipal``).
    retiring_is_service: bool = False
    ops: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ops = frozenset(self.operations)

    @property
    def constraint_types(self) -> list[str]:
        """The constraint kinds this grant carries (values of ``kms:GrantConstraintType``)."""
        return sorted(self.constraints or ())

    @property
    def source_arn(self) -> str | None:
        """The ARN of the resource the grant's requests must be made for, if constrained."""
        return (self.constraints or {}).get(SOURCE_ARN)

    def source_satisfies(self, operation: str, source_arn: str | None) -> bool:
        """True when a request made for ``source_arn`` meets the grant's SourceArn constraint."""
        wanted = self.source_arn
        if wanted is None or operation == "RetireGrant":
            return True
        if operation == "DescribeKey" and source_arn is None:
            return True
        return source_arn == wanted

    def context_satisfies(self, context: Mapping[str, str] | None) -> bool:
        """True when ``context`` meets every constraint of the grant.

        AWS: "in a grant constraint, the key in each key-value pair is not case sensitive,
        but the value is case sensitive."
        """
        cons = self.constraints
        if not cons:
            return True
        ctx = fold_keys(context)
        equals = cons.get(EQUALS)
        if equals is not None and ctx != fold_keys(equals):
            return False
        subset = cons.get(SUBSET)
        if subset is not None:
            for k, v in subset.items():
                if ctx.get(k.lower()) != v:
                    return False
        return True

    def permits(self, operation: str, context: Mapping[str, str] | None,
                source_arn: str | None = None) -> bool:
        """True when the grant allows ``operation`` with this encryption context, for a
        request made on behalf of ``source_arn`` (None: on behalf of no resource)."""
        if operation not in self.ops:
            return False
        if not self.source_satisfies(operation, source_arn):
            return False
        if operation in UNCONSTRAINED_OPERATIONS or operation == "CreateGrant":
            # CreateGrant's constraint binds the grants it creates (checked by CreateGrant).
            return True
        return self.context_satisfies(context)

    def why_not(self, operation: str, context: Mapping[str, str] | None,
                source_arn: str | None = None) -> str:
        """A one-line reason this grant does not allow the request (for AccessDenied details)."""
        if operation not in self.ops:
            return f"grant {self.grant_id} allows {list(self.operations)}, not {operation}"
        if not self.source_satisfies(operation, source_arn):
            made_for = f"on behalf of {source_arn}" if source_arn else "on behalf of no resource"
            return (
                f"grant {self.grant_id} constraint SourceArn {self.source_arn} is not met by "
                f"a request made {made_for}"
            )
        if not self.context_satisfies(context):
            return (
                f"grant {self.grant_id} constraint {self.constraints} is not met by the "
                f"encryption context {dict(context or {})}"
            )
        return f"grant {self.grant_id} allows {operation}"

    def entry(self) -> dict[str, Any]:
        """botocore's ``GrantListEntry``."""
        out: dict[str, Any] = {
            "KeyId": self.key_arn,
            "GrantId": self.grant_id,
            "CreationDate": self.created,
            "IssuingAccount": self.issuing_account,
            "Operations": list(self.operations),
        }
        # "When a grant is created with the GranteeServicePrincipal field, the ListGrants
        # response always includes a GranteeServicePrincipal" (ListGrants).
        out["GranteeServicePrincipal" if self.grantee_is_service else "GranteePrincipal"] = (
            self.grantee
        )
        # A grant created without a Name lists with "Name": "" (the AWS CLI's list-retirable-grants
        # example output, https://docs.aws.amazon.com/cli/latest/reference/kms/list-retirable-grants.html).
        out["Name"] = self.name or ""
        if self.retiring:
            label = "RetiringServicePrincipal" if self.retiring_is_service else "RetiringPrincipal"
            out[label] = self.retiring
        if self.constraints:
            out["Constraints"] = {k: dict(v) if isinstance(v, dict) else v
                                  for k, v in self.constraints.items()}
        return out

    def signature(self) -> str:
        """The parameters that make two named CreateGrant requests "the same" (idempotency)."""
        return json.dumps(
            [self.grantee, self.retiring, sorted(self.operations), self.constraints,
             self.grantee_is_service, self.retiring_is_service],
            sort_keys=True,
        )


class GrantStore:
    """Every grant of one KMS service, indexed by id, key, (key, grantee) and retiring principal."""

    def __init__(self) -> None:
        self._secret = os.urandom(32)
        self._by_id: dict[str, Grant] = {}
        self._by_key: dict[str, dict[str, Grant]] = {}
        self._by_grantee: dict[tuple[str, str], dict[str, Grant]] = {}
        self._by_retiring: dict[str, dict[str, Grant]] = {}
        self._names: dict[tuple[str, str, str], str] = {}
        #: Tokens this store issued, with the grant each names (a token we made is genuine:
        #: its MAC need not be checked again), and each grant's tokens, to forget them.
        self._issued: dict[str, str] = {}
        self._tokens_of: dict[str, list[str]] = {}
        #: HMAC-SHA256 keyed with ``_secret`` once; each MAC copies it (no digest lookup
        #: and key schedule per token). Not pickled: made again from the secret.
        self._keyed: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_keyed", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled store (one pickled before the token index existed too)."""
        self.__dict__.update(state)
        self.__dict__.setdefault("_issued", {})
        self.__dict__.setdefault("_tokens_of", {})
        self._keyed = None

    def _mac(self, body: bytes) -> bytes:
        """The token MAC of ``body``: HMAC-SHA256 under the store's secret, truncated."""
        keyed = self._keyed
        if keyed is None:
            keyed = self._keyed = hmac.new(self._secret, digestmod=hashlib.sha256)
        mac = keyed.copy()
        mac.update(body)
        return mac.digest()[:_MAC_BYTES]

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"GrantStore({len(self._by_id)} grants)"

    # -- tokens ---------------------------------------------------------------------------
    def token_for(self, grant: Grant) -> str:
        """A fresh token for ``grant`` (every CreateGrant answer carries a new one)."""
        body = bytes((_TOKEN_VERSION,)) + bytes.fromhex(grant.grant_id) + os.urandom(16)
        mac = self._mac(body)
        token = base64.urlsafe_b64encode(body + mac).decode().rstrip("=")
        if grant.grant_id in self._by_id:
            self._issued[token] = grant.grant_id
            self._tokens_of.setdefault(grant.grant_id, []).append(token)
        return token

    def grant_id_from_token(self, token: str) -> str | None:
        """The grant id a genuine token names, or None for a malformed or forged token."""
        issued = self._issued.get(token)
        if issued is not None:
            return issued
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 1 + 32 + 16 + _MAC_BYTES or raw[0] != _TOKEN_VERSION:
            return None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        expected = self._mac(body)
        if not hmac.compare_digest(mac, expected):
            return None
        return body[1:33].hex()

    # -- storage --------------------------------------------------------------------------
    def add(self, grant: Grant) -> None:
        """Store a new grant and index it."""
        self._by_id[grant.grant_id] = grant
        self._by_key.setdefault(grant.key_id, {})[grant.grant_id] = grant
        self._by_grantee.setdefault((grant.key_id, grant.grantee), {})[grant.grant_id] = grant
        if grant.retiring:
            self._by_retiring.setdefault(grant.retiring, {})[grant.grant_id] = grant
        if grant.name:
            self._names[(grant.key_id, grant.name, grant.signature())] = grant.grant_id

    def remove(self, grant_id: str) -> Grant | None:
        """Delete a grant (retire, revoke, key deletion); return it, or None if unknown."""
        grant = self._by_id.pop(grant_id, None)
        if grant is None:
            return None
        for token in self._tokens_of.pop(grant_id, ()):
            del self._issued[token]  # still genuine: the MAC check answers for it from now on
        _discard(self._by_key, grant.key_id, grant_id)
        _discard(self._by_grantee, (grant.key_id, grant.grantee), grant_id)
        if grant.retiring:
            _discard(self._by_retiring, grant.retiring, grant_id)
        if grant.name:
            self._names.pop((grant.key_id, grant.name, grant.signature()), None)
        return grant

    def remove_key(self, key_id: str) -> int:
        """Delete every grant of a key; return how many there were."""
        ids = list(self._by_key.get(key_id, {}))
        for gid in ids:
            self.remove(gid)
        return len(ids)

    def get(self, grant_id: str) -> Grant | None:
        return self._by_id.get(grant_id)

    def named(self, key_id: str, name: str, signature: str) -> Grant | None:
        """The existing grant made by an identical named CreateGrant request, if any."""
        gid = self._names.get((key_id, name, signature))
        return self._by_id.get(gid) if gid else None

    def count(self, key_id: str) -> int:
        return len(self._by_key.get(key_id, ()))

    def for_key(self, key_id: str) -> list[Grant]:
        """The key's grants, oldest first."""
        return list(self._by_key.get(key_id, {}).values())

    def for_grantee(self, key_id: str, grantees: Iterable[str]) -> Iterator[Grant]:
        """The key's grants whose grantee is any of ``grantees``."""
        by = self._by_grantee
        for g in grantees:
            hit = by.get((key_id, g))
            if hit:
                yield from hit.values()

    def retirable_by(self, principal: str, service: bool = False) -> list[Grant]:
        """Grants naming ``principal`` as retiring principal (``service``: as retiring service
        principal), oldest first."""
        return [g for g in self._by_retiring.get(principal, {}).values()
                if g.retiring_is_service == service]


def fold_keys(context: Mapping[str, str] | None) -> dict[str, str]:
    """An encryption context with its keys lower-cased (grant constraints ignore key case)."""
    return {k.lower(): v for k, v in (context or {}).items()}


def _discard(index: dict[Any, dict[str, Grant]], key: Any, grant_id: str) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(grant_id, None)
        if not bucket:
            del index[key]
