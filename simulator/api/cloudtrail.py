"""CloudTrail ``LookupEvents`` over the simulation's audit trail.

So ``aws cloudtrail lookup-events`` shows the calls the simulator recorded, Fargate's KMS
sequence included: newest first, one lookup attribute at most, a time window (default the
last 90 days, as CloudTrail's event history keeps), ``MaxResults`` up to 50 and an opaque
``NextToken`` (paged by ``simulator.paging`` from botocore's paginator model). It sees the
records the server's audit retention keeps (``fargate-sim serve --audit-retention``).
``CloudTrailEvent`` is the record as a JSON string, as CloudTrail returns it.
https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast

from simulator import errors, paging
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.world import Simulation

InvalidLookupAttributes = errors.error_class("InvalidLookupAttributesException")
InvalidTimeRange = errors.error_class("InvalidTimeRangeException")
InvalidNextToken = errors.error_class("InvalidNextTokenException")
InvalidEventCategory = errors.error_class("InvalidEventCategoryException")
HISTORY_DAYS = 90
PAGE = 50


def _time(rec: dict[str, Any]) -> datetime:
    return datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _username(rec: dict[str, Any]) -> str | None:
    who = rec.get("userIdentity") or {}
    kind = who.get("type")
    if kind == "Root":
        return "root"
    if kind == "IAMUser":
        return who.get("userName")
    if kind == "AssumedRole":
        return (who.get("arn") or "").rsplit("/", 1)[-1] or None
    return who.get("invokedBy")


def _resources(rec: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for r in rec.get("resources") or []:
        item = {"ResourceName": r.get("ARN", "")}
        if r.get("type"):
            item["ResourceType"] = r["type"]
        out.append(item)
    return out


def event(rec: dict[str, Any]) -> dict[str, Any]:
    """botocore's ``Event`` shape for one audit record."""
    out: dict[str, Any] = {
        "EventId": rec["eventID"],
        "EventName": rec["eventName"],
        "ReadOnly": "true" if rec.get("readOnly") else "false",
        "EventTime": _time(rec),
        "EventSource": rec["eventSource"],
        "Resources": _resources(rec),
        "CloudTrailEvent": json.dumps(rec, default=str),
    }
    akid = (rec.get("userIdentity") or {}).get("accessKeyId")
    if akid:
        out["AccessKeyId"] = akid
    name = _username(rec)
    if name:
        out["Username"] = name
    return out


#: LookupAttributes key -> the value of a record it compares with.
_ATTRIBUTES = {
    "EventId": lambda r: [r.get("eventID")],
    "EventName": lambda r: [r.get("eventName")],
    "ReadOnly": lambda r: ["true" if r.get("readOnly") else "false"],
    "Username": lambda r: [_username(r)],
    "EventSource": lambda r: [r.get("eventSource")],
    "AccessKeyId": lambda r: [(r.get("userIdentity") or {}).get("accessKeyId")],
    "ResourceName": lambda r: [x["ResourceName"] for x in _resources(r)],
    "ResourceType": lambda r: [x.get("ResourceType") for x in _resources(r)],
}


def _stamp(when: datetime) -> str:
    """A time as records' ``eventTime`` text, which sorts as time does."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _EventTokens:
    """LookupEvents' NextToken names the next event to return by its eventID, so events
    recorded between two pages (the lookups themselves among them) do not shift the pages,
    as offsets from the newest would."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events

    def read(self, token: str) -> paging.Position:
        try:
            wanted = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, ValueError):
            raise InvalidNextToken("Invalid NextToken.") from None
        for i, rec in enumerate(self._events):
            if rec["eventID"] == wanted:
                return paging.Position(i)
        raise InvalidNextToken("Invalid NextToken.",
                               explanation="the event it names is no longer in the trail "
                               "or the filter")

    def write(self, position: paging.Position) -> str:
        return base64.b64encode(self._events[position.offset]["eventID"].encode()).decode()

    def size(self, limit: int | None, default: int | None) -> int:
        return limit or default or PAGE


class CloudTrailService(Service):
    """CloudTrail's event history, read-only (see the module docstring)."""

    service_name: ClassVar[str] = "cloudtrail"
    event_source: ClassVar[str] = "cloudtrail.amazonaws.com"
    cloudtrail_lower_names: ClassVar[bool] = True

    def LookupEvents(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        from simulator.iam.authorization import authorize

        authorize(self.sim, ctx, "cloudtrail:LookupEvents", "*")
        if params.get("EventCategory") == "insight":
            raise InvalidEventCategory("The simulator records no Insights events.")
        attrs = params.get("LookupAttributes") or []
        if len(attrs) > 1:
            raise InvalidLookupAttributes(
                "You can only specify one lookup attribute per request."
            )
        end = params.get("EndTime") or ctx.now
        start = params.get("StartTime") or (end - timedelta(days=HISTORY_DAYS))
        if start > end:
            raise InvalidTimeRange("Start time must be before end time.")
        lo, hi = _stamp(start), _stamp(end)
        getter, value = None, None
        if attrs:
            getter, value = _ATTRIBUTES[attrs[0]["AttributeKey"]], attrs[0]["AttributeValue"]
        world = cast("Simulation", self.sim)  # the endpoint serves a whole Simulation
        events = [rec for rec in reversed(world.audit_trail)
                  if lo <= rec["eventTime"] <= hi and (getter is None or value in getter(rec))]
        return paging.page("cloudtrail", "LookupEvents", events, params, _EventTokens(events),
                           default_limit=PAGE, render=event)
