"""The state of the simulated IAM and the steps its operations share.

``IamCore`` holds every account's roles and users (one table per entity kind,
``state.KINDS``), the managed policies (customer managed, and AWS managed ones loaded from
package data on first use) and the access keys. It answers what the authorisers ask of
IAM (``identity_policies``, ``permissions_boundary``, ``tags``, ``role``), and offers the steps
the operation modules (``ops_*.py``) share: finding an entity or a policy with AWS's
NoSuchEntity words, tags, inline and attached policies, permissions boundaries, paging.
``service.IamService`` puts them together.

IAM is global: entities live in the caller's account, ARNs carry no Region. Policy documents
are size-checked (``simulator.iam.sizes``) and parsed (validated as IAM validates them) when
they are stored; a malformed one is refused with MalformedPolicyDocument and IAM's message,
the path to the bad element in the error's ``explanation``. Documents come back as dicts, the
way boto3 returns them (botocore decodes IAM's URL-encoded JSON).
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

from simulator import errors
from simulator.errors import AccessDeniedException, InvalidInputException, NoSuchEntityException
from simulator.iam import simulate as S
from simulator.iam.authorization import authorize
from simulator.iam.aws_managed import aws_managed_policies
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import Principal, unique_id
from simulator.iam.state import KINDS, AccessKey, Entity, EntityKind, ManagedPolicy
from simulator.models import service_model
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.service import SimulationSurface


def iam_error(code: str) -> type[errors.ClientError]:
    """The error class for IAM's error ``code``, with the HTTP status botocore's IAM model
    gives it (NoSuchEntity 404, EntityAlreadyExists/DeleteConflict/LimitExceeded 409, ...)."""
    for shape in service_model("iam").error_shapes:
        meta = shape.metadata.get("error", {"code": shape.name})
        if meta.get("code") == code:
            return errors.error_class(code, meta.get("httpStatusCode", 400))
    return errors.error_class(code)


LimitExceeded = iam_error("LimitExceeded")
DeleteConflict = iam_error("DeleteConflict")
ValidationError = iam_error("ValidationError")
#: IAM denies with ``AccessDenied`` and HTTP 403 (not ``AccessDeniedException``, as KMS and
#: ECS do): "An error occurred (AccessDenied) when calling the GetRole operation: User: ... is
#: not authorized to perform: iam:GetRole on resource: role NAME because no identity-based
#: policy allows the iam:GetRole action (Service: Iam, Status Code: 403 ...)", as IAM's
#: answers quoted in public issues show. botocore's IAM model has no shape for it; STS names
#: it the same (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
AccessDenied = errors.error_class("AccessDenied", 403)

#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (the quotas of
#: roles and users per account, and of managed policies per entity, are in ``state.KINDS``).
#: CreatePolicy beyond it: "Cannot exceed quota for PoliciesPerAccount: 1500" is the simulator's
#: assumption, by the pattern of IAM's other quota texts (no recorded AWS answer was found).
MANAGED_POLICIES_PER_ACCOUNT = 1500
MANAGED_POLICIES_PER_ENTITY = 10
POLICY_VERSIONS = 5
TAGS_PER_ENTITY = 50
ACCESS_KEYS_PER_USER = 2
# Policy size quotas: simulator.iam.sizes.POLICY_SIZE_QUOTAS.

#: The default version of the AWS managed policies whose shipped document is not AWS's v1, by
#: path and name, as the AWS Managed Policy Reference gives it (GetPolicy's DefaultVersionId;
#: GetPolicyVersion finds the document under it). Others are v1.
AWS_MANAGED_DEFAULT_VERSIONS: dict[str, str] = {
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/PowerUserAccess.html
    "/PowerUserAccess": "v12",
}

#: Where each handler's docstring points: the IAM API Reference page of the operation.
API_REFERENCE = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_{}.html"


def decode(text: str) -> str:
    """Accept URL-encoded JSON too (IAM returns documents URL-encoded)."""
    stripped = text.lstrip()
    if stripped.startswith("%7B") or stripped.startswith("%7b"):
        return urllib.parse.unquote(text)
    return text


def parse(text: str, kind: str, name: str | None, source_type: str = "none") -> PolicyDocument:
    """A policy document as IAM validates it (MalformedPolicyDocument otherwise)."""
    return PolicyDocument.parse(decode(text), kind=kind, name=name, source_type=source_type)


class IamCore(Service):
    """State and shared steps of the simulated IAM (see the module docstring)."""

    service_name: ClassVar[str] = "iam"
    event_source: ClassVar[str] = "iam.amazonaws.com"
    constraint_error: ClassVar[str] = "ValidationError"

    def __init__(self, sim: SimulationSurface) -> None:
        super().__init__(sim)
        #: Entities by kind name, then by (account, lower-cased name): IAM names are
        #: case-insensitive.
        self.entities: dict[str, dict[tuple[str, str], Entity]] = {k: {} for k in KINDS}
        self.roles = self.entities["Role"]
        self.users = self.entities["User"]
        self.groups = self.entities["Group"]
        self.policies: dict[str, ManagedPolicy] = {}
        self._docs_cache: dict[str, tuple[int, list[PolicyDocument]]] = {}
        self._generation = 0
        self._aws_managed_loaded = False
        #: Access keys by AccessKeyId: the signing keys of users (and of account roots).
        self.access_keys: dict[str, AccessKey] = {}

    def restored(self) -> None:
        """A state saved before groups existed gets an empty table of them, and its entities
        an empty membership list."""
        self.groups = self.entities.setdefault("Group", {})
        for table in self.entities.values():
            for entity in table.values():
                if "members" not in vars(entity):
                    entity.members = []

    # -- what other services ask of IAM ----------------------------------------------------
    def _entity_for(self, principal: Principal) -> Entity | None:
        table = self.entities.get(principal.kind)
        if table is None:
            return None
        return table.get((principal.account, principal.name.lower()))

    def identity_policies(self, principal: Principal) -> list[PolicyDocument]:
        """Inline and attached managed policies of a role or user, and of each group a user is
        in ([] for roots, services and roles that were never created): "policies attached to
        the group ... apply to all users in the group"
        (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_groups.html)."""
        if principal.kind not in KINDS:
            return []
        key = f"{principal.kind}:{principal.account}:{principal.name.lower()}"
        cached = self._docs_cache.get(key)
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        entity = self._entity_for(principal)
        docs: list[PolicyDocument] = []
        if entity is not None:
            docs.extend(self.own_policies(entity))
            for group in self.groups_of(entity):
                docs.extend(self.own_policies(group))
        self._docs_cache[key] = (self._generation, docs)
        return docs

    def own_policies(self, entity: Entity) -> list[PolicyDocument]:
        """The entity's own inline and attached managed policies (not its groups')."""
        docs = [doc for _, doc in entity.inline.values()]
        for arn in entity.attached:
            pol = self._managed(arn)
            if pol is not None:
                docs.append(pol.document)
        return docs

    def groups_of(self, user: Entity) -> list[Entity]:
        """The groups ``user`` is in (none for a role or a group), by name."""
        if user.kind != "User":
            return []
        name = user.name.lower()
        return sorted((g for (account, _), g in self.groups.items()
                       if account == user.account and name in (m.lower() for m in g.members)),
                      key=lambda g: g.name.lower())

    def permissions_boundary(self, principal: Principal) -> PolicyDocument | None:
        """The permissions boundary of a role or user, or None."""
        entity = self._entity_for(principal)
        if entity is None or not entity.boundary_arn:
            return None
        pol = self._managed(entity.boundary_arn)
        return pol.document if pol is not None else None

    def tags(self, principal: Principal) -> dict[str, str]:
        """The tags of a role or user (``aws:PrincipalTag``); {} for anyone else. An
        assumed-role session's tags go over them (a session tag takes the place of a role tag
        with the same key, case-insensitively: https://docs.aws.amazon.com/IAM/latest/
        UserGuide/id_session-tags.html, "Things to know about session tags")."""
        entity = self._entity_for(principal)
        tags = dict(entity.tags) if entity is not None else {}
        if principal.tags:
            lower = {k.lower(): k for k in tags}
            for key, value in principal.tags.items():
                tags.pop(lower.get(key.lower(), key), None)
                tags[key] = value
        return tags

    def role(self, account: str, name: str) -> Entity | None:
        """The role ``name`` of ``account``, or None (STS's AssumeRole)."""
        return self.roles.get((account, name.lower()))

    def _changed(self) -> None:
        """Policies changed: the cached identity policies are stale."""
        self._generation += 1

    # -- shared steps ---------------------------------------------------------------------
    def _authorize(
        self, ctx: CallContext, action: str, resource: str, *, shared: bool = False,
        shown: str | None = None,
    ) -> None:
        """Authorise ``iam:action`` on ``resource``; AccessDenied (403) in IAM's words if not.

        ``shared`` for AWS managed policies: their ARNs name the account ``aws``, but every
        account holds them, so the caller's own identity policies decide (no resource policy
        grants across accounts). ``shown`` is how IAM's AccessDenied message names the
        resource: an existing role or user by kind and name ("on resource: role Operator",
        "user alice"), a managed policy as "policy ARN" (CreatePolicy: "policy NAME"), a role
        or user being created by its ARN (the default).
        """
        try:
            authorize(self.sim, ctx, f"iam:{action}", resource,
                      resource_account=ctx.account if shared else None)
        except AccessDeniedException as exc:
            message, explanation = exc.message, exc.explanation
            if shown is not None and shown != resource:
                message = message.replace(f"on resource: {resource}", f"on resource: {shown}", 1)
                explanation = "; ".join(filter(None, (explanation, f"{shown} is {resource}")))
            raise AccessDenied(message, explanation=explanation, **exc.details) from None

    def _arn(self, ctx: CallContext, kind: str, path: str, name: str) -> str:
        return f"arn:{self.sim.partition}:iam::{ctx.account}:{kind}{path}{name}"

    def _path(self, params: dict[str, Any]) -> str:
        path = params.get("Path") or "/"
        if not (path.startswith("/") and path.endswith("/")):
            raise ValidationError(
                f"The specified value for path is invalid: {path!r} must begin and end with /"
            )
        return path

    def _entity(self, ctx: CallContext, kind: EntityKind, name: str) -> Entity:
        """The caller's entity of ``kind`` called ``name`` (NoSuchEntity in AWS's words)."""
        entity = self.entities[kind.name].get((ctx.account, name.lower()))
        if entity is None:
            raise NoSuchEntityException(f"The {kind.noun} with name {name} cannot be found.")
        return entity

    def _load_aws_managed(self) -> None:
        if self._aws_managed_loaded:
            return
        self._aws_managed_loaded = True
        now = self.sim.clock.now()
        for shipped in aws_managed_policies():
            arn = shipped.arn(self.sim.partition)
            parsed = PolicyDocument.parse(shipped.document, name=arn, source_type="aws-managed")
            vid = AWS_MANAGED_DEFAULT_VERSIONS.get(shipped.path + shipped.name, "v1")
            self.policies[arn] = ManagedPolicy(
                shipped.name, arn, shipped.path, unique_id("Policy", arn), now, now,
                versions={vid: (shipped.document, parsed, now)}, default_version=vid,
                next_version=int(vid[1:]) + 1,
            )

    def _managed(self, arn: str) -> ManagedPolicy | None:
        if ":aws:policy/" in arn:
            self._load_aws_managed()
        return self.policies.get(arn)

    #: IAM's NoSuchEntity for a managed policy that is not there, by what the request does
    #: with it (IAM's answers, as quoted in public issues): reading or changing it
    #: (GetPolicy: "Policy ARN was not found."), attaching it (AttachRolePolicy: "Policy ARN
    #: does not exist or is not attachable."), or setting it as a permissions boundary
    #: (PutRolePermissionsBoundary, CreateRole's PermissionsBoundary: "Scope ARN: ARN does not
    #: exist or is not attachable.").
    MISSING_POLICY: ClassVar[dict[str, str]] = {
        "read": "Policy {arn} was not found.",
        "attach": "Policy {arn} does not exist or is not attachable.",
        "boundary": "Scope ARN: {arn} does not exist or is not attachable.",
    }

    def _get_policy(self, arn: str, *, use: str = "read") -> ManagedPolicy:
        """The managed policy ``arn`` names, or NoSuchEntity in IAM's words for ``use``
        (``MISSING_POLICY``); InvalidInput when ``arn`` is no ARN."""
        if not arn.startswith("arn:"):
            raise InvalidInputException(f"ARN {arn} is not valid.")
        pol = self._managed(arn)
        if pol is None:
            raise NoSuchEntityException(self.MISSING_POLICY[use].format(arn=arn))
        return pol

    def _tags_in(
        self, tags: list[dict[str, str]] | None, existing: dict[str, str]
    ) -> dict[str, str]:
        """``existing`` with ``tags`` added (keys are case-insensitive), within the quota.

        One request naming a key twice, in any case, is InvalidInput "Duplicate tag keys
        found. Please note that Tag keys are case insensitive." (IAM's answer, as moto's tests
        recorded against AWS have it:
        https://github.com/getmoto/moto/blob/master/tests/test_iam/test_iam.py).
        More than 50 tags in one request is the model's constraint (ValidationError); more
        than 50 on the entity in all is LimitExceeded with a quota text that is ours, unverified.
        """
        keys = [tag["Key"].lower() for tag in tags or []]
        if len(set(keys)) < len(keys):
            raise InvalidInputException(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
                explanation="repeated: " + ", ".join(sorted({k for k in keys
                                                             if keys.count(k) > 1})),
            )
        out = dict(existing)
        for tag in tags or []:
            lower = {k.lower(): k for k in out}
            old = lower.get(tag["Key"].lower())
            if old is not None:
                del out[old]
            out[tag["Key"]] = tag["Value"]
        if len(out) > TAGS_PER_ENTITY:
            raise LimitExceeded(f"Cannot exceed quota for TagsPerEntity: {TAGS_PER_ENTITY}")
        return out

    def _set_boundary(self, entity: Entity, arn: str | None) -> None:
        # The new boundary is looked up first: a missing one changes nothing (the old
        # boundary's PermissionsBoundaryUsageCount included).
        pol = self._get_policy(arn, use="boundary") if arn else None
        if entity.boundary_arn:
            old = self._managed(entity.boundary_arn)
            if old is not None:
                old.boundary_uses -= 1
        if pol is not None:
            pol.boundary_uses += 1
        entity.boundary_arn = arn
        self._changed()

    @staticmethod
    def paginate(operation: str, items: list[Any], params: dict[str, Any]) -> dict[str, Any]:
        """IAM's Marker / MaxItems / IsTruncated page of ``items`` for ``operation``."""
        return S.paginate(operation, items, params)
