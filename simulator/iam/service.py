"""The IAM service: roles, users, inline and managed policies, tags, and the policy simulator.

IAM is global: entities live in the caller's account, ARNs carry no Region. Policy documents
are size-checked (``simulator.iam.sizes``) and parsed (validated as IAM validates them) when
they are stored; a malformed one is refused with MalformedPolicyDocument and IAM's message,
the path to the bad element in the error's ``explanation``. Documents come back as dicts, the
way boto3 returns them (botocore decodes IAM's URL-encoded JSON).
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from simulator import errors
from simulator.errors import (
    EntityAlreadyExistsException,
    InvalidInputException,
    MalformedPolicyDocumentException,
    NoSuchEntityException,
)
from simulator.iam import simulate as S
from simulator.iam import sizes
from simulator.iam.authorization import authorize
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import Principal, resolve_principal, unique_id
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.world import Simulation

LimitExceeded = errors.error_class("LimitExceeded", 409)
DeleteConflict = errors.error_class("DeleteConflict", 409)

#: IAM quotas (AWS defaults) the simulator enforces.
ROLES_PER_ACCOUNT = 1000
USERS_PER_ACCOUNT = 5000
MANAGED_POLICIES_PER_ACCOUNT = 1500
MANAGED_POLICIES_PER_ENTITY = 10
POLICY_VERSIONS = 5
TAGS_PER_ENTITY = 50
# Policy size quotas: simulator.iam.sizes.POLICY_SIZE_QUOTAS.

AWS_MANAGED: dict[str, dict[str, Any]] = {
    "AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    "PowerUserAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"],
             "Resource": "*"},
            {"Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole",
                                           "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                                           "organizations:DescribeOrganization",
                                           "account:ListRegions"], "Resource": "*"},
        ],
    },
    "ReadOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["*:Describe*", "*:Get*", "*:List*"],
                       "Resource": "*"}],
    },
}


def _decode(text: str) -> str:
    """Accept URL-encoded JSON too (IAM returns documents URL-encoded)."""
    stripped = text.lstrip()
    if stripped.startswith("%7B") or stripped.startswith("%7b"):
        return urllib.parse.unquote(text)
    return text


def _parse(text: str, kind: str, name: str | None, source_type: str = "none") -> PolicyDocument:
    return PolicyDocument.parse(_decode(text), kind=kind, name=name, source_type=source_type)


def _tags_out(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@dataclass
class ManagedPolicy:
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

    def to_output(self, *, tags: bool = True) -> dict[str, Any]:
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
        if self.description:
            out["Description"] = self.description
        if tags and self.tags:
            out["Tags"] = _tags_out(self.tags)
        return out


@dataclass
class Entity:
    """A role or a user."""

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

    def to_output(self, *, full: bool = True) -> dict[str, Any]:
        if self.kind == "Role":
            out: dict[str, Any] = {
                "Path": self.path,
                "RoleName": self.name,
                "RoleId": self.entity_id,
                "Arn": self.arn,
                "CreateDate": self.created,
                "AssumeRolePolicyDocument": json.loads(self.trust_text or "{}"),
                "MaxSessionDuration": self.max_session,
            }
            if self.description is not None:
                out["Description"] = self.description
        else:
            out = {
                "Path": self.path,
                "UserName": self.name,
                "UserId": self.entity_id,
                "Arn": self.arn,
                "CreateDate": self.created,
            }
        if full:
            if self.boundary_arn:
                out["PermissionsBoundary"] = {
                    "PermissionsBoundaryType": "Policy",
                    "PermissionsBoundaryArn": self.boundary_arn,
                }
            if self.tags:
                out["Tags"] = _tags_out(self.tags)
            if self.kind == "Role":
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
        out = {"AccessKeyId": self.access_key_id, "Status": self.status,
               "CreateDate": self.created}
        if self.user_name is not None:
            out["UserName"] = self.user_name
        return out


class IamService(Service):
    """IAM in the simulator (see the module docstring)."""

    service_name: ClassVar[str] = "iam"
    event_source: ClassVar[str] = "iam.amazonaws.com"
    constraint_error: ClassVar[str] = "ValidationError"

    def __init__(self, sim: Simulation) -> None:
        super().__init__(sim)
        self.roles: dict[tuple[str, str], Entity] = {}
        self.users: dict[tuple[str, str], Entity] = {}
        self.policies: dict[str, ManagedPolicy] = {}
        self._docs_cache: dict[str, tuple[int, list[PolicyDocument]]] = {}
        self._generation = 0
        self._aws_managed_loaded = False
        #: Access keys by AccessKeyId: the signing keys of users (and of account roots).
        self.access_keys: dict[str, AccessKey] = {}

    # -- helpers used by other services ---------------------------------------------------
    def _entity_for(self, principal: Principal) -> Entity | None:
        if principal.kind == "Role":
            return self.roles.get((principal.account, principal.name.lower()))
        if principal.kind == "User":
            return self.users.get((principal.account, principal.name.lower()))
        return None

    def identity_policies(self, principal: Principal) -> list[PolicyDocument]:
        """Inline and attached managed policies of a role or user ([] for roots, services and
        roles that were never created)."""
        if principal.kind not in ("Role", "User"):
            return []
        key = f"{principal.kind}:{principal.account}:{principal.name.lower()}"
        cached = self._docs_cache.get(key)
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        entity = self._entity_for(principal)
        docs: list[PolicyDocument] = []
        if entity is not None:
            docs.extend(doc for _, doc in entity.inline.values())
            for arn in entity.attached:
                pol = self._managed(arn)
                if pol is not None:
                    docs.append(pol.document)
        self._docs_cache[key] = (self._generation, docs)
        return docs

    def permissions_boundary(self, principal: Principal) -> PolicyDocument | None:
        entity = self._entity_for(principal)
        if entity is None or not entity.boundary_arn:
            return None
        pol = self._managed(entity.boundary_arn)
        return pol.document if pol is not None else None

    def tags(self, principal: Principal) -> dict[str, str]:
        """The caller's aws:PrincipalTag values: the role's or user's tags, and an assumed-role
        session's tags over them (a session tag takes the place of a role tag with the same
        key, case-insensitively: https://docs.aws.amazon.com/IAM/latest/UserGuide/
        id_session-tags.html, "Things to know about session tags")."""
        entity = self._entity_for(principal)
        tags = dict(entity.tags) if entity is not None else {}
        if principal.tags:
            lower = {k.lower(): k for k in tags}
            for key, value in principal.tags.items():
                tags.pop(lower.get(key.lower(), key), None)
                tags[key] = value
        return tags

    def role(self, account: str, name: str) -> Entity | None:
        return self.roles.get((account, name.lower()))

    def _changed(self) -> None:
        self._generation += 1

    # -- internals ------------------------------------------------------------------------
    def _authorize(self, ctx: CallContext, action: str, resource: str) -> None:
        authorize(self.sim, ctx, f"iam:{action}", resource)

    def _arn(self, ctx: CallContext, kind: str, path: str, name: str) -> str:
        return f"arn:{self.sim.partition}:iam::{ctx.account}:{kind}{path}{name}"

    def _path(self, params: dict[str, Any]) -> str:
        path = params.get("Path") or "/"
        if not (path.startswith("/") and path.endswith("/")):
            raise errors.error_class("ValidationError")(
                f"The specified value for path is invalid: {path!r} must begin and end with /"
            )
        return path

    def _get_role(self, ctx: CallContext, name: str) -> Entity:
        role = self.roles.get((ctx.account, name.lower()))
        if role is None:
            raise NoSuchEntityException(f"The role with name {name} cannot be found.")
        return role

    def _get_user(self, ctx: CallContext, name: str) -> Entity:
        user = self.users.get((ctx.account, name.lower()))
        if user is None:
            raise NoSuchEntityException(f"The user with name {name} cannot be found.")
        return user

    def _load_aws_managed(self) -> None:
        if self._aws_managed_loaded:
            return
        self._aws_managed_loaded = True
        now = self.sim.clock.now()
        for name, doc in AWS_MANAGED.items():
            arn = f"arn:{self.sim.partition}:iam::aws:policy/{name}"
            text = json.dumps(doc)
            parsed = PolicyDocument.parse(text, name=arn, source_type="aws-managed")
            self.policies[arn] = ManagedPolicy(
                name, arn, "/", unique_id("Policy", arn), now, now,
                versions={"v1": (text, parsed, now)},
            )

    def _managed(self, arn: str) -> ManagedPolicy | None:
        if ":aws:policy/" in arn:
            self._load_aws_managed()
        return self.policies.get(arn)

    def _get_policy(self, arn: str) -> ManagedPolicy:
        if not arn.startswith("arn:"):
            raise InvalidInputException(f"ARN {arn} is not valid.")
        pol = self._managed(arn)
        if pol is None:
            raise NoSuchEntityException(f"Policy {arn} does not exist or is not attachable.")
        return pol

    def _tags_in(
        self, tags: list[dict[str, str]] | None, existing: dict[str, str]
    ) -> dict[str, str]:
        out = dict(existing)
        for tag in tags or []:
            lower = {k.lower(): k for k in out}
            old = lower.get(tag["Key"].lower())
            if old is not None:
                del out[old]
            out[tag["Key"]] = tag["Value"]
        if len(out) > TAGS_PER_ENTITY:
            raise LimitExceeded(f"Cannot exceed quota for TagsPerEntity: {TAGS_PER_ENTITY}.")
        return out

    def _put_inline(self, entity: Entity, name: str, text: str) -> None:
        kind = entity.kind.lower()
        canonical = _decode(text)
        sizes.check_size(kind, canonical, entity.name,
                         (t for n, (t, _) in entity.inline.items() if n != name))
        doc = _parse(canonical, "identity", name, source_type=kind)
        entity.inline[name] = (canonical, doc)
        self._changed()

    def _attach(self, entity: Entity, arn: str) -> None:
        pol = self._get_policy(arn)
        if arn in entity.attached:
            return
        if len(entity.attached) >= MANAGED_POLICIES_PER_ENTITY:
            which = "PolicyPerRole" if entity.kind == "Role" else "PolicyPerUser"
            raise LimitExceeded(
                f"Cannot exceed quota for {which}ManagedQuota: {MANAGED_POLICIES_PER_ENTITY}."
            )
        entity.attached.append(arn)
        pol.attachments += 1
        self._changed()

    def _detach(self, entity: Entity, arn: str) -> None:
        if arn not in entity.attached:
            raise NoSuchEntityException(f"Policy {arn} was not found.")
        entity.attached.remove(arn)
        pol = self._managed(arn)
        if pol is not None:
            pol.attachments -= 1
        self._changed()

    def _attached_out(
        self, ctx: CallContext, entity: Entity, params: dict[str, Any]
    ) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        items = []
        for arn in entity.attached:
            pol = self._managed(arn)
            if pol is not None and pol.path.startswith(prefix):
                items.append({"PolicyName": pol.name, "PolicyArn": arn})
        return S.paginate(ctx.operation, items, params)

    def _set_boundary(self, entity: Entity, arn: str | None) -> None:
        if entity.boundary_arn:
            old = self._managed(entity.boundary_arn)
            if old is not None:
                old.boundary_uses -= 1
        if arn:
            pol = self._get_policy(arn)
            pol.boundary_uses += 1
        entity.boundary_arn = arn
        self._changed()

    def _new_entity(self, ctx: CallContext, kind: str, params: dict[str, Any]) -> Entity:
        name = params["RoleName" if kind == "Role" else "UserName"]
        table = self.roles if kind == "Role" else self.users
        key = (ctx.account, name.lower())
        if key in table:
            raise EntityAlreadyExistsException(
                f"{kind} with name {name} already exists."
            )
        limit = ROLES_PER_ACCOUNT if kind == "Role" else USERS_PER_ACCOUNT
        if sum(1 for a, _ in table if a == ctx.account) >= limit:
            raise LimitExceeded(f"Cannot exceed quota for {kind}sPerAccount: {limit}.")
        path = self._path(params)
        arn = self._arn(ctx, kind.lower() + "/", path[1:], name)
        return Entity(kind, name, arn, path, unique_id(kind, arn), ctx.now, ctx.account)

    # -- roles ----------------------------------------------------------------------------
    def CreateRole(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._new_entity(ctx, "Role", params)
        self._authorize(ctx, "CreateRole", role.arn)
        text = _decode(params["AssumeRolePolicyDocument"])
        sizes.check_size("trust", text)
        trust = _parse(text, "trust", "AssumeRolePolicyDocument")
        role.trust_text, role.trust = text, trust
        role.description = params.get("Description")
        role.max_session = params.get("MaxSessionDuration") or 3600
        if not 3600 <= role.max_session <= 43200:
            raise errors.error_class("ValidationError")(
                "The requested MaxSessionDuration must be between 3600 and 43200 seconds."
            )
        role.tags = self._tags_in(params.get("Tags"), {})
        if params.get("PermissionsBoundary"):
            self._set_boundary(role, params["PermissionsBoundary"])
        self.roles[(ctx.account, role.name.lower())] = role
        self._changed()
        ctx.audit["resources"] = [{"ARN": role.arn, "accountId": ctx.account}]
        return {"Role": role.to_output()}

    def GetRole(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "GetRole", role.arn)
        return {"Role": role.to_output()}

    def DeleteRole(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "DeleteRole", role.arn)
        if role.inline or role.attached:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if role.boundary_arn:
            self._set_boundary(role, None)
        del self.roles[(ctx.account, role.name.lower())]
        self._changed()
        return {}

    def ListRoles(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        self._authorize(ctx, "ListRoles", "*")
        prefix = params.get("PathPrefix") or "/"
        roles = sorted(
            (r for (a, _), r in self.roles.items()
             if a == ctx.account and r.path.startswith(prefix)),
            key=lambda r: r.name.lower(),
        )
        return S.paginate("ListRoles", [r.to_output(full=False) for r in roles], params)

    def UpdateAssumeRolePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "UpdateAssumeRolePolicy", role.arn)
        text = _decode(params["PolicyDocument"])
        sizes.check_size("trust", text)
        role.trust = _parse(text, "trust", "AssumeRolePolicyDocument")
        role.trust_text = text
        return {}

    def PutRolePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "PutRolePolicy", role.arn)
        self._put_inline(role, params["PolicyName"], params["PolicyDocument"])
        return {}

    def GetRolePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "GetRolePolicy", role.arn)
        name = params["PolicyName"]
        if name not in role.inline:
            raise NoSuchEntityException(
                f"The role policy with name {name} cannot be found."
            )
        return {
            "RoleName": role.name,
            "PolicyName": name,
            "PolicyDocument": json.loads(role.inline[name][0]),
        }

    def DeleteRolePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "DeleteRolePolicy", role.arn)
        name = params["PolicyName"]
        if name not in role.inline:
            raise NoSuchEntityException(f"The role policy with name {name} cannot be found.")
        del role.inline[name]
        self._changed()
        return {}

    def ListRolePolicies(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "ListRolePolicies", role.arn)
        return S.paginate("ListRolePolicies", sorted(role.inline), params)

    def AttachRolePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "AttachRolePolicy", role.arn)
        self._attach(role, params["PolicyArn"])
        return {}

    def DetachRolePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "DetachRolePolicy", role.arn)
        self._detach(role, params["PolicyArn"])
        return {}

    def ListAttachedRolePolicies(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "ListAttachedRolePolicies", role.arn)
        return self._attached_out(ctx, role, params)

    def PutRolePermissionsBoundary(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "PutRolePermissionsBoundary", role.arn)
        self._set_boundary(role, params["PermissionsBoundary"])
        return {}

    def DeleteRolePermissionsBoundary(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "DeleteRolePermissionsBoundary", role.arn)
        self._set_boundary(role, None)
        return {}

    def TagRole(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "TagRole", role.arn)
        role.tags = self._tags_in(params["Tags"], role.tags)
        return {}

    def UntagRole(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "UntagRole", role.arn)
        drop = {k.lower() for k in params["TagKeys"]}
        role.tags = {k: v for k, v in role.tags.items() if k.lower() not in drop}
        return {}

    def ListRoleTags(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role = self._get_role(ctx, params["RoleName"])
        self._authorize(ctx, "ListRoleTags", role.arn)
        return S.paginate("ListRoleTags", _tags_out(role.tags), params)

    # -- users ----------------------------------------------------------------------------
    def CreateUser(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._new_entity(ctx, "User", params)
        self._authorize(ctx, "CreateUser", user.arn)
        user.tags = self._tags_in(params.get("Tags"), {})
        if params.get("PermissionsBoundary"):
            self._set_boundary(user, params["PermissionsBoundary"])
        self.users[(ctx.account, user.name.lower())] = user
        self._changed()
        return {"User": user.to_output()}

    def GetUser(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("UserName")
        if name is None:
            if ctx.caller.kind != "User":
                raise errors.error_class("ValidationError")(
                    "Must specify userName when calling with non-User credentials"
                )
            name = ctx.caller.name
        user = self._get_user(ctx, name)
        self._authorize(ctx, "GetUser", user.arn)
        return {"User": user.to_output()}

    def DeleteUser(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "DeleteUser", user.arn)
        if user.inline or user.attached:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if any(k.user_arn == user.arn for k in self.access_keys.values()):
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if user.boundary_arn:
            self._set_boundary(user, None)
        del self.users[(ctx.account, user.name.lower())]
        self._changed()
        return {}

    def ListUsers(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        self._authorize(ctx, "ListUsers", "*")
        prefix = params.get("PathPrefix") or "/"
        users = sorted(
            (u for (a, _), u in self.users.items()
             if a == ctx.account and u.path.startswith(prefix)),
            key=lambda u: u.name.lower(),
        )
        return S.paginate("ListUsers", [u.to_output(full=False) for u in users], params)

    def PutUserPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "PutUserPolicy", user.arn)
        self._put_inline(user, params["PolicyName"], params["PolicyDocument"])
        return {}

    def GetUserPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "GetUserPolicy", user.arn)
        name = params["PolicyName"]
        if name not in user.inline:
            raise NoSuchEntityException(f"The user policy with name {name} cannot be found.")
        return {
            "UserName": user.name,
            "PolicyName": name,
            "PolicyDocument": json.loads(user.inline[name][0]),
        }

    def DeleteUserPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "DeleteUserPolicy", user.arn)
        name = params["PolicyName"]
        if name not in user.inline:
            raise NoSuchEntityException(f"The user policy with name {name} cannot be found.")
        del user.inline[name]
        self._changed()
        return {}

    def ListUserPolicies(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "ListUserPolicies", user.arn)
        return S.paginate("ListUserPolicies", sorted(user.inline), params)

    def AttachUserPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "AttachUserPolicy", user.arn)
        self._attach(user, params["PolicyArn"])
        return {}

    def DetachUserPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "DetachUserPolicy", user.arn)
        self._detach(user, params["PolicyArn"])
        return {}

    def ListAttachedUserPolicies(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "ListAttachedUserPolicies", user.arn)
        return self._attached_out(ctx, user, params)

    def TagUser(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        user = self._get_user(ctx, params["UserName"])
        self._authorize(ctx, "TagUser", user.arn)
        user.tags = self._tags_in(params["Tags"], user.tags)
        return {}

    # -- managed policies -----------------------------------------------------------------
    def CreatePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["PolicyName"]
        path = self._path(params)
        arn = self._arn(ctx, "policy/", path[1:], name)
        self._authorize(ctx, "CreatePolicy", arn)
        if arn in self.policies:
            raise EntityAlreadyExistsException(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        if sum(1 for a in self.policies if f":{ctx.account}:" in a) >= MANAGED_POLICIES_PER_ACCOUNT:
            raise LimitExceeded(
                f"Cannot exceed quota for PoliciesPerAccount: {MANAGED_POLICIES_PER_ACCOUNT}."
            )
        text = _decode(params["PolicyDocument"])
        sizes.check_size("managed", text)
        doc = _parse(text, "identity", arn, source_type="user-managed")
        pol = ManagedPolicy(
            name, arn, path, unique_id("Policy", arn), ctx.now, ctx.now,
            description=params.get("Description"),
            versions={"v1": (text, doc, ctx.now)},
            tags=self._tags_in(params.get("Tags"), {}),
        )
        self.policies[arn] = pol
        return {"Policy": pol.to_output()}

    def GetPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, "GetPolicy", pol.arn)
        return {"Policy": pol.to_output()}

    def ListPolicies(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        self._authorize(ctx, "ListPolicies", "*")
        self._load_aws_managed()
        scope = params.get("Scope") or "All"
        prefix = params.get("PathPrefix") or "/"
        items = []
        for pol in sorted(self.policies.values(), key=lambda p: p.arn):
            is_aws = ":aws:policy/" in pol.arn
            if (scope == "AWS" and not is_aws) or (scope == "Local" and is_aws):
                continue
            if not is_aws and f":{ctx.account}:" not in pol.arn:
                continue
            if params.get("OnlyAttached") and pol.attachments == 0:
                continue
            if pol.path.startswith(prefix):
                items.append(pol.to_output(tags=False))
        return S.paginate("ListPolicies", items, params)

    def DeletePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, "DeletePolicy", pol.arn)
        if ":aws:policy/" in pol.arn:
            raise errors.error_class("UnmodifiableEntity")("Cannot delete an AWS managed policy.")
        if pol.attachments or pol.boundary_uses:
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        if len(pol.versions) > 1:
            raise DeleteConflict("Cannot delete a policy with non-default versions.")
        del self.policies[pol.arn]
        self._changed()
        return {}

    def CreatePolicyVersion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, "CreatePolicyVersion", pol.arn)
        if len(pol.versions) >= POLICY_VERSIONS:
            raise LimitExceeded(
                f"A managed policy can have up to {POLICY_VERSIONS} versions. Before you create "
                "a new version, you must delete an existing version."
            )
        text = _decode(params["PolicyDocument"])
        sizes.check_size("managed", text)
        doc = _parse(text, "identity", pol.arn, source_type="user-managed")
        vid = f"v{pol.next_version}"
        pol.next_version += 1
        pol.versions[vid] = (text, doc, ctx.now)
        if params.get("SetAsDefault"):
            pol.default_version = vid
            pol.updated = ctx.now
            self._changed()
        return {"PolicyVersion": self._version_out(pol, vid, document=False)}

    def _version_out(self, pol: ManagedPolicy, vid: str, *, document: bool) -> dict[str, Any]:
        text, _, created = pol.versions[vid]
        out: dict[str, Any] = {
            "VersionId": vid,
            "IsDefaultVersion": vid == pol.default_version,
            "CreateDate": created,
        }
        if document:
            out["Document"] = json.loads(text)
        return out

    def GetPolicyVersion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, "GetPolicyVersion", pol.arn)
        vid = params["VersionId"]
        if vid not in pol.versions:
            raise NoSuchEntityException(
                f"Policy {pol.arn} version {vid} does not exist or is not attachable."
            )
        return {"PolicyVersion": self._version_out(pol, vid, document=True)}

    def ListPolicyVersions(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, "ListPolicyVersions", pol.arn)
        items = [
            self._version_out(pol, v, document=False)
            for v in sorted(pol.versions, key=lambda v: -int(v[1:]))
        ]
        return S.paginate("ListPolicyVersions", items, params)

    def SetDefaultPolicyVersion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, "SetDefaultPolicyVersion", pol.arn)
        vid = params["VersionId"]
        if vid not in pol.versions:
            raise NoSuchEntityException(f"Policy {pol.arn} version {vid} does not exist.")
        pol.default_version = vid
        pol.updated = ctx.now
        self._changed()
        return {}

    def DeletePolicyVersion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, "DeletePolicyVersion", pol.arn)
        vid = params["VersionId"]
        if vid not in pol.versions:
            raise NoSuchEntityException(f"Policy {pol.arn} version {vid} does not exist.")
        if vid == pol.default_version:
            raise DeleteConflict("Cannot delete the default version of a policy.")
        del pol.versions[vid]
        return {}

    # -- the policy simulator -------------------------------------------------------------
    def _simulate(
        self,
        ctx: CallContext,
        params: dict[str, Any],
        identity: list[PolicyDocument],
        boundary: PolicyDocument | None,
        default_caller: Principal | None,
    ) -> dict[str, Any]:
        resource_policy = None
        if params.get("ResourcePolicy"):
            try:
                resource_policy = _parse(
                    params["ResourcePolicy"], "resource", "ResourcePolicy", "resource"
                )
            except MalformedPolicyDocumentException as exc:
                raise InvalidInputException(
                    f"ResourcePolicy: {exc.message}", explanation=exc.explanation
                ) from None
        caller = default_caller
        if params.get("CallerArn"):
            try:
                caller = resolve_principal(params["CallerArn"], ctx.account)
            except ValueError as exc:
                raise InvalidInputException(f"CallerArn: {exc}") from None
            if caller.kind not in ("User", "Role", "Root"):
                raise InvalidInputException("CallerArn must be an IAM user, role or account ARN")
        if resource_policy is not None and caller is None:
            raise InvalidInputException(
                "CallerArn is required when ResourcePolicy is given: the policy's Principal "
                "element needs a caller to compare against"
            )
        if caller is not None and caller.kind in ("Role", "User"):
            tags = self.tags(caller)
            if tags:
                import dataclasses

                caller = dataclasses.replace(caller, tags=tags)
        context = S.context_from_entries(params.get("ContextEntries"))
        results = []
        for action, decisions in S.simulate(
            identity,
            params["ActionNames"],
            params.get("ResourceArns"),
            caller=caller,
            context=context,
            resource_policy=resource_policy,
            resource_owner=params.get("ResourceOwner"),
            permissions_boundary=boundary,
        ):
            for d in decisions:
                results.append(S.decision_result([d], action))
        return S.paginate(ctx.operation, results, params)

    def SimulateCustomPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        self._authorize(ctx, "SimulateCustomPolicy", "*")
        identity = S.parse_inputs(params["PolicyInputList"], "PolicyInputList")
        boundary = S.merge_boundaries(
            S.parse_inputs(
                params.get("PermissionsBoundaryPolicyInputList"),
                "PermissionsBoundaryPolicyInputList",
            )
        )
        return self._simulate(ctx, params, identity, boundary, None)

    def _source(self, ctx: CallContext, arn: str) -> tuple[Principal, Entity]:
        try:
            principal = resolve_principal(arn, ctx.account)
        except ValueError as exc:
            raise InvalidInputException(f"PolicySourceArn: {exc}") from None
        entity = self._entity_for(principal)
        if entity is None or principal.session_arn:
            raise NoSuchEntityException(
                f"PolicySourceArn {arn} is not an existing IAM user or role."
            )
        return principal, entity

    def SimulatePrincipalPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        source = params["PolicySourceArn"]
        self._authorize(ctx, "SimulatePrincipalPolicy", source)
        principal, _ = self._source(ctx, source)
        identity = list(self.identity_policies(principal))
        identity += S.parse_inputs(params.get("PolicyInputList"), "PolicyInputList")
        given = S.parse_inputs(
            params.get("PermissionsBoundaryPolicyInputList"), "PermissionsBoundaryPolicyInputList"
        )
        boundary = S.merge_boundaries(given) if given else self.permissions_boundary(principal)
        # CallerArn "defaults to the ARN of the user that you specify in PolicySourceArn, if you
        # specified a user" and "is required if you include a ResourcePolicy and the
        # PolicySourceArn is not the ARN for an IAM user".
        if (principal.kind != "User" and params.get("ResourcePolicy")
                and not params.get("CallerArn")):
            raise InvalidInputException(
                "CallerArn is required when ResourcePolicy is given and PolicySourceArn is not "
                "an IAM user."
            )
        return self._simulate(ctx, params, identity, boundary, principal)

    def GetContextKeysForCustomPolicy(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        docs = S.parse_inputs(params["PolicyInputList"], "PolicyInputList", kind="any")
        keys: dict[str, str] = {}
        for d in docs:
            for k in d.condition_keys:
                keys.setdefault(k.lower(), k)
        return {"ContextKeyNames": sorted(keys.values(), key=str.lower)}

    def GetContextKeysForPrincipalPolicy(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        principal, _ = self._source(ctx, params["PolicySourceArn"])
        docs = list(self.identity_policies(principal))
        docs += S.parse_inputs(params.get("PolicyInputList"), "PolicyInputList")
        keys: dict[str, str] = {}
        for d in docs:
            for k in d.condition_keys:
                keys.setdefault(k.lower(), k)
        return {"ContextKeyNames": sorted(keys.values(), key=str.lower)}

    # -- access keys ----------------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html: "If you
    # do not specify a user name, IAM determines the user name implicitly based on the
    # Amazon Web Services access key ID signing the request" (the root when root signs).
    def _key_owner(self, ctx: CallContext, params: dict[str, Any]) -> tuple[str | None, str]:
        """(user name or None for the root, the ARN the call is authorised on)."""
        name = params.get("UserName")
        if name is None and ctx.caller.kind == "User":
            name = ctx.caller.name
        if name is None:
            if not ctx.caller.is_root:
                raise errors.error_class("ValidationError")(
                    "Must specify userName when calling with non-User credentials"
                )
            return None, ctx.caller.arn
        user = self._get_user(ctx, name)
        return user.name, user.arn

    def _access_key(self, ctx: CallContext, params: dict[str, Any]) -> AccessKey:
        name, _arn = self._key_owner(ctx, params)
        key = self.access_keys.get(params["AccessKeyId"])
        if key is None or key.account != ctx.account or key.user_name != name:
            raise NoSuchEntityException(
                f"The Access Key with id {params['AccessKeyId']} cannot be found."
            )
        return key

    def CreateAccessKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name, arn = self._key_owner(ctx, params)
        self._authorize(ctx, "CreateAccessKey", arn)
        owned = [k for k in self.access_keys.values()
                 if k.account == ctx.account and k.user_name == name]
        if len(owned) >= ACCESS_KEYS_PER_USER:
            raise LimitExceeded(
                f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"
            )
        rng = self.sim.rng
        akid = "AKIA" + "".join(rng.choice(_KEY_ID_CHARS) for _ in range(16))
        secret = "".join(rng.choice(_SECRET_CHARS) for _ in range(40))
        key = AccessKey(akid, secret, ctx.account, name, "Active", ctx.now,
                        arn if name is not None else "")
        self.access_keys[akid] = key
        return {"AccessKey": {**key.metadata(), "UserName": name or ctx.caller.name,
                              "SecretAccessKey": secret}}

    def ListAccessKeys(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name, arn = self._key_owner(ctx, params)
        self._authorize(ctx, "ListAccessKeys", arn)
        keys = [k.metadata() for k in self.access_keys.values()
                if k.account == ctx.account and k.user_name == name]
        return S.paginate("ListAccessKeys", keys, params)

    def UpdateAccessKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._access_key(ctx, params)
        self._authorize(ctx, "UpdateAccessKey", key.user_arn or ctx.caller.arn)
        key.status = params["Status"]
        return {}

    def DeleteAccessKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._access_key(ctx, params)
        self._authorize(ctx, "DeleteAccessKey", key.user_arn or ctx.caller.arn)
        del self.access_keys[key.access_key_id]
        return {}


#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
ACCESS_KEYS_PER_USER = 2
_KEY_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
