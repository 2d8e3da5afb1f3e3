"""KMS: keys and their material, key policies, grants, the ciphertext blob, the operations.

Use it through ``sim.client("kms", principal=...)``; ``sim.service("kms")`` is the
``KmsService`` (its ``quotas`` can be tuned per simulation).
"""

from simulator.kms.ciphertext import encode_context
from simulator.kms.keypolicy import default_policy
from simulator.kms.quotas import KmsQuotas
from simulator.kms.service import KmsService

__all__ = ["KmsQuotas", "KmsService", "default_policy", "encode_context"]
