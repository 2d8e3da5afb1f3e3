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
from simulator.cloudformation.stack import ResourceOutcome, StackReport, deploy
from simulator.cloudformation.template import TemplateError, load_template
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
        if self.deleted is not None and status == "CREATE_COMPLETE":
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
        out = [event(self.name, self.stack_id, stack, "CREATE_IN_PROGRESS", "User Initiated")]
        for r in self.made():
            if r.status in ("CREATE_COMPLETE", "CREATE_FAILED"):
                out.append(event(r.logical_id, "", r.resource_type, "CREATE_IN_PROGRESS"))
            out.append(event(r.logical_id, r.physical_id or "", r.resource_type, r.status,
                             r.reason))
        out.append(event(self.name, self.stack_id, stack, self.report.status))
        if self.deleted is not None:
            out.append(event(self.name, self.stack_id, stack, "DELETE_IN_PROGRESS",
                             "User Initiated", self.deleted))
            out.append(event(self.name, self.stack_id, stack, "DELETE_COMPLETE",
                             when=self.deleted))
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

    def CreateStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["StackName"]
        stack_id = (f"arn:{self.sim.partition}:cloudformation:{ctx.region}:{ctx.account}:"
                    f"stack/{name}/{uuid.UUID(int=self.sim.rng.getrandbits(128), version=4)}")
        self._authorize(ctx, "CreateStack", stack_id)
        if self._live(name) is not None:
            raise AlreadyExists(f"Stack [{name}] already exists")
        if not params.get("TemplateBody"):
            raise ValidationError("Either Template URL or Template Body must be specified."
                                  if not params.get("TemplateURL") else
                                  "fargate-sim reads no URLs: give TemplateBody")
        try:
            # Always text (a newline keeps load_template from reading a file of that name).
            doc = load_template(params["TemplateBody"] + "\n")
        except TemplateError as exc:
            raise ValidationError(f"Template format error: {exc}") from None
        need = _required_capability(doc)
        have = set(params.get("Capabilities") or [])
        if need and not ({need, "CAPABILITY_NAMED_IAM"} & have):
            raise InsufficientCapabilities(f"Requires capabilities : [{need}]")
        given = {p["ParameterKey"]: p.get("ParameterValue")
                 for p in params.get("Parameters") or []}
        caller = ctx.caller.session_arn or ctx.caller.arn
        rollback = not params.get("DisableRollback") and params.get("OnFailure") != "DO_NOTHING"
        try:
            report = deploy(self.sim, doc, parameters=given, stack_name=name,
                            principal=caller, rollback=rollback)
        except TemplateError as exc:
            raise ValidationError(str(exc)) from None
        shown = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in given.items()]
        self.stacks.append(Stack(stack_id, name, ctx.now, shown, report, report.status,
                                 description=doc.get("Description"),
                                 tags=list(params.get("Tags") or []),
                                 output_descriptions={
                                     k: str(v["Description"])
                                     for k, v in (doc.get("Outputs") or {}).items()
                                     if isinstance(v, dict) and v.get("Description")}))
        return {"StackId": stack_id}

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
        for lid, made in reversed(list(st.report.created.items())):
            if lid in retain or made.delete is None:
                continue
            try:
                try:
                    made.delete()
                except errors.ClientError:
                    # CloudFormation waits for what a delete set going (a service draining its
                    # tasks) before the next: let the simulated clock run, then try again.
                    self.sim.service("ecs").settle(3600.0)  # type: ignore[attr-defined]
                    made.delete()
            except errors.ClientError as exc:
                st.status = "DELETE_FAILED"
                st.report.resources.append(ResourceOutcome(
                    lid, "", "DELETE_FAILED", reason=f"{exc.code}: {exc.message}"))
                return {}
        st.status, st.deleted = "DELETE_COMPLETE", ctx.now
        return {}
