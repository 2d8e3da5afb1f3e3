"""STS: temporary credentials for an assumed-role session, and who the caller is.

``AssumeRole`` evaluates the role's trust policy (a resource policy on the role) together with
the caller's identity policies, as AWS does, and returns credentials whose principal is the
session ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``. The sessions live here, so the
HTTP endpoint can verify requests signed with them and refuse them once expired.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from simulator import errors
from simulator.arn import Arn
from simulator.iam.authorization import authorize
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.service import SimulationSurface

#: STS answers a denied AssumeRole with the query protocol's code, not AccessDeniedException.
AccessDenied = errors.error_class("AccessDenied", 403)
ValidationError = errors.error_class("ValidationError")
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html
#: ("role chaining limits your ... session to a maximum of one hour").
CHAINED_SESSION_SECONDS = 3600
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass
class Session:
    """Temporary credentials of one assumed-role session."""

    access_key_id: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    session_arn: str
    expiration: datetime


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
        try:
            if role is None:
                raise errors.AccessDeniedException(
                    f"User: {caller.session_arn or caller.arn} is not authorized to perform: "
                    f"sts:AssumeRole on resource: {role_arn}"
                )
            authorize(self.sim, ctx, "sts:AssumeRole", role.arn, context, role.trust,
                      resource_account=role.account, resource_policy_required=True)
        except errors.AccessDeniedException as exc:
            raise AccessDenied(exc.message, **exc.details) from None
        duration = params.get("DurationSeconds") or 3600
        if caller.session_arn is not None and duration > CHAINED_SESSION_SECONDS:
            raise ValidationError("The requested DurationSeconds exceeds the 1 hour session "
                                  "limit for roles assumed by role chaining.")
        if duration > role.max_session:
            raise ValidationError("The requested DurationSeconds exceeds the "
                                  "MaxSessionDuration set for this role.")
        rng = self.sim.rng
        akid = "ASIA" + "".join(rng.choice(_ID_CHARS) for _ in range(16))
        secret = "".join(rng.choice(_SECRET_CHARS) for _ in range(40))
        token = base64.b64encode(rng.randbytes(96)).decode()
        session_arn = (f"arn:{arn.partition}:sts::{role.account}:assumed-role/"
                       f"{role.name}/{session_name}")
        expiration = (ctx.now + timedelta(seconds=duration)).replace(microsecond=0)
        self.sessions[akid] = Session(akid, secret, token, session_arn, expiration)
        ctx.audit["resources"] = [{"ARN": role.arn, "accountId": role.account,
                                   "type": "AWS::IAM::Role"}]
        return {
            "Credentials": {"AccessKeyId": akid, "SecretAccessKey": secret,
                            "SessionToken": token, "Expiration": expiration},
            "AssumedRoleUser": {"AssumedRoleId": f"{role.entity_id}:{session_name}",
                                "Arn": session_arn},
            "PackedPolicySize": 0,
        }

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
