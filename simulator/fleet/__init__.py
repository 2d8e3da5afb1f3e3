"""Fleet scale: many Fargate tasks with a customer managed key against AWS's quotas.

A fleet is launched in a pattern (all at once, a rolling deployment, steady churn) through the
real simulator — ECS's RunTask and service scheduler, the Fargate agent's KMS sequence through
KMS's front door with policy evaluation, KMS's and Fargate's token buckets — on the simulated
clock, and watched second by second from the audit trail.

```python
from simulator.fleet import FleetShape, run_shard, summarize_shards
shape = FleetShape.from_params({"pattern": "all_at_once", "tasks": 3000})
result = run_shard(shape, account_index=0)
summary = summarize_shards(shape, [result])
```

``assumptions`` names every choice AWS does not document (Fargate's retries when KMS
throttles it, the launcher's back-off, billing of throttled requests).
"""

from __future__ import annotations

from simulator.fleet.assumptions import FargateKmsRetry, LauncherRetry
from simulator.fleet.shape import FleetShape, ShapeError
from simulator.fleet.simulate import ShardResult, run_shard
from simulator.fleet.timeline import summarize_shards

__all__ = [
    "FargateKmsRetry",
    "FleetShape",
    "LauncherRetry",
    "ShapeError",
    "ShardResult",
    "run_shard",
    "summarize_shards",
]
