"""KMS's request-rate quotas (per account and Region) and the grants-per-key resource quota.

Rates are token buckets on the simulated clock (``sim.rate_limiter``), refilled at ``rate``
per second and holding at most ``burst`` (default: one second's worth). Requests AWS services
make for a customer count against the customer's account, as AWS documents. Source, AWS KMS
Developer Guide "Request quotas"
(https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html):
CreateGrant, RetireGrant, RevokeGrant 50/s; DescribeKey 2,000/s; ListGrants 100/s; shared
symmetric cryptographic operations 10,000/s, 100,000/s in us-east-1, us-west-2, eu-west-1;
20,000/s in ``REGIONS_20K``; RSA 500/s, ECC 300/s and HMAC 2,000/s for the other key types.

``sim.service("kms").quotas.set("CreateGrant", 5)`` changes a rate for the simulation;
``Simulation(quotas=False)`` switches every rate quota off.
"""

from __future__ import annotations

from simulator import errors
from simulator.quotas import RateLimiter

THROTTLED = (
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
)

SYMMETRIC = "CryptographicOperationsSymmetric"
RSA = "CryptographicOperationsRsa"
ECC = "CryptographicOperationsEcc"
HMAC = "CryptographicOperationsHmac"

REGIONS_100K = frozenset({"us-east-1", "us-west-2", "eu-west-1"})
#: Assumption: the Regions AWS lists at 20,000 symmetric requests per second.
REGIONS_20K = frozenset({"us-east-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
                         "eu-central-1", "eu-west-2"})

#: Grants per key: 50,000 ("Resource quotas",
#: https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html).
GRANTS_PER_KEY = 50_000
#: On-demand rotations per key: "a maximum of 25 times per KMS key" (it was 10 until 2025;
#: https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-on-demand.html).
ON_DEMAND_ROTATIONS_PER_KEY = 25

#: The rates of the operations with their own quota (the quota carries the operation's name).
#: Which quota each operation draws is in ``admission.RULES``.
OPERATION_QUOTAS: dict[str, float] = {
    "CreateGrant": 50,
    "RetireGrant": 50,
    "RevokeGrant": 50,
    "DescribeKey": 2000,
    "ListGrants": 100,
}

def symmetric_rate(region: str) -> float:
    """The shared symmetric cryptographic operations quota in ``region``."""
    if region in REGIONS_100K:
        return 100_000
    if region in REGIONS_20K:
        return 20_000
    return 10_000


def crypto_quota(family: str) -> str:
    """The cryptographic quota for a key family (SYMMETRIC, RSA, ECC, HMAC)."""
    return {"SYMMETRIC": SYMMETRIC, "RSA": RSA, "ECC": ECC, "HMAC": HMAC}[family]


class KmsQuotas:
    """The KMS quotas of one simulation: rates (requests per second) and grants per key."""

    PREFIX = "kms:"

    def __init__(self, limiter: RateLimiter, region: str) -> None:
        self._limiter = limiter
        self.grants_per_key = GRANTS_PER_KEY
        self.on_demand_rotations_per_key = ON_DEMAND_ROTATIONS_PER_KEY
        defaults = dict(OPERATION_QUOTAS)
        defaults.update({SYMMETRIC: symmetric_rate(region), RSA: 500, ECC: 300, HMAC: 2000})
        for name, rate in defaults.items():
            self.set(name, rate)

    @property
    def enabled(self) -> bool:
        """False when the simulation was made with ``quotas=False``."""
        return self._limiter.enabled

    def set(self, name: str, rate: float, burst: float | None = None) -> None:
        """Set quota ``name`` (an operation name or ``CryptographicOperationsSymmetric`` ...)."""
        self._limiter.set_limit(self.PREFIX + name, rate, burst)

    def rate(self, name: str) -> float | None:
        """The rate of quota ``name`` in requests per second, or None when it has none."""
        limit = self._limiter.limits.get(self.PREFIX + name)
        return limit[0] if limit else None

    @property
    def rates(self) -> dict[str, float]:
        """Every KMS rate quota by name."""
        n = len(self.PREFIX)
        return {k[n:]: v[0] for k, v in self._limiter.limits.items() if k.startswith(self.PREFIX)}

    def take(self, name: str, account: str) -> None:
        """Consume one request of quota ``name`` for ``account``; ThrottlingException if spent."""
        if not self._limiter.allow(self.PREFIX + name, account):
            raise errors.ThrottlingException(THROTTLED)

    def __repr__(self) -> str:
        return f"KmsQuotas(grants_per_key={self.grants_per_key}, rates={self.rates})"
