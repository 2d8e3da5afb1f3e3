"""STS: temporary credentials for an assumed-role session, and who the caller is.

``AssumeRole`` evaluates the role's trust policy (a resource policy on the role) together with
the caller's identity policies, as AWS does, and returns credentials whose principal is the
session ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``. The sessions live here, so the
HTTP endpoint can verify requests signed with them and refuse them once expired.

Session policies (``Policy``, ``PolicyArns``) limit the session to what they and the role's
policies both allow (https://docs.aws.amazon.com/IAM/latest/UserGuide/
id_credentials_temp_control-access_assumerole.html). Session tags (``Tags``) are the
session's ``aws:PrincipalTag/...`` values; passing them needs ``sts:TagSession`` in the
trust policy too, and ``TransitiveTagKeys`` carry them on along a role chain
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html). MFA
(``SerialNumber``, ``TokenCode``) is refused by name.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast

from simulator import errors
from simulator.arn import Arn
from simulator.iam.authorization import authorize
from simulator.iam.policy import PolicyDocument
from simulator.iam.principal import Principal
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.iam.service import IamService
    from simulator.service import SimulationSurface

#: STS answers a denied AssumeRole with the query protocol's code, not AccessDeniedException.
AccessDenied = errors.error_class("AccessDenied", 403)
ValidationError = errors.error_class("ValidationError")
MalformedPolicyDocument = errors.error_class("MalformedPolicyDocument")
PackedPolicyTooLarge = errors.error_class("PackedPolicyTooLarge")
InvalidParameterValue = errors.error_class("InvalidParameterValue")
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html
#: ("role chaining limits your ... session to a maximum of one hour").
CHAINED_SESSION_SECONDS = 3600
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


#: The plain-text limits AWS states for what AssumeRole packs into the session token:
#: "The plaintext that you use for both inline and managed session policies can't exceed
#: 2,048 characters" and up to 50 session tags (API_AssumeRole.html). ``PackedPolicySize``
#: is reported as the larger share of these two (an assumption: AWS's packed, compressed
#: format is not published).
POLICY_CHARACTERS = 2048
SESSION_TAGS = 50
MANAGED_SESSION_POLICIES = 10


@dataclass
class Session:
    """Temporary credentials of one assumed-role session, with its session policies
    (inline JSON and managed policy ARNs) and session tags."""

    access_key_id: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    #: The ARN the credentials sign as: the assumed-role session, or (GetSessionToken) the
    #: IAM user or root that asked for them.
    session_arn: str
    expiration: datetime
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    transitive_tag_keys: frozenset[str] = frozenset()
    #: When the credentials were issued (CloudTrail's sessionContext.attributes.creationDate);
    #: None in state saved before it was kept.
    issued: datetime | None = None

    @property
    def transitive_tags(self) -> dict[str, str]:
        """The tags a session assumed with these credentials inherits."""
        return {k: v for k, v in self.tags.items() if k.lower() in self.transitive_tag_keys}


class StsService(Service):
    """STS in the simulator (see the module docstring)."""

    service_name: ClassVar[str] = "sts"
    event_source: ClassVar[str] = "sts.amazonaws.com"
    constraint_error: ClassVar[str] = "ValidationError"

    def __init__(self, sim: SimulationSurface) -> None:
        super().__init__(sim)
        self.sessions: dict[str, Session] = {}

    def AssumeRole(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
        caller = ctx.caller
        if caller.is_root:
            # https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html: "You
            # cannot use root user credentials to call AssumeRole".
            raise AccessDenied("Roles may not be assumed by root accounts.")
        try:
            arn = Arn.parse(role_arn)
        except ValueError:
            raise ValidationError(f"{role_arn} is invalid") from None
        role = None
        if arn.service == "iam" and arn.resource_type == "role":
            role = self.sim.service("iam").role(  # type: ignore[attr-defined]
                arn.account, arn.resource.rsplit("/", 1)[-1])
        context: dict[str, Any] = {"sts:RoleSessionName": session_name}
        if params.get("ExternalId") is not None:
            context["sts:ExternalId"] = params["ExternalId"]
        incoming = self._caller_session(caller)
        tags, transitive = self._session_tags(params, incoming)
        policy, policy_arns = self._session_policies(params)
        if tags:
            context["aws:TagKeys"] = list(tags)
            for key, value in tags.items():
                context[f"aws:RequestTag/{key}"] = value
        # AWS's words for a refused AssumeRole end at the role ARN, for a missing role and a
        # trust policy that does not allow the caller alike (no "because ..." reason; as in
        # the AccessDenied responses users record, e.g.
        # https://github.com/Netflix/security_monkey/issues/77); our reason is the explanation.
        denied = (f"User: {caller.session_arn or caller.arn} is not authorized to perform: "
                  f"sts:AssumeRole on resource: {role_arn}")
        try:
            if role is None:
                raise errors.AccessDeniedException(
                    denied, explanation=f"no role {role_arn} exists")
            authorize(self.sim, ctx, "sts:AssumeRole", role.arn, context, role.trust,
                      resource_account=role.account, resource_policy_required=True)
            if params.get("Tags"):
                # "the role's trust policy must allow sts:TagSession" (id_session-tags.html,
                # "Permissions required to add session tags").
                authorize(self.sim, ctx, "sts:TagSession", role.arn, context, role.trust,
                          resource_account=role.account, resource_policy_required=True)
        except errors.AccessDeniedException as exc:
            action = "sts:TagSession" if "sts:TagSession" in exc.message else "sts:AssumeRole"
            raise AccessDenied(denied.replace("sts:AssumeRole", action),
                               explanation=exc.explanation or exc.message,
                               **exc.details) from None
        duration = params.get("DurationSeconds") or 3600
        if caller.session_arn is not None and duration > CHAINED_SESSION_SECONDS:
            raise ValidationError("The requested DurationSeconds exceeds the 1 hour session "
                                  "limit for roles assumed by role chaining.")
        if duration > role.max_session:
            raise ValidationError("The requested DurationSeconds exceeds the "
                                  "MaxSessionDuration set for this role.")
        session_arn = (f"arn:{arn.partition}:sts::{role.account}:assumed-role/"
                       f"{role.name}/{session_name}")
        akid, secret, token, expiration = self._issue(
            ctx, duration, session_arn, policy, policy_arns, tags, transitive)
        ctx.audit["resources"] = [{"ARN": role.arn, "accountId": role.account,
                                   "type": "AWS::IAM::Role"}]
        out: dict[str, Any] = {
            "Credentials": {"AccessKeyId": akid, "SecretAccessKey": secret,
                            "SessionToken": token, "Expiration": expiration},
            "AssumedRoleUser": {"AssumedRoleId": f"{role.entity_id}:{session_name}",
                                "Arn": session_arn},
        }
        if policy is not None or policy_arns or params.get("Tags"):
            # Only when the request passed session policies or tags: the AWS CLI's
            # assume-role example (awscli/examples/sts/assume-role.rst) has no
            # PackedPolicySize for a plain AssumeRole.
            out["PackedPolicySize"] = packed_policy_size(policy, policy_arns, tags)
        return out

    def GetSessionToken(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Temporary credentials that act as the calling IAM user (or the root).

        https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html: 900 to
        129,600 seconds (default 43,200) for an IAM user; "sessions for AWS account owners
        are restricted to a maximum of 3,600 seconds (one hour). If the duration is longer
        than one hour, the session for AWS account owners defaults to one hour." Session
        credentials cannot call it ("You cannot call GetSessionToken with session
        credentials", id_credentials_temp_request.html)."""
        caller = ctx.caller
        if caller.session_arn is not None or self._caller_session(caller) is not None:
            raise AccessDenied("Cannot call GetSessionToken with session credentials",
                               explanation="GetSessionToken needs an IAM user's or the "
                               "root's long-term access key")
        if caller.kind not in ("Root", "User"):
            raise AccessDenied("Cannot call GetSessionToken with session credentials")
        duration = params.get("DurationSeconds") or 43200
        if caller.is_root:
            duration = min(duration, CHAINED_SESSION_SECONDS)
        akid, secret, token, expiration = self._issue(ctx, duration, caller.arn)
        return {"Credentials": {"AccessKeyId": akid, "SecretAccessKey": secret,
                                "SessionToken": token, "Expiration": expiration}}

    # -- sessions -------------------------------------------------------------------------
    def _issue(self, ctx: CallContext, duration: int, principal_arn: str,
               policy: str | None = None, policy_arns: tuple[str, ...] = (),
               tags: dict[str, str] | None = None,
               transitive: frozenset[str] = frozenset()) -> tuple[str, str, str, datetime]:
        """New temporary credentials signing as ``principal_arn``, kept as a session."""
        rng = self.sim.rng
        akid = "ASIA" + "".join(rng.choice(_ID_CHARS) for _ in range(16))
        secret = "".join(rng.choice(_SECRET_CHARS) for _ in range(40))
        token = base64.b64encode(rng.randbytes(96)).decode()
        expiration = (ctx.now + timedelta(seconds=duration)).replace(microsecond=0)
        self.sessions[akid] = Session(akid, secret, token, principal_arn, expiration, policy,
                                      policy_arns, dict(tags or {}), transitive,
                                      issued=ctx.now.replace(microsecond=0))
        return akid, secret, token, expiration

    def _caller_session(self, caller: Principal) -> Session | None:
        """The session whose credentials signed this request (role chaining), if any."""
        if caller.access_key_id is None:
            return None
        return self.sessions.get(caller.access_key_id)

    def _session_tags(self, params: dict[str, Any], incoming: Session | None
                      ) -> tuple[dict[str, str], frozenset[str]]:
        """The new session's tags (incoming transitive ones first) and transitive keys."""
        tags: dict[str, str] = {}
        transitive: set[str] = set()
        if incoming is not None:
            tags.update(incoming.transitive_tags)
            transitive.update(k.lower() for k in tags)
        seen: set[str] = set()
        for tag in params.get("Tags") or []:
            key = tag["Key"]
            if key.lower() in seen:
                raise InvalidParameterValue(
                    "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
                    explanation=f"the tag key {key!r} is given twice")
            seen.add(key.lower())
            if key.lower() in transitive:
                raise InvalidParameterValue(
                    f"The tag key {key} is a transitive tag key from the session that "
                    "assumes this role; it cannot be set again.",
                    explanation="a transitive session tag passes on along the role chain "
                                "unchanged (id_session-tags.html, role chaining)")
            tags[key] = tag["Value"]
        if len(tags) > SESSION_TAGS:
            raise PackedPolicyTooLarge(
                f"Packed size of session tags consumes {len(tags) * 100 // SESSION_TAGS}% "
                "of allotted space.")
        wanted = params.get("TransitiveTagKeys") or []
        lower_tags = {k.lower() for k in tags}
        for key in wanted:
            if key.lower() not in lower_tags:
                raise InvalidParameterValue(
                    f"The specified transitive tag key {key} must be included in the "
                    "requested tags.")
            transitive.add(key.lower())
        return tags, frozenset(transitive)

    def _session_policies(self, params: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
        """The request's session policies, validated (inline JSON, managed policy ARNs)."""
        policy = params.get("Policy")
        if policy is not None:
            if len(policy) > POLICY_CHARACTERS:
                raise PackedPolicyTooLarge(
                    f"Packed policy consumes {len(policy) * 100 // POLICY_CHARACTERS}% of "
                    "allotted space, please use smaller policy.")
            try:
                PolicyDocument.parse(policy, name="session policy")
            except errors.ClientError as exc:
                raise MalformedPolicyDocument(exc.message, explanation=exc.explanation
                                              ) from None
        arns = tuple(p["arn"] for p in params.get("PolicyArns") or [])
        if len(arns) > MANAGED_SESSION_POLICIES:
            raise ValidationError(
                f"1 validation error detected: Value at 'policyArns' failed to satisfy "
                f"constraint: Member must have length less than or equal to "
                f"{MANAGED_SESSION_POLICIES}")
        iam = cast("IamService", self.sim.service("iam"))
        for arn in arns:
            if iam._managed(arn) is None:
                raise InvalidParameterValue(
                    f"Policy {arn} does not exist or is not attachable.",
                    explanation="PolicyArns must name managed policies that exist")
        return policy, arns

    def session_principal(self, access_key_id: str, principal: Principal) -> Principal:
        """``principal`` (the session's ARN resolved) with the session's tags and session
        policies, when ``access_key_id`` is a session's; ``principal`` as it is otherwise."""
        session = self.sessions.get(access_key_id)
        if session is None:
            return principal
        principal = dataclasses.replace(principal, session_issued=session.issued)
        if session.policy is None and not session.policy_arns and not session.tags:
            return principal
        docs = []
        if session.policy is not None:
            docs.append(PolicyDocument.parse(session.policy, name="session policy"))
        iam = cast("IamService", self.sim.service("iam"))
        for arn in session.policy_arns:
            managed = iam._managed(arn)
            # A managed session policy deleted since allows nothing (NotAction "*" matches
            # no action): the session stays limited, never widened.
            docs.append(managed.document if managed is not None else PolicyDocument.parse(
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "NotAction": "*", "Resource": "*"}]}, name=arn))
        return dataclasses.replace(principal, tags=dict(session.tags),
                                   session_policies=tuple(docs))

    def GetCallerIdentity(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        # "No permissions are required to perform this operation."
        # https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
        p = ctx.caller
        if p.is_root:
            user_id = p.account
        elif p.session_arn is not None:
            user_id = f"{p.unique_id}:{p.session_arn.rsplit('/', 1)[-1]}"
        else:
            user_id = p.unique_id
        return {"UserId": user_id, "Account": p.account, "Arn": p.session_arn or p.arn}


def packed_policy_size(policy: str | None, policy_arns: tuple[str, ...],
                       tags: dict[str, str]) -> int:
    """The percentage of the session's packing limit used (see ``POLICY_CHARACTERS``)."""
    text = len(policy or "") + sum(len(a) for a in policy_arns)
    return max(text * 100 // POLICY_CHARACTERS, len(tags) * 100 // SESSION_TAGS)
