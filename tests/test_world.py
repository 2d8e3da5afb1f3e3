"""The front door every call goes through: validation, errors, audit trail, clock, quotas."""

from __future__ import annotations

import sys
import types
from datetime import timedelta

import pytest

from simulator import Simulation, errors, world
from simulator.client import ShapeMismatchError
from simulator.clock import SimClock
from simulator.fargate.agent import FargateAgent
from simulator.quotas import RateLimiter
from simulator.service import Service


class EchoKms(Service):
    """A stand-in KMS exercising the front door, with one real-shaped operation."""

    service_name = "kms"
    event_source = "kms.amazonaws.com"
    bad_shape = False

    def GenerateDataKeyWithoutPlaintext(self, ctx, params):
        if self.bad_shape:
            return {"CiphertextBlob": b"x", "Bogus": 1}
        return {"CiphertextBlob": b"\x01" * 8, "KeyId": params["KeyId"]}

    def GenerateRandom(self, ctx, params):
        return {"Plaintext": b"secret-bytes"}


@pytest.fixture
def echo_sim(monkeypatch):
    module = types.ModuleType("tests_echo_kms")
    module.EchoKms = EchoKms
    monkeypatch.setitem(sys.modules, "tests_echo_kms", module)
    monkeypatch.setitem(world.SERVICES, "kms", "tests_echo_kms:EchoKms")
    return Simulation(strict_shapes=True)


def test_client_methods_have_boto3_names(echo_sim):
    kms = echo_sim.client("kms")
    out = kms.generate_data_key_without_plaintext(KeyId="k", NumberOfBytes=64)
    assert out["KeyId"] == "k"
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(AttributeError):
        kms.no_such_method()


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        # AWS's words for a required member left out (botocore's client would not send it)
        ({}, "1 validation error detected: Value null at 'keyId' failed to satisfy "
             "constraint: Member must not be null"),
        ({"KeyId": "k", "Bogus": 1}, 'Unknown parameter in input: "Bogus"'),
        ({"KeyId": 7}, "Invalid type for parameter KeyId"),
        ({"KeyId": "k", "NumberOfBytes": 2000}, "at 'numberOfBytes' failed to satisfy"),
        ({"KeyId": "k", "NumberOfBytes": 0},
         "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint:"
         " Member must have value greater than or equal to 1"),
        ({"KeyId": "k", "KeySpec": "AES_512"}, "Member must satisfy enum value set"),
    ],
)
def test_bad_parameters_raise_validation_exception_naming_them(echo_sim, params, needle):
    kms = echo_sim.client("kms")
    with pytest.raises(errors.ValidationException) as info:
        kms.generate_data_key_without_plaintext(**params)
    assert needle in info.value.message
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert echo_sim.audit_trail[-1]["errorCode"] == "ValidationException"


def test_unimplemented_operation_is_a_clear_error(echo_sim):
    with pytest.raises(errors.ClientError) as info:
        echo_sim.client("kms").list_keys()
    assert info.value.code == "UnknownOperationException"
    assert "ListKeys" in info.value.message


def test_audit_record_is_cloudtrail_shaped_and_keeps_secrets_out(echo_sim):
    echo_sim.clock.advance(90)
    kms = echo_sim.client("kms", principal="arn:aws:iam::111122223333:role/Operator")
    kms.generate_data_key_without_plaintext(
        KeyId="k", NumberOfBytes=64, EncryptionContext={"aws:ecs:clusterName": "c"}
    )
    kms.generate_random(NumberOfBytes=12)
    rec, rnd = echo_sim.audit_trail[-2:]
    assert rec["eventTime"] == "2025-01-01T00:01:30Z"
    assert rec["eventSource"] == "kms.amazonaws.com"
    assert rec["eventName"] == "GenerateDataKeyWithoutPlaintext"
    assert rec["userIdentity"]["type"] == "AssumedRole"
    assert rec["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "Operator"
    assert rec["requestParameters"] == {
        "keyId": "k",
        "numberOfBytes": 64,
        "encryptionContext": {"aws:ecs:clusterName": "c"},
    }
    assert rec["recipientAccountId"] == "111122223333"
    assert "errorCode" not in rec
    assert b"secret" not in repr(rnd).encode() and "secret-bytes" not in repr(rnd)


def test_service_principal_identity(echo_sim):
    kms = echo_sim.client("kms", principal="fargate.amazonaws.com")
    kms.generate_data_key_without_plaintext(KeyId="k")
    ident = echo_sim.audit_trail[-1]["userIdentity"]
    assert ident == {"type": "AWSService", "invokedBy": "fargate.amazonaws.com"}


def test_strict_shapes_catch_a_bad_response(echo_sim):
    echo_sim.service("kms").bad_shape = True
    with pytest.raises(ShapeMismatchError, match="Bogus"):
        echo_sim.client("kms").generate_data_key_without_plaintext(KeyId="k")


def test_bad_principal_and_account():
    with pytest.raises(ValueError, match="12 digits"):
        Simulation(account_id="123")
    sim = Simulation()
    with pytest.raises(errors.ValidationException, match="unknown principal"):
        sim.principal("not a principal")
    with pytest.raises(ValueError, match="unknown service"):
        sim.client("s3")


def test_principal_forms():
    sim = Simulation()
    assert sim.principal().is_root
    assert sim.principal("444455556666").account == "444455556666"
    role = sim.principal("arn:aws:sts::111122223333:assumed-role/Op/session1")
    assert role.kind == "Role" and role.arn.endswith(":role/Op")
    assert sim.principal("fargate.amazonaws.com").principal_type == "AWSService"


def test_clock_runs_callbacks_in_order():
    clock = SimClock()
    seen = []
    clock.call_later(5, lambda: seen.append(("b", clock.time())))
    clock.call_later(1, lambda: seen.append(("a", clock.time())))
    cancelled = clock.call_later(3, lambda: seen.append(("x", 0)))
    cancelled.cancel()
    start = clock.time()
    clock.advance(timedelta(seconds=10))
    assert [s[0] for s in seen] == ["a", "b"]
    assert seen[0][1] == start + 1 and clock.time() == start + 10
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_token_bucket_refills_on_the_simulated_clock():
    clock = SimClock()
    limiter = RateLimiter(clock)
    limiter.set_limit("CreateGrant", 50)
    assert all(limiter.allow("CreateGrant", "a") for _ in range(50))
    assert not limiter.allow("CreateGrant", "a")
    assert limiter.allow("CreateGrant", "b")  # per account
    clock.advance(0.1)
    assert sum(limiter.allow("CreateGrant", "a") for _ in range(10)) == 5
    limiter.enabled = False
    assert all(limiter.allow("CreateGrant", "a") for _ in range(100))


def test_the_fargate_agent_is_replaced_only_before_ecs_is_made():
    class Agent(FargateAgent):
        """A subclass, as the fleet's retrying agent is."""

    sim = Simulation()
    sim.fargate = agent = Agent(sim)
    assert sim.ecs.lifecycle.provisioner is agent and sim.fargate is agent
    with pytest.raises(ValueError, match="before ECS"):
        sim.fargate = Agent(sim)
