"""An HTTP endpoint speaking AWS's wire protocols, so boto3, the AWS CLI and SDKs can talk
to a simulation: KMS, ECS and CloudTrail (JSON 1.1), IAM, STS and CloudFormation (query),
and an admin API."""

from simulator.api.identity import DEFAULT_ROOT_KEY, Authenticator
from simulator.api.server import SimulatorServer, serve

__all__ = ["DEFAULT_ROOT_KEY", "Authenticator", "SimulatorServer", "serve"]
