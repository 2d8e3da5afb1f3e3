"""IAM's policy size quotas: one table, checked before a document is read.

"IAM does not count white space when calculating the size of a policy against these quotas"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length):
a managed policy may have 6,144 characters; the inline policies of a role together 10,240, of
a user 2,048, of a group 5,120; a role's trust policy 2,048 (the default quota, adjustable to
4,096). IAM answers ``LimitExceeded`` (HTTP 409) in the words recorded from its responses,
for example "Cannot exceed quota for PolicySize: 6144" (CreatePolicy) and "Maximum policy
size of 10240 bytes exceeded for role NAME" (PutRolePolicy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from simulator import errors

LimitExceeded = errors.error_class("LimitExceeded", 409)


@dataclass(frozen=True)
class SizeQuota:
    """One quota: its limit in characters and IAM's message when a document exceeds it."""

    limit: int
    message: str  # formatted with limit and name (the entity's name)
    aggregate: bool = False  # counts every inline policy of the entity together


#: Per kind of document (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
POLICY_SIZE_QUOTAS: dict[str, SizeQuota] = {
    "managed": SizeQuota(6144, "Cannot exceed quota for PolicySize: {limit}"),
    "role": SizeQuota(10240, "Maximum policy size of {limit} bytes exceeded for role {name}",
                      aggregate=True),
    "user": SizeQuota(2048, "Maximum policy size of {limit} bytes exceeded for user {name}",
                      aggregate=True),
    "group": SizeQuota(5120, "Maximum policy size of {limit} bytes exceeded for group {name}",
                       aggregate=True),
    "trust": SizeQuota(2048, "Cannot exceed quota for ACLSizePerRole: {limit}"),
}


def policy_size(text: str) -> int:
    """A policy's size as IAM counts it: its characters, white space not counted."""
    return len(text) - sum(1 for c in text if c.isspace())


def check_size(kind: str, text: str, name: str = "", others: Iterable[str] = ()) -> None:
    """Raise IAM's ``LimitExceeded`` when ``text`` (with ``others``, the entity's other inline
    policies, for an aggregate quota) exceeds the quota for ``kind``."""
    quota = POLICY_SIZE_QUOTAS[kind]
    size = policy_size(text)
    total = size + (sum(policy_size(t) for t in others) if quota.aggregate else 0)
    if total > quota.limit:
        what = (f"the {kind}'s inline policies would total {total} characters"
                if quota.aggregate and total != size else f"the document has {size} characters")
        raise LimitExceeded(
            quota.message.format(limit=quota.limit, name=name),
            explanation=f"{what} (white space not counted); the quota is {quota.limit}",
        )
