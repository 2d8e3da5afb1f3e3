"""Updating a deployed stack to a new template or new parameter values, as CloudFormation does.

Resources are compared by their resolved properties. A resource that is new is created; one
whose properties are unchanged is left alone; a changed one is updated in place, or replaced
when a property that requires replacement changed (a new one is made first, the old one is
deleted at cleanup); one no longer in the template is deleted at cleanup. A failure rolls the
stack back to what it was: what the update made is deleted and in-place changes are undone
(``UPDATE_ROLLBACK_COMPLETE``).
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html

``plan`` is the same comparison without calling anything, for change sets: values that only
the update would know (the id of a resource it makes) are "Dynamic".
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.cloudformation.resources import HANDLERS, UPDATES, Created, changed_properties
from simulator.cloudformation.stack import (
    RESOURCE_FAILURES,
    ResourceOutcome,
    Run,
    StackReport,
    check_supported,
    delete_made,
    dependency_order,
    failure_reason,
    parameter_values,
)
from simulator.cloudformation.template import TemplateError, validate_template
from simulator.errors import ClientError

#: CloudFormation's words when a replacement would need the name the old resource holds.
CUSTOM_NAME = ("CloudFormation cannot update a stack when a custom-named resource requires "
               "replacing. Rename {name} and update the stack again.")


@dataclass
class ResourceChange:
    """One resource's change in a change set (botocore's ``ResourceChange`` shape)."""

    action: str  # Add | Modify | Remove
    logical_id: str
    resource_type: str
    physical_id: str | None = None
    replacement: str | None = None  # True | False | Conditional, for Modify
    #: (property, RequiresRecreation Never|Always|Conditionally, Evaluation Static|Dynamic)
    details: list[tuple[str, str, str]] = field(default_factory=list)

    def to_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Action": self.action, "LogicalResourceId": self.logical_id,
                               "ResourceType": self.resource_type,
                               "Scope": ["Properties"] if self.details else [],
                               "Details": [{
                                   "Target": {"Attribute": "Properties", "Name": name,
                                              "RequiresRecreation": recreation},
                                   "Evaluation": evaluation,
                                   "ChangeSource": ("DirectModification" if evaluation == "Static"
                                                    else "ResourceReference")}
                                   for name, recreation, evaluation in self.details]}
        if self.physical_id:
            out["PhysicalResourceId"] = self.physical_id
        if self.replacement is not None:
            out["Replacement"] = self.replacement
        return out


class _Unknown(str):
    """A value only the update would know (a resource it makes): compares unequal to any
    value the stack has now."""


def _has_unknown(value: Any) -> bool:
    if isinstance(value, _Unknown):
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return isinstance(value, str) and "{{fargate-sim:unknown}}" in value


def _checked(previous: StackReport | None, template: dict[str, Any],
             parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    if previous is not None and not previous.template:
        raise TemplateError("this stack was made by an older fargate-sim, which did not keep "
                            "its template: delete the stack and create it again to update it")
    doc = validate_template(template)
    resources = doc["Resources"]
    check_supported(resources)
    retyped = sorted(lid for lid, res in resources.items()
                     if previous is not None and lid in previous.created
                     and res["Type"] != previous.template["Resources"][lid]["Type"])
    if retyped:
        raise TemplateError("Update of resource type is not permitted. The new template "
                            f"modifies resource type of the following resources: {retyped}")
    return doc, parameter_values(doc.get("Parameters", {}), parameters)


def plan(sim: Any, previous: StackReport | None, template: dict[str, Any],
         parameters: dict[str, Any], stack_name: str, principal: str | None
         ) -> list[ResourceChange]:
    """What creating the stack (``previous`` None) or updating it to ``template`` would
    change, calling nothing; a template that cannot be deployed is a TemplateError."""
    doc, params = _checked(previous, template, parameters)
    previous = previous or StackReport(stack_name, "REVIEW_IN_PROGRESS")
    run = Run(sim, doc, params, stack_name, principal)
    changes: list[ResourceChange] = []
    for lid in dependency_order(doc["Resources"], set(HANDLERS)):
        kind = doc["Resources"][lid]["Type"]
        if not run.active(lid):
            continue
        old = previous.created.get(lid)
        if old is None:
            changes.append(ResourceChange("Add", lid, kind))
            _pending(run, lid)
            continue
        props = run.props(lid)
        before = previous.properties.get(lid, {})
        changed = sorted(changed_properties(before, props))
        if not changed:
            run.made(lid, old, props)
            continue
        update = UPDATES[kind]
        details = []
        for name in changed:
            replaces = name in update.replaces or update.in_place is None
            dynamic = _has_unknown(props.get(name))
            details.append((name, ("Always" if replaces and not dynamic else
                                   "Conditionally" if replaces else "Never"),
                            "Dynamic" if dynamic else "Static"))
        recreations = {d[1] for d in details}
        replacement = ("True" if "Always" in recreations else
                       "Conditional" if "Conditionally" in recreations else "False")
        changes.append(ResourceChange("Modify", lid, kind, old.physical_id, replacement,
                                      details))
        if replacement == "False":
            run.made(lid, old, props)
        else:
            _pending(run, lid)
    for lid, old in previous.created.items():
        if lid not in doc["Resources"] or not run.active(lid):
            kind = previous.template["Resources"][lid]["Type"]
            changes.append(ResourceChange("Remove", lid, kind, old.physical_id))
    return changes


def _pending(run: Run, lid: str) -> None:
    """Resource ``lid`` will be made by the update: what refers to it is not known yet."""
    unknown = _Unknown("{{fargate-sim:unknown}}")

    class _Attributes(dict[str, Any]):
        def __contains__(self, key: object) -> bool:
            return True

        def __missing__(self, key: str) -> Any:
            return unknown

    run.made(lid, Created(unknown, _Attributes()), {})


def update(sim: Any, previous: StackReport, template: dict[str, Any], *,
           parameters: dict[str, Any], stack_name: str, principal: str | None,
           rollback: bool = True) -> StackReport:
    """Update the stack ``previous`` describes to ``template``; the report is the stack as
    it is afterwards (its previous self again after a rollback)."""
    doc, params = _checked(previous, template, parameters)
    run = Run(sim, doc, params, stack_name, principal)
    order = dependency_order(doc["Resources"], set(HANDLERS))
    report = StackReport(stack_name, "UPDATE_IN_PROGRESS")
    events = report.events
    undo: list[Callable[[], Any]] = []
    superseded: list[Created] = []  # old resources a replacement supersedes
    prior = {r.logical_id: r for r in previous.resources}
    failed = None
    for lid in order:
        kind = doc["Resources"][lid]["Type"]
        if not run.active(lid):
            report.resources.append(ResourceOutcome(lid, kind, "SKIPPED_BY_CONDITION"))
            continue
        old = previous.created.get(lid)
        try:
            props = run.props(lid)
            if old is None:
                events.append((lid, "", kind, "CREATE_IN_PROGRESS", None))
                made = HANDLERS[kind](run.client, lid, props, stack_name)
                undo.append(_deleting(sim, made))
                status = "CREATE_COMPLETE"
            else:
                before = previous.properties.get(lid, {})
                changed = changed_properties(before, props)
                if not changed:
                    run.made(lid, old, props)
                    report.resources.append(copy.copy(prior[lid]))
                    continue
                events.append((lid, old.physical_id, kind, "UPDATE_IN_PROGRESS", None))
                how = UPDATES[kind]
                if how.in_place is None or changed & how.replaces:
                    named = dict(props)
                    if how.name and props.get(how.name):
                        if props[how.name] == before.get(how.name):
                            raise TemplateError(CUSTOM_NAME.format(name=props[how.name]))
                    elif how.name:  # CloudFormation names the replacement anew
                        named[how.name] = _generated_name(sim, stack_name, lid, how.name_limit)
                    made = HANDLERS[kind](run.client, lid, named, stack_name)
                    undo.append(_deleting(sim, made))
                    superseded.append(old)
                else:
                    made = how.in_place(run.client, lid, before, props, old, stack_name)
                    undo.append(_reverting(how.in_place, run, lid, props, before, made,
                                           stack_name))
                status = "UPDATE_COMPLETE"
        except RESOURCE_FAILURES as exc:
            failed = (lid, kind, old.physical_id if old else "", failure_reason(exc))
            break
        run.made(lid, made, props)
        events.append((lid, made.physical_id, kind, status, None))
        report.resources.append(ResourceOutcome(lid, kind, status, made.physical_id))
    if failed is not None:
        return _failed(sim, previous, report, run, undo, failed, rollback)
    events.append((stack_name, "", "AWS::CloudFormation::Stack",
                   "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None))
    for lid, old in reversed(list(previous.created.items())):
        if lid in run.created and not any(old is s for s in superseded):
            continue  # kept, or updated in place
        kind = previous.template["Resources"][lid]["Type"]
        try:
            delete_made(sim, old)
            events.append((lid, old.physical_id, kind, "DELETE_COMPLETE", None))
        except ClientError as exc:
            events.append((lid, old.physical_id, kind, "DELETE_FAILED",
                           f"{exc.code}: {exc.message}"))
    report.status = "UPDATE_COMPLETE"
    report.outputs = run.outputs()
    report.created, report.properties = run.created, run.properties
    report.template, report.parameters = doc, params
    return report


def _generated_name(sim: Any, stack_name: str, lid: str, limit: int) -> str:
    """A name as CloudFormation makes one for a resource the template does not name:
    ``STACK-LOGICALID-`` and 12 random characters (the resource names the stack deployed at
    creation have no suffix here, so a replacement cannot collide with them)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    suffix = "".join(alphabet[sim.rng.randrange(len(alphabet))] for _ in range(12))
    return f"{f'{stack_name}-{lid}'[:limit - 13]}-{suffix}"


def _deleting(sim: Any, made: Created) -> Callable[[], None]:
    """Undo a creation: delete what was made."""
    def undo() -> None:
        delete_made(sim, made)
    return undo


def _reverting(in_place: Callable[..., Created], run: Run, lid: str, now: dict[str, Any],
               before: dict[str, Any], made: Created, stack_name: str) -> Callable[[], None]:
    """Undo an in-place update: update again, from the new properties back to the old."""
    def undo() -> None:
        in_place(run.client, lid, now, before, made, stack_name)
    return undo


def _failed(sim: Any, previous: StackReport, report: StackReport, run: Run,
            undo: list[Callable[[], Any]], failed: tuple[str, str, str, str],
            rollback: bool) -> StackReport:
    """The stack after a failed update: rolled back to ``previous``, or (without rollback)
    what the update reached, beside what it had not touched."""
    lid, kind, physical, reason = failed
    events = report.events
    events.append((lid, physical, kind, "UPDATE_FAILED" if physical else "CREATE_FAILED",
                   reason))
    if not rollback:
        kept = dict(previous.created)
        kept.update(run.created)
        out = copy.copy(previous)
        out.status, out.created, out.events = "UPDATE_FAILED", kept, events
        out.resources = [*report.resources,
                         *(r for r in previous.resources
                           if r.logical_id not in {x.logical_id for x in report.resources})]
        return out
    events.append((previous.stack_name, "", "AWS::CloudFormation::Stack",
                   "UPDATE_ROLLBACK_IN_PROGRESS", reason))
    for step in reversed(undo):
        try:
            step()
        except RESOURCE_FAILURES as exc:  # the rollback goes on; what it could not undo is named
            events.append((lid, physical, kind, "UPDATE_FAILED", failure_reason(exc)))
    out = copy.copy(previous)
    out.status, out.events = "UPDATE_ROLLBACK_COMPLETE", events
    return out
