"""The state of the simulated CloudFormation and the steps its operations share: finding and
authorising stacks, reading a call's template and parameters, updating a stack.

The operations live in ``service`` (stacks and templates) and ``ops_change_sets``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.arn import Arn
from simulator.cloudformation.change_set import ChangeSet
from simulator.cloudformation.stack import ROLE_SESSION, StackReport
from simulator.cloudformation.stack_record import (
    Stack,
    output_descriptions,
    required_capability,
    shown_parameters,
)
from simulator.cloudformation.template import TemplateError, load_template
from simulator.cloudformation.update import update
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
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
             "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE", "UPDATE_FAILED")


class StackCore(Service):
    """The stacks of every account in the simulation's Region, and the shared steps."""

    def __init__(self, sim: SimulationSurface) -> None:
        super().__init__(sim)
        self.stacks: list[Stack] = []

    def _live(self, name_or_id: str, account: str) -> Stack | None:
        """The stack of ``account`` a call names: by stack id (deleted ones too), or by name
        (live ones only), as CloudFormation finds them; stack names are per account."""
        for st in self.stacks:
            if st.account != account:
                continue
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

    def _new_stack_id(self, region: str, account: str, name: str) -> str:
        return (f"arn:{self.sim.partition}:cloudformation:{region}:{account}:"
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
        need = required_capability(doc)
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

    @staticmethod
    def _stack_record(now: Any, stack_id: str, name: str, text: str,
                      doc: dict[str, Any], given: dict[str, Any], report: StackReport,
                      tags: list[dict[str, str]]) -> Stack:
        return Stack(stack_id, name, now,
                     shown_parameters(doc, given),
                     report, report.status, description=doc.get("Description"), tags=tags,
                     output_descriptions=output_descriptions(doc), template_body=text)

    def adopt(self, report: StackReport, text: str, account: str,
              parameters: dict[str, Any]) -> Stack | None:
        """Keep a deployment made outside CreateStack (a scenario's ``deploy`` step) as a
        stack of ``account``, so later calls (DescribeStacks, UpdateStack, DeleteStack) find
        it; None when a live stack of that name exists already (the deployment stays
        unnamed)."""
        if not report.template or self._live(report.stack_name, account) is not None:
            return None
        st = self._stack_record(
            self.sim.clock.now(), self._new_stack_id(self.sim.region, account,
                                                     report.stack_name),
            report.stack_name, text, report.template, parameters, report, [])
        self.stacks.append(st)
        return st

    def _acting_as(self, ctx: CallContext, role_arn: str | None, *, passed: bool = True) -> str:
        """Whom the stack's resource calls are made as: the caller, or with a service role
        (RoleARN), the session CloudFormation assumes it in. The role's trust policy must let
        cloudformation.amazonaws.com assume it; a role the call hands over (``passed``: not
        the stack's own) needs the caller's iam:PassRole, while the stack's own role serves
        "even if the users don't have permission to pass it" (CreateChangeSet's RoleARN).
        https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html"""
        if role_arn is None:
            return ctx.caller.session_arn or ctx.caller.arn
        invalid = ValidationError(f"Role {role_arn} is invalid or cannot be assumed")
        try:
            arn = Arn.parse(role_arn)
        except ValueError:
            raise invalid from None
        role = (self.sim.service("iam").role(  # type: ignore[attr-defined]
            arn.account, arn.resource.rsplit("/", 1)[-1])
            if arn.service == "iam" and arn.resource_type == "role" else None)
        if role is None:
            raise ValidationError(invalid.message, explanation=f"no role {role_arn} exists")
        try:
            if passed:
                authorize(self.sim, ctx, "iam:PassRole", role.arn,
                          {"iam:PassedToService": "cloudformation.amazonaws.com"})
        except errors.AccessDeniedException as exc:
            raise AccessDenied(exc.message, explanation=exc.explanation,
                               **exc.details) from None
        trust = authorize(self.sim, self.sim.principal("cloudformation.amazonaws.com"),
                          "sts:AssumeRole", role.arn, {}, role.trust,
                          resource_account=role.account, resource_policy_required=True,
                          raise_on_deny=False)
        if not trust.allowed:
            raise ValidationError(invalid.message, explanation=(
                "the role's trust policy does not let cloudformation.amazonaws.com assume it: "
                + trust.reason))
        return f"arn:{arn.partition}:sts::{role.account}:assumed-role/{role.name}/{ROLE_SESSION}"

    def _exporting(self, account: str) -> list[Stack]:
        return [st for st in self.stacks if st.deleted is None
                and st.account == account and st.report.exports]

    def export_value(self, account: str, name: str) -> Any:
        """The value a live stack of ``account`` exports as ``name`` (Fn::ImportValue), or
        None."""
        for st in self._exporting(account):
            for key, export in st.report.exports.items():
                if export == name:
                    return st.report.outputs.get(key)
        return None

    def export_conflict(self, account: str, stack_name: str, names: Any) -> str | None:
        """CloudFormation's refusal when another stack exports one of ``names`` already, or
        one template exports a name twice."""
        names = list(names)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            return (f"Template error: the export name {twice[0]} is used by more than one "
                    "output of the template (fargate-sim's words: export names are unique "
                    "in an account and Region)")
        for st in self._exporting(account):
            if st.name == stack_name:
                continue
            for name in names:
                if name in st.report.exports.values():
                    return f"Export with name {name} is already exported by stack {st.name}"
        return None

    def export_in_use(self, account: str, stack_name: str, names: Any,
                      changed: Any = ()) -> str | None:
        """CloudFormation's refusal to take away (``names``) or change (``changed``) an
        export another stack imports."""
        for name in sorted(changed):
            users = self._importers(account, name, but=stack_name)
            if users:
                return f"Cannot update export {name} as it is in use by {', '.join(users)}"
        for name in sorted(names):
            users = self._importers(account, name, but=stack_name)
            if users:
                return (f"Export {name} cannot be deleted as it is in use by "
                        f"{', '.join(users)}")
        return None

    def _importers(self, account: str, name: str, but: str | None = None) -> list[str]:
        """The live stacks of ``account`` (other than ``but``) that import export ``name``."""
        return sorted(st.name for st in self.stacks if st.deleted is None
                      and st.account == account and st.name != but
                      and name in st.report.imports)

    def _updatable(self, name: str, account: str) -> Stack:
        st = self._live(name, account)
        if st is None:
            raise ValidationError(f"Stack [{name}] does not exist")
        if st.status not in UPDATABLE:
            raise ValidationError(f"Stack:{st.stack_id} is in {st.status} state and can not "
                                  "be updated.")
        return st

    @staticmethod
    def _unchanged(st: Stack, doc: dict[str, Any], given: dict[str, Any],
                   tags: list[dict[str, str]]) -> bool:
        """Whether an update would submit nothing new: the same template, parameter values
        and tags."""
        return (doc == st.report.template and shown_parameters(doc, given) == st.parameters
                and tags == st.tags)

    def _update(self, ctx: CallContext, st: Stack, text: str, doc: dict[str, Any],
                given: dict[str, Any], tags: list[dict[str, str]], *, rollback: bool,
                role_arn: str | None = None, checked: bool = False) -> None:
        """Update ``st`` as its service role (``role_arn``, else the stack's), or the caller;
        a role the call names becomes the stack's once it is found usable."""
        role = role_arn or st.role_arn
        caller = self._acting_as(ctx, role, passed=not checked and role_arn is not None
                                 and role_arn != st.role_arn)
        st.role_arn = role
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
        st.parameters = shown_parameters(doc, given)
        st.template_body, st.tags = text, tags
        st.description = doc.get("Description")
        st.output_descriptions = output_descriptions(doc)

    def _stack(self, name: str, account: str) -> Stack:
        st = self._live(name, account)
        if st is None:
            raise ValidationError(f"Stack with id {name} does not exist")
        return st

    def _change_set(self, ctx: CallContext, action: str, params: dict[str, Any]
                    ) -> tuple[Stack, ChangeSet | None]:
        """The stack and change set a call names (ChangeSetName as an ARN, or a name with
        StackName), authorised; the change set is None when the stack has none by that name."""
        ref, stack_ref = params["ChangeSetName"], params.get("StackName")
        if ref.startswith("arn:"):
            for st in self.stacks:
                for cs in st.change_sets if st.deleted is None and st.account == ctx.account \
                        else ():
                    if cs.change_set_id == ref:
                        self._authorize(ctx, action, st.stack_id)
                        return st, cs
            self._authorize(ctx, action, self._stack_arn(ctx, stack_ref))
            raise ChangeSetNotFound(f"ChangeSet [{ref}] does not exist")
        if not stack_ref:
            raise ValidationError("StackName must be specified if ChangeSetName is not "
                                  "specified as an ARN.")
        found = self._live(stack_ref, ctx.account)
        self._authorize(ctx, action,
                        found.stack_id if found else self._stack_arn(ctx, stack_ref))
        if found is None:
            raise ValidationError(f"Stack [{stack_ref}] does not exist")
        return found, next((cs for cs in found.change_sets if cs.name == ref), None)
