"""One fleet shard: one account's clusters, keys and tasks, run second by second.

A shard is an independent :class:`~simulator.Simulation` (its own account, quotas, keys and
clusters), so shards run apart — in turn, or as Dask tasks — and merge by adding their
timelines. Everything goes through the simulator's front doors: RunTask and CreateService
as the account's root, the Fargate agent's KMS sequence as Fargate, quotas as token buckets on
the simulated clock. Each simulated second the shard tallies the audit trail's new records
(KMS requests by operation: allowed, throttled, refused; RunTask calls allowed and throttled)
and then drops them, so a long run holds one second of records at a time.
"""

from __future__ import annotations

import bisect
import json
import random
import resource
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from simulator import Simulation
from simulator.ecs import tasks as ecs_tasks
from simulator.errors import ClientError
from simulator.fleet.retry import THROTTLED, FargateRetry, FleetCounts
from simulator.fleet.shape import FleetShape
from simulator.iam.seed import seed_key_policy

#: KMS operations the timeline has columns for (others are tallied under "Other").
KMS_OPS = ("GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt", "RetireGrant",
           "DescribeKey")
OUTCOMES = ("ok", "throttled", "error")
#: A dry run that would have succeeded answers DryRunOperationException: an allowed request.
_ALLOWED_CODES = frozenset({None, "DryRunOperationException"})
TICK = 1.0
NET = {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d4e5f60718"],
                               "securityGroups": ["sg-0a1b2c3d4e5f60718"],
                               "assignPublicIp": "DISABLED"}}
CONTAINER = {"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest",
             "essential": True, "command": ["sleep", "infinity"]}
OPERATOR_ROLE = "customer-chosen-role"


def timeline_columns() -> list[str]:
    """The per-second columns of a timeline, in order."""
    cols = ["t", "queued", "pending", "running", "failed", "grants"]
    for op in (*KMS_OPS, "Other"):
        cols += [f"kms_{op}_{o}" for o in OUTCOMES]
    return [*cols, "kms_ok", "kms_throttled", "runtask_ok", "runtask_throttled"]


#: The per-operation KMS columns of a timeline, each with its outcome.
_KMS_COLUMNS = tuple((f"kms_{op}_{o}", o) for op in (*KMS_OPS, "Other") for o in OUTCOMES)


def account_id(index: int) -> str:
    """The 12-digit account id of shard ``index``."""
    return f"{111122223333 + index:012d}"


@dataclass
class ShardResult:
    """What one shard measured (plain data: it crosses process boundaries under Dask)."""

    account: str
    timeline: dict[str, list[float]]
    latencies: list[float]
    failures: dict[str, int]
    intended: int
    launched: int
    started: int
    failed: int
    pending_at_end: int
    fargate_retries: int
    kms_totals: dict[str, int]
    keys: int
    simulated_seconds: float
    wall_seconds: float
    last_running_at: float | None
    rollout_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    #: Peak resident memory of the process that ran the shard, MiB (so far, at its end).
    peak_rss_mib: float = 0.0


class _Shard:
    """The running state of one shard."""

    def __init__(self, shape: FleetShape, index: int, rep: int) -> None:
        self.shape = shape
        self.account = account_id(index)
        seed = f"fleet:{shape.seed}:{index}:{rep}"
        self.rng = random.Random(seed)
        self.sim = sim = Simulation(account_id=self.account, region=shape.region,
                                    seed=random.Random(seed + ":sim").getrandbits(63))
        self.retry = FargateRetry(shape.fargate_retry, random.Random(seed + ":fargate"))
        sim.fargate.kms_retry = self.retry
        self.ecs_service = sim.ecs
        self.kms_service = kms = sim.service("kms")
        self._apply_quotas()
        self.lifecycle = FleetCounts(
            sim.ecs.lifecycle, on_running=self._on_running,
            jitter=shape.provisioning_jitter, rng=random.Random(seed + ":provisioning"))
        self.ecs = sim.client("ecs")
        self.kms = sim.client("kms")
        self.clusters = shape.cluster_names()
        self.key_ids = self._setup()
        self.t0 = sim.clock.time()
        self.intent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.last_running_at: float | None = None
        #: Launch intents: [next try, cluster, tasks left, when the fleet asked for them].
        self.queue: deque[list[Any]] = deque()
        self.launcher_attempts = 0
        #: When the fleet asked for each RunTask task (sorted), and how many RunTask accepted:
        #: the tasks asked for and not yet accepted are "queued" (waiting on throttled RunTask).
        self.asked: list[float] = []
        self.accepted = 0
        self.timeline: dict[str, list[float]] = {c: [] for c in timeline_columns()}
        self.kms_totals: Counter[str] = Counter()
        self.notes: list[str] = []
        del kms

    # -- set-up --------------------------------------------------------------------------
    def _apply_quotas(self) -> None:
        q = self.shape.quotas
        kms_quotas = self.kms_service.quotas  # type: ignore[attr-defined]
        for name, rate in q.items():
            if name == "GrantsPerKey":
                kms_quotas.grants_per_key = int(rate)
            elif name == "RunTask":
                self.sim.rate_limiter.set_limit(ecs_tasks.RUN_TASK_QUOTA, rate)
            elif name not in ("FargateLaunchRate", "FargateLaunchBurst"):
                kms_quotas.set(name, rate)
        if "FargateLaunchRate" in q or "FargateLaunchBurst" in q:
            self.sim.rate_limiter.set_limit(
                ecs_tasks.LAUNCH_QUOTA, q.get("FargateLaunchRate", ecs_tasks.LAUNCH_RATE),
                q.get("FargateLaunchBurst", ecs_tasks.LAUNCH_BURST))

    def _key_policy(self, clusters: list[str]) -> str:
        doc = seed_key_policy(self.account, clusters[0], OPERATOR_ROLE)
        for st in doc["Statement"]:
            cond = st.get("Condition", {}).get("StringEquals", {})
            if "kms:EncryptionContext:aws:ecs:clusterName" in cond:
                cond["kms:EncryptionContext:aws:ecs:clusterName"] = list(clusters)
        return json.dumps(doc)

    def _setup(self) -> list[str]:
        """Keys, clusters and the task definition; their calls are not in the timeline."""
        shape = self.shape
        groups = ([[c] for c in self.clusters] if shape.keys == "per_cluster"
                  else [self.clusters])
        key_of: dict[str, str] = {}
        keys = []
        for group in groups:
            arn = self.kms.create_key(Policy=self._key_policy(group))["KeyMetadata"]["Arn"]
            keys.append(arn.rsplit("/", 1)[-1])
            for c in group:
                key_of[c] = arn
        for c in self.clusters:
            self.ecs.create_cluster(clusterName=c, configuration={"managedStorageConfiguration": {
                "fargateEphemeralStorageKmsKeyId": key_of[c]}})
        self.td = self.ecs.register_task_definition(
            family="fleet", cpu="256", memory="512", networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"], containerDefinitions=[dict(CONTAINER)],
        )["taskDefinition"]["taskDefinitionArn"]
        self.sim.drain_audit_outcomes()  # setup calls are not in the timeline
        return keys

    # -- launching -----------------------------------------------------------------------
    def now(self) -> float:
        return self.sim.clock.time() - self.t0

    def _on_running(self, task: Any) -> None:
        now = self.now()
        due = self.intent.pop(task.arn, None)
        if due is None and task.deployment is not None:
            due = task.deployment.created_at.timestamp() - self.t0
        if due is not None:
            self.latencies.append(now - due)
        self.last_running_at = now
        if self.shape.pattern == "churn":
            life = self.shape.lifetime.draw(self.rng)
            cluster, arn = task.cluster.name, task.arn
            self.sim.clock.call_later(life, lambda: self._stop(cluster, arn))

    def _stop(self, cluster: str, arn: str) -> None:
        try:
            self.ecs.stop_task(cluster=cluster, task=arn, reason="fleet churn: lifetime over")
        except ClientError as exc:  # pragma: no cover - a task ECS forgot
            self.notes.append(f"StopTask {arn}: {exc.code}")

    def _run_queue(self) -> None:
        """Issue RunTask calls (10 tasks each) for due intents until ECS throttles."""
        now = self.now()
        policy = self.shape.launcher_retry
        while self.queue and self.queue[0][0] <= now + 1e-9:
            item = self.queue[0]
            _, cluster, count, asked = item
            n = min(count, ecs_tasks.MAX_RUN_COUNT)
            try:
                tasks = self.ecs.run_task(cluster=cluster, taskDefinition=self.td,
                                          launchType="FARGATE", networkConfiguration=NET,
                                          count=n)["tasks"]
            except ClientError as exc:
                if exc.code != THROTTLED:
                    raise
                self.launcher_attempts += 1
                if policy.attempts and self.launcher_attempts >= policy.attempts:
                    self.notes.append(f"launcher gave up on {count} tasks after "
                                      f"{self.launcher_attempts} throttled RunTask calls")
                    self.queue.popleft()
                    self.launcher_attempts = 0
                    continue
                item[0] = now + policy.delay(self.launcher_attempts, self.rng)
                return
            self.launcher_attempts = 0
            self.accepted += len(tasks)
            for t in tasks:
                self.intent[t["taskArn"]] = asked
            item[2] -= n
            if item[2] <= 0:
                self.queue.popleft()

    # -- sampling ------------------------------------------------------------------------
    def _sample(self, second: float) -> None:
        # The second's calls as (eventSource, eventName, errorCode), the trail emptied: the
        # tally needs no other field, so the deferred CloudTrail records are never rendered.
        counts: Counter[str] = Counter()
        for src, op, code in self.sim.drain_audit_outcomes():
            if src == "kms.amazonaws.com":
                op = op if op in KMS_OPS else "Other"
                outcome = ("ok" if code in _ALLOWED_CODES else
                           "throttled" if code == THROTTLED else "error")
                counts[f"kms_{op}_{outcome}"] += 1
            elif src == "ecs.amazonaws.com" and op == "RunTask":
                counts["runtask_throttled" if code == THROTTLED else "runtask_ok"] += 1
        self.kms_totals.update(counts)
        lc = self.lifecycle
        grants = self.kms_service.grants  # type: ignore[attr-defined]
        queued = bisect.bisect_right(self.asked, self.now() + 1e-9) - self.accepted
        row = {"t": second, "queued": queued, "pending": lc.pending, "running": lc.running,
               "failed": lc.failed, "grants": sum(grants.count(k) for k in self.key_ids)}
        tl = self.timeline
        for col, value in row.items():
            tl[col].append(value)
        ok = throttled = 0
        for col, outcome in _KMS_COLUMNS:
            v = counts.get(col, 0)
            tl[col].append(v)
            if outcome == "ok":
                ok += v
            elif outcome == "throttled":
                throttled += v
        tl["kms_ok"].append(ok)
        tl["kms_throttled"].append(throttled)
        tl["runtask_ok"].append(counts.get("runtask_ok", 0))
        tl["runtask_throttled"].append(counts.get("runtask_throttled", 0))

    def step(self) -> None:
        """One tick: launch what is due, move the clock a second, tally that second."""
        self._run_queue()
        self.sim.clock.advance(TICK)
        self._sample(round(self.now()))


def run_shard(shape: FleetShape, account_index: int = 0, rep: int = 0) -> ShardResult:
    """Run one account's part of the fleet to its end (or the horizon) and report it."""
    w0 = time.perf_counter()
    sh = _Shard(shape, account_index, rep)
    intended = shape.tasks
    rollout: float | None = None
    ecs = sh.ecs
    if shape.pattern == "all_at_once" and shape.launch == "run_task":
        for cluster, n in zip(sh.clusters, shape.cluster_tasks(), strict=True):
            sh.queue.append([0.0, cluster, n, 0.0])
        sh.asked = [0.0] * shape.tasks
        done = lambda: not sh.queue and sh.lifecycle.pending == 0  # noqa: E731
    elif shape.pattern == "all_at_once":
        for cluster, n in zip(sh.clusters, shape.cluster_tasks(), strict=True):
            ecs.create_service(cluster=cluster, serviceName="fleet", taskDefinition=sh.td,
                               desiredCount=n, launchType="FARGATE", networkConfiguration=NET)
        done = lambda: sh.lifecycle.running >= intended  # noqa: E731
    elif shape.pattern == "rolling":
        rollout = _rolling(sh)
        done = lambda: True  # noqa: E731
    else:  # churn: Poisson arrivals, round-robin over the clusters
        t, i = 0.0, 0
        while i < shape.tasks:
            t += sh.rng.expovariate(shape.rate)
            if t > shape.horizon:
                sh.notes.append(f"{shape.tasks - i} arrivals fall after the horizon")
                intended = i
                break
            sh.queue.append([t, sh.clusters[i % shape.clusters], 1, t])
            sh.asked.append(t)
            i += 1
        done = lambda: not sh.queue and sh.lifecycle.pending == 0 and sh.lifecycle.running == 0  # noqa: E731
    if shape.pattern != "rolling":
        while sh.now() < shape.horizon:
            sh.step()
            if done():
                break
    lc = sh.lifecycle
    return ShardResult(
        account=sh.account, timeline=sh.timeline, latencies=sh.latencies,
        failures=dict(lc.failures), intended=intended, launched=lc.launched,
        started=len(sh.latencies), failed=lc.failed, pending_at_end=lc.pending,
        fargate_retries=sh.retry.retries, kms_totals=dict(sh.kms_totals),
        keys=len(sh.key_ids), simulated_seconds=sh.now(),
        wall_seconds=time.perf_counter() - w0, last_running_at=sh.last_running_at,
        rollout_seconds=rollout, notes=sh.notes,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _rolling(sh: _Shard) -> float | None:
    """A service per cluster at its desired count, then a forced new deployment rolled out."""
    shape = sh.shape
    cfg = {"minimumHealthyPercent": shape.minimum_healthy_percent,
           "maximumPercent": shape.maximum_percent}
    for cluster, n in zip(sh.clusters, shape.cluster_tasks(), strict=True):
        sh.ecs.create_service(cluster=cluster, serviceName="fleet", taskDefinition=sh.td,
                              desiredCount=n, launchType="FARGATE", networkConfiguration=NET,
                              deploymentConfiguration=cfg)
    svcs = [sh.ecs_service.clusters[(sh.account, c)].services["fleet"]  # type: ignore[attr-defined]
            for c in sh.clusters]

    def steady() -> bool:
        return all(len(s.deployments) == 1 and s.primary.rollout_state == "COMPLETED"
                   for s in svcs)

    while sh.now() < shape.horizon and not steady():
        sh.step()
    if not steady():
        sh.notes.append("the first deployment did not complete within the horizon")
        return None
    start = sh.now()
    sh.latencies.clear()  # start latencies of the rollout's tasks only
    for cluster in sh.clusters:
        sh.ecs.update_service(cluster=cluster, service="fleet", forceNewDeployment=True)
    while sh.now() < shape.horizon:
        sh.step()
        if steady():
            return sh.now() - start
    sh.notes.append("the rolling deployment did not complete within the horizon")
    return None
