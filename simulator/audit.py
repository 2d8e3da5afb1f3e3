"""The audit trail: one CloudTrail-shaped record per API call, oldest first.

``cloudtrail_conventions`` applies what CloudTrail itself adds to a record, beyond what the
service reports, as AWS's published records show it (one table per convention below).
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from simulator.iam.principal import Principal

#: Operations CloudTrail marks ``readOnly: true`` although their names do not start with
#: Describe/List/Get: KMS's cryptographic operations read the key and change no state
#: (AWS's records: GenerateDataKeyWithoutPlaintext in
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-managing-kms-key.html,
#: Decrypt/Encrypt/GenerateDataKey in
#: https://docs.aws.amazon.com/kms/latest/developerguide/understanding-kms-entries.html).
READ_ONLY_OPERATIONS: dict[str, frozenset[str]] = {
    "kms.amazonaws.com": frozenset({
        # ReEncrypt too: its record in the KMS guide (ct-reencrypt) has "readOnly": true.
        "Decrypt", "Encrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext",
        "GenerateRandom", "GenerateMac", "VerifyMac", "Sign", "Verify", "DeriveSharedSecret",
    }),
    # CloudTrail's own read API (a management read event); recording its answer would put
    # every event it returned into a new event, each lookup nesting the last one's again
    "cloudtrail.amazonaws.com": frozenset({"LookupEvents"}),
}
#: The prefixes of read-only operations in every service.
READ_ONLY_PREFIXES = ("Describe", "List", "Get")
#: Services whose read-only records still carry the answer: STS's AssumeRole-style records
#: show the credentials issued (CloudTrail's STS examples).  Elsewhere a read-only record has
#: ``"responseElements": null`` (ct-describekey.html, ct-describe-keystores.html).
READ_ONLY_WITH_RESPONSE = frozenset({"sts.amazonaws.com"})

#: Operations whose successful record names the affected key in ``responseElements.keyId``
#: although the response does not: "CloudTrail log entries for this operation recorded on or
#: after December 2022 include the key ARN of the affected KMS key in the
#: responseElements.keyId value" (https://docs.aws.amazon.com/kms/latest/developerguide/
#: ct-creategrant.html); RetireGrant's record in the Fargate page above has
#: ``responseElements: {keyId}``.
KEY_ID_IN_RESPONSE: dict[str, frozenset[str]] = {
    "kms.amazonaws.com": frozenset({"CreateGrant", "RetireGrant"}),
}

#: Events an AWS service makes (``userIdentity.type`` AWSService) carry a ``sharedEventID``
#: (Fargate's records in the fargate-managing-kms-key page and
#: https://aws.amazon.com/blogs/compute/securing-amazon-ecs-workloads-on-aws-fargate-with-customer-managed-keys/;
#: Voice ID's in the KMS developer guide). Fargate's records, and only theirs among AWS's
#: examples (Voice ID's name the key's account), show ``resources[].accountId`` "AWS
#: Internal": the invokers below; Fargate's regional grantee is included by inference.
SERVICE_RESOURCE_ACCOUNT = "AWS Internal"
INTERNAL_RESOURCE_INVOKERS = frozenset({
    "fargate.amazonaws.com", "ec2-frontend-api.amazonaws.com", "AWS Internal",
})


def _internal_resources(invoked_by: str | None) -> bool:
    """Whether an AWSService event's resources name "AWS Internal" as their account."""
    if invoked_by in INTERNAL_RESOURCE_INVOKERS:
        return True
    return invoked_by is not None and invoked_by.startswith("fargate.")  # fargate.<region>
#: Namespace of the simulator's sharedEventIDs, derived from the eventID so that no draw of
#: the seeded generator is added (AWS's page shows the two as different GUIDs).
_SHARED_EVENT_NAMESPACE = uuid.UUID("6f1d7c2e-8b4a-4f0e-9a51-3c2d9e7b1a40")


class RecordedError(NamedTuple):
    """What a call's record keeps of its error: AWS's code and message (not the exception,
    whose traceback holds every frame of the call)."""

    code: str
    message: str


def read_only(event_source: str, operation: str) -> bool:
    """CloudTrail's ``readOnly`` for one operation of one service."""
    return operation.startswith(READ_ONLY_PREFIXES) or operation in READ_ONLY_OPERATIONS.get(
        event_source, frozenset()
    )


def records_response(event_source: str, operation: str) -> bool:
    """Whether CloudTrail's record of a successful call keeps its answer
    (``responseElements``): not for read-only calls, except STS's."""
    return event_source in READ_ONLY_WITH_RESPONSE or not read_only(event_source, operation)


def cloudtrail_conventions(rec: dict[str, Any]) -> dict[str, Any]:
    """Apply CloudTrail's own additions (the tables above) to a record; return it."""
    source, name = rec["eventSource"], rec["eventName"]
    rec["readOnly"] = read_only(source, name)
    resources = rec.get("resources") or []
    if "errorCode" not in rec and name in KEY_ID_IN_RESPONSE.get(source, ()) and resources:
        rec["responseElements"] = {**(rec.get("responseElements") or {}),
                                   "keyId": resources[0]["ARN"]}
    ident = rec["userIdentity"]
    if ident.get("type") == "AWSService":
        if _internal_resources(ident.get("invokedBy")):
            for res in resources:
                res["accountId"] = SERVICE_RESOURCE_ACCOUNT
        rec["sharedEventID"] = str(uuid.uuid5(_SHARED_EVENT_NAMESPACE, rec["eventID"]))
    return rec


def user_identity(caller: Principal) -> dict[str, Any]:
    """CloudTrail's ``userIdentity`` for a caller (with the access key that signed, if any)."""
    ident = _user_identity(caller)
    if caller.access_key_id is not None and not caller.is_service:
        ident["accessKeyId"] = caller.access_key_id
    if caller.session_issued is not None and not caller.is_service:
        # Temporary credentials (AssumeRole, GetSessionToken): when they were issued and
        # whether MFA was used (never here: the simulator has no MFA devices).
        # https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html
        context = ident.setdefault("sessionContext", {})
        context.setdefault("sessionIssuer", {})
        context["webIdFederationData"] = {}
        context["attributes"] = {
            "creationDate": caller.session_issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "mfaAuthenticated": "false"}
    return ident


def _user_identity(caller: Principal) -> dict[str, Any]:
    if caller.is_service:
        # The service that made the call on the customer's behalf: usually the principal
        # itself, but e.g. Fargate's data key comes through ec2-frontend-api.amazonaws.com.
        return {"type": "AWSService", "invokedBy": caller.invoked_by or caller.service}
    if caller.is_root:
        root: dict[str, Any] = {
            "type": "Root",
            "principalId": caller.account,
            "arn": caller.arn,
            "accountId": caller.account,
        }
        if caller.invoked_by:  # a service calling with the root's own credentials
            root["invokedBy"] = caller.invoked_by
        return root
    if caller.kind == "Role":
        session = caller.session_arn or (
            f"arn:aws:sts::{caller.account}:assumed-role/{caller.name}/fargate-sim"
        )
        ident = {
            "type": "AssumedRole",
            "principalId": f"{caller.unique_id}:{session.rsplit('/', 1)[-1]}",
            "arn": session,
            "accountId": caller.account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": caller.unique_id,
                    "arn": caller.arn,
                    "accountId": caller.account,
                    "userName": caller.name,
                }
            },
        }
        if caller.invoked_by:
            # A role's call an AWS service makes with its credentials (EBS's KMS calls for a
            # volume ECS creates): CloudTrail names the service in invokedBy.
            ident["invokedBy"] = caller.invoked_by
        return ident
    ident = {
        "type": "IAMUser",
        "principalId": caller.unique_id,
        "arn": caller.arn,
        "accountId": caller.account,
        "userName": caller.name,
    }
    if caller.invoked_by:  # a service calling with the user's own credentials (CloudFormation)
        ident["invokedBy"] = caller.invoked_by
    return ident


#: ``FARGATE_SIM_CHECK_DEFERRED_AUDIT=1``: render every record at call time too and check, when
#: the trail is read, that the deferred rendering is the same (a test-suite mode proving that
#: no call's parameters or response change after the call).
CHECK_DEFERRED = os.environ.get("FARGATE_SIM_CHECK_DEFERRED_AUDIT", "") not in ("", "0")


class DeferredRecordChanged(AssertionError):
    """A deferred audit record renders differently from the record at call time (a bug)."""


def checked_render(render: Callable[..., dict[str, Any]], *args: Any
                   ) -> Callable[[], dict[str, Any]]:
    """``render(*args)`` checked against its result now (``CHECK_DEFERRED`` mode)."""
    at_call = copy.deepcopy(render(*args))

    def checked() -> dict[str, Any]:
        rec = render(*args)
        if rec != at_call:
            raise DeferredRecordChanged(
                f"the {rec.get('eventName')} record changed after the call: at the call "
                f"{at_call!r}, now {rec!r}"
            )
        return rec

    return checked


def _flushing(name: str) -> Any:
    """A list method of ``AuditTrail`` that first renders the records not yet rendered."""
    method = getattr(list, name)

    def flushed(self: AuditTrail, *args: Any, **kwargs: Any) -> Any:
        if self._pending:
            self._flush()
        return method(self, *args, **kwargs)

    flushed.__name__ = name
    flushed.__doc__ = method.__doc__
    return flushed


#: What ``AuditTrail.outcomes`` gives of a record: eventSource, eventName, errorCode (or None).
Outcome = tuple[str, str, str | None]


class AuditTrail(list):
    """A list of CloudTrail records with a few ways to look into it.

    A record can be appended already rendered (``append``) or as a function that renders it
    (``defer``): the simulator defers so that a call pays for its record only when someone
    reads the trail (the fleet experiments make millions of calls and read a few records).
    Every way of reading the list (length, index, slice, iteration, comparison, repr,
    pickling) renders the deferred records first, in order, so a reader sees a plain list of
    CloudTrail-shaped dicts. ``Simulation.audit_trail`` renders them too, so that C code that
    reads a list's items directly (``json.dumps``) sees them all.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        #: Deferred records, each ``(outcome, render, *args)``: one tuple a record, the fewest
        #: objects to keep (and for the garbage collector to walk) until the trail is read.
        self._pending: list[tuple[Any, ...]] = []

    def defer(self, render: Callable[..., dict[str, Any]], *args: Any,
              outcome: Outcome | None = None) -> None:
        """Append the record ``render(*args)`` makes, rendering it when the trail is next
        read (a function and its arguments: fewer objects to keep than a closure).
        ``outcome`` is the record's (eventSource, eventName, errorCode), when known, for
        ``outcomes``."""
        self._pending.append((outcome, render, *args))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        list.extend(self, [entry[1](*entry[2:]) for entry in pending])

    def outcomes(self) -> list[Outcome]:
        """(eventSource, eventName, errorCode or None) of every record, oldest first, without
        rendering the deferred records that were given theirs (what a tally of calls per
        operation and outcome needs, e.g. the fleet experiments' per-second timeline)."""
        if any(entry[0] is None for entry in self._pending):
            self._flush()
        out = [(r["eventSource"], r["eventName"], r.get("errorCode"))
               for r in list.__iter__(self)]
        out.extend(entry[0] for entry in self._pending)
        return out

    def rendered(self) -> AuditTrail:
        """This trail with every deferred record rendered (returns ``self``)."""
        if self._pending:
            self._flush()
        return self

    def size(self) -> int:
        """How many records, deferred ones included, without rendering any."""
        return list.__len__(self) + len(self._pending)

    def drop_oldest(self, count: int) -> int:
        """Remove the ``count`` oldest records (deferred ones unrendered); how many went."""
        count = max(0, min(count, self.size()))
        rendered = list.__len__(self)
        if count <= rendered:
            list.__delitem__(self, slice(0, count))
        else:
            list.clear(self)
            del self._pending[:count - rendered]
        return count

    def count_before(self, event_time: str) -> int:
        """How many of the oldest records have an ``eventTime`` before ``event_time``
        (CloudTrail's ``%Y-%m-%dT%H:%M:%SZ``, which sorts as text); records are in time
        order, so this stops at the first later one (deferred ones render if reached)."""
        n = 0
        while True:
            rendered = list.__len__(self)
            while n < rendered and list.__getitem__(self, n)["eventTime"] < event_time:
                n += 1
            if n < rendered or not self._pending:
                return n
            entry = self._pending.pop(0)  # render just the next one: (outcome, render, *args)
            list.append(self, entry[1](*entry[2:]))

    def clear(self) -> None:
        """Remove every record (deferred ones are dropped unrendered)."""
        self._pending = []
        list.clear(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        self.rendered()
        return (AuditTrail, (list(self),))

    def filter(
        self,
        event_name: str | None = None,
        event_source: str | None = None,
        *,
        invoked_by: str | None = None,
        error_code: str | None = None,
        succeeded: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Records matching every given criterion (``event_source`` may be ``"kms"``)."""
        out = []
        for rec in self:
            if event_name is not None and rec["eventName"] != event_name:
                continue
            if event_source is not None and rec["eventSource"] not in (
                event_source,
                f"{event_source}.amazonaws.com",
            ):
                continue
            if invoked_by is not None and rec["userIdentity"].get("invokedBy") != invoked_by:
                continue
            if error_code is not None and rec.get("errorCode") != error_code:
                continue
            if succeeded is not None and ("errorCode" not in rec) != succeeded:
                continue
            out.append(rec)
        return out

    def names(self, event_source: str | None = None) -> list[str]:
        """The event names in order, optionally of one service."""
        return [r["eventName"] for r in self.filter(event_source=event_source)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._pending:
            self._flush()
        return super().__iter__()


for _name in (
    "__len__", "__getitem__", "__setitem__", "__delitem__", "__contains__", "__reversed__",
    "__repr__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__",
    "__iadd__", "__mul__", "__imul__", "__rmul__", "append", "extend", "insert", "pop",
    "remove", "index", "count", "copy", "sort", "reverse",
):
    setattr(AuditTrail, _name, _flushing(_name))
AuditTrail.__hash__ = None  # type: ignore[assignment]  # as list's
del _name
