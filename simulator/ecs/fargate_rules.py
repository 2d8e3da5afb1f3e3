"""The task-definition rules AWS enforces for FARGATE, as one table.

RegisterTaskDefinition with ``requiresCompatibilities: ["FARGATE"]`` refuses a definition
that uses a parameter Fargate does not offer ("Amazon ECS task definition differences for
Fargate": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-task-defs).
Each ``Rule`` names the parameter, finds the offending value, and gives the ClientException
message. ``recorded`` is where AWS's exact words come from; rules whose wording no AWS
response we could find records say so (``recorded=None``) and follow the recorded pattern
"Tasks using the Fargate launch type do not support X." AWS reports one problem per call
(boto/boto3#3283), so ``check`` raises the first, in table order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from simulator import errors

#: The one Linux capability Fargate lets a container add ("Fargate ... supports adding only
#: the SYS_PTRACE kernel capability", task definition parameters, linuxParameters).
FARGATE_ADDABLE_CAPABILITIES = frozenset({"SYS_PTRACE"})


@dataclass(frozen=True)
class Rule:
    """One thing Fargate refuses: the parameter, how to find it, AWS's message."""

    parameter: str
    #: Yields a message argument (the offending value) for each violation in the body.
    find: Callable[[dict[str, Any]], Iterator[Any]]
    #: The ClientException message, formatted with ``value`` (the found value).
    message: str
    #: Where the exact wording was recorded from real AWS; None when it was not.
    recorded: str | None
    #: Only for network mode awsvpc (true for every Fargate definition that got this far).
    awsvpc: bool = False
    #: Where in the definition (formatted with ``value``), for the explanation: AWS's own
    #: message does not name the container or volume.
    where: str | None = None


def _task(key: str, allowed: tuple[Any, ...] = ()) -> Callable[[dict[str, Any]], Iterator[Any]]:
    def find(body: dict[str, Any]) -> Iterator[Any]:
        value = body.get(key)
        if value is not None and value not in allowed:
            yield value
    return find


def _containers(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from body.get("containerDefinitions") or ()


def _container(key: str) -> Callable[[dict[str, Any]], Iterator[Any]]:
    def find(body: dict[str, Any]) -> Iterator[Any]:
        for c in _containers(body):
            value = c.get(key)
            if value not in (None, False, [], {}):
                yield c.get("name")
    return find


def _linux(key: str, *, any_value: bool = False) -> Callable[[dict[str, Any]], Iterator[Any]]:
    """Containers whose linuxParameters set ``key`` (to anything, with ``any_value``)."""
    def find(body: dict[str, Any]) -> Iterator[Any]:
        for c in _containers(body):
            value = (c.get("linuxParameters") or {}).get(key)
            if value is not None if any_value else value:
                yield c.get("name")
    return find


def _added_capabilities(body: dict[str, Any]) -> Iterator[Any]:
    for c in _containers(body):
        caps = ((c.get("linuxParameters") or {}).get("capabilities") or {}).get("add") or []
        extra = [cap for cap in caps if cap not in FARGATE_ADDABLE_CAPABILITIES]
        if extra:
            yield ", ".join(extra)


def _host_ports(body: dict[str, Any]) -> Iterator[Any]:
    for c in _containers(body):
        for pm in c.get("portMappings") or ():
            host = pm.get("hostPort")
            if host is not None and host != pm.get("containerPort"):
                yield host


def _gpu(body: dict[str, Any]) -> Iterator[Any]:
    for c in _containers(body):
        if any(r.get("type") == "GPU" for r in c.get("resourceRequirements") or ()):
            yield c.get("name")


def _host_volumes(body: dict[str, Any]) -> Iterator[Any]:
    for v in body.get("volumes") or ():
        if (v.get("host") or {}).get("sourcePath"):
            yield v.get("name")


def _docker_volumes(body: dict[str, Any]) -> Iterator[Any]:
    for v in body.get("volumes") or ():
        if v.get("dockerVolumeConfiguration"):
            yield v.get("name")


_UNSUPPORTED = "Tasks using the Fargate launch type do not support {param}."

#: The table, in the order the simulator checks it.
RULES: tuple[Rule, ...] = (
    Rule("pidMode", _task("pidMode", ("task",)),
         "Tasks using the Fargate launch type do not support pidMode '{value}'. The supported "
         "value for pidMode is 'task'.",
         "moto tests/test_ecs (recorded from AWS); aws/aws-cdk#29619"),
    Rule("ipcMode", _task("ipcMode"),
         "Tasks using the Fargate launch type do not support ipcMode.",
         "cn-terraform/terraform-aws-ecs-fargate#2"),
    Rule("placementConstraints", _task("placementConstraints", ([],)),
         _UNSUPPORTED.format(param="placementConstraints"), None),
    Rule("containerDefinitions[].privileged", _container("privileged"),
         _UNSUPPORTED.format(param="privileged containers"), None, where="container '{value}'"),
    Rule("containerDefinitions[].linuxParameters.devices", _linux("devices"),
         _UNSUPPORTED.format(param="devices"), None, where="container '{value}'"),
    Rule("containerDefinitions[].linuxParameters.capabilities.add", _added_capabilities,
         "Tasks using the Fargate launch type support adding only the SYS_PTRACE Linux "
         "capability, not {value}.", None),
    Rule("containerDefinitions[].linuxParameters.sharedMemorySize", _linux("sharedMemorySize"),
         _UNSUPPORTED.format(param="sharedMemorySize"), None, where="container '{value}'"),
    Rule("containerDefinitions[].linuxParameters.tmpfs", _linux("tmpfs"),
         _UNSUPPORTED.format(param="tmpfs"), None, where="container '{value}'"),
    # "If you're using tasks that use the Fargate launch type, the maxSwap parameter isn't
    # supported" (and swappiness likewise; task definition parameters, linuxParameters).
    Rule("containerDefinitions[].linuxParameters.maxSwap", _linux("maxSwap", any_value=True),
         _UNSUPPORTED.format(param="maxSwap"), None, where="container '{value}'"),
    Rule("containerDefinitions[].linuxParameters.swappiness", _linux("swappiness", any_value=True),
         _UNSUPPORTED.format(param="swappiness"), None, where="container '{value}'"),
    Rule("containerDefinitions[].resourceRequirements GPU", _gpu,
         "Tasks using the Fargate launch type do not support GPU resource requirements.", None,
         where="container '{value}'"),
    Rule("containerDefinitions[].links", _container("links"),
         _UNSUPPORTED.format(param="links"), None, where="container '{value}'"),
    Rule("containerDefinitions[].disableNetworking", _container("disableNetworking"),
         _UNSUPPORTED.format(param="disableNetworking"), None, where="container '{value}'"),
    Rule("containerDefinitions[].dnsServers", _container("dnsServers"),
         _UNSUPPORTED.format(param="dnsServers"), None, where="container '{value}'"),
    Rule("containerDefinitions[].dnsSearchDomains", _container("dnsSearchDomains"),
         _UNSUPPORTED.format(param="dnsSearchDomains"), None, where="container '{value}'"),
    Rule("containerDefinitions[].dockerSecurityOptions", _container("dockerSecurityOptions"),
         _UNSUPPORTED.format(param="dockerSecurityOptions"), None, where="container '{value}'"),
    Rule("containerDefinitions[].extraHosts", _container("extraHosts"),
         _UNSUPPORTED.format(param="extraHosts"), None, where="container '{value}'"),
    Rule("volumes[].host.sourcePath", _host_volumes,
         _UNSUPPORTED.format(param="host volumes with a sourcePath"),
         None, where="volume '{value}'"),
    Rule("volumes[].dockerVolumeConfiguration", _docker_volumes,
         _UNSUPPORTED.format(param="dockerVolumeConfiguration"), None, where="volume '{value}'"),
    Rule("containerDefinitions[].portMappings[].hostPort", _host_ports,
         "When networkMode=awsvpc, the host ports and container ports in port mappings must "
         "match.",
         "codesuki/ecs-gen#23, pulumi/pulumi-awsx#935", awsvpc=True),
    Rule("containerDefinitions[].hostname", _container("hostname"),
         "hostname is not supported on container when networkMode=awsvpc.",
         "labd/ecs-deplojo#26", awsvpc=True),
)


def violations(body: dict[str, Any], *, fargate: bool) -> Iterator[tuple[Rule, str, str]]:
    """(rule, AWS's message, explanation) for every rule ``body`` breaks (Fargate rules only
    when ``fargate``)."""
    awsvpc = body.get("networkMode") == "awsvpc"
    for rule in RULES:
        if rule.awsvpc and not awsvpc:
            continue
        if not rule.awsvpc and not fargate:
            continue
        for value in rule.find(body):
            where = f" ({rule.where.format(value=value)})" if rule.where else ""
            explanation = (f"{rule.parameter}{where}: Fargate does not offer it "
                           "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"
                           "fargate-tasks-services.html#fargate-task-defs).")
            yield rule, rule.message.format(value=value), explanation


def check(body: dict[str, Any], *, fargate: bool) -> None:
    """ClientException with AWS's message for the first rule ``body`` breaks."""
    for rule, message, explanation in violations(body, fargate=fargate):
        raise errors.ClientException(message, explanation=explanation,
                                     parameter=rule.parameter, recorded=rule.recorded)
