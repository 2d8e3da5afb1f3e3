"""Role, user and group operations, written once for every entity kind.

Roles, users and groups share most of IAM's API: create, get, delete and list them; put, get,
delete and list their inline policies; attach, detach and list managed policies; set and
remove a permissions boundary; tag, untag and list tags. Each of those is one step below,
marked ``@entity_operation("Put{Kind}Policy")``: ``{Kind}`` stands for the kind, so the step
serves PutRolePolicy, PutUserPolicy and PutGroupPolicy. ``install`` gives ``EntityOperations``
one handler per step and kind where botocore's IAM model has that operation (groups have no
tags nor boundary), named as botocore names it, whose docstring is the step's (``{noun}`` read
as "role", "user" or "group") and the operation's API Reference page. What differs between
kinds (request members, ARN type, AWS's wording, quotas) is the kind's row of ``state.KINDS``.
Operations of one kind (UpdateAssumeRolePolicy, GetGroup, AddUserToGroup) are plain methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from simulator.errors import (
    EntityAlreadyExistsException,
    InvalidInputException,
    MalformedPolicyDocumentException,
    NoSuchEntityException,
)
from simulator.iam import sizes
from simulator.iam.core import (
    API_REFERENCE,
    MANAGED_POLICIES_PER_ENTITY,
    DeleteConflict,
    IamCore,
    LimitExceeded,
    ValidationError,
    decode,
    parse,
)
from simulator.iam.principal import unique_id
from simulator.iam.state import (
    GROUP,
    GROUPS_PER_USER,
    KINDS,
    ROLE,
    USER,
    Entity,
    EntityKind,
    tags_out,
)
from simulator.models import service_model
from simulator.service import CallContext

Params = dict[str, Any]
Response = dict[str, Any]
Step = Callable[["EntityOperations", EntityKind, CallContext, Params], Response]


def entity_operation(pattern: str) -> Callable[[Step], Step]:
    """Mark a step as the operation ``pattern`` names for every kind (``{Kind}`` in it)."""
    def mark(step: Step) -> Step:
        step.entity_operation = pattern  # type: ignore[attr-defined]
        return step
    return mark


class EntityOperations(IamCore):
    """The per-kind steps (``@entity_operation``) and the role-only operations."""

    # -- finding the entity a request names -------------------------------------------------
    def _target(self, kind: EntityKind, ctx: CallContext, params: Params) -> Entity:
        """The entity the request names, once the caller may act on it.

        Where the name is optional (GetUser), it is the calling user's: "If you do not
        specify a user name, IAM determines the user name implicitly based on the Amazon Web
        Services access key ID used to sign the request to this operation"
        (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetUser.html).
        """
        name = params.get(kind.name_member)
        if name is None:
            if ctx.caller.kind != kind.name:
                member = kind.name_member[0].lower() + kind.name_member[1:]
                raise ValidationError(
                    f"Must specify {member} when calling with non-{kind.name} credentials"
                )
            name = ctx.caller.name
        entity = self._entity(ctx, kind, name)
        self._authorize(ctx, ctx.operation, entity.arn, shown=f"{kind.noun} {entity.name}")
        return entity

    # -- the entity ------------------------------------------------------------------------
    @entity_operation("Create{Kind}")
    def _create(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Create a {noun} in the caller's account (EntityAlreadyExists when the name, in any
        case, is taken)."""
        name = params[kind.name_member]
        table = self.entities[kind.name]
        key = (ctx.account, name.lower())
        if key in table:
            raise EntityAlreadyExistsException(f"{kind.name} with name {name} already exists.")
        if sum(1 for a, _ in table if a == ctx.account) >= kind.per_account:
            raise LimitExceeded(
                f"Cannot exceed quota for {kind.account_quota}: {kind.per_account}"
            )
        path = self._path(params)
        for reserved in kind.reserved_paths:
            if path.startswith(reserved):
                raise InvalidInputException(
                    f"Path prefix '{reserved}' can only be used for AWS Service linked Roles",
                    explanation="service-linked roles are made by CreateServiceLinkedRole, "
                    "which the simulator does not implement",
                )
        arn = self._arn(ctx, kind.arn_type + "/", path[1:], name)
        entity = Entity(kind.name, name, arn, path, unique_id(kind.name, arn), ctx.now,
                        ctx.account)
        self._authorize(ctx, ctx.operation, entity.arn)
        if kind.has_trust_policy:
            self._trust(entity, params["AssumeRolePolicyDocument"])
            entity.description = params.get("Description")
            entity.max_session = params.get("MaxSessionDuration") or 3600
            if not 3600 <= entity.max_session <= 43200:
                raise ValidationError(
                    "The requested MaxSessionDuration must be between 3600 and 43200 seconds."
                )
        entity.tags = self._tags_in(params.get("Tags"), {})
        if params.get("PermissionsBoundary"):
            self._set_boundary(entity, params["PermissionsBoundary"])
        table[key] = entity
        self._changed()
        if kind is ROLE:  # CloudTrail's CreateRole record names the role
            ctx.audit["resources"] = [{"ARN": entity.arn, "accountId": ctx.account}]
        return {kind.output_member: entity.to_output(created=True)}

    @entity_operation("Get{Kind}")
    def _get(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Describe a {noun}, with its tags and permissions boundary."""
        return {kind.output_member: self._target(kind, ctx, params).to_output()}

    @entity_operation("Delete{Kind}")
    def _delete(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Delete a {noun} that has no attached or inline policies (nor access keys, nor
        group memberships) left; DeleteConflict otherwise."""
        entity = self._target(kind, ctx, params)
        # "Cannot delete entity, must remove users from group first." is IAM's answer both to
        # DeleteGroup of a group with users and to DeleteUser of a user in a group (as
        # recorded by clients tested against IAM, e.g. a Java SDK test asserting it for
        # deleteUser); https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteGroup.html
        # and API_DeleteUser.html list group memberships among what must go first.
        held = entity.members or [g.name for g in self.groups_of(entity)]
        if held:
            raise DeleteConflict(
                "Cannot delete entity, must remove users from group first.",
                explanation=(f"users in group {entity.name}: " if kind is GROUP else
                             f"user {entity.name} is in groups: ") + ", ".join(held),
            )
        # IAM's words, as its answers quoted in public issues show: "Cannot delete entity, must
        # detach all policies first." (managed policies still attached), "... must delete
        # policies first." (inline policies), "... must delete access keys first."; the checks
        # in that order (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html
        # lists what must go first).
        if entity.attached:
            raise DeleteConflict(
                "Cannot delete entity, must detach all policies first.",
                explanation=f"still attached: {', '.join(entity.attached)}",
            )
        if entity.inline:
            raise DeleteConflict(
                "Cannot delete entity, must delete policies first.",
                explanation=f"inline policies left: {', '.join(sorted(entity.inline))}",
            )
        if any(k.user_arn == entity.arn for k in self.access_keys.values()):
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if entity.boundary_arn:
            self._set_boundary(entity, None)
        del self.entities[kind.name][(ctx.account, entity.name.lower())]
        self._changed()
        return {}

    @entity_operation("List{Kind}s")
    def _list(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """List the account's {noun}s under a path prefix, by name."""
        self._authorize(ctx, ctx.operation, "*")
        prefix = params.get("PathPrefix") or "/"
        found = sorted(
            (e for (a, _), e in self.entities[kind.name].items()
             if a == ctx.account and e.path.startswith(prefix)),
            key=lambda e: e.name.lower(),
        )
        return self.paginate(ctx.operation, [e.to_output(full=False) for e in found], params)

    # -- inline policies ---------------------------------------------------------------------
    def _inline_policy(self, kind: EntityKind, entity: Entity, name: str) -> tuple[str, Any]:
        if name not in entity.inline:
            raise NoSuchEntityException(
                f"The {kind.noun} policy with name {name} cannot be found."
            )
        return entity.inline[name]

    @entity_operation("Put{Kind}Policy")
    def _put_inline(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Add or replace an inline policy of a {noun}, validated and size-checked as IAM
        does."""
        entity = self._target(kind, ctx, params)
        name = params["PolicyName"]
        text = decode(params["PolicyDocument"])
        sizes.check_size(kind.inline_size_kind, text, entity.name,
                         (t for n, (t, _) in entity.inline.items() if n != name))
        entity.inline[name] = (text, parse(text, "identity", name,
                                           source_type=kind.inline_size_kind))
        self._changed()
        return {}

    @entity_operation("Get{Kind}Policy")
    def _get_inline(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Return an inline policy of a {noun}, its document as a dict."""
        entity = self._target(kind, ctx, params)
        text, _ = self._inline_policy(kind, entity, params["PolicyName"])
        return {kind.name_member: entity.name, "PolicyName": params["PolicyName"],
                "PolicyDocument": json.loads(text)}

    @entity_operation("Delete{Kind}Policy")
    def _delete_inline(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Delete an inline policy of a {noun}."""
        entity = self._target(kind, ctx, params)
        self._inline_policy(kind, entity, params["PolicyName"])
        del entity.inline[params["PolicyName"]]
        self._changed()
        return {}

    @entity_operation("List{Kind}Policies")
    def _list_inline(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """List the names of a {noun}'s inline policies."""
        entity = self._target(kind, ctx, params)
        return self.paginate(ctx.operation, sorted(entity.inline), params)

    # -- managed policies attached ---------------------------------------------------------
    @entity_operation("Attach{Kind}Policy")
    def _attach(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Attach a managed policy to a {noun} (at most 10; attaching it again changes
        nothing)."""
        entity = self._target(kind, ctx, params)
        arn = params["PolicyArn"]
        pol = self._get_policy(arn, use="attach")
        if arn in entity.attached:
            return {}
        if len(entity.attached) >= MANAGED_POLICIES_PER_ENTITY:
            raise LimitExceeded(
                f"Cannot exceed quota for {kind.attached_quota}: {MANAGED_POLICIES_PER_ENTITY}"
            )
        entity.attached.append(arn)
        pol.attachments += 1
        self._changed()
        return {}

    @entity_operation("Detach{Kind}Policy")
    def _detach(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Detach a managed policy from a {noun}."""
        entity = self._target(kind, ctx, params)
        arn = params["PolicyArn"]
        if arn not in entity.attached:
            raise NoSuchEntityException(f"Policy {arn} was not found.")
        entity.attached.remove(arn)
        pol = self._managed(arn)
        if pol is not None:
            pol.attachments -= 1
        self._changed()
        return {}

    @entity_operation("ListAttached{Kind}Policies")
    def _list_attached(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """List the managed policies attached to a {noun}."""
        entity = self._target(kind, ctx, params)
        prefix = params.get("PathPrefix") or "/"
        items = []
        for arn in entity.attached:
            pol = self._managed(arn)
            if pol is not None and pol.path.startswith(prefix):
                items.append({"PolicyName": pol.name, "PolicyArn": arn})
        return self.paginate(ctx.operation, items, params)

    # -- permissions boundary ----------------------------------------------------------------
    @entity_operation("Put{Kind}PermissionsBoundary")
    def _put_boundary(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Set a managed policy as the {noun}'s permissions boundary."""
        self._set_boundary(self._target(kind, ctx, params), params["PermissionsBoundary"])
        return {}

    @entity_operation("Delete{Kind}PermissionsBoundary")
    def _delete_boundary(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Remove the {noun}'s permissions boundary."""
        self._set_boundary(self._target(kind, ctx, params), None)
        return {}

    # -- tags ------------------------------------------------------------------------------
    @entity_operation("Tag{Kind}")
    def _tag(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Add tags to a {noun} (keys are case-insensitive; at most 50); a {noun}'s tags are
        its aws:PrincipalTag values."""
        entity = self._target(kind, ctx, params)
        entity.tags = self._tags_in(params["Tags"], entity.tags)
        return {}

    @entity_operation("Untag{Kind}")
    def _untag(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """Remove tags from a {noun}."""
        entity = self._target(kind, ctx, params)
        drop = {k.lower() for k in params["TagKeys"]}
        entity.tags = {k: v for k, v in entity.tags.items() if k.lower() not in drop}
        return {}

    @entity_operation("List{Kind}Tags")
    def _list_tags(self, kind: EntityKind, ctx: CallContext, params: Params) -> Response:
        """List a {noun}'s tags."""
        entity = self._target(kind, ctx, params)
        return self.paginate(ctx.operation, tags_out(entity.tags), params)

    # -- roles only ------------------------------------------------------------------------
    def _trust(self, role: Entity, document: str) -> None:
        """Set a role's trust policy. A document that is not JSON at all gets the words IAM
        answers for a trust policy, "This policy contains invalid Json" (recorded with
        CreateRole, e.g. https://github.com/aws-samples/aws-microservices-deploy-options/
        issues/118), not the "Syntax errors in policy." of permission policies."""
        text = decode(document)
        sizes.check_size("trust", text)
        try:
            json.loads(text)
        except ValueError as exc:
            raise MalformedPolicyDocumentException(
                "This policy contains invalid Json",
                explanation=f"AssumeRolePolicyDocument is not JSON: {exc}") from None
        role.trust = parse(text, "trust", "AssumeRolePolicyDocument")
        role.trust_text = text

    def UpdateAssumeRolePolicy(self, ctx: CallContext, params: Params) -> Response:
        """Replace a role's trust policy, the resource policy STS's AssumeRole evaluates.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAssumeRolePolicy.html
        """
        self._trust(self._target(ROLE, ctx, params), params["PolicyDocument"])
        return {}

    def UpdateRole(self, ctx: CallContext, params: Params) -> Response:
        """Change a role's description or maximum session duration (what is not given
        stays).

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateRole.html
        """
        role = self._target(ROLE, ctx, params)
        if "MaxSessionDuration" in params:  # 3600-43200: the model's range, checked before
            role.max_session = params["MaxSessionDuration"]
        if "Description" in params:
            role.description = params["Description"]
        self._changed()
        return {}

    # -- groups only -----------------------------------------------------------------------
    def GetGroup(self, ctx: CallContext, params: Params) -> Response:
        """Describe a group and list its users (paged by Marker and MaxItems).

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetGroup.html
        """
        group = self._target(GROUP, ctx, params)
        users = [self._entity(ctx, USER, name) for name in group.members]
        page = self.paginate("GetGroup", [u.to_output(full=False) for u in users], params)
        return {"Group": group.to_output(), **page}

    def _membership(self, ctx: CallContext, params: Params) -> tuple[Entity, Entity]:
        """The group and the user a membership request names, once the caller may change
        the group (the resource of AddUserToGroup and RemoveUserFromGroup)."""
        group = self._target(GROUP, ctx, params)
        return group, self._entity(ctx, USER, params["UserName"])

    def AddUserToGroup(self, ctx: CallContext, params: Params) -> Response:
        """Add a user to a group: the group's policies then apply to the user's requests
        (adding a member again changes nothing; a user may be in at most 10 groups).

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddUserToGroup.html
        """
        group, user = self._membership(ctx, params)
        if any(m.lower() == user.name.lower() for m in group.members):
            return {}
        if len(self.groups_of(user)) >= GROUPS_PER_USER:
            raise LimitExceeded(
                f"Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}",
                explanation=f"user {user.name} is in {GROUPS_PER_USER} groups already "
                "(the quota's wording is the simulator's, by the pattern of IAM's others)",
            )
        group.members.append(user.name)
        self._changed()
        return {}

    def RemoveUserFromGroup(self, ctx: CallContext, params: Params) -> Response:
        """Remove a user from a group; NoSuchEntity when the user is not in it.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_RemoveUserFromGroup.html
        """
        group, user = self._membership(ctx, params)
        kept = [m for m in group.members if m.lower() != user.name.lower()]
        if len(kept) == len(group.members):
            # moto's words for it; no recorded answer of IAM's was found.
            raise NoSuchEntityException(f"User {user.name} not in group {group.name}",
                                        explanation="the user exists but is no member")
        group.members = kept
        self._changed()
        return {}

    def UpdateGroup(self, ctx: CallContext, params: Params) -> Response:
        """Rename a group or move it to another path: its ARN changes, its GroupId, users
        and policies stay. The caller needs iam:UpdateGroup on the old and the new ARN
        ("must have permission to change the ... group with the old name and the new name").

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateGroup.html
        """
        group = self._target(GROUP, ctx, params)
        name = params.get("NewGroupName") or group.name
        path = self._path({"Path": params["NewPath"]}) if "NewPath" in params else group.path
        key = (ctx.account, name.lower())
        if key != (ctx.account, group.name.lower()) and key in self.groups:
            raise EntityAlreadyExistsException(f"Group with name {name} already exists.")
        arn = self._arn(ctx, GROUP.arn_type + "/", path[1:], name)
        self._authorize(ctx, ctx.operation, arn)
        del self.groups[(ctx.account, group.name.lower())]
        group.name, group.path, group.arn = name, path, arn
        self.groups[key] = group
        self._changed()
        return {}

    def ListGroupsForUser(self, ctx: CallContext, params: Params) -> Response:
        """List the groups a user is in.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListGroupsForUser.html
        """
        user = self._target(USER, ctx, params)
        return self.paginate("ListGroupsForUser",
                             [g.to_output(full=False) for g in self.groups_of(user)], params)


def _handler(step: Step, pattern: str, kind: EntityKind) -> Callable[..., Response]:
    def handler(self: EntityOperations, ctx: CallContext, params: Params) -> Response:
        return step(self, kind, ctx, params)

    name = pattern.format(Kind=kind.name)
    handler.__name__ = name
    handler.__qualname__ = f"EntityOperations.{name}"
    handler.__doc__ = (
        (step.__doc__ or "").format(noun=kind.noun) + "\n\n        " + API_REFERENCE.format(name)
    )
    return handler


def install(cls: type[EntityOperations]) -> None:
    """Give ``cls`` a handler for every ``@entity_operation`` step and every entity kind
    whose operation botocore's IAM model has, unless ``cls`` writes that one itself
    (GetGroup, which lists the group's users too)."""
    operations = set(service_model("iam").operation_names)
    for step in list(vars(cls).values()):
        pattern = getattr(step, "entity_operation", None)
        if pattern is not None:
            for kind in KINDS.values():
                name = pattern.format(Kind=kind.name)
                if name in operations and name not in vars(cls):
                    setattr(cls, name, _handler(step, pattern, kind))


install(EntityOperations)
