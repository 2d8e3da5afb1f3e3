"""Fargate's storage-encryption decision, and the simulation wiring it to ECS."""

from __future__ import annotations

import pytest

from simulator.fargate.encryption import (
    ATTRIBUTE_VALUE,
    AWS_OWNED_KEY,
    CUSTOMER_MANAGED_KEY,
    NOT_DOCUMENTED,
    storage_encryption,
)

KEY = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_linux_140_uses_the_cluster_key_or_a_fargate_owned_one():
    assert storage_encryption("LINUX", "1.4.0", KEY) == (KEY, CUSTOMER_MANAGED_KEY, None)
    assert storage_encryption("LINUX", "1.4.0", None) == (None, AWS_OWNED_KEY, None)


def test_windows_never_uses_the_cluster_key_and_says_why():
    key, encryption, why = storage_encryption("WINDOWS_SERVER_2022_CORE", "1.0.0", KEY)
    assert (key, encryption) == (None, AWS_OWNED_KEY)
    assert why is not None and "Windows" in why and KEY in why
    assert storage_encryption("WINDOWS_SERVER_2022_CORE", "1.0.0", None)[2] is None


def test_before_140_nothing_is_documented_and_the_key_is_not_used():
    key, encryption, why = storage_encryption("LINUX", "1.3.0", KEY)
    assert (key, encryption) == (None, NOT_DOCUMENTED)
    assert why is not None and "1.4.0" in why and "1.3.0" in why


@pytest.mark.parametrize("os_family,version", [("WINDOWS_SERVER_2022_CORE", "1.0.0"),
                                               ("LINUX", "1.3.0")])
@pytest.mark.parametrize("key", [
    KEY, KEY.replace("arn:aws:kms:us-west-2", "arn:aws-us-gov:kms:us-gov-west-1"),
    "arn:aws:kms:us-west-2:111122223333:alias/" + "a" * 200, "alias/x"])
def test_the_reason_is_a_valid_ecs_attribute_value_whatever_the_key(os_family, version, key):
    """ECS attribute values are 1-128 characters from a small set (no parentheses, commas or
    semicolons): the reason keeps to them, naming the key only when it fits."""
    why = storage_encryption(os_family, version, key)[2]
    assert why is not None and ATTRIBUTE_VALUE.fullmatch(why), why
    if len(key) <= len(KEY):
        assert key in why
    if len(key) > 128:
        assert key not in why and why.endswith("cluster key unused")


def test_the_simulation_hands_ecs_the_agent_as_its_provisioner(sim):
    assert sim.ecs.lifecycle.provisioner is sim.fargate
