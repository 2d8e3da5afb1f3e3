"""Deploying a template into a simulation: resources in dependency order, each one's outcome.

As CloudFormation does, a failed resource stops the deployment and the resources already
created are deleted again (rollback), unless ``rollback=False``. Resource types the simulator
does not know are named before anything is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.cloudformation.resources import HANDLERS, Created
from simulator.cloudformation.template import (
    PARAMETER_VALUE_BYTES,
    Resolver,
    TemplateError,
    dependencies,
    load_template,
    validate_template,
)
from simulator.errors import ClientError


@dataclass
class ResourceOutcome:
    """One resource's fate: CREATE_COMPLETE, CREATE_FAILED, or not attempted."""

    logical_id: str
    resource_type: str
    status: str
    physical_id: str | None = None
    reason: str | None = None


@dataclass
class StackReport:
    """What a deployment did, resource by resource, and the stack's outputs."""

    stack_name: str
    status: str
    resources: list[ResourceOutcome] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    #: What was created, by logical id, with how to delete it (DeleteStack uses it).
    created: dict[str, Created] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "CREATE_COMPLETE"

    def physical_id(self, logical_id: str) -> str | None:
        for r in self.resources:
            if r.logical_id == logical_id:
                return r.physical_id
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "StackName": self.stack_name,
            "StackStatus": self.status,
            "Resources": [
                {
                    "LogicalResourceId": r.logical_id,
                    "ResourceType": r.resource_type,
                    "ResourceStatus": r.status,
                    "PhysicalResourceId": r.physical_id,
                    "ResourceStatusReason": r.reason,
                }
                for r in self.resources
            ],
            "Outputs": self.outputs,
        }

    def render(self) -> str:
        """A table a person reads: one line per resource, then the outputs."""
        lines = [f"Stack {self.stack_name}: {self.status}"]
        for r in self.resources:
            line = f"  {r.logical_id:<24} {r.resource_type:<26} {r.status:<16}"
            lines.append(f"{line} {r.physical_id or ''}".rstrip())
            if r.reason:
                lines.append(f"      {r.reason}")
        for k, v in self.outputs.items():
            lines.append(f"  output {k} = {v}")
        return "\n".join(lines)


def _order(resources: dict[str, Any], known: set[str]) -> list[str]:
    deps = {}
    for lid, res in resources.items():
        d = dependencies(res.get("Properties", {}))
        depends_on = res.get("DependsOn", [])
        d |= set([depends_on] if isinstance(depends_on, str) else depends_on)
        deps[lid] = {x for x in d if x in resources}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(lid: str, chain: list[str]) -> None:
        if state.get(lid) == 2:
            return
        if state.get(lid) == 1:
            raise TemplateError("circular dependency: " + " -> ".join([*chain, lid]))
        state[lid] = 1
        for d in sorted(deps[lid]):
            visit(d, [*chain, lid])
        state[lid] = 2
        order.append(lid)

    for lid in resources:
        visit(lid, [])
    return order


def deploy(
    sim: Any,
    template: str | Path | dict[str, Any],
    *,
    parameters: dict[str, Any] | None = None,
    stack_name: str = "fargate-sim-stack",
    principal: str | None = None,
    rollback: bool = True,
) -> StackReport:
    """Create the template's resources in ``sim`` as ``principal`` and report each outcome."""
    doc = validate_template(template) if isinstance(template, dict) else load_template(template)
    resources: dict[str, Any] = doc["Resources"]
    unsupported = sorted({r["Type"] for r in resources.values() if r["Type"] not in HANDLERS})
    if unsupported:
        raise TemplateError(
            "the simulator cannot deploy resource type(s) "
            + ", ".join(unsupported)
            + "; supported: "
            + ", ".join(sorted(HANDLERS))
        )
    params = _parameters(doc.get("Parameters", {}), parameters or {})
    pseudo = {
        "AWS::AccountId": sim.principal(principal).account,
        "AWS::Region": sim.region,
        "AWS::Partition": sim.partition,
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:{sim.partition}:cloudformation:{sim.region}:"
        f"{sim.principal(principal).account}:stack/{stack_name}/sim",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }
    created: dict[str, Created] = {}

    def attribute(logical_id: str, name: str) -> Any:
        if logical_id not in created:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{name}: {logical_id} is not created yet")
        attrs = created[logical_id].attributes
        if name not in attrs:
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{name}: {resources[logical_id]['Type']} has "
                f"attributes {', '.join(attrs) or 'none'}"
            )
        return attrs[name]

    refs: dict[str, Any] = {}
    resolver = Resolver(params, pseudo, refs, attribute, mappings=doc.get("Mappings"))
    for name, expr in (doc.get("Conditions") or {}).items():
        resolver.conditions[name] = bool(_resolved(resolver, expr, f"Conditions.{name}"))

    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = sim.client(service, principal=principal)
        return clients[service]

    report = StackReport(stack_name, "CREATE_IN_PROGRESS")
    order = _order(resources, set(HANDLERS))
    outcomes = {lid: ResourceOutcome(lid, resources[lid]["Type"], "NOT_ATTEMPTED") for lid in order}
    report.resources = [outcomes[lid] for lid in order]
    failed = False
    for lid in order:
        res = resources[lid]
        outcome = outcomes[lid]
        if "Condition" in res and not resolver.condition(res["Condition"], f"Resources.{lid}"):
            outcome.status = "SKIPPED_BY_CONDITION"
            continue
        try:
            props = resolver.resolve(res.get("Properties", {}), f"Resources.{lid}.Properties")
            made = HANDLERS[res["Type"]](client, lid, props, stack_name)
        except ClientError as exc:
            outcome.status, outcome.reason = "CREATE_FAILED", f"{exc.code}: {exc.message}"
            failed = True
            break
        except (TemplateError, ValueError, KeyError, TypeError) as exc:
            text = f"missing required property {exc}" if isinstance(exc, KeyError) else str(exc)
            outcome.status, outcome.reason = "CREATE_FAILED", text
            failed = True
            break
        created[lid] = made
        refs[lid] = made.physical_id
        outcome.status, outcome.physical_id = "CREATE_COMPLETE", made.physical_id
    if not failed:
        for name, out in (doc.get("Outputs") or {}).items():
            value = out.get("Value") if isinstance(out, dict) else None
            report.outputs[name] = _resolved(resolver, value, f"Outputs.{name}")
        report.status = "CREATE_COMPLETE"
        report.created = created
        return report
    if not rollback:
        report.status = "CREATE_FAILED"
        return report
    for lid in reversed([x for x in order if x in created]):
        made = created[lid]
        try:
            if made.delete is not None:
                made.delete()
            outcomes[lid].status = "DELETE_COMPLETE"
        except ClientError as exc:
            outcomes[lid].status = "DELETE_FAILED"
            outcomes[lid].reason = f"{exc.code}: {exc.message}"
    report.status = "ROLLBACK_COMPLETE"
    return report


def _resolved(resolver: Resolver, value: Any, path: str) -> Any:
    """``value`` resolved; a malformed intrinsic is a TemplateError naming where it is."""
    try:
        return resolver.resolve(value, path)
    except TemplateError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise TemplateError(f"{path}: cannot be resolved: {exc}") from None


def _parameters(declared: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(declared, dict):
        raise TemplateError("Parameters must map parameter names to their declarations")
    for name, value in given.items():
        if len(str(value).encode("utf-8")) > PARAMETER_VALUE_BYTES:
            raise TemplateError(
                f"parameter {name}: the value is longer than CloudFormation's "
                f"{PARAMETER_VALUE_BYTES:,}-byte limit for a parameter value"
            )
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(f"parameters not declared in the template: {', '.join(unknown)}")
    out = {}
    for name, decl in declared.items():
        if not isinstance(decl, dict):
            raise TemplateError(f"Parameters.{name}: must be a mapping with a Type")
        if name in given:
            value = given[name]
        elif "Default" in decl:
            value = decl["Default"]
        else:
            raise TemplateError(f"parameter {name} has no default and no value was given")
        allowed = decl.get("AllowedValues")
        if allowed and value not in allowed:
            raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
        if decl.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        out[name] = value
    return out
