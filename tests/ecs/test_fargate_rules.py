"""RegisterTaskDefinition refuses what Fargate does not offer, with AWS's messages."""

from __future__ import annotations

import pytest

from simulator import errors
from simulator.ecs.fargate_rules import RULES
from tests.ecs.helpers import CONTAINER


def container(**extra):
    return [dict(CONTAINER, **extra)]


def reg(sim, **extra):
    """Register a FARGATE definition with ``extra`` replacing any default parameter."""
    params = {"family": "app", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
              "cpu": "256", "memory": "512", "containerDefinitions": container()}
    params.update(extra)
    return sim.client("ecs").register_task_definition(**params)["taskDefinition"][
        "taskDefinitionArn"]


#: (case, register() keyword arguments, AWS's message or a fragment of the simulator's).
REFUSED = [
    ("pidMode host", {"pidMode": "host"},
     "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value "
     "for pidMode is 'task'."),
    ("ipcMode", {"ipcMode": "host"}, "Tasks using the Fargate launch type do not support ipcMode."),
    ("ipcMode task", {"ipcMode": "task"},
     "Tasks using the Fargate launch type do not support ipcMode."),
    ("hostPort differs", {"containerDefinitions": container(
        portMappings=[{"containerPort": 80, "hostPort": 8080}])},
     "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
    ("hostname", {"containerDefinitions": container(hostname="web")},
     "hostname is not supported on container when networkMode=awsvpc."),
    ("privileged", {"containerDefinitions": container(privileged=True)}, "privileged"),
    ("devices", {"containerDefinitions": container(
        linuxParameters={"devices": [{"hostPath": "/dev/fuse"}]})}, "devices"),
    ("capability beyond SYS_PTRACE", {"containerDefinitions": container(
        linuxParameters={"capabilities": {"add": ["SYS_PTRACE", "NET_ADMIN"]}})}, "NET_ADMIN"),
    ("tmpfs", {"containerDefinitions": container(
        linuxParameters={"tmpfs": [{"containerPath": "/tmp", "size": 64}]})}, "tmpfs"),
    ("links", {"containerDefinitions": container(links=["db"])}, "links"),
    ("maxSwap", {"containerDefinitions": container(linuxParameters={"maxSwap": 0})},
     "maxSwap"),
    ("swappiness", {"containerDefinitions": container(linuxParameters={"swappiness": 60})},
     "swappiness"),
    ("GPU", {"containerDefinitions": container(
        resourceRequirements=[{"type": "GPU", "value": "1"}])}, "GPU"),
    ("host volume", {"volumes": [{"name": "v", "host": {"sourcePath": "/data"}}]},
     "sourcePath"),
    ("network mode", {"networkMode": "bridge"},
     "Fargate only supports network mode \u2018awsvpc\u2019."),
    ("cpu/memory", {"cpu": "256", "memory": "4096"},
     "No Fargate configuration exists for given values: 256 CPU, 4096 memory."),
]

ACCEPTED = [
    ("pidMode task", {"pidMode": "task"}),
    ("SYS_PTRACE", {"containerDefinitions": container(
        linuxParameters={"capabilities": {"add": ["SYS_PTRACE"], "drop": ["ALL"]}})}),
    ("matching hostPort", {"containerDefinitions": container(
        portMappings=[{"containerPort": 80, "hostPort": 80}])}),
    ("initProcessEnabled", {"containerDefinitions": container(
        linuxParameters={"initProcessEnabled": True})}),
    ("privileged false", {"containerDefinitions": container(privileged=False)}),
]


@pytest.mark.parametrize(("case", "extra", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_fargate_refuses(sim, case, extra, message):
    with pytest.raises(errors.ClientException) as exc:
        reg(sim, **extra)
    assert message in exc.value.message


@pytest.mark.parametrize(("case", "extra"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_fargate_accepts(sim, case, extra):
    assert reg(sim, **extra).endswith(":1")


def test_an_ec2_definition_with_pid_host_is_not_fargate_compatible(sim):
    td = sim.client("ecs").register_task_definition(
        family="ec2", containerDefinitions=container(), networkMode="awsvpc", cpu="256",
        memory="512", pidMode="host")["taskDefinition"]
    assert td["compatibilities"] == ["EC2"]


def test_the_rule_says_which_parameter_and_where_the_words_come_from(sim):
    with pytest.raises(errors.ClientException) as exc:
        reg(sim, pidMode="host")
    assert exc.value.details["parameter"] == "pidMode"
    assert "moto" in exc.value.details["recorded"]


def test_every_rule_has_a_test_case():
    covered = {"pidMode", "ipcMode", "containerDefinitions[].portMappings[].hostPort",
               "containerDefinitions[].hostname", "containerDefinitions[].privileged",
               "containerDefinitions[].linuxParameters.devices",
               "containerDefinitions[].linuxParameters.capabilities.add",
               "containerDefinitions[].linuxParameters.tmpfs", "containerDefinitions[].links",
               "containerDefinitions[].resourceRequirements GPU", "volumes[].host.sourcePath"}
    assert covered <= {r.parameter for r in RULES}


def test_the_container_goes_in_the_explanation_not_in_awss_message(sim):
    with pytest.raises(errors.ClientException) as exc:
        reg(sim, containerDefinitions=container(privileged=True))
    assert exc.value.message == ("Tasks using the Fargate launch type do not support "
                                 "privileged containers.")
    assert "containerDefinitions[].privileged (container 'app')" in (exc.value.explanation or "")
