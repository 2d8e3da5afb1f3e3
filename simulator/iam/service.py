"""``IamService``: the simulated IAM, one per Simulation (``sim.service("iam")``).

Callers use it through the front door, as boto3 would::

    iam = sim.client("iam")
    iam.create_role(RoleName="Operator", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="Operator", PolicyName="keys", PolicyDocument=doc)

The operations live in one module per concern: roles and users, written once for both
(``ops_entities``), managed policies (``ops_policies``), the policy simulator
(``ops_simulator``) and access keys (``ops_access_keys``); the shared state and steps in
``core``; the state's dataclasses and the table of entity kinds in ``state``; AWS managed
policies as package data (``aws_managed``).
"""

from __future__ import annotations

from simulator.iam.ops_access_keys import AccessKeyOperations
from simulator.iam.ops_entities import EntityOperations
from simulator.iam.ops_policies import PolicyOperations
from simulator.iam.ops_simulator import SimulatorOperations

# Where these lived before the split (the endpoint's snapshots name their classes by module).
from simulator.iam.state import AccessKey, Entity, ManagedPolicy

__all__ = ["AccessKey", "Entity", "IamService", "ManagedPolicy"]


class IamService(EntityOperations, PolicyOperations, SimulatorOperations, AccessKeyOperations):
    """The simulated IAM: roles, users, managed and inline policies, access keys, and the
    policy simulator."""
