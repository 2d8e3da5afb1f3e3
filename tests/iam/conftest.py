"""IAM test fixtures.

IAM returns policy documents URL-encoded and boto3 hands them out as dicts (botocore's
``json_decode_policies``); the service does the same, and the simulation's strict mode accepts
those dicts, so every IAM response here is checked against botocore's output shape.
"""

from __future__ import annotations

import pytest

from simulator import Simulation
from tests.iam.helpers import ACCOUNT


@pytest.fixture
def iam_sim() -> Simulation:
    return Simulation(account_id=ACCOUNT, region="us-west-2", strict_shapes=True)


@pytest.fixture
def iam(iam_sim):
    return iam_sim.client("iam")
