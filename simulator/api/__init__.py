"""An AWS JSON-protocol endpoint, so boto3 and the AWS CLI can talk to a simulation."""

from simulator.api.server import SimulatorServer, serve

__all__ = ["SimulatorServer", "serve"]
