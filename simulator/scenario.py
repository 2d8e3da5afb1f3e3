"""Scenario files: a story told to the simulator step by step, each step with its expectation.

A scenario is a TOML file (under ``experiments/``)::

    name = "seed_walkthrough"
    [simulation]            # optional: account_id, region, quotas
    [vars]                  # optional: values for {{name}} placeholders
    [[step]]
    name = "the key, with the seed's key policy"
    call = "kms.create_key"                  # service.method with boto3 names
    as = "root"                              # root (default), an ARN, or a service principal
    params = { Policy = "file://policies/seed_key_policy.json" }
    save = { key_arn = "KeyMetadata.Arn" }   # JMESPath into the response
    check = { "KeyMetadata.KeyState" = "Enabled" }

Other step kinds: ``cli = [...]`` (the AWS CLI's arguments, e.g. ``["ecs", "create-cluster",
"--cluster", "c", "--configuration", "{...}"]``), ``deploy = "template.yaml"`` (a
CloudFormation template, with ``parameters``), ``advance = SECONDS`` (the simulated clock),
``settle = true`` (advance until every task has reached its desired state),
``df = "{{task_arn}}"`` (what df shows in a running task), ``fargate = { grant_style =
"service-principal" }`` (settings of the Fargate agent for the tasks that start after it),
``audit = "kms"`` (the audit
records of a service since the previous audit step: ``names``, and ``events`` with
eventName, invokedBy, errorCode). Expectations: ``expect_error =
"AccessDeniedException"`` (the call must fail with that code; ``expect_message`` a substring
of AWS's message or of the simulator's explanation beside it), ``check`` (JMESPath =
value), ``check_contains`` (JMESPath = substring),
``check_absent`` (JMESPaths that must find nothing). A ``call`` step may carry
``source_arn``: the resource a service principal (``as``) calls on behalf of.
Strings may hold ``{{name}}`` placeholders (saved values, ``[vars]``, ``account``,
``region``); ``file://PATH`` (relative to the scenario) is replaced by the file's text, with
its placeholders filled in. Files are read through ``simulator.inputs`` (bounded, UTF-8).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jmespath

from simulator import inputs
from simulator.awscli import run_aws_cli
from simulator.errors import ClientError

STEP_KINDS = ("call", "cli", "deploy", "advance", "settle", "df", "audit", "fargate")
#: What a ``fargate`` step may set on the agent, and the values each setting takes.
FARGATE_SETTINGS = {"grant_style": ("principal", "service-principal")}
STEP_KEYS = {
    "name", "as", "params", "save", "check", "check_contains", "check_absent", "expect_error",
    "expect_message", "source_arn",
    "parameters", "stack_name", "note", *STEP_KINDS,
}
TOP_KEYS = {"name", "description", "kind", "simulation", "vars", "step"}


class ScenarioError(ValueError):
    """A scenario file that cannot run as written: names the file, the step and the key."""


@dataclass
class StepResult:
    """What one step did and whether it met its expectation."""

    index: int
    name: str
    action: str
    passed: bool
    outcome: str
    problems: list[str] = field(default_factory=list)
    output: str | None = None


@dataclass
class ScenarioReport:
    """Every step's result; ``ok`` when every expectation held."""

    name: str
    description: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.passed for s in self.steps)

    @property
    def failures(self) -> list[StepResult]:
        return [s for s in self.steps if not s.passed]

    def render(self, verbose: bool = False) -> str:
        """The readable report: one line per step, what happened, what was wrong."""
        lines = [f"Scenario {self.name}", *([self.description] if self.description else []), ""]
        for s in self.steps:
            mark = "PASS" if s.passed else "FAIL"
            lines.append(f"[{s.index:>2}] {mark}  {s.name}")
            lines.append(f"       {s.action} -> {s.outcome}")
            lines.extend(f"       ! {p}" for p in s.problems)
            if s.output and (verbose or s.action.startswith(("df", "cli"))):
                lines.extend(f"       | {line}" for line in s.output.splitlines())
        passed = sum(s.passed for s in self.steps)
        lines.append("")
        lines.append(f"{passed} passed, {len(self.steps) - passed} failed")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "steps": [s.__dict__ for s in self.steps],
        }


@dataclass
class Scenario:
    """A parsed scenario file."""

    name: str
    description: str
    steps: list[dict[str, Any]]
    simulation: dict[str, Any]
    variables: dict[str, Any]
    base_dir: Path
    source: str


def load_scenario(path: str | Path) -> Scenario:
    """Parse and check a scenario file; every problem names the file, the step and the key."""
    path = Path(path)
    try:
        doc = inputs.parse_toml(inputs.read_text(path, what="scenario file"), str(path))
    except inputs.InputError as exc:
        raise ScenarioError(str(exc)) from None
    return parse_scenario(doc, base_dir=path.parent, source=str(path))


def parse_scenario(doc: dict[str, Any], base_dir: Path = Path("."), source: str = "<scenario>"
                   ) -> Scenario:
    """Check a scenario given as a dict (as TOML loads it)."""
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        raise ScenarioError(f"{source}: unknown top-level key(s) {unknown}; allowed: "
                            f"{sorted(TOP_KEYS)}")
    steps = doc.get("step", [])
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{source}: a scenario needs at least one [[step]]")
    for i, step in enumerate(steps, 1):
        where = f"{source}: step {i}"
        if not isinstance(step, dict):
            raise ScenarioError(f"{where}: a step must be a table ([[step]])")
        extra = sorted(set(step) - STEP_KEYS)
        if extra:
            raise ScenarioError(f"{where}: unknown key(s) {extra}; allowed: {sorted(STEP_KEYS)}")
        kinds = [k for k in STEP_KINDS if k in step]
        if len(kinds) != 1:
            raise ScenarioError(f"{where}: needs exactly one of {list(STEP_KINDS)}, has {kinds}")
        if "call" in step and (not isinstance(step["call"], str) or "." not in step["call"]):
            raise ScenarioError(f"{where}: call must be 'service.method', e.g. 'kms.create_key'")
        if "cli" in step and not (isinstance(step["cli"], list) and len(step["cli"]) >= 2):
            raise ScenarioError(f"{where}: cli must be a list like ['ecs', 'create-cluster', ...]")
        if "advance" in step and not (
                isinstance(step["advance"], int | float) and not isinstance(step["advance"], bool)
                and 0 <= step["advance"] < math.inf):
            raise ScenarioError(f"{where}: advance must be a number of seconds, 0 or more "
                                f"(the clock does not go back), got {step['advance']!r}")
        for key in ("params", "save", "check", "check_contains", "parameters"):
            if key in step and not isinstance(step[key], dict):
                raise ScenarioError(f"{where}: {key} must be a table")
        if "fargate" in step:
            settings = step["fargate"]
            if not isinstance(settings, dict) or not settings:
                raise ScenarioError(f"{where}: fargate must be a table of agent settings, e.g. "
                                    "{ grant_style = \"service-principal\" }")
            for key, value in settings.items():
                if value not in FARGATE_SETTINGS.get(key, ()):
                    allowed = {k: list(v) for k, v in FARGATE_SETTINGS.items()}
                    raise ScenarioError(f"{where}: fargate.{key} = {value!r}; allowed: {allowed}")
        if "check_absent" in step and not isinstance(step["check_absent"], list):
            raise ScenarioError(f"{where}: check_absent must be a list of JMESPath expressions")
    sim = doc.get("simulation", {})
    if not isinstance(sim, dict) or not isinstance(doc.get("vars", {}), dict):
        raise ScenarioError(f"{source}: [simulation] and [vars] must be tables")
    if set(sim) - {"account_id", "region", "quotas", "seed"}:
        raise ScenarioError(f"{source}: [simulation] takes account_id, region, quotas, seed")
    return Scenario(
        name=doc.get("name", Path(source).stem),
        description=doc.get("description", ""),
        steps=steps,
        simulation=sim,
        variables=dict(doc.get("vars", {})),
        base_dir=base_dir,
        source=source,
    )


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class _Runner:
    def __init__(self, scenario: Scenario, sim: Any) -> None:
        self.scenario = scenario
        self.sim = sim
        self.audit_mark = 0
        self.vars: dict[str, Any] = {
            "account": sim.account_id,
            "region": sim.region,
            **scenario.variables,
        }

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("file://"):
                path = self.scenario.base_dir / value[len("file://") :]
                try:
                    value = inputs.read_text(path)
                except inputs.InputError as exc:
                    raise ScenarioError(str(exc)) from None
            whole = _PLACEHOLDER.fullmatch(value.strip())
            if whole and whole.group(1) in self.vars:
                return self.vars[whole.group(1)]

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name not in self.vars:
                    raise ScenarioError(
                        f"placeholder {{{{{name}}}}} has no value; known: {sorted(self.vars)}"
                    )
                v = self.vars[name]
                return v if isinstance(v, str) else json.dumps(v)

            return _PLACEHOLDER.sub(sub, value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def run(self, index: int, step: dict[str, Any]) -> StepResult:
        name = step.get("name", f"step {index}")
        principal = self.fill(step.get("as", "root"))
        principal = None if principal == "root" else principal
        response: Any = None
        error: ClientError | None = None
        output = None
        if "call" in step:
            service, _, method = step["call"].partition(".")
            action = f"{step['call']} as {principal or 'root'}"
            source_arn = self.fill(step.get("source_arn"))
            if source_arn:
                action += f" on behalf of {source_arn}"
            try:
                client = self.sim.client(service, principal=principal, source_arn=source_arn)
            except (ValueError, ClientError) as exc:
                raise ScenarioError(str(exc)) from None
            try:
                fn = getattr(client, method)
            except AttributeError:
                raise ScenarioError(f"{service} has no method {method!r}") from None
            try:
                response = fn(**self.fill(step.get("params", {})))
            except ClientError as exc:
                error = exc
        elif "cli" in step:
            args = [str(a) for a in self.fill(step["cli"])]
            action = "aws " + " ".join(args[:2])
            try:
                response, output = run_aws_cli(self.sim, args, principal=principal)
            except ClientError as exc:
                error = exc
        elif "deploy" in step:
            from simulator.cloudformation import TemplateError, deploy

            path = self.scenario.base_dir / self.fill(step["deploy"])
            action = f"deploy {step['deploy']}"
            parameters = self.fill(step.get("parameters", {}))
            try:
                report = deploy(
                    self.sim,
                    path,
                    parameters=parameters,
                    stack_name=step.get("stack_name", path.stem),
                    principal=principal,
                )
            except TemplateError as exc:
                raise ScenarioError(str(exc)) from None
            # The stack is CloudFormation's from now on: later steps may describe, update
            # or delete it by name (the template read again: deploy read it within limits).
            self.sim.service("cloudformation").adopt(  # type: ignore[attr-defined]
                report, path.read_text(), self.sim.principal(principal).account, parameters)
            response, output = report.to_dict(), report.render()
        elif "advance" in step:
            try:
                self.sim.clock.advance(float(step["advance"]))
            except ValueError as exc:  # past year 9999
                raise ScenarioError(f"advance: {exc}") from None
            action = f"advance {step['advance']} s"
            response = {"now": self.sim.clock.now().isoformat()}
        elif "fargate" in step:
            for key, value in step["fargate"].items():
                setattr(self.sim.fargate, key, value)
            action = "fargate " + ", ".join(f"{k}={v}" for k, v in step["fargate"].items())
            response = dict(step["fargate"])
        elif "settle" in step:
            now = self.sim.fargate.settle()
            action = "settle"
            response = {"now": now.isoformat()}
        elif "audit" in step:
            source = str(self.fill(step["audit"]))
            records = self.sim.audit_trail[self.audit_mark :]
            self.audit_mark = len(self.sim.audit_trail)
            events = [
                {
                    "eventName": r["eventName"],
                    "invokedBy": r["userIdentity"].get("invokedBy"),
                    "errorCode": r.get("errorCode"),
                    "requestParameters": r.get("requestParameters"),
                    "recipientAccountId": r.get("recipientAccountId"),
                    "eventTime": r.get("eventTime"),
                    "readOnly": r.get("readOnly"),
                }
                for r in records
                if r["eventSource"] in (source, f"{source}.amazonaws.com")
            ]
            action = f"audit trail of {source}"
            response = {"names": [e["eventName"] for e in events], "events": events}
            output = "\n".join(
                f"{e['eventName']} by {e['invokedBy'] or 'a user'}"
                + (f" -> {e['errorCode']}" if e["errorCode"] else "")
                for e in events
            )
        else:
            task = self.fill(step["df"])
            action = f"df in {str(task).rsplit('/', 1)[-1]}"
            storage = self.sim.fargate.df(task)
            output = "\n".join(storage.df_lines()) if hasattr(storage, "df_lines") else str(storage)
            response = storage.to_dict() if hasattr(storage, "to_dict") else {"df": output}
        return self.judge(index, name, action, step, response, error, output)

    def judge(self, index: int, name: str, action: str, step: dict[str, Any], response: Any,
              error: ClientError | None, output: str | None) -> StepResult:
        problems: list[str] = []
        want_error = step.get("expect_error")
        if error is not None:
            outcome = error.describe()
            if want_error is None:
                problems.append(f"expected success, got {error.code}")
            elif error.code != want_error:
                problems.append(f"expected {want_error}, got {error.code}")
            want_msg = step.get("expect_message")
            if want_msg and want_msg not in error.describe():
                problems.append(f"expected the message to mention {want_msg!r}")
        else:
            outcome = "ok"
            if want_error is not None:
                problems.append(f"expected {want_error}, but the call succeeded")
            status = response.get("StackStatus") if isinstance(response, dict) else None
            if status and status != "CREATE_COMPLETE":
                outcome = status
                if want_error != status:
                    problems.append(f"stack ended {status}")
            for var, expr in step.get("save", {}).items():
                value = jmespath.search(expr, response)
                if value is None:
                    problems.append(f"save {var}: {expr!r} found nothing in the response")
                self.vars[var] = value
            for expr, want in self.fill(step.get("check", {})).items():
                got = jmespath.search(expr, response)
                if got != want:
                    problems.append(f"{expr} is {got!r}, expected {want!r}")
            for expr, want in self.fill(step.get("check_contains", {})).items():
                got = jmespath.search(expr, response)
                if got is None or str(want) not in (
                    got if isinstance(got, str) else json.dumps(got, default=str)
                ):
                    problems.append(f"{expr} is {got!r}, expected it to contain {want!r}")
            for expr in self.fill(step.get("check_absent", [])):
                got = jmespath.search(expr, response)
                if got is not None:
                    problems.append(f"{expr} is {got!r}, expected it to be absent")
            shown = [f"{e} = {jmespath.search(e, response)!r}"
                     for e in list(step.get("check", {})) + list(step.get("check_contains", {}))]
            if shown:
                outcome = "ok; " + "; ".join(shown)
        if step.get("note"):
            output = f"{step['note']}\n{output}" if output else step["note"]
        return StepResult(index, name, action, not problems, outcome, problems, output)


def run_scenario(scenario: str | Path | Scenario, *, sim: Any = None) -> ScenarioReport:
    """Run every step in a fresh simulation (or ``sim``) and report each outcome."""
    from simulator.world import Simulation

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if sim is None:
        try:
            sim = Simulation(**{k: v for k, v in sc.simulation.items()})
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"{sc.source}: [simulation]: {exc}") from None
    runner = _Runner(sc, sim)
    report = ScenarioReport(sc.name, sc.description)
    for i, step in enumerate(sc.steps, 1):
        try:
            result = runner.run(i, step)
        except ScenarioError as exc:
            named = f" ({step['name']})" if step.get("name") else ""
            raise ScenarioError(f"{sc.source}: step {i}{named}: {exc}") from None
        except Exception as exc:  # a simulator bug: the step fails, the report goes on
            result = StepResult(
                i, step.get("name", f"step {i}"), "step", False,
                f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}",
                ["the simulator raised a Python exception (a bug; please report it)"],
            )
        report.steps.append(result)
    return report
