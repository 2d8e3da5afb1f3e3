"""Grants and eventual consistency (``Simulation(grant_propagation_seconds=...)``).

AWS: "When you create a grant, the grant might not be effective immediately ... if a grant
that is so new that it is not yet known to all of AWS KMS, the request might fail with an
AccessDeniedException error. To use the permissions in a new grant immediately, use the grant
token for the grant." (https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html)
"""

from __future__ import annotations

import pytest

from simulator import Simulation, errors
from tests.ecs.helpers import make_cluster, make_key, register, run
from tests.kms.conftest import ACCOUNT, explanation_of, make_role

DELAY = 30.0


def _granted(sim: Simulation, *operations: str):
    """A key, a role with no permissions of its own, and a grant of ``operations`` to it."""
    root = sim.client("kms")
    key = root.create_key()["KeyMetadata"]
    role = make_role(sim, "App")
    grant = root.create_grant(KeyId=key["KeyId"], GranteePrincipal=role,
                              Operations=list(operations))
    return key, sim.client("kms", principal=role), grant


def test_by_default_a_grant_takes_effect_at_once():
    sim = Simulation(account_id=ACCOUNT)
    key, app, _ = _granted(sim, "Encrypt")
    assert app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_a_new_grant_without_its_token_is_refused_as_if_it_did_not_exist():
    sim = Simulation(account_id=ACCOUNT, grant_propagation_seconds=DELAY)
    key, app, grant = _granted(sim, "Encrypt", "DescribeKey")
    with pytest.raises(errors.AccessDeniedException) as info:
        app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert info.value.message.startswith(
        f"User: arn:aws:iam::{ACCOUNT}:role/App is not authorized to perform: kms:Encrypt on "
        f"resource: {key['Arn']} because no identity-based policy allows the kms:Encrypt "
        "action"
    )
    assert f"grant {grant['GrantId']} allows" not in info.value.message
    assert grant["GrantId"] in explanation_of(info.value)
    assert "grant token" in explanation_of(info.value)
    with pytest.raises(errors.AccessDeniedException):
        app.describe_key(KeyId=key["KeyId"])
    assert sim.audit_trail[-1]["errorCode"] == "AccessDeniedException"


def test_the_same_request_with_the_grant_token_succeeds_at_once():
    sim = Simulation(account_id=ACCOUNT, grant_propagation_seconds=DELAY)
    key, app, grant = _granted(sim, "Encrypt", "Decrypt")
    blob = app.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                       GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
    assert app.decrypt(CiphertextBlob=blob, GrantTokens=[grant["GrantToken"]])["Plaintext"] == b"x"


def test_the_grant_takes_effect_once_it_has_propagated_on_the_simulated_clock():
    sim = Simulation(account_id=ACCOUNT, grant_propagation_seconds=DELAY)
    key, app, _ = _granted(sim, "Encrypt")
    sim.clock.advance(DELAY - 1)
    with pytest.raises(errors.AccessDeniedException):
        app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    sim.clock.advance(1)
    assert app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_another_grants_token_does_not_make_a_new_grant_usable():
    sim = Simulation(account_id=ACCOUNT, grant_propagation_seconds=DELAY)
    key, app, _ = _granted(sim, "Encrypt")
    other = sim.client("kms").create_grant(
        KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/Other",
        Operations=["Decrypt"])
    with pytest.raises(errors.AccessDeniedException):
        app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[other["GrantToken"]])


def test_creating_grants_through_a_new_grant_needs_its_token_too():
    sim = Simulation(account_id=ACCOUNT, grant_propagation_seconds=DELAY)
    key, app, grant = _granted(sim, "CreateGrant", "Decrypt")
    child = {"KeyId": key["KeyId"], "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:role/Other",
             "Operations": ["Decrypt"]}
    with pytest.raises(errors.AccessDeniedException):
        app.create_grant(**child)
    assert app.create_grant(**child, GrantTokens=[grant["GrantToken"]])["GrantId"]


def test_a_policy_allow_needs_no_propagation():
    sim = Simulation(account_id=ACCOUNT, grant_propagation_seconds=DELAY)
    root = sim.client("kms")
    key = root.create_key()["KeyMetadata"]
    root.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
                      Operations=["Encrypt"])
    assert root.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


@pytest.mark.parametrize("seconds", [-1, "30", None, True])
def test_the_option_must_be_a_non_negative_number(seconds):
    with pytest.raises(ValueError, match="grant_propagation_seconds"):
        Simulation(grant_propagation_seconds=seconds)


def test_fargate_tasks_start_while_grants_propagate_because_fargate_passes_the_token():
    # Fargate's Decrypt right after its CreateGrant carries the grant token.
    sim = Simulation(account_id=ACCOUNT, grant_propagation_seconds=300)
    key = make_key(sim)
    make_cluster(sim, key=key)
    [task] = run(sim, register(sim))
    assert task["lastStatus"] == "RUNNING", task.get("stoppedReason")
