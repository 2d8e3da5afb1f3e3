"""CloudFormation's CreateStack, DescribeStacks and DeleteStack over the deploy engine.

Stacks deploy synchronously on the simulated clock (CreateStack returns when the stack is
CREATE_COMPLETE or rolled back, so ``aws cloudformation wait stack-create-complete`` succeeds
on its first poll); resources are created as the caller, through the same front door as any
call. Templates with IAM resources need CAPABILITY_IAM, or CAPABILITY_NAMED_IAM when they name
them, as CloudFormation requires.
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from simulator import errors
from simulator.cloudformation.change_set import NO_CHANGES, ChangeSet
from simulator.cloudformation.stack import (
    ResourceOutcome,
    StackReport,
    delete_made,
    deploy,
    with_defaults,
)
from simulator.cloudformation.template import TemplateError, load_template
from simulator.cloudformation.update import plan, update
from simulator.iam.authorization import authorize
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.service import SimulationSurface

ValidationError = errors.error_class("ValidationError")
#: CloudFormation's query protocol denies as IAM does: ``AccessDenied``, HTTP 403, naming
#: the stack ``arn:...:stack/NAME/*`` (anomalyco/sst#3006: "... is not authorized to
#: perform: cloudformation:DescribeStacks on resource:
#: arn:aws:cloudformation:us-east-1:...:stack/sst-bootstrap/*", httpStatusCode 403)
AccessDenied = errors.error_class("AccessDenied", 403)
AlreadyExists = errors.error_class("AlreadyExistsException")
InsufficientCapabilities = errors.error_class("InsufficientCapabilitiesException")
ChangeSetNotFound = errors.error_class("ChangeSetNotFound", 404)
InvalidChangeSetStatus = errors.error_class("InvalidChangeSetStatus")
#: Stack statuses an update may start from
#: (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html).
_UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
              "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE", "UPDATE_FAILED")
#: Properties that give an IAM resource a custom name (CAPABILITY_NAMED_IAM).
_IAM_NAMES = ("RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName")


@dataclass
class Stack:
    """One stack and what its deployment made."""

    stack_id: str
    name: str
    created: datetime
    parameters: list[dict[str, str]]
    report: StackReport
    status: str
    deleted: datetime | None = None
    description: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    #: The template's Outputs' Description texts, by output key.
    output_descriptions: dict[str, str] = field(default_factory=dict)
    #: The template as it was sent (GetTemplate gives it back).
    template_body: str = ""
    change_sets: list[ChangeSet] = field(default_factory=list)
    #: The report of the stack's creation (its events), when updates have replaced
    #: ``report``; the status changes of each update since, as StackEvent records.
    first: StackReport | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    updated: datetime | None = None
    change_set_id: str | None = None
    #: Made by a CREATE change set (so it began in REVIEW_IN_PROGRESS).
    reviewed: bool = False
    #: While UPDATE_FAILED: the template text, parameters and tags it last stood complete
    #: with (what RollbackStack returns to).
    stable: tuple[str, list[dict[str, str]], list[dict[str, str]]] | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(with_defaults(type(self), state))

    def to_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "StackId": self.stack_id, "StackName": self.name, "CreationTime": self.created,
            "StackStatus": self.status, "Parameters": self.parameters,
            "DisableRollback": False, "Tags": self.tags,
            "Outputs": [self._output(k, v) for k, v in self.report.outputs.items()],
        }
        failed = [r for r in self.report.resources if r.reason]
        if failed:
            out["StackStatusReason"] = f"{failed[0].logical_id}: {failed[0].reason}"
        if self.deleted is not None:
            out["DeletionTime"] = self.deleted
        if self.description:
            out["Description"] = self.description
        if self.updated is not None:
            out["LastUpdatedTime"] = self.updated
        if self.change_set_id:
            out["ChangeSetId"] = self.change_set_id
        return out

    def _output(self, key: str, value: Any) -> dict[str, str]:
        """An ``Output``, with the template's Description when it has one (the AWS CLI's
        describe-stacks example, awscli/examples/cloudformation/describe-stacks.rst)."""
        out = {"OutputKey": key, "OutputValue": str(value)}
        if self.output_descriptions.get(key):
            out["Description"] = self.output_descriptions[key]
        return out

    def made(self) -> list[ResourceOutcome]:
        """The resources the deployment tried (not those skipped by a condition or never
        reached), which are what CloudFormation lists."""
        return [r for r in self.report.resources
                if r.status not in ("NOT_ATTEMPTED", "SKIPPED_BY_CONDITION")]

    def resource(self, r: ResourceOutcome) -> dict[str, Any]:
        """botocore's ``StackResource`` shape for one of this stack's resources."""
        status = r.status
        if self.deleted is not None and status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            status = "DELETE_COMPLETE"
        out: dict[str, Any] = {
            "StackName": self.name, "StackId": self.stack_id,
            "LogicalResourceId": r.logical_id, "ResourceType": r.resource_type,
            "Timestamp": self.deleted or self.created, "ResourceStatus": status,
            "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
        }
        if r.physical_id:
            out["PhysicalResourceId"] = r.physical_id
        if r.reason:
            out["ResourceStatusReason"] = r.reason
        return out

    def events(self) -> list[dict[str, Any]]:
        """``StackEvent`` records, oldest first."""
        counter = 0

        def event(logical: str, physical: str, kind: str, status: str,
                  reason: str | None = None, when: datetime | None = None) -> dict[str, Any]:
            nonlocal counter
            counter += 1
            out = {"StackId": self.stack_id, "EventId": f"{logical}-{status}-{counter}",
                   "StackName": self.name, "LogicalResourceId": logical,
                   "PhysicalResourceId": physical, "ResourceType": kind,
                   "Timestamp": when or self.created, "ResourceStatus": status}
            if reason:
                out["ResourceStatusReason"] = reason
            return out

        stack = "AWS::CloudFormation::Stack"
        first = self.first or self.report
        out = []
        if self.reviewed:
            out.append(event(self.name, self.stack_id, stack, "REVIEW_IN_PROGRESS",
                             "User Initiated"))
        if first.status != "REVIEW_IN_PROGRESS":
            out.append(event(self.name, self.stack_id, stack, "CREATE_IN_PROGRESS",
                             "User Initiated"))
            for r in first.resources:
                if r.status in ("NOT_ATTEMPTED", "SKIPPED_BY_CONDITION"):
                    continue
                if r.status in ("CREATE_COMPLETE", "CREATE_FAILED"):
                    out.append(event(r.logical_id, "", r.resource_type, "CREATE_IN_PROGRESS"))
                out.append(event(r.logical_id, r.physical_id or "", r.resource_type, r.status,
                                 r.reason))
            out.append(event(self.name, self.stack_id, stack, first.status))
        for record in self.history:
            out.append(event(**record))
        if self.deleted is not None:
            out.append(event(self.name, self.stack_id, stack, "DELETE_IN_PROGRESS",
                             "User Initiated", self.deleted))
            out.append(event(self.name, self.stack_id, stack, "DELETE_COMPLETE",
                             when=self.deleted))
        return out

    def updated_to(self, report: StackReport, when: datetime,
                   start: str = "UPDATE_IN_PROGRESS") -> None:
        """The stack after an update (or its rollback): its report, status and events."""
        if self.first is None:
            self.first = self.report
        stack = "AWS::CloudFormation::Stack"
        self.history.append({"logical": self.name, "physical": self.stack_id, "kind": stack,
                             "status": start, "reason": "User Initiated", "when": when})
        for logical, physical, kind, status, reason in report.events:
            self.history.append({"logical": logical,
                                 "physical": self.stack_id if kind == stack else physical,
                                 "kind": kind, "status": status, "reason": reason,
                                 "when": when})
        self.history.append({"logical": self.name, "physical": self.stack_id, "kind": stack,
                             "status": report.status, "reason": None, "when": when})
        report.events = []
        self.report, self.status, self.updated = report, report.status, when


def _shown_parameters(doc: dict[str, Any], given: dict[str, Any]) -> list[dict[str, str]]:
    """A stack's ``Parameters``: every parameter the template declares, with the value given
    or else its default (as DescribeStacks lists them)."""
    out = []
    for key, decl in (doc.get("Parameters") or {}).items():
        if key in given:
            value = given[key]
        elif isinstance(decl, dict) and "Default" in decl:
            value = decl["Default"]
        else:
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out.append({"ParameterKey": key, "ParameterValue": str(value)})
    return out


def _output_descriptions(doc: dict[str, Any]) -> dict[str, str]:
    return {k: str(v["Description"]) for k, v in (doc.get("Outputs") or {}).items()
            if isinstance(v, dict) and v.get("Description")}


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """GetTemplateSummary's answer for a parsed template."""
    declared = []
    for key, decl in (doc.get("Parameters") or {}).items():
        item: dict[str, Any] = {"ParameterKey": key, "ParameterType": str(decl.get("Type", "")),
                                "NoEcho": str(decl.get("NoEcho", False)).lower() == "true",
                                "ParameterConstraints": {}}
        if "Default" in decl:
            item["DefaultValue"] = str(decl["Default"])
        if decl.get("Description"):
            item["Description"] = str(decl["Description"])
        if decl.get("AllowedValues"):
            item["ParameterConstraints"] = {
                "AllowedValues": [str(v) for v in decl["AllowedValues"]]}
        declared.append(item)
    types = list(dict.fromkeys(str(r.get("Type")) for r in doc["Resources"].values()))
    by_type: dict[str, list[str]] = {}
    for lid, res in doc["Resources"].items():
        by_type.setdefault(str(res.get("Type")), []).append(lid)
    out: dict[str, Any] = {
        "Parameters": declared, "ResourceTypes": types,
        "Version": str(doc.get("AWSTemplateFormatVersion", "2010-09-09")),
        "DeclaredTransforms": [],
        "ResourceIdentifierSummaries": [
            {"ResourceType": t, "LogicalResourceIds": ids} for t, ids in by_type.items()],
    }
    if doc.get("Description"):
        out["Description"] = str(doc["Description"])
    need = _required_capability(doc)
    if need:
        iam = sorted({t for t in types if t.startswith("AWS::IAM::")})
        out["Capabilities"] = [need]
        out["CapabilitiesReason"] = ("The following resource(s) require capabilities: "
                                     f"[{', '.join(iam)}]")
    return out


def _required_capability(doc: dict[str, Any]) -> str | None:
    iam = [r for r in doc["Resources"].values() if str(r.get("Type", "")).startswith("AWS::IAM::")]
    if not iam:
        return None
    named = any(name in (r.get("Properties") or {}) for r in iam for name in _IAM_NAMES)
    return "CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"


class CloudFormationService(Service):
    """CloudFormation in the simulator (see the module docstring)."""

    service_name: ClassVar[str] = "cloudformation"
    event_source: ClassVar[str] = "cloudformation.amazonaws.com"
    constraint_error: ClassVar[str] = "ValidationError"

    def __init__(self, sim: SimulationSurface) -> None:
        super().__init__(sim)
        self.stacks: list[Stack] = []

    def _live(self, name_or_id: str) -> Stack | None:
        for st in self.stacks:
            if st.stack_id == name_or_id or (st.name == name_or_id and st.deleted is None):
                return st
        return None

    def _authorize(self, ctx: CallContext, action: str, resource: str) -> None:
        """Authorise ``cloudformation:action`` on ``resource``; AccessDenied (403) if not."""
        try:
            authorize(self.sim, ctx, f"cloudformation:{action}", resource)
        except errors.AccessDeniedException as exc:
            raise AccessDenied(exc.message, explanation=exc.explanation,
                               **exc.details) from None

    def _stack_arn(self, ctx: CallContext, name: str | None) -> str:
        """The resource a call on stack ``name`` (a name or a stack id) is authorised on:
        the stack id itself, ``arn:...:stack/NAME/*`` for a name, ``*`` for no stack."""
        if name is None:
            return "*"
        if name.startswith("arn:"):
            return name
        return f"arn:{self.sim.partition}:cloudformation:{ctx.region}:{ctx.account}:stack/{name}/*"

    def _new_stack_id(self, ctx: CallContext, name: str) -> str:
        return (f"arn:{self.sim.partition}:cloudformation:{ctx.region}:{ctx.account}:"
                f"stack/{name}/{uuid.UUID(int=self.sim.rng.getrandbits(128), version=4)}")

    def _template(self, params: dict[str, Any], st: Stack | None = None
                  ) -> tuple[str, dict[str, Any]]:
        """The template a call gives (TemplateBody, or UsePreviousTemplate of ``st``), as
        text and parsed; a template that is not one is CloudFormation's ValidationError."""
        if params.get("UsePreviousTemplate"):
            if st is None:
                raise ValidationError("UsePreviousTemplate needs a stack that has a template")
            if st.status == "REVIEW_IN_PROGRESS":
                raise ValidationError(f"fargate-sim: stack {st.name} is in REVIEW_IN_PROGRESS "
                                      "state and has no template until a change set is "
                                      "executed; give TemplateBody")
            if not st.template_body:
                raise ValidationError("fargate-sim: this stack's template was not kept (an "
                                      "older fargate-sim made it); give TemplateBody")
            text = st.template_body
        elif params.get("TemplateBody"):
            text = params["TemplateBody"]
        else:
            raise ValidationError("Either Template URL or Template Body must be specified."
                                  if not params.get("TemplateURL") else
                                  "fargate-sim reads no URLs: give TemplateBody")
        try:
            # Always text (a newline keeps load_template from reading a file of that name).
            return text, load_template(text + "\n")
        except TemplateError as exc:
            raise ValidationError(f"Template format error: {exc}") from None

    @staticmethod
    def _check_capabilities(doc: dict[str, Any], params: dict[str, Any]) -> None:
        need = _required_capability(doc)
        have = set(params.get("Capabilities") or [])
        if need and not ({need, "CAPABILITY_NAMED_IAM"} & have):
            raise InsufficientCapabilities(f"Requires capabilities : [{need}]")

    @staticmethod
    def _given(params: dict[str, Any], st: Stack | None) -> dict[str, Any]:
        """The call's parameter values, UsePreviousValue taken from the stack."""
        previous = {p["ParameterKey"]: p.get("ParameterValue")
                    for p in (st.parameters if st is not None else [])}
        given = {}
        for p in params.get("Parameters") or []:
            key = p["ParameterKey"]
            if p.get("UsePreviousValue"):
                if "ParameterValue" in p:
                    raise ValidationError(f"Invalid input for parameter key {key}. Cannot "
                                          "specify usePreviousValue as true and non empty value "
                                          "for a parameter")
                if key not in previous:
                    raise ValidationError(f"Invalid input for parameter key {key}. Cannot "
                                          "specify usePreviousValue as true for a parameter key "
                                          "not in the previous template")
                given[key] = previous[key]
            else:
                given[key] = p.get("ParameterValue")
        return given

    def _stack_record(self, ctx: CallContext, stack_id: str, name: str, text: str,
                      doc: dict[str, Any], given: dict[str, Any], report: StackReport,
                      tags: list[dict[str, str]]) -> Stack:
        return Stack(stack_id, name, ctx.now,
                     _shown_parameters(doc, given),
                     report, report.status, description=doc.get("Description"), tags=tags,
                     output_descriptions=_output_descriptions(doc), template_body=text)

    def CreateStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["StackName"]
        stack_id = self._new_stack_id(ctx, name)
        self._authorize(ctx, "CreateStack", stack_id)
        if self._live(name) is not None:
            raise AlreadyExists(f"Stack [{name}] already exists")
        text, doc = self._template(params)
        self._check_capabilities(doc, params)
        given = self._given(params, None)
        caller = ctx.caller.session_arn or ctx.caller.arn
        rollback = not params.get("DisableRollback") and params.get("OnFailure") != "DO_NOTHING"
        try:
            report = deploy(self.sim, doc, parameters=given, stack_name=name,
                            principal=caller, rollback=rollback)
        except TemplateError as exc:
            raise ValidationError(str(exc)) from None
        self.stacks.append(self._stack_record(ctx, stack_id, name, text, doc, given, report,
                                              list(params.get("Tags") or [])))
        return {"StackId": stack_id}

    def UpdateStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Update a stack to a new template or parameter values, at once: what changed is
        updated in place or replaced, a failure rolls it back (simulator.cloudformation.update).
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStack.html"""
        name = params["StackName"]
        st = self._live(name)
        self._authorize(ctx, "UpdateStack", st.stack_id if st else self._stack_arn(ctx, name))
        st = self._updatable(name)
        text, doc = self._template(params, st)
        self._check_capabilities(doc, params)
        given = self._given(params, st)
        tags = list(params["Tags"]) if "Tags" in params else st.tags
        if self._unchanged(st, doc, given, tags):
            raise ValidationError("No updates are to be performed.")
        self._update(ctx, st, text, doc, given, tags,
                     rollback=not params.get("DisableRollback"))
        return {"StackId": st.stack_id}

    def _updatable(self, name: str) -> Stack:
        st = self._live(name)
        if st is None:
            raise ValidationError(f"Stack [{name}] does not exist")
        if st.status not in _UPDATABLE:
            raise ValidationError(f"Stack:{st.stack_id} is in {st.status} state and can not "
                                  "be updated.")
        return st

    @staticmethod
    def _unchanged(st: Stack, doc: dict[str, Any], given: dict[str, Any],
                   tags: list[dict[str, str]]) -> bool:
        """Whether an update would submit nothing new: the same template, parameter values
        and tags."""
        return (doc == st.report.template and _shown_parameters(doc, given) == st.parameters
                and tags == st.tags)

    def _update(self, ctx: CallContext, st: Stack, text: str, doc: dict[str, Any],
                given: dict[str, Any], tags: list[dict[str, str]], *, rollback: bool) -> None:
        caller = ctx.caller.session_arn or ctx.caller.arn
        try:
            report = update(self.sim, st.report, doc, parameters=given, stack_name=st.name,
                            principal=caller, rollback=rollback)
        except TemplateError as exc:
            raise ValidationError(str(exc)) from None
        if report.status == "UPDATE_FAILED" and st.stable is None:
            st.stable = (st.template_body, st.parameters, st.tags)
        elif report.status == "UPDATE_COMPLETE":
            st.stable = None
        st.updated_to(report, ctx.now)
        if report.status != "UPDATE_ROLLBACK_COMPLETE":
            self._describe_as(st, text, doc, given, tags)
        for cs in st.change_sets:  # "the stack was already updated" (DescribeChangeSet)
            if cs.execution_status == "AVAILABLE":
                cs.execution_status = "OBSOLETE"

    @staticmethod
    def _describe_as(st: Stack, text: str, doc: dict[str, Any], given: dict[str, Any],
                     tags: list[dict[str, str]]) -> None:
        """The stack now has this template, these parameter values and tags."""
        st.parameters = _shown_parameters(doc, given)
        st.template_body, st.tags = text, tags
        st.description = doc.get("Description")
        st.output_descriptions = _output_descriptions(doc)

    def RollbackStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Roll a stack left CREATE_FAILED or UPDATE_FAILED (a failure with rollback
        disabled) back: to its last complete state, or, having none, delete what it made.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_RollbackStack.html"""
        name = params["StackName"]
        st = self._live(name)
        self._authorize(ctx, "RollbackStack", st.stack_id if st else self._stack_arn(ctx, name))
        if st is None:
            raise ValidationError(f"Stack [{name}] does not exist")
        if st.status == "CREATE_FAILED":
            for _, made in reversed(list(st.report.created.items())):
                try:
                    delete_made(self.sim, made)
                except errors.ClientError:
                    st.status = "ROLLBACK_FAILED"
                    return {"StackId": st.stack_id}
            st.report.created = {}
            st.status = st.report.status = "ROLLBACK_COMPLETE"
            return {"StackId": st.stack_id}
        if st.status != "UPDATE_FAILED" or st.stable is None or st.report.stable is None:
            raise ValidationError(f"Stack:{st.stack_id} is in {st.status} state and can not "
                                  "be rolled back.")
        text, shown, tags = st.stable
        stable = st.report.stable
        caller = ctx.caller.session_arn or ctx.caller.arn
        given = {p["ParameterKey"]: p["ParameterValue"] for p in shown}
        report = update(self.sim, st.report, stable.template, parameters=given,
                        stack_name=st.name, principal=caller, rollback=True)
        report.status = ("UPDATE_ROLLBACK_COMPLETE" if report.status == "UPDATE_COMPLETE"
                         else "UPDATE_ROLLBACK_FAILED")
        st.updated_to(report, ctx.now, start="UPDATE_ROLLBACK_IN_PROGRESS")
        if report.status == "UPDATE_ROLLBACK_COMPLETE":
            st.template_body, st.parameters, st.tags = text, shown, tags
            st.stable = None
        return {"StackId": st.stack_id}

    # Change sets ---------------------------------------------------------------------------

    def CreateChangeSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Work out what creating or updating a stack would change, without changing it; a
        CREATE change set brings the stack into being in REVIEW_IN_PROGRESS.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html"""
        name, cs_name = params["StackName"], params["ChangeSetName"]
        kind = params.get("ChangeSetType") or "UPDATE"
        st = self._live(name)
        self._authorize(ctx, "CreateChangeSet",
                        st.stack_id if st else self._stack_arn(ctx, name))
        if kind == "IMPORT":
            raise ValidationError("fargate-sim does not import existing resources into stacks "
                                  "(ChangeSetType IMPORT)")
        if kind == "CREATE":
            if st is not None and st.status != "REVIEW_IN_PROGRESS":
                raise ValidationError(f"Stack [{name}] already exists and cannot be created "
                                      f"again with the changeSet [{cs_name}].")
        elif st is None:
            raise ValidationError(f"Stack [{name}] does not exist")
        elif st.status == "REVIEW_IN_PROGRESS" or st.status not in _UPDATABLE:
            raise ValidationError(f"Stack:{st.stack_id} is in {st.status} state and can not "
                                  "be updated.")
        text, doc = self._template(params, st)
        self._check_capabilities(doc, params)
        given = self._given(params, st)
        tags = list(params["Tags"]) if "Tags" in params else (st.tags if st else [])
        if st is not None:
            for cs in st.change_sets:
                if cs.name == cs_name:
                    if (cs.template, cs.parameters) == (doc, given):
                        return {"Id": cs.change_set_id, "StackId": st.stack_id}
                    raise AlreadyExists(f"ChangeSet {cs_name} cannot be created due to a "
                                        "mismatch with existing attribute Template")
        caller = ctx.caller.session_arn or ctx.caller.arn
        previous = st.report if kind == "UPDATE" and st is not None else None
        try:
            changes = plan(self.sim, previous, doc, given, name, caller)
        except TemplateError as exc:
            raise ValidationError(str(exc)) from None
        if st is None:
            st = self._stack_record(ctx, self._new_stack_id(ctx, name), name, "", doc, given,
                                    StackReport(name, "REVIEW_IN_PROGRESS"), tags)
            st.reviewed = True
            self.stacks.append(st)
        cs_id = (f"arn:{self.sim.partition}:cloudformation:{ctx.region}:{ctx.account}:"
                 f"changeSet/{cs_name}/{uuid.UUID(int=self.sim.rng.getrandbits(128), version=4)}")
        cs = ChangeSet(cs_id, cs_name, st.stack_id, name, kind, ctx.now, text, doc, given,
                       changes, capabilities=list(params.get("Capabilities") or []), tags=tags,
                       description=params.get("Description"),
                       shown_parameters=_shown_parameters(doc, given))
        if kind == "UPDATE" and not changes and self._unchanged(st, doc, given, tags):
            cs.status, cs.execution_status, cs.status_reason = \
                "FAILED", "UNAVAILABLE", NO_CHANGES
        st.change_sets.append(cs)
        return {"Id": cs_id, "StackId": st.stack_id}

    def _change_set(self, ctx: CallContext, action: str, params: dict[str, Any]
                    ) -> tuple[Stack, ChangeSet | None]:
        """The stack and change set a call names (ChangeSetName as an ARN, or a name with
        StackName), authorised; the change set is None when the stack has none by that name."""
        ref, stack_ref = params["ChangeSetName"], params.get("StackName")
        if ref.startswith("arn:"):
            for st in self.stacks:
                for cs in st.change_sets if st.deleted is None else ():
                    if cs.change_set_id == ref:
                        self._authorize(ctx, action, st.stack_id)
                        return st, cs
            self._authorize(ctx, action, self._stack_arn(ctx, stack_ref))
            raise ChangeSetNotFound(f"ChangeSet [{ref}] does not exist")
        if not stack_ref:
            raise ValidationError("StackName must be specified if ChangeSetName is not "
                                  "specified as an ARN.")
        found = self._live(stack_ref)
        self._authorize(ctx, action,
                        found.stack_id if found else self._stack_arn(ctx, stack_ref))
        if found is None:
            raise ValidationError(f"Stack [{stack_ref}] does not exist")
        return found, next((cs for cs in found.change_sets if cs.name == ref), None)

    def DescribeChangeSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        _, cs = self._change_set(ctx, "DescribeChangeSet", params)
        if cs is None:
            raise ChangeSetNotFound(f"ChangeSet [{params['ChangeSetName']}] does not exist")
        return cs.describe()

    def ListChangeSets(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        st = self._live(params["StackName"])
        self._authorize(ctx, "ListChangeSets",
                        st.stack_id if st else self._stack_arn(ctx, params["StackName"]))
        if st is None:
            raise ValidationError(f"Stack [{params['StackName']}] does not exist")
        return {"Summaries": [cs.summary() for cs in st.change_sets]}

    def DeleteChangeSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Delete a change set; one the stack does not have is no error (as on AWS)."""
        st, cs = self._change_set(ctx, "DeleteChangeSet", params)
        if cs is not None:
            st.change_sets.remove(cs)
        return {}

    def ExecuteChangeSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Create or update the stack as the change set says, at once; the stack's other
        change sets are deleted."""
        st, cs = self._change_set(ctx, "ExecuteChangeSet", params)
        if cs is None:
            raise ChangeSetNotFound(f"ChangeSet [{params['ChangeSetName']}] does not exist")
        if cs.status != "CREATE_COMPLETE":
            raise InvalidChangeSetStatus(f"ChangeSet [{cs.change_set_id}] cannot be executed "
                                         f"in its current status of [{cs.status}]")
        if cs.execution_status != "AVAILABLE":
            raise InvalidChangeSetStatus(f"ChangeSet [{cs.change_set_id}] cannot be executed "
                                         "in its current execution status of "
                                         f"[{cs.execution_status}]")
        rollback = not params.get("DisableRollback")
        if cs.kind == "CREATE":
            caller = ctx.caller.session_arn or ctx.caller.arn
            try:
                report = deploy(self.sim, cs.template, parameters=cs.parameters,
                                stack_name=st.name, principal=caller, rollback=rollback)
            except TemplateError as exc:
                raise ValidationError(str(exc)) from None
            st.report, st.status = report, report.status
            self._describe_as(st, cs.template_body, cs.template, cs.parameters, cs.tags)
            ok = report.ok
        else:
            self._update(ctx, st, cs.template_body, cs.template, cs.parameters, cs.tags,
                         rollback=rollback)
            ok = st.status == "UPDATE_COMPLETE"
        st.change_set_id = cs.change_set_id
        # "When you execute a change set, CloudFormation deletes all other change sets
        # associated with the stack because they aren't valid for the updated stack."
        # (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html)
        st.change_sets = [cs]
        cs.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"
        return {}

    # Templates -----------------------------------------------------------------------------

    def GetTemplate(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The stack's (or one of its change sets') template, as it was sent."""
        if params.get("ChangeSetName"):
            _, cs = self._change_set(ctx, "GetTemplate", params)
            if cs is None:
                raise ChangeSetNotFound(f"ChangeSet [{params['ChangeSetName']}] does not exist")
            text = cs.template_body
        else:
            name = params.get("StackName")
            self._authorize(ctx, "GetTemplate", self._stack_arn(ctx, name))
            if name is None:
                raise ValidationError("Either StackName or ChangeSetName must be specified.")
            st = self._stack(name)
            if st.status == "REVIEW_IN_PROGRESS":
                raise ValidationError(f"fargate-sim: stack {name} is in REVIEW_IN_PROGRESS "
                                      "state and has no template until a change set is "
                                      "executed; give ChangeSetName for a change set's")
            text = st.template_body
        return {"TemplateBody": text, "StagesAvailable": ["Original", "Processed"]}

    def ValidateTemplate(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """A template's parameters, description and the capabilities it needs; a template
        that is not one is CloudFormation's ValidationError ("Template format error: ...").
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ValidateTemplate.html"""
        self._authorize(ctx, "ValidateTemplate", "*")
        _, doc = self._template(params)
        summary = _summary(doc)
        out: dict[str, Any] = {
            "Parameters": [{k: v for k, v in p.items()
                            if k in ("ParameterKey", "DefaultValue", "NoEcho", "Description")}
                           for p in summary["Parameters"]],
            "DeclaredTransforms": []}
        for member in ("Description", "Capabilities", "CapabilitiesReason"):
            if member in summary:
                out[member] = summary[member]
        return out

    def ListStacks(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Summaries of the account's stacks, deleted ones included (as AWS lists them for
        90 days), newest first; StackStatusFilter keeps the statuses it names."""
        self._authorize(ctx, "ListStacks", "*")
        wanted = set(params.get("StackStatusFilter") or [])
        out = []
        for st in reversed(self.stacks):
            if wanted and st.status not in wanted:
                continue
            item: dict[str, Any] = {
                "StackId": st.stack_id, "StackName": st.name, "CreationTime": st.created,
                "StackStatus": st.status,
                "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"}}
            for member, value in (("TemplateDescription", st.description),
                                  ("LastUpdatedTime", st.updated),
                                  ("DeletionTime", st.deleted)):
                if value is not None:
                    item[member] = value
            out.append(item)
        return {"StackSummaries": out}

    def ListStackResources(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Summaries of a stack's resources (a deleted stack's, by its stack id)."""
        self._authorize(ctx, "ListStackResources", self._stack_arn(ctx, params["StackName"]))
        st = self._stack(params["StackName"])
        out = []
        for r in st.made():
            res = st.resource(r)
            summary = ("LogicalResourceId", "ResourceType", "ResourceStatus",
                       "PhysicalResourceId", "ResourceStatusReason")
            item: dict[str, Any] = {k: res[k] for k in summary if k in res}
            item["LastUpdatedTimestamp"] = res["Timestamp"]
            item["DriftInformation"] = {"StackResourceDriftStatus": "NOT_CHECKED"}
            out.append(item)
        return {"StackResourceSummaries": out}

    def GetTemplateSummary(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """A template's parameters, resource types and the capabilities it needs: of the
        template given, or of a stack's.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetTemplateSummary.html"""
        name = params.get("StackName")
        self._authorize(ctx, "GetTemplateSummary", self._stack_arn(ctx, name))
        if name is not None:
            st = self._stack(name)
            _, doc = self._template({"UsePreviousTemplate": True}, st)
        else:
            _, doc = self._template(params)
        return _summary(doc)

    def DescribeStacks(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("StackName")
        self._authorize(ctx, "DescribeStacks", self._stack_arn(ctx, name))
        if name is None:
            return {"Stacks": [s.to_output() for s in self.stacks if s.deleted is None]}
        st = self._live(name)
        if st is None:
            raise ValidationError(f"Stack with id {name} does not exist")
        return {"Stacks": [st.to_output()]}

    def _stack(self, name: str) -> Stack:
        st = self._live(name)
        if st is None:
            raise ValidationError(f"Stack with id {name} does not exist")
        return st

    def DescribeStackResources(self, ctx: CallContext, params: dict[str, Any]
                               ) -> dict[str, Any]:
        """The stack's resources (all, or the one a logical or physical id names).
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html"""
        name, physical = params.get("StackName"), params.get("PhysicalResourceId")
        self._authorize(ctx, "DescribeStackResources", self._stack_arn(ctx, name))
        if name is None and physical is None:
            # "Required: Conditional. If you don't specify StackName, you must specify
            # PhysicalResourceId." (the page above)
            raise ValidationError("Either StackName or PhysicalResourceId must be specified.")
        if name is not None:
            stacks = [self._stack(name)]
        else:
            stacks = [st for st in self.stacks
                      if any(r.physical_id == physical for r in st.report.resources)]
            if not stacks:
                raise ValidationError(f"Stack for {physical} does not exist")
        logical = params.get("LogicalResourceId")
        return {"StackResources": [
            st.resource(r) for st in stacks[-1:] for r in st.made()
            if (logical is None or r.logical_id == logical)
            and (physical is None or r.physical_id == physical)]}

    def DescribeStackResource(self, ctx: CallContext, params: dict[str, Any]
                              ) -> dict[str, Any]:
        """One resource of a stack, by its logical id."""
        self._authorize(ctx, "DescribeStackResource", self._stack_arn(ctx, params["StackName"]))
        st = self._stack(params["StackName"])
        for r in st.made():
            if r.logical_id == params["LogicalResourceId"]:
                out = st.resource(r)
                out["LastUpdatedTimestamp"] = out.pop("Timestamp")
                return {"StackResourceDetail": out}
        raise ValidationError(f"Resource {params['LogicalResourceId']} does not exist for "
                              f"stack {st.name}")

    def DescribeStackEvents(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The stack's events, newest first: the stack's and each resource's status
        changes as the deployment made them (all at the one simulated instant it ran)."""
        self._authorize(ctx, "DescribeStackEvents", self._stack_arn(ctx, params["StackName"]))
        st = self._stack(params["StackName"])
        return {"StackEvents": list(reversed(st.events()))}

    def DeleteStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        st = self._live(params["StackName"])
        self._authorize(ctx, "DeleteStack",
                        st.stack_id if st else self._stack_arn(ctx, params["StackName"]))
        if st is None or st.deleted is not None:
            return {}  # deleting a stack that does not exist succeeds, as on AWS
        retain = set(params.get("RetainResources") or [])
        leftover = [(lid, made) for lid, _, made in st.report.leftover]
        for lid, made in [*reversed(list(st.report.created.items())), *leftover]:
            if lid in retain:
                continue
            try:
                delete_made(self.sim, made)
            except errors.ClientError as exc:
                st.status = "DELETE_FAILED"
                st.report.resources.append(ResourceOutcome(
                    lid, "", "DELETE_FAILED", reason=f"{exc.code}: {exc.message}"))
                return {}
        st.status, st.deleted = "DELETE_COMPLETE", ctx.now
        st.change_sets = []  # a deleted stack's change sets go with it
        return {}
