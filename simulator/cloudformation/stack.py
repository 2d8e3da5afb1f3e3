"""Deploying a template into a simulation: resources in dependency order, each one's outcome.

As CloudFormation does, a failed resource stops the deployment and the resources already
created are deleted again (rollback), unless ``rollback=False``. Resource types the simulator
does not know are named before anything is created.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.client import Client
from simulator.cloudformation.resources import HANDLERS, Created, canonical
from simulator.cloudformation.template import (
    NO_VALUE,
    PARAMETER_VALUE_BYTES,
    Resolver,
    TemplateError,
    dependencies,
    load_template,
    validate_template,
)
from simulator.errors import ClientError
from simulator.iam.principal import Principal

#: Who makes a stack's calls, in CloudTrail's and IAM's words, and the session name it
#: assumes a stack's service role in (``assumed-role/ROLE/AWSCloudFormation``).
CLOUDFORMATION = "cloudformation.amazonaws.com"
ROLE_SESSION = "AWSCloudFormation"


def with_defaults(cls: type, state: dict[str, Any]) -> dict[str, Any]:
    """A dataclass's pickled ``state`` with any field it lacks (saved by a fargate-sim from
    before that field existed) set to the field's default."""
    state = dict(state)
    for f in dataclasses.fields(cls):
        if f.name not in state:
            if f.default_factory is not dataclasses.MISSING:
                state[f.name] = f.default_factory()
            elif f.default is not dataclasses.MISSING:
                state[f.name] = f.default
    return state


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
    #: The template deployed, its parameters' values, and each created resource's resolved
    #: properties: what an update compares against.
    template: dict[str, Any] = field(default_factory=dict, repr=False)
    parameters: dict[str, Any] = field(default_factory=dict, repr=False)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: Status changes an update made (logical id, physical id, type, status, reason), in
    #: order, for DescribeStackEvents.
    events: list[tuple[str, str, str, str, str | None]] = field(default_factory=list,
                                                                repr=False)
    #: After an update failed without rollback (UPDATE_FAILED): what replacements superseded
    #: (logical id, type, what it made), deleted at the next cleanup or with the stack, and
    #: the stack as it last stood complete (what RollbackStack returns to).
    leftover: list[tuple[str, str, Created]] = field(default_factory=list, repr=False)
    stable: StackReport | None = field(default=None, repr=False)
    #: Why the stack failed when no resource did (an output that could not be resolved).
    reason: str | None = None
    #: Output key -> export name (Outputs.KEY.Export.Name), and the export names this stack
    #: imports (Fn::ImportValue), which keep their exporters from deleting them.
    exports: dict[str, str] = field(default_factory=dict, repr=False)
    imports: set[str] = field(default_factory=set, repr=False)
    #: The clients each deployment made its calls through (by service), which its
    #: resources' delete steps still hold: DeleteStack with another service role retargets
    #: them.
    client_sets: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(with_defaults(type(self), state))

    @property
    def ok(self) -> bool:
        return self.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")

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


def dependency_order(resources: dict[str, Any], known: set[str]) -> list[str]:
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
    check_supported(resources)
    params = parameter_values(doc.get("Parameters", {}), parameters or {})
    Run(sim, doc, params, stack_name, principal).check_outputs()
    run = Run(sim, doc, params, stack_name, principal)
    report = StackReport(stack_name, "CREATE_IN_PROGRESS")
    order = dependency_order(resources, set(HANDLERS))
    outcomes = {lid: ResourceOutcome(lid, resources[lid]["Type"], "NOT_ATTEMPTED") for lid in order}
    report.resources = [outcomes[lid] for lid in order]
    failed = False
    for lid in order:
        outcome = outcomes[lid]
        if not run.active(lid):
            outcome.status = "SKIPPED_BY_CONDITION"
            continue
        try:
            props = run.props(lid)
            made = HANDLERS[resources[lid]["Type"]](run.client, lid, props, stack_name)
        except RESOURCE_FAILURES as exc:
            outcome.status, outcome.reason = "CREATE_FAILED", failure_reason(exc)
            failed = True
            break
        run.made(lid, made, props)
        outcome.status, outcome.physical_id = "CREATE_COMPLETE", made.physical_id
    if not failed:
        try:
            outputs, exports = run.outputs(), run.exports()
            conflict = sim.service("cloudformation").export_conflict(  # type: ignore[attr-defined]
                run.account, stack_name, exports.values())
            if conflict:
                raise TemplateError(conflict)
            report.outputs, report.exports = outputs, exports
        except RESOURCE_FAILURES as exc:  # an output that cannot be resolved fails the stack
            failed, report.reason = True, failure_reason(exc)
        report.imports = set(run.imported)
    if not failed:
        report.status = "CREATE_COMPLETE"
        report.client_sets = [run.clients]
        report.created, report.properties = run.created, run.properties
        report.template, report.parameters = doc, params
        return report
    if not rollback:
        report.status = "CREATE_FAILED"
        report.created, report.client_sets = run.created, [run.clients]
        return report
    for lid in reversed([x for x in order if x in run.created]):
        try:
            delete_made(sim, run.created[lid])
            outcomes[lid].status = "DELETE_COMPLETE"
        except ClientError as exc:
            outcomes[lid].status = "DELETE_FAILED"
            outcomes[lid].reason = f"{exc.code}: {exc.message}"
    report.status = "ROLLBACK_COMPLETE"
    return report


def check_supported(resources: dict[str, Any]) -> None:
    """Resource types the simulator does not know are named before anything is made."""
    unsupported = sorted({r["Type"] for r in resources.values() if r["Type"] not in HANDLERS})
    if unsupported:
        raise TemplateError(
            "the simulator cannot deploy resource type(s) "
            + ", ".join(unsupported)
            + "; supported: "
            + ", ".join(sorted(HANDLERS))
        )


#: What a resource's creation or update can fail with: a service's refusal, or a template
#: the handler cannot turn into a call.
RESOURCE_FAILURES = (ClientError, TemplateError, ValueError, KeyError, TypeError)


def failure_reason(exc: Exception) -> str:
    """A resource's ResourceStatusReason for ``exc``."""
    if isinstance(exc, ClientError):
        return f"{exc.code}: {exc.message}"
    return f"missing required property {exc}" if isinstance(exc, KeyError) else str(exc)


class Run:
    """One deployment's view of a template: its resolver (parameters, pseudo parameters,
    what is made so far) and the clients it calls through, as ``principal``."""

    def __init__(self, sim: Any, doc: dict[str, Any], params: dict[str, Any],
                 stack_name: str, principal: str | None) -> None:
        self.doc = doc
        self.resources: dict[str, Any] = doc["Resources"]
        account = sim.principal(principal).account
        self.account = account
        pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": sim.region,
            "AWS::Partition": sim.partition,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{sim.partition}:cloudformation:{sim.region}:"
            f"{account}:stack/{stack_name}/sim",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        self.created: dict[str, Created] = {}
        self.refs: dict[str, Any] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        #: Export names this deployment imported (Fn::ImportValue).
        self.imported: set[str] = set()
        self.resolver = Resolver(params, pseudo, self.refs, self.attribute,
                                 mappings=doc.get("Mappings"), imports=self._import)
        for name, expr in (doc.get("Conditions") or {}).items():
            self.resolver.conditions[name] = bool(
                _resolved(self.resolver, expr, f"Conditions.{name}"))
        self._sim, self._principal = sim, principal
        #: The clients this deployment calls through, by service.
        self.clients: dict[str, Any] = {}

    def _import(self, name: str) -> Any:
        """What another stack of the account exports as ``name`` (None: nothing)."""
        value = self._sim.service("cloudformation").export_value(  # type: ignore[attr-defined]
            self.account, name)
        if value is not None:
            self.imported.add(name)
        return value

    def exports(self) -> dict[str, str]:
        """The export name of each output that has one (Outputs.KEY.Export.Name)."""
        out = {}
        for name, decl in (self.doc.get("Outputs") or {}).items():
            if not isinstance(decl, dict) or not isinstance(decl.get("Export"), dict):
                continue
            if "Condition" in decl and not self.resolver.condition(decl["Condition"],
                                                                   f"Outputs.{name}"):
                continue
            out[name] = str(_resolved(self.resolver, decl["Export"].get("Name"),
                                      f"Outputs.{name}.Export.Name"))
        return out

    def client(self, service: str) -> Any:
        """A client of ``service`` calling as CloudFormation does for the stack: with the
        caller's own credentials (CloudTrail's invokedBy and source cloudformation.amazonaws.com,
        IAM's aws:ViaAWSService and aws:CalledVia) or as the stack's service role session."""
        if service not in self.clients:
            self.clients[service] = Client(self._sim, self._sim.service(service), self.caller(),
                                           source_ip=CLOUDFORMATION, user_agent=CLOUDFORMATION)
        return self.clients[service]

    def caller(self) -> Principal:
        """The Principal this deployment's calls are made as (see ``client``)."""
        return as_cloudformation(self._sim.principal(self._principal))


    def attribute(self, logical_id: str, name: str) -> Any:
        if logical_id not in self.created:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{name}: {logical_id} is not created yet")
        attrs = self.created[logical_id].attributes
        if name not in attrs:
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{name}: {self.resources[logical_id]['Type']} has "
                f"attributes {', '.join(attrs) or 'none'}"
            )
        return attrs[name]

    def active(self, lid: str) -> bool:
        """Whether resource ``lid``'s Condition (if any) holds."""
        res = self.resources[lid]
        return "Condition" not in res or self.resolver.condition(res["Condition"],
                                                                 f"Resources.{lid}")

    def props(self, lid: str) -> dict[str, Any]:
        """Resource ``lid``'s properties, resolved against what is made so far."""
        out = self.resolver.resolve(self.resources[lid].get("Properties", {}),
                                    f"Resources.{lid}.Properties")
        return out if isinstance(out, dict) else {}

    def made(self, lid: str, made: Created, props: dict[str, Any]) -> None:
        """Record what resource ``lid`` is now, so Ref and Fn::GetAtt find it."""
        self.created[lid] = made
        self.refs[lid] = made.physical_id
        self.properties[lid] = props

    def pretend_made(self, lid: str) -> None:
        """Resource ``lid`` is yet to be made: what refers to it resolves to a value no real
        one equals (``has_unknown`` tells), so a template can be checked, or an update
        planned, before anything is called."""
        self.made(lid, Created(UNKNOWN, _UnknownAttributes()), {})

    def check_outputs(self) -> None:
        """Resolve the Outputs against placeholders for every resource the template makes
        (its Conditions applied), so an output that can never resolve (a Ref to a resource
        its Condition leaves out, a malformed function) is a TemplateError before anything
        is made, as CloudFormation refuses such a template."""
        left_out = set()
        for lid in self.resources:
            if self.active(lid):
                self.pretend_made(lid)
            else:
                left_out.add(lid)
        unresolved = sorted({
            dep for name, decl in (self.doc.get("Outputs") or {}).items()
            if isinstance(decl, dict) and ("Condition" not in decl or self.resolver.condition(
                decl["Condition"], f"Outputs.{name}"))
            for dep in dependencies(self._taken(decl.get("Value"), f"Outputs.{name}"))
            if dep in left_out})
        if unresolved:
            # CloudFormation's words for it (a template check before anything is made).
            raise TemplateError("Template format error: Unresolved resource dependencies "
                                f"[{', '.join(unresolved)}] in the Outputs block of the "
                                "template")
        for lid in self.resources:  # an import of nothing is refused before anything is made
            if lid not in left_out:
                try:
                    self.props(lid)
                except TemplateError as exc:
                    if str(exc).startswith("No export named"):
                        raise
                except (ValueError, KeyError, TypeError, IndexError):
                    pass  # what only the real values can settle
        self.outputs()

    def _taken(self, value: Any, path: str) -> Any:
        """``value`` with each Fn::If replaced by the branch its condition takes (what a
        reference check must follow: the other branch names a resource that may be left
        out on purpose)."""
        if isinstance(value, list):
            return [self._taken(v, path) for v in value]
        if not isinstance(value, dict):
            return value
        branches = value.get("Fn::If")
        if len(value) == 1 and isinstance(branches, list) and len(branches) == 3:
            cond = self.resolver.condition(str(branches[0]), path)
            return self._taken(branches[1] if cond else branches[2], path)
        return {k: self._taken(v, path) for k, v in value.items()}

    def outputs(self) -> dict[str, Any]:
        """The template's Outputs, resolved; one whose Condition is false, or whose value is
        AWS::NoValue, is left out."""
        out = {}
        for name, decl in (self.doc.get("Outputs") or {}).items():
            if isinstance(decl, dict) and "Condition" in decl and not self.resolver.condition(
                    decl["Condition"], f"Outputs.{name}"):
                continue
            value = decl.get("Value") if isinstance(decl, dict) else None
            resolved = _resolved(self.resolver, value, f"Outputs.{name}")
            if resolved is not NO_VALUE:
                out[name] = resolved
        return out


def as_cloudformation(caller: Principal) -> Principal:
    """``caller`` as CloudFormation calls for a stack: a service role's session
    (``assumed-role/ROLE/AWSCloudFormation``) with invokedBy, or the caller's own credentials
    by forward access, which IAM also sees as aws:ViaAWSService and aws:CalledVia."""
    own = not (caller.session_arn or "").endswith(f"/{ROLE_SESSION}")
    return dataclasses.replace(caller, invoked_by=CLOUDFORMATION,
                               called_via=CLOUDFORMATION if own else None)


def retarget(client_sets: list[dict[str, Any]], principal: Any) -> None:
    """Make every client a stack's resources were made through call as ``principal`` from
    now on: their delete steps then run as whoever deletes (or updates) the stack, as
    CloudFormation's do."""
    for clients in client_sets:
        for client in clients.values():
            client.act_as(principal)


class _Unknown(str):
    """A value only a deployment would know (the id of a resource it makes)."""


UNKNOWN = _Unknown("{{fargate-sim:unknown}}")


class _UnknownAttributes(dict[str, Any]):
    """Every attribute of a resource yet to be made: unknown."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> Any:
        return UNKNOWN


def has_unknown(value: Any) -> bool:
    """Whether a resolved value depends on a resource yet to be made."""
    if isinstance(value, _Unknown):
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return isinstance(value, str) and UNKNOWN in value


def delete_made(sim: Any, made: Created) -> None:
    """Delete what a resource made; CloudFormation waits for what a delete set going (a
    service draining its tasks) before the next, so a refusal lets the simulated clock run
    an hour and tries once more."""
    if made.delete is None:
        return
    try:
        made.delete()
    except ClientError:
        sim.service("ecs").settle(3600.0)
        made.delete()


def _resolved(resolver: Resolver, value: Any, path: str) -> Any:
    """``value`` resolved; a malformed intrinsic is a TemplateError naming where it is."""
    try:
        return resolver.resolve(value, path)
    except TemplateError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise TemplateError(f"{path}: cannot be resolved: {exc}") from None


def parameter_values(declared: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
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
        # Parameter values are text (a Number's Default: 1 and a given "1" are one value).
        value = canonical(value)
        allowed = decl.get("AllowedValues")
        if allowed and value not in canonical(allowed):
            raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
        if decl.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        out[name] = value
    return out
