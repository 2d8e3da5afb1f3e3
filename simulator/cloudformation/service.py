"""CloudFormation's stack operations (CreateStack, UpdateStack, RollbackStack, DeleteStack, the
Describe and List calls) and template ones (ValidateTemplate, GetTemplateSummary) over the
deploy engine; change sets are in ``ops_change_sets``, the shared steps in ``core``.

Stacks deploy synchronously on the simulated clock (CreateStack returns when the stack is
CREATE_COMPLETE or rolled back, so ``aws cloudformation wait stack-create-complete`` succeeds
on its first poll); resources are created as the caller, through the same front door as any
call. Templates with IAM resources need CAPABILITY_IAM, or CAPABILITY_NAMED_IAM when they name
them, as CloudFormation requires.
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
"""

from __future__ import annotations

from typing import Any, ClassVar

from simulator import errors
from simulator.cloudformation.core import (
    AlreadyExists,
    ValidationError,
)
from simulator.cloudformation.ops_change_sets import ChangeSetOperations
from simulator.cloudformation.stack import (
    ResourceOutcome,
    as_cloudformation,
    delete_made,
    deploy,
    retarget,
)
from simulator.cloudformation.stack_record import (  # state saved before names service.Stack
    Stack,
    template_summary,
)
from simulator.cloudformation.template import TemplateError
from simulator.cloudformation.update import update
from simulator.service import CallContext


class CloudFormationService(ChangeSetOperations):
    """CloudFormation in the simulator (see the module docstring)."""

    service_name: ClassVar[str] = "cloudformation"
    event_source: ClassVar[str] = "cloudformation.amazonaws.com"
    constraint_error: ClassVar[str] = "ValidationError"

    def CreateStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["StackName"]
        stack_id = self._new_stack_id(ctx.region, ctx.account, name)
        self._authorize(ctx, "CreateStack", stack_id)
        if self._live(name, ctx.account) is not None:
            raise AlreadyExists(f"Stack [{name}] already exists")
        text, doc = self._template(params)
        self._check_capabilities(doc, params)
        given = self._given(params, None)
        caller = self._acting_as(ctx, params.get("RoleARN"))
        rollback = not params.get("DisableRollback") and params.get("OnFailure") != "DO_NOTHING"
        try:
            report = deploy(self.sim, doc, parameters=given, stack_name=name,
                            principal=caller, rollback=rollback)
        except TemplateError as exc:
            raise ValidationError(str(exc)) from None
        st = self._stack_record(ctx.now, stack_id, name, text, doc, given, report,
                                list(params.get("Tags") or []))
        st.role_arn = params.get("RoleARN")
        st.termination_protection = bool(params.get("EnableTerminationProtection"))
        self.stacks.append(st)
        return {"StackId": stack_id}

    def UpdateTerminationProtection(self, ctx: CallContext, params: dict[str, Any]
                                    ) -> dict[str, Any]:
        """Turn termination protection on or off.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateTerminationProtection.html"""
        name = params["StackName"]
        found = self._live(name, ctx.account)
        self._authorize(ctx, "UpdateTerminationProtection",
                        found.stack_id if found else self._stack_arn(ctx, name))
        st = self._stack(name, ctx.account)
        if st.deleted is not None:
            raise ValidationError(f"Stack with id {name} does not exist")
        st.termination_protection = bool(params["EnableTerminationProtection"])
        return {"StackId": st.stack_id}

    def UpdateStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Update a stack to a new template or parameter values, at once: what changed is
        updated in place or replaced, a failure rolls it back (simulator.cloudformation.update).
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStack.html"""
        name = params["StackName"]
        st = self._live(name, ctx.account)
        self._authorize(ctx, "UpdateStack", st.stack_id if st else self._stack_arn(ctx, name))
        st = self._updatable(name, ctx.account)
        text, doc = self._template(params, st)
        self._check_capabilities(doc, params)
        given = self._given(params, st)
        tags = list(params["Tags"]) if "Tags" in params else st.tags
        if self._unchanged(st, doc, given, tags):
            raise ValidationError("No updates are to be performed.")
        self._update(ctx, st, text, doc, given, tags,
                     rollback=not params.get("DisableRollback"), role_arn=params.get("RoleARN"))
        return {"StackId": st.stack_id}

    def RollbackStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Roll a stack left CREATE_FAILED or UPDATE_FAILED (a failure with rollback
        disabled) back: to its last complete state, or, having none, delete what it made.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_RollbackStack.html"""
        name = params["StackName"]
        st = self._live(name, ctx.account)
        self._authorize(ctx, "RollbackStack", st.stack_id if st else self._stack_arn(ctx, name))
        if st is None:
            raise ValidationError(f"Stack [{name}] does not exist")
        if st.status == "CREATE_FAILED":
            self._retarget(ctx, st, params.get("RoleARN"))
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
        role = params.get("RoleARN") or st.role_arn
        caller = self._acting_as(ctx, role, passed=role != st.role_arn)
        st.role_arn = role
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

    def ValidateTemplate(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """A template's parameters, description and the capabilities it needs; a template
        that is not one is CloudFormation's ValidationError ("Template format error: ...").
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ValidateTemplate.html"""
        self._authorize(ctx, "ValidateTemplate", "*")
        _, doc = self._template(params)
        summary = template_summary(doc)
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
            if st.account != ctx.account or (wanted and st.status not in wanted):
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
        st = self._stack(params["StackName"], ctx.account)
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
            st = self._stack(name, ctx.account)
            _, doc = self._template({"UsePreviousTemplate": True}, st)
        else:
            _, doc = self._template(params)
        return template_summary(doc)

    def _retarget(self, ctx: CallContext, st: Stack, role_arn: str | None) -> None:
        """Deletions as CloudFormation makes them: as the service role the call names (the
        documented way out when the stack's role is gone or cannot delete), the stack's own
        role, or, for a stack without one, with the deleting caller's own credentials."""
        if role_arn is None and st.role_arn is None:  # the caller's own credentials
            retarget(st.report.client_sets, as_cloudformation(ctx.caller))
            return
        if role_arn is None or role_arn == st.role_arn:
            return
        retarget(st.report.client_sets,
                 as_cloudformation(self.sim.principal(self._acting_as(ctx, role_arn))))
        st.role_arn = role_arn

    def ListExports(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The account's exports: each live stack's exported outputs.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListExports.html"""
        self._authorize(ctx, "ListExports", "*")
        return {"Exports": [
            {"ExportingStackId": st.stack_id, "Name": export,
             "Value": str(st.report.outputs.get(key, ""))}
            for st in self._exporting(ctx.account)
            for key, export in st.report.exports.items()]}

    def ListImports(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The stacks that import an export (Fn::ImportValue)."""
        self._authorize(ctx, "ListImports", "*")
        name = params["ExportName"]
        if self.export_value(ctx.account, name) is None:
            raise ValidationError(f"Export '{name}' does not exist.")
        users = self._importers(ctx.account, name)
        if not users:
            # AWS's words (as a recorded aws cloudformation list-imports transcript shows).
            raise ValidationError(f"Export '{name}' is not imported by any stack.")
        return {"Imports": users}

    def DescribeStacks(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("StackName")
        self._authorize(ctx, "DescribeStacks", self._stack_arn(ctx, name))
        if name is None:
            return {"Stacks": [s.to_output() for s in self.stacks
                               if s.deleted is None and s.account == ctx.account]}
        st = self._live(name, ctx.account)
        if st is None:
            raise ValidationError(f"Stack with id {name} does not exist")
        return {"Stacks": [st.to_output()]}

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
            stacks = [self._stack(name, ctx.account)]
        else:
            stacks = [st for st in self.stacks if st.account == ctx.account
                      and any(r.physical_id == physical for r in st.report.resources)]
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
        st = self._stack(params["StackName"], ctx.account)
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
        st = self._stack(params["StackName"], ctx.account)
        return {"StackEvents": list(reversed(st.events()))}

    def DeleteStack(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        st = self._live(params["StackName"], ctx.account)
        self._authorize(ctx, "DeleteStack",
                        st.stack_id if st else self._stack_arn(ctx, params["StackName"]))
        if st is None or st.deleted is not None:
            return {}  # deleting a stack that does not exist succeeds, as on AWS
        if st.termination_protection:
            raise ValidationError(f"Stack [{st.name}] cannot be deleted while "
                                  "TerminationProtection is enabled")
        in_use = self.export_in_use(st.account, st.name,
                                    set(st.report.exports.values()))
        if in_use:  # the stack stays, DELETE_FAILED, naming the importer
            st.status, st.report.reason = "DELETE_FAILED", in_use
            for status, reason in (("DELETE_IN_PROGRESS", "User Initiated"),
                                   ("DELETE_FAILED", in_use)):
                st.history.append({"logical": st.name, "physical": st.stack_id,
                                   "kind": "AWS::CloudFormation::Stack", "status": status,
                                   "reason": reason, "when": ctx.now})
            return {}
        self._retarget(ctx, st, params.get("RoleARN"))
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
