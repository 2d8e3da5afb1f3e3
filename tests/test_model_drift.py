"""Model drift: every input member of every implemented operation is implemented or refused.

Walks the installed botocore model (whatever version the user has) and fails, listing them,
when an operation the simulator implements has members ``simulator/model_members.toml``
does not decide; checks that a refused member gets the service's own error naming it.
"""

from __future__ import annotations

import pytest

from simulator import Simulation, drift, errors
from simulator.cli import main
from simulator.models import service_model

SERVICES = ("iam", "kms", "ecs", "sts", "cloudtrail", "cloudformation")


def _implemented(sim: Simulation, service: str) -> list[str]:
    svc = sim.service(service)
    return [op for op in service_model(service).operation_names
            if callable(getattr(svc, op, None))]


def test_every_member_of_every_implemented_operation_is_decided():
    sim = Simulation()
    undecided = []
    for service in SERVICES:
        model = service_model(service)
        for op in _implemented(sim, service):
            shape = model.operation_model(op).input_shape
            undecided += [f"{service}:{op}.{m}"
                          for m in drift.undecided_members(service, op, shape)]
    assert not undecided, (
        "botocore's model has members the simulator neither implements nor refuses; decide "
        "each in simulator/model_members.toml: " + ", ".join(undecided)
    )


def test_the_table_names_only_real_operations_and_members():
    """A table entry for an operation the simulator lacks, or a typo, is a stale entry."""
    sim = Simulation()
    table = drift._table()
    for service in SERVICES:
        implemented = set(_implemented(sim, service))
        for op, entry in table[service].items():
            if not isinstance(entry, dict):
                continue
            assert op in implemented, f"{service}:{op} is in the table but not implemented"
            refused = set(entry.get("unsupported", {}))
            assert not refused & set(entry["supported"]), f"{service}:{op} both ways"


@pytest.mark.parametrize(("service", "operation", "params", "code", "member"), [
    ("kms", "ListKeys", {"ResourceOwners": ["SELF"]}, "UnsupportedOperationException",
     "ResourceOwners"),
    ("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{}",
                           "MaxSigninSessionDuration": 3600}, "InvalidInput",
     "MaxSigninSessionDuration"),
    ("ecs", "ListTasks", {"daemonName": "d"}, "UnsupportedFeatureException", "daemonName"),
])
def test_a_refused_member_gets_the_services_error_naming_it(
        service, operation, params, code, member):
    if member not in service_model(service).operation_model(operation).input_shape.members:
        pytest.skip(f"the installed botocore has no {operation}.{member}")
    sim = Simulation()
    with pytest.raises(errors.ClientError) as info:
        sim.client(service).call(operation, params)
    assert info.value.code == code
    assert info.value.message.startswith(
        f"parameter {member} of {operation} is not supported by this simulator:")
    assert sim.audit_trail[-1]["errorCode"] == code


def test_an_undecided_member_is_refused_not_ignored(monkeypatch):
    """A member a newer botocore adds, before the table decides it, is refused by name."""
    entry = drift.operation_members("kms", "ListAliases")
    narrowed = drift.OperationMembers(entry.supported - {"Limit"}, {}, frozenset())
    monkeypatch.setattr(drift, "operation_members", lambda s, o: narrowed)
    with pytest.raises(errors.ClientError) as info:
        Simulation().client("kms").call("ListAliases", {"Limit": 5})
    assert info.value.code == "UnsupportedOperationException"
    assert "parameter Limit of ListAliases" in info.value.message
    assert f"verified against botocore {drift.VERIFIED_BOTOCORE}" in info.value.message


def test_version_names_package_botocore_and_verified_model(capsys):
    import botocore

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"botocore {botocore.__version__} installed" in out
    assert f"last verified against botocore {drift.VERIFIED_BOTOCORE}" in out


def test_a_refused_member_given_empty_asks_for_nothing():
    sim = Simulation()
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="c")
    # ListTasks' daemonName is refused; placement lists on RunTask are refused unless empty.
    with pytest.raises(errors.ClientError) as info:
        ecs.run_task(cluster="c", taskDefinition="nope", placementStrategy=[
            {"type": "spread", "field": "attribute:ecs.availability-zone"}])
    assert info.value.code == "UnsupportedFeatureException"
    assert "parameter placementStrategy of RunTask" in info.value.message
    with pytest.raises(errors.ClientError) as info:
        ecs.run_task(cluster="c", taskDefinition="nope", placementStrategy=[])
    assert info.value.code == "ClientException"  # reached the handler: no such definition
