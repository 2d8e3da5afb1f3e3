"""Global condition keys every AWS request carries (aws:CurrentTime, aws:PrincipalArn, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from simulator.iam.principal import Principal
from simulator.iam.values import format_datetime


def global_context(
    principal: Principal | None,
    *,
    now: datetime,
    region: str,
    source_ip: str | None = None,
    via_service: bool | str | None = None,
    tags: Mapping[str, str] | None = None,
    secure_transport: bool = True,
    called_via: str | None = None,
) -> dict[str, Any]:
    """The global keys of a request by ``principal`` at ``now`` in ``region``.

    Principal keys: aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:userid,
    aws:username (IAM users only), aws:PrincipalTag/<key> (``tags`` or ``principal.tags``);
    for a service principal aws:PrincipalServiceName and aws:PrincipalIsAWSService instead.
    Request keys: aws:CurrentTime, aws:EpochTime, aws:RequestedRegion, aws:SecureTransport,
    aws:SourceIp (when given), aws:ViaAWSService (true when ``via_service`` or ``called_via``
    names a service making the call on the caller's behalf), aws:CalledVia (``called_via``:
    a service that keeps the chain, such as CloudFormation).
    """
    from simulator.iam.request import principal_keys

    out: dict[str, Any] = {}
    if principal is not None:
        if tags is not None:
            import dataclasses

            principal = dataclasses.replace(principal, tags=dict(tags))
        names = {
            "aws:principalarn": "aws:PrincipalArn",
            "aws:principalaccount": "aws:PrincipalAccount",
            "aws:principaltype": "aws:PrincipalType",
            "aws:principalisawsservice": "aws:PrincipalIsAWSService",
            "aws:principalservicename": "aws:PrincipalServiceName",
            "aws:userid": "aws:userid",
            "aws:username": "aws:username",
        }
        original_tags = {k.lower(): k for k in (principal.tags or {})}
        for key, values in principal_keys(principal).items():
            if key.startswith("aws:principaltag/"):
                tag = key.split("/", 1)[1]
                name = "aws:PrincipalTag/" + original_tags.get(tag, tag)
            else:
                name = names.get(key, key)
            out[name] = values[0] if len(values) == 1 else list(values)
    out.update(time_keys(now))
    out["aws:RequestedRegion"] = region
    out["aws:SecureTransport"] = secure_transport
    if source_ip is not None:
        out["aws:SourceIp"] = source_ip
    out["aws:ViaAWSService"] = bool(via_service or called_via)
    # aws:CalledVia lists service principal names (cloudformation.amazonaws.com) of the few
    # services that keep the chain, not the regional names kms:ViaService holds
    # (ecs.us-west-2.amazonaws.com): only ``called_via`` goes in it.
    if called_via:
        out["aws:CalledVia"] = [called_via]
        out["aws:CalledViaFirst"] = called_via
        out["aws:CalledViaLast"] = called_via
    return out


def time_keys(now: datetime) -> dict[str, Any]:
    """aws:CurrentTime and aws:EpochTime of a request made at ``now`` (naive: UTC): the
    only global keys that change from one instant to the next."""
    when = now if now.tzinfo else now.replace(tzinfo=UTC)
    return {"aws:CurrentTime": format_datetime(when), "aws:EpochTime": int(when.timestamp())}
