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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.cloudformation.resources import (
    HANDLERS,
    UPDATES,
    Created,
    canonical,
    changed_properties,
)
from simulator.cloudformation.stack import (
    RESOURCE_FAILURES,
    ResourceOutcome,
    Run,
    StackReport,
    check_supported,
    delete_made,
    dependency_order,
    failure_reason,
    has_unknown,
    parameter_values,
    retarget,
)
from simulator.cloudformation.template import TemplateError, validate_template
from simulator.errors import ClientError

#: CloudFormation's words when a replacement would need the name the old resource holds.
CUSTOM_NAME = ("CloudFormation cannot update a stack when a custom-named resource requires "
               "replacing. Rename {name} and update the stack again.")


@dataclass
class Detail:
    """One property's change in a change set (botocore's ``ResourceChangeDetail``)."""

    name: str
    requires_recreation: str  # Never | Always (the property's own update behaviour)
    evaluation: str  # Static | Dynamic (known only once the update makes a resource)
    change_source: str  # DirectModification | ParameterReference | ResourceReference | ...
    causing_entity: str | None = None  # the parameter, or LogicalId[.Attribute], it follows

    def to_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Target": {"Attribute": "Properties", "Name": self.name,
                       "RequiresRecreation": self.requires_recreation},
            "Evaluation": self.evaluation, "ChangeSource": self.change_source}
        if self.causing_entity:
            out["CausingEntity"] = self.causing_entity
        return out


@dataclass
class ResourceChange:
    """One resource's change in a change set (botocore's ``ResourceChange`` shape)."""

    action: str  # Add | Modify | Remove
    logical_id: str
    resource_type: str
    physical_id: str | None = None
    replacement: str | None = None  # True | False | Conditional, for Modify
    details: list[Detail] = field(default_factory=list)

    def to_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Action": self.action, "LogicalResourceId": self.logical_id,
                               "ResourceType": self.resource_type,
                               "Scope": ["Properties"] if self.details else [],
                               "Details": [d.to_output() for d in self.details]}
        if self.physical_id:
            out["PhysicalResourceId"] = self.physical_id
        if self.replacement is not None:
            out["Replacement"] = self.replacement
        return out


def _references(value: Any) -> list[tuple[str, str]]:
    """The (ChangeSource, CausingEntity) pairs a template value refers to: Ref X is a
    ParameterReference or ResourceReference, Fn::GetAtt X.A a ResourceAttribute (kind to be
    told apart by the caller)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, list):
        for v in value:
            out += _references(v)
    elif isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            return [("Ref", value["Ref"])]
        if set(value) == {"Fn::GetAtt"}:
            arg = value["Fn::GetAtt"]
            target = ".".join(map(str, arg)) if isinstance(arg, list) else str(arg)
            return [("ResourceAttribute", target)]
        if set(value) == {"Fn::Sub"}:
            arg = value["Fn::Sub"]
            text = arg[0] if isinstance(arg, list) else arg
            for name in re.findall(r"\$\{([^}!][^}]*)\}", str(text)):
                out.append(("ResourceAttribute", name) if "." in name else ("Ref", name))
            if isinstance(arg, list) and len(arg) > 1:
                out += _references(arg[1])
            return out
        for v in value.values():
            out += _references(v)
    return out


def _details(name: str, replaces: bool, before_raw: Any, after_raw: Any, resolved: Any,
             changed_params: set[str], pending: set[str]) -> list[Detail]:
    """How one changed property is reported: edited in the template (DirectModification),
    following a parameter whose value changed (ParameterReference), following a resource the
    update makes (ResourceReference / ResourceAttribute, Dynamic); an edit to a value that
    follows such a resource is both."""
    recreation = "Always" if replaces else "Never"
    out = []
    if canonical(before_raw) != canonical(after_raw):
        out.append(Detail(name, recreation, "Static", "DirectModification"))
    else:
        out += [Detail(name, recreation, "Static", "ParameterReference", entity)
                for kind, entity in _references(after_raw)
                if kind == "Ref" and entity in changed_params]
    out += [Detail(name, recreation, "Dynamic",
                   "ResourceReference" if kind == "Ref" else "ResourceAttribute", entity)
            for kind, entity in _references(after_raw) if entity.split(".")[0] in pending]
    if not out:
        out.append(Detail(name, recreation, "Dynamic" if has_unknown(resolved) else "Static",
                          "Automatic"))
    return out


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
    Run(sim, doc, params, stack_name, principal).check_outputs()
    previous = previous or StackReport(stack_name, "REVIEW_IN_PROGRESS")
    run = Run(sim, doc, params, stack_name, principal)
    changes: list[ResourceChange] = []
    changed_params = {k for k in params
                      if canonical(params[k]) != canonical(previous.parameters.get(k))}
    pending: set[str] = set()  # what the update makes (so what refers to it is Dynamic)
    for lid in dependency_order(doc["Resources"], set(HANDLERS)):
        kind = doc["Resources"][lid]["Type"]
        if not run.active(lid):
            continue
        old = previous.created.get(lid)
        if old is None:
            changes.append(ResourceChange("Add", lid, kind))
            run.pretend_made(lid)
            pending.add(lid)
            continue
        props = run.props(lid)
        before = previous.properties.get(lid, {})
        changed = sorted(changed_properties(before, props))
        if not changed:
            run.made(lid, old, props)
            continue
        update = UPDATES[kind]
        raw_before = (previous.template["Resources"][lid].get("Properties") or {})
        raw_after = (doc["Resources"][lid].get("Properties") or {})
        details = [d for name in changed
                   for d in _details(name, name in update.replaces or update.in_place is None,
                                     raw_before.get(name), raw_after.get(name),
                                     props.get(name), changed_params, pending)]
        always = {d.name for d in details if d.requires_recreation == "Always"}
        dynamic = {d.name for d in details if d.evaluation == "Dynamic"}
        static_always = {d.name for d in details if d.requires_recreation == "Always"
                         and d.evaluation == "Static" and d.name not in dynamic}
        replacement = ("True" if static_always else "Conditional" if always else "False")
        changes.append(ResourceChange("Modify", lid, kind, old.physical_id, replacement,
                                      details))
        if replacement == "False":
            run.made(lid, old, props)
        else:
            run.pretend_made(lid)
            pending.add(lid)
    for lid, old in previous.created.items():
        if lid not in doc["Resources"] or not run.active(lid):
            kind = previous.template["Resources"][lid]["Type"]
            changes.append(ResourceChange("Remove", lid, kind, old.physical_id))
    return changes


def update(sim: Any, previous: StackReport, template: dict[str, Any], *,
           parameters: dict[str, Any], stack_name: str, principal: str | None,
           rollback: bool = True) -> StackReport:
    """Update the stack ``previous`` describes to ``template``; the report is the stack as
    it is afterwards (its previous self again after a rollback)."""
    doc, params = _checked(previous, template, parameters)
    Run(sim, doc, params, stack_name, principal).check_outputs()
    run = Run(sim, doc, params, stack_name, principal)
    order = dependency_order(doc["Resources"], set(HANDLERS))
    report = StackReport(stack_name, "UPDATE_IN_PROGRESS")
    events = report.events
    reverts: list[tuple[str, str, str, Callable[[], Any]]] = []  # in-place changes to undo
    made_new: list[tuple[str, str, Created]] = []  # what the update made (a rollback deletes)
    superseded: list[tuple[str, str, Created]] = []  # what replacements replace (cleanup)
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
                made_new.append((lid, kind, made))
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
                    made_new.append((lid, kind, made))
                    superseded.append((lid, kind, old))
                else:
                    # Undo from the old properties' side first: a call that fails part-way
                    # through the update has changed what came before it.
                    revert = _reverting(how.in_place, run, lid, props, before, old, stack_name)
                    reverts.append((lid, kind, old.physical_id, revert))
                    made = how.in_place(run.client, lid, before, props, old, stack_name)
                status = "UPDATE_COMPLETE"
        except RESOURCE_FAILURES as exc:
            failed = (lid, kind, old.physical_id if old else "", failure_reason(exc))
            break
        run.made(lid, made, props)
        events.append((lid, made.physical_id, kind, status, None))
        report.resources.append(ResourceOutcome(lid, kind, status, made.physical_id))
    if failed is None:
        try:
            outputs, exports = run.outputs(), run.exports()
            before = {name: str(previous.outputs.get(key))
                      for key, name in previous.exports.items()}
            changed = {name for key, name in exports.items()
                       if name in before and str(outputs.get(key)) != before[name]}
            service = sim.service("cloudformation")
            problem = (service.export_conflict(run.account, stack_name, exports.values())
                       or service.export_in_use(run.account, stack_name,
                                                set(before) - set(exports.values()), changed))
            if problem:
                raise TemplateError(problem)
            report.outputs, report.exports = outputs, exports
        except RESOURCE_FAILURES as exc:  # an output that cannot be resolved fails the update
            failed = (stack_name, _STACK, stack_name, failure_reason(exc))
        report.imports = set(run.imported)
    if failed is not None:
        if rollback:
            return _rolled_back(sim, previous, report, reverts, made_new, failed)
        return _left_failed(previous, report, run, doc, superseded, failed)
    events.append((stack_name, "", _STACK, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None))
    retarget(previous.client_sets, run.caller())  # the cleanup is this update's caller's
    gone = [(lid, previous.template["Resources"][lid]["Type"], old)
            for lid, old in reversed(list(previous.created.items())) if lid not in run.created]
    for lid, kind, old in [*reversed(superseded), *gone, *previous.leftover]:
        _delete(sim, events, lid, kind, old)
    report.status = "UPDATE_COMPLETE"
    report.client_sets = [*previous.client_sets, run.clients]
    report.created, report.properties = run.created, run.properties
    report.template, report.parameters = doc, params
    return report


_STACK = "AWS::CloudFormation::Stack"


def _delete(sim: Any, events: list[Any], lid: str, kind: str, made: Created) -> None:
    """Delete what a resource made, as a cleanup or rollback step, and record it."""
    events.append((lid, made.physical_id, kind, "DELETE_IN_PROGRESS", None))
    try:
        delete_made(sim, made)
        events.append((lid, made.physical_id, kind, "DELETE_COMPLETE", None))
    except ClientError as exc:
        events.append((lid, made.physical_id, kind, "DELETE_FAILED",
                       f"{exc.code}: {exc.message}"))


def _generated_name(sim: Any, stack_name: str, lid: str, limit: int) -> str:
    """A name as CloudFormation makes one for a resource the template does not name:
    ``STACK-LOGICALID-`` and 12 random characters (the resource names the stack deployed at
    creation have no suffix here, so a replacement cannot collide with them)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    suffix = "".join(alphabet[sim.rng.randrange(len(alphabet))] for _ in range(12))
    return f"{f'{stack_name}-{lid}'[:limit - 13]}-{suffix}"


def _reverting(in_place: Callable[..., Created], run: Run, lid: str, now: dict[str, Any],
               before: dict[str, Any], made: Created, stack_name: str) -> Callable[[], None]:
    """Undo an in-place update: update again, from the new properties back to the old."""
    def undo() -> None:
        in_place(run.client, lid, now, before, made, stack_name)
    return undo


def _rolled_back(sim: Any, previous: StackReport, report: StackReport,
                 reverts: list[tuple[str, str, str, Callable[[], Any]]],
                 made_new: list[tuple[str, str, Created]],
                 failed: tuple[str, str, str, str]) -> StackReport:
    """The stack after a failed update rolled back: in-place changes undone (the failed
    resource's too), then what the update made deleted; ``previous`` again."""
    lid, kind, physical, reason = failed
    events = report.events
    events.append((lid, physical, kind, "UPDATE_FAILED" if physical else "CREATE_FAILED",
                   reason))
    events.append((previous.stack_name, "", _STACK, "UPDATE_ROLLBACK_IN_PROGRESS",
                   f"The following resource(s) failed to update: [{lid}]. "
                   if physical else f"The following resource(s) failed to create: [{lid}]. "))
    for rid, rkind, rphysical, revert in reversed(reverts):
        events.append((rid, rphysical, rkind, "UPDATE_IN_PROGRESS", None))
        try:
            revert()
            events.append((rid, rphysical, rkind, "UPDATE_COMPLETE", None))
        except RESOURCE_FAILURES as exc:  # the rollback goes on; what it could not undo shows
            events.append((rid, rphysical, rkind, "UPDATE_FAILED", failure_reason(exc)))
    events.append((previous.stack_name, "", _STACK,
                   "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None))
    for rid, rkind, made in reversed(made_new):
        _delete(sim, events, rid, rkind, made)
    out = copy.copy(previous)
    out.status, out.events = "UPDATE_ROLLBACK_COMPLETE", events
    return out


def _left_failed(previous: StackReport, report: StackReport, run: Run, doc: dict[str, Any],
                 superseded: list[tuple[str, str, Created]],
                 failed: tuple[str, str, str, str]) -> StackReport:
    """The stack after a failed update without rollback (``UPDATE_FAILED``): what the update
    reached, beside what it had not touched, each with the template and properties it was
    made from; resources a replacement superseded wait for the next cleanup."""
    lid, kind, physical, reason = failed
    report.events.append((lid, physical, kind,
                          "UPDATE_FAILED" if physical else "CREATE_FAILED", reason))
    done = set(run.created)
    out = copy.copy(previous)
    out.status, out.events = "UPDATE_FAILED", report.events
    out.created = {**{k: v for k, v in previous.created.items() if k not in done},
                   **run.created}
    out.properties = {**{k: v for k, v in previous.properties.items() if k not in done},
                      **run.properties}
    resources = {k: v for k, v in previous.template["Resources"].items() if k not in done}
    resources.update({k: doc["Resources"][k] for k in done})
    out.template = {**previous.template, "Resources": resources}
    out.leftover = [*previous.leftover, *superseded]
    out.client_sets = [*previous.client_sets, run.clients]
    out.stable = previous.stable or previous
    seen = {r.logical_id for r in report.resources}
    out.resources = [*report.resources, *(r for r in previous.resources
                                          if r.logical_id not in seen)]
    return out
