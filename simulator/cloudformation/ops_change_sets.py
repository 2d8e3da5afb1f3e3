"""CloudFormation's change sets: CreateChangeSet, DescribeChangeSet, ListChangeSets,
DeleteChangeSet, ExecuteChangeSet, and GetTemplate (of a stack or a change set).
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets.html
"""

from __future__ import annotations

import uuid
from typing import Any

from simulator.cloudformation.change_set import NO_CHANGES, ChangeSet
from simulator.cloudformation.core import (
    UPDATABLE,
    AlreadyExists,
    ChangeSetNotFound,
    InvalidChangeSetStatus,
    StackCore,
    ValidationError,
)
from simulator.cloudformation.stack import StackReport, deploy
from simulator.cloudformation.stack_record import shown_parameters
from simulator.cloudformation.template import TemplateError
from simulator.cloudformation.update import plan
from simulator.service import CallContext


class ChangeSetOperations(StackCore):
    """The change-set operations of ``CloudFormationService``."""

    def CreateChangeSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Work out what creating or updating a stack would change, without changing it; a
        CREATE change set brings the stack into being in REVIEW_IN_PROGRESS.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html"""
        name, cs_name = params["StackName"], params["ChangeSetName"]
        kind = params.get("ChangeSetType") or "UPDATE"
        st = self._live(name, ctx.account)
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
        elif st.status == "REVIEW_IN_PROGRESS" or st.status not in UPDATABLE:
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
        own = st.role_arn if st is not None else None
        role_arn = params.get("RoleARN") or own
        caller = self._acting_as(ctx, role_arn, passed=role_arn != own)
        previous = st.report if kind == "UPDATE" and st is not None else None
        try:
            changes = plan(self.sim, previous, doc, given, name, caller)
        except TemplateError as exc:
            raise ValidationError(str(exc)) from None
        if st is None:
            st = self._stack_record(ctx.now, self._new_stack_id(ctx.region, ctx.account, name),
                                    name, "", doc, given,
                                    StackReport(name, "REVIEW_IN_PROGRESS"), tags)
            st.reviewed = True
            self.stacks.append(st)
        cs_id = (f"arn:{self.sim.partition}:cloudformation:{ctx.region}:{ctx.account}:"
                 f"changeSet/{cs_name}/{uuid.UUID(int=self.sim.rng.getrandbits(128), version=4)}")
        cs = ChangeSet(cs_id, cs_name, st.stack_id, name, kind, ctx.now, text, doc, given,
                       changes, capabilities=list(params.get("Capabilities") or []), tags=tags,
                       description=params.get("Description"),
                       shown_parameters=shown_parameters(doc, given), role_arn=role_arn)
        if kind == "UPDATE" and not changes and self._unchanged(st, doc, given, tags):
            cs.status, cs.execution_status, cs.status_reason = \
                "FAILED", "UNAVAILABLE", NO_CHANGES
        st.change_sets.append(cs)
        return {"Id": cs_id, "StackId": st.stack_id}

    def DescribeChangeSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        _, cs = self._change_set(ctx, "DescribeChangeSet", params)
        if cs is None:
            raise ChangeSetNotFound(f"ChangeSet [{params['ChangeSetName']}] does not exist")
        return cs.describe()

    def ListChangeSets(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        st = self._live(params["StackName"], ctx.account)
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
            caller = self._acting_as(ctx, cs.role_arn, passed=False)  # checked at creation
            try:
                report = deploy(self.sim, cs.template, parameters=cs.parameters,
                                stack_name=st.name, principal=caller, rollback=rollback)
            except TemplateError as exc:
                raise ValidationError(str(exc)) from None
            st.report, st.status, st.role_arn = report, report.status, cs.role_arn
            self._describe_as(st, cs.template_body, cs.template, cs.parameters, cs.tags)
            ok = report.ok
        else:
            self._update(ctx, st, cs.template_body, cs.template, cs.parameters, cs.tags,
                         rollback=rollback, role_arn=cs.role_arn, checked=True)
            ok = st.status == "UPDATE_COMPLETE"
        st.change_set_id = cs.change_set_id
        # "When you execute a change set, CloudFormation deletes all other change sets
        # associated with the stack because they aren't valid for the updated stack."
        # (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html)
        st.change_sets = [cs]
        cs.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"
        return {}

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
            st = self._stack(name, ctx.account)
            if st.status == "REVIEW_IN_PROGRESS":
                raise ValidationError(f"fargate-sim: stack {name} is in REVIEW_IN_PROGRESS "
                                      "state and has no template until a change set is "
                                      "executed; give ChangeSetName for a change set's")
            text = st.template_body
        return {"TemplateBody": text, "StagesAvailable": ["Original", "Processed"]}
