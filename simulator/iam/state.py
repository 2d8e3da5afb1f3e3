"""IAM's state as plain dataclasses, and the one table of how its entity kinds differ.

Roles, users and groups are all ``Entity``; everything the API says differently about them
(the operation names, the request members, the ARN's resource type, the words of AWS's errors,
the quotas) is one row of ``KINDS``, so each operation is written once for every kind. An
operation a kind does not have in IAM's API (TagGroup, PutGroupPermissionsBoundary) is simply
not made for it: botocore's IAM model says which exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.iam.policy import PolicyDocument


@dataclass(frozen=True)
class EntityKind:
    """One kind of IAM identity, as the API names it.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html
    """

    #: In operation names (``CreateRole``), ``Principal.kind`` and ``Entity.kind``.
    name: str
    #: How AWS's messages name it ("The role with name X cannot be found.").
    noun: str
    #: The ARN's resource type: ``arn:aws:iam::ACCOUNT:role/PATH/NAME``.
    arn_type: str
    #: The request and response members that carry its name and id.
    name_member: str
    id_member: str
    #: The response member holding one entity (``{"Role": {...}}``).
    output_member: str
    #: The size quota its inline policies count against (``simulator.iam.sizes``).
    inline_size_kind: str
    #: Entities of this kind per account, and the quota's name in AWS's LimitExceeded text.
    per_account: int
    account_quota: str
    #: The quota's name for managed policies attached to one entity.
    attached_quota: str
    #: Roles have a trust policy, a description and a maximum session duration.
    has_trust_policy: bool = False
    #: Path prefixes only AWS may use for this kind (CreateRole refuses them).
    reserved_paths: tuple[str, ...] = ()


#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (Roles per
#: account 1000, Users per account 5000, Managed policies per role / per user 10). The quota
#: names are the ones IAM's LimitExceeded text uses: "Cannot exceed quota for PoliciesPerRole:
#: 10" (IAM's answer, quoted e.g. in https://github.com/aws/eks-hybrid/pull/741), "Cannot
#: exceed quota for RolesPerAccount: 1000" (https://github.com/serverless-nextjs/serverless-next.js/issues/2234),
#: "Cannot exceed quota for UsersPerAccount: 5000 ... status code: 409" (quoted in
#: https://github.com/openshift/hive/blob/master/pkg/controller/utils/errorscrub_test.go);
#: users' PoliciesPerUser by the same pattern, as user reports of AttachUserPolicy quote it.
ROLE = EntityKind(
    name="Role", noun="role", arn_type="role", name_member="RoleName", id_member="RoleId",
    output_member="Role", inline_size_kind="role", per_account=1000,
    account_quota="RolesPerAccount", attached_quota="PoliciesPerRole",
    has_trust_policy=True,
    # "InvalidInput: Path prefix '/aws-service-role/' can only be used for AWS Service linked
    # Roles" (IAM's answer to CreateRole, quoted in
    # https://github.com/tilfin/aws-iam-policy-tool/pull/9); such roles come from
    # CreateServiceLinkedRole, which the simulator does not implement.
    reserved_paths=("/aws-service-role/",),
)
USER = EntityKind(
    name="User", noun="user", arn_type="user", name_member="UserName", id_member="UserId",
    output_member="User", inline_size_kind="user", per_account=5000,
    account_quota="UsersPerAccount", attached_quota="PoliciesPerUser",
)
#: A group is no principal: it cannot sign a request nor be named in a Principal element, but
#: its policies apply to each user in it ("an IAM user group is a collection of IAM users ...
#: you can attach identity-based policies to user groups"; groups per account 300, groups a
#: user may be in 10, managed policies per group 10:
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_groups.html,
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). The quota
#: names GroupsPerAccount and PoliciesPerGroup follow the pattern of IAM's recorded texts for
#: roles and users; no recorded answer for groups was found.
GROUP = EntityKind(
    name="Group", noun="group", arn_type="group", name_member="GroupName", id_member="GroupId",
    output_member="Group", inline_size_kind="group", per_account=300,
    account_quota="GroupsPerAccount", attached_quota="PoliciesPerGroup",
)
#: The entity kinds by name (``Principal.kind`` / ``Entity.kind``).
KINDS: dict[str, EntityKind] = {kind.name: kind for kind in (ROLE, USER, GROUP)}
#: Groups one user may be in (the quota's name by the same pattern, unverified).
GROUPS_PER_USER = 10


def tags_out(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as IAM returns them: a list of ``{"Key", "Value"}``."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@dataclass
class ManagedPolicy:
    """A managed policy (customer managed, or AWS managed with account ``aws``)."""

    name: str
    arn: str
    path: str
    policy_id: str
    created: datetime
    updated: datetime
    description: str | None = None
    versions: dict[str, tuple[str, PolicyDocument, datetime]] = field(default_factory=dict)
    default_version: str = "v1"
    next_version: int = 2
    attachments: int = 0
    boundary_uses: int = 0
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def document(self) -> PolicyDocument:
        return self.versions[self.default_version][1]

    @property
    def aws_managed(self) -> bool:
        return ":aws:policy/" in self.arn

    def to_output(self, *, full: bool = True) -> dict[str, Any]:
        """The ``Policy`` shape; ``full=False`` for ListPolicies, which leaves out the
        description and the tags: "This element is included in the response to the GetPolicy
        operation. It is not included in the response to the ListPolicies operation."
        (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Policy.html)."""
        out: dict[str, Any] = {
            "PolicyName": self.name,
            "PolicyId": self.policy_id,
            "Arn": self.arn,
            "Path": self.path,
            "DefaultVersionId": self.default_version,
            "AttachmentCount": self.attachments,
            "PermissionsBoundaryUsageCount": self.boundary_uses,
            "IsAttachable": True,
            "CreateDate": self.created,
            "UpdateDate": self.updated,
        }
        if full and self.description:
            out["Description"] = self.description
        if full and self.tags:
            out["Tags"] = tags_out(self.tags)
        return out


@dataclass
class Entity:
    """A role, a user or a group (``kind`` names its row of ``KINDS``); a group's ``members``
    are the names of its users, in the order they were added."""

    kind: str  # "Role" | "User"
    name: str
    arn: str
    path: str
    entity_id: str
    created: datetime
    account: str
    trust_text: str | None = None
    trust: PolicyDocument | None = None
    description: str | None = None
    max_session: int = 3600
    boundary_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    inline: dict[str, tuple[str, PolicyDocument]] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)

    def to_output(self, *, full: bool = True, created: bool = False) -> dict[str, Any]:
        """The ``Role``, ``User`` or ``Group`` shape; ``full=False`` for the List operations, which
        leave out the permissions boundary, the tags and RoleLastUsed; ``created=True`` for
        CreateRole's answer, which leaves out MaxSessionDuration and RoleLastUsed too (the
        AWS CLI's create-role examples, awscli/examples/iam/create-role.rst, even with
        ``--max-session-duration 7200``)."""
        kind = KINDS[self.kind]
        out: dict[str, Any] = {
            "Path": self.path,
            kind.name_member: self.name,
            kind.id_member: self.entity_id,
            "Arn": self.arn,
            "CreateDate": self.created,
        }
        if kind.has_trust_policy:
            out["AssumeRolePolicyDocument"] = json.loads(self.trust_text or "{}")
            if not created:
                out["MaxSessionDuration"] = self.max_session
            if self.description is not None:
                out["Description"] = self.description
        if full:
            if self.boundary_arn:
                out["PermissionsBoundary"] = {
                    "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                    "PermissionsBoundaryArn": self.boundary_arn,
                }
            if self.tags:
                out["Tags"] = tags_out(self.tags)
            if kind.has_trust_policy and not created:
                out["RoleLastUsed"] = {}
        return out


@dataclass
class AccessKey:
    """An access key pair of an IAM user, or of the account root (``user_name`` None)."""

    access_key_id: str
    secret: str = field(repr=False)
    account: str
    user_name: str | None
    status: str
    created: datetime

    #: The user's ARN ("" for a root key).
    user_arn: str = ""

    def metadata(self) -> dict[str, Any]:
        """The ``AccessKeyMetadata`` shape (no secret)."""
        out = {"AccessKeyId": self.access_key_id, "Status": self.status,
               "CreateDate": self.created}
        if self.user_name is not None:
            out["UserName"] = self.user_name
        return out
