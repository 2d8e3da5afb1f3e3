"""Simulator and benchmark harness for AWS Fargate ephemeral storage encrypted with a
customer-managed KMS key."""

from simulator.errors import ClientError
from simulator.world import Simulation

__all__ = ["ClientError", "Simulation"]
__version__ = "0.1.0"
