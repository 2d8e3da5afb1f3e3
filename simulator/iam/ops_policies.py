"""Managed policies: customer managed ones and their versions, and AWS managed ones.

A customer managed policy lives in the caller's account; AWS managed policies
(``arn:aws:iam::aws:policy/...``, from ``aws_managed``) can be read, listed and attached but
not changed or deleted.
"""

from __future__ import annotations

import json
from typing import Any

from simulator.errors import EntityAlreadyExistsException, NoSuchEntityException
from simulator.iam import sizes
from simulator.iam.core import (
    MANAGED_POLICIES_PER_ACCOUNT,
    POLICY_VERSIONS,
    DeleteConflict,
    IamCore,
    LimitExceeded,
    decode,
    parse,
)
from simulator.iam.principal import unique_id
from simulator.iam.state import KINDS, ManagedPolicy
from simulator.service import CallContext


class PolicyOperations(IamCore):
    """CreatePolicy, GetPolicy, ListPolicies, DeletePolicy and the policy-version operations."""

    def _target_policy(
        self, ctx: CallContext, params: dict[str, Any], *, read: bool = False
    ) -> ManagedPolicy:
        """The policy the request's PolicyArn names, once the caller may act on it. Every
        account may read AWS managed policies (``read``); changing one is refused."""
        pol = self._get_policy(params["PolicyArn"])
        self._authorize(ctx, ctx.operation, pol.arn, shared=read and pol.aws_managed,
                        shown=f"policy {pol.arn}")
        return pol

    @staticmethod
    def _version_id(pol: ManagedPolicy, params: dict[str, Any], missing: str) -> str:
        """The request's VersionId, when the policy has it (NoSuchEntity, ending ``missing``).

        The wording "Policy ARN version V does not exist[ or is not attachable]." is the
        simulator's assumption, by the pattern of IAM's missing-policy texts: no recorded AWS
        answer for a missing version was found."""
        vid: str = params["VersionId"]
        if vid not in pol.versions:
            raise NoSuchEntityException(f"Policy {pol.arn} version {vid} {missing}")
        return vid

    def CreatePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Create a customer managed policy (version v1, the default) in the caller's account.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html
        """
        name = params["PolicyName"]
        path = self._path(params)
        arn = self._arn(ctx, "policy/", path[1:], name)
        self._authorize(ctx, "CreatePolicy", arn, shown=f"policy {name}")
        if arn in self.policies:
            raise EntityAlreadyExistsException(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        if sum(1 for a in self.policies if f":{ctx.account}:" in a) >= MANAGED_POLICIES_PER_ACCOUNT:
            raise LimitExceeded(
                f"Cannot exceed quota for PoliciesPerAccount: {MANAGED_POLICIES_PER_ACCOUNT}"
            )
        text = decode(params["PolicyDocument"])
        sizes.check_size("managed", text)
        doc = parse(text, "identity", arn, source_type="user-managed")
        pol = ManagedPolicy(
            name, arn, path, unique_id("Policy", arn), ctx.now, ctx.now,
            description=params.get("Description"),
            versions={"v1": (text, doc, ctx.now)},
            tags=self._tags_in(params.get("Tags"), {}),
        )
        self.policies[arn] = pol
        return {"Policy": pol.to_output()}

    def GetPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Describe a managed policy: its default version, attachment and boundary counts.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetPolicy.html
        """
        pol = self._target_policy(ctx, params, read=True)
        return {"Policy": pol.to_output()}

    def ListPolicies(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """List managed policies: the account's (Scope Local), AWS's (Scope AWS) or both.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListPolicies.html
        """
        self._authorize(ctx, "ListPolicies", "*")
        self._load_aws_managed()
        scope = params.get("Scope") or "All"
        prefix = params.get("PathPrefix") or "/"
        items = []
        for pol in sorted(self.policies.values(), key=lambda p: p.arn):
            is_aws = pol.aws_managed
            if (scope == "AWS" and not is_aws) or (scope == "Local" and is_aws):
                continue
            if not is_aws and f":{ctx.account}:" not in pol.arn:
                continue
            if params.get("OnlyAttached") and pol.attachments == 0:
                continue
            if pol.path.startswith(prefix):
                items.append(pol.to_output(full=False))
        return self.paginate("ListPolicies", items, params)

    #: ListEntitiesForPolicy's answer members per entity kind, in the order they are paged.
    POLICY_ENTITIES: tuple[tuple[str, str], ...] = (
        ("Group", "PolicyGroups"), ("User", "PolicyUsers"), ("Role", "PolicyRoles"),
    )

    def ListEntitiesForPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The groups, users and roles a managed policy is attached to (or is the permissions
        boundary of), filtered by entity kind, path prefix and usage; paged as one list,
        groups first.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListEntitiesForPolicy.html
        """
        pol = self._target_policy(ctx, params, read=True)
        kind_filter = params.get("EntityFilter")
        usage = params.get("PolicyUsageFilter")
        prefix = params.get("PathPrefix") or "/"
        if kind_filter in ("LocalManagedPolicy", "AWSManagedPolicy") and (
                pol.aws_managed != (kind_filter == "AWSManagedPolicy")):
            entries: list[tuple[str, dict[str, str]]] = []
        else:
            entries = []
            for kind, member in self.POLICY_ENTITIES:
                if kind_filter in KINDS and kind_filter != kind:
                    continue
                info = KINDS[kind]
                for (account, _), entity in sorted(self.entities[kind].items()):
                    if account != ctx.account or not entity.path.startswith(prefix):
                        continue
                    attached = pol.arn in entity.attached and usage != "PermissionsBoundary"
                    bounded = entity.boundary_arn == pol.arn and usage != "PermissionsPolicy"
                    if attached or bounded:
                        entries.append((member, {info.name_member: entity.name,
                                                 info.id_member: entity.entity_id}))
        page = self.paginate("ListEntitiesForPolicy", entries, params)
        out: dict[str, Any] = {member: [] for _, member in self.POLICY_ENTITIES}
        for member, item in page.pop("Entities"):
            out[member].append(item)
        return {**out, **page}

    def DeletePolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Delete a customer managed policy that is attached nowhere and has only its default
        version.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeletePolicy.html
        """
        # An AWS managed policy is AWS's (account ``aws``): no resource policy lets another
        # account change it, so _target_policy's authorisation refuses DeletePolicy and the
        # version operations on it with AccessDenied, whoever calls. IAM has no other error
        # for it: these operations' documented errors include no UnmodifiableEntity
        # (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeletePolicy.html,
        # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html).
        pol = self._target_policy(ctx, params)
        # IAM's words, as its answers quoted in public issues show
        # (https://github.com/rebuy-de/aws-nuke/issues/1, status 409).
        if pol.attachments or pol.boundary_uses:
            raise DeleteConflict(
                "Cannot delete a policy attached to entities.",
                explanation=f"attached to {pol.attachments} role(s)/user(s)/group(s), the "
                "permissions "
                f"boundary of {pol.boundary_uses}",
            )
        if len(pol.versions) > 1:
            raise DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must "
                "delete the policy's versions. The default version is deleted with the policy.",
                explanation="versions other than the default: "
                + ", ".join(v for v in pol.versions if v != pol.default_version),
            )
        del self.policies[pol.arn]
        self._changed()
        return {}

    def CreatePolicyVersion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Add a version to a managed policy (at most 5), optionally as the default.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html
        """
        pol = self._target_policy(ctx, params)
        if len(pol.versions) >= POLICY_VERSIONS:
            # IAM's answer, as the AWS CLI prints it in https://github.com/99designs/iamy/issues/21.
            raise LimitExceeded(
                f"A managed policy can have up to {POLICY_VERSIONS} versions. Before you create "
                "a new version, you must delete an existing version."
            )
        text = decode(params["PolicyDocument"])
        sizes.check_size("managed", text)
        doc = parse(text, "identity", pol.arn, source_type="user-managed")
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
        """Return one version of a managed policy, its document as a dict.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetPolicyVersion.html
        """
        pol = self._target_policy(ctx, params, read=True)
        vid = self._version_id(pol, params, "does not exist or is not attachable.")
        return {"PolicyVersion": self._version_out(pol, vid, document=True)}

    def ListPolicyVersions(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """List a managed policy's versions, newest first.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListPolicyVersions.html
        """
        pol = self._target_policy(ctx, params, read=True)
        items = [
            self._version_out(pol, v, document=False)
            for v in sorted(pol.versions, key=lambda v: -int(v[1:]))
        ]
        return self.paginate("ListPolicyVersions", items, params)

    def SetDefaultPolicyVersion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Make a version the one IAM evaluates.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_SetDefaultPolicyVersion.html
        """
        pol = self._target_policy(ctx, params)
        vid = self._version_id(pol, params, "does not exist.")
        pol.default_version = vid
        pol.updated = ctx.now
        self._changed()
        return {}

    def DeletePolicyVersion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Delete a version that is not the default.

        https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeletePolicyVersion.html
        """
        pol = self._target_policy(ctx, params)
        vid = self._version_id(pol, params, "does not exist.")
        if vid == pol.default_version:
            raise DeleteConflict("Cannot delete the default version of a policy.")
        del pol.versions[vid]
        return {}

