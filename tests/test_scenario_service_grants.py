"""The service-principal grant scenario, the scenario's fargate step and source_arn, and a
scenario step that hits a simulator bug (it fails; the report goes on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import Simulation
from simulator.models import service_model
from simulator.scenario import ScenarioError, parse_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    "GranteeServicePrincipal" not in service_model("kms").operation_model(
        "CreateGrant").input_shape.members,
    reason="the installed botocore has no service-principal grants")
def test_the_service_principal_grant_scenario_passes():
    report = run_scenario(ROOT / "experiments" / "service_principal_grants.toml",
                          sim=Simulation(strict_shapes=True))
    assert report.ok, report.render()
    assert len(report.steps) == 17


def test_a_fargate_step_takes_only_known_settings():
    with pytest.raises(ScenarioError, match=r"fargate.grant_style = 'x'; allowed"):
        parse_scenario({"step": [{"fargate": {"grant_style": "x"}}]})
    with pytest.raises(ScenarioError, match="fargate must be a table of agent settings"):
        parse_scenario({"step": [{"fargate": "service-principal"}]})


def test_a_step_that_raises_a_python_exception_fails_and_the_report_goes_on(monkeypatch):
    sim = Simulation()
    kms = sim.service("kms")

    def broken(ctx, params):
        raise KeyError("Oops")

    monkeypatch.setattr(kms, "ListKeys", broken, raising=False)
    sc = parse_scenario({"step": [{"call": "kms.list_keys"}, {"call": "kms.list_aliases"}]})
    report = run_scenario(sc, sim=sim)
    first, second = report.steps
    assert not first.passed and first.outcome == "internal error: KeyError: 'Oops'"
    assert second.passed


def test_text_for_a_blob_member_is_encoded_as_boto3_does():
    sim = Simulation(strict_shapes=True)
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext="text")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"text"


@pytest.mark.parametrize(("doc", "message"), [
    ({"step": [3]}, "step 1: a step must be a table"),
    ({"simulation": 5, "step": [{"settle": True}]}, "[simulation] and [vars] must be tables"),
])
def test_malformed_scenarios_are_scenario_errors(doc, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(doc)


def test_a_bad_simulation_table_is_a_scenario_error():
    sc = parse_scenario({"simulation": {"account_id": "abc"}, "step": [{"settle": True}]})
    with pytest.raises(ScenarioError, match=r"\[simulation\]: account_id must be 12 digits"):
        run_scenario(sc)
