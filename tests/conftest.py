"""Shared fixtures: a fresh simulation that checks every response against botocore."""

from __future__ import annotations

import pytest

from simulator import Simulation

ACCOUNT = "111122223333"
REGION = "us-west-2"


@pytest.fixture
def sim() -> Simulation:
    """A simulation with strict response-shape checks and quotas on."""
    return Simulation(account_id=ACCOUNT, region=REGION, strict_shapes=True)
