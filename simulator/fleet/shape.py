"""The shape of a fleet: what is launched, how, where, against which quotas; checked whole.

A fleet spec's ``[grid]`` gives each parameter as a value or a list of values (an axis)::

    pattern = "all_at_once"      # all_at_once | rolling | churn
    tasks = 3000                 # per account: launched at once; the service's desired
                                 # count (rolling); tasks arriving in all (churn)
    launch = "run_task"          # run_task | service (rolling: always a service)
    accounts = 1                 # independent accounts (shards: own quotas, keys, clusters)
    clusters = 1                 # clusters per account; tasks are split evenly
    keys = "shared"              # shared: one key for every cluster | per_cluster
    rate = 10.0                  # churn: arrivals per second (Poisson)
    lifetime = { dist = "exponential", mean = 600 }   # churn: seconds a task runs
    minimum_healthy_percent = 100                    # rolling
    maximum_percent = 200                            # rolling
    quotas = { CreateGrant = 500 }                   # raised (or lowered) quotas
    fargate_retry = { attempts = 3, base_seconds = 1.0, max_seconds = 20.0 }
    launcher_retry = { base_seconds = 1.0 }
    provisioning_jitter = 0.5    # +/- share of the 5 s PROVISIONING each task draws
    seed = 0
    horizon = 7200               # simulated seconds at most
    launches_per_month = 1       # all_at_once / rolling: how often the launch recurs (cost)
    region = "us-west-2"

Impossible shapes (negative counts, lifetimes, rates; more tasks at once on one key than the
key's grants allow) are refused here, before anything runs, naming the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.fleet.assumptions import (
    DEFAULT_FARGATE_RETRY,
    DEFAULT_LAUNCHER_RETRY,
    PROVISIONING_JITTER,
    Backoff,
    FargateKmsRetry,
    LauncherRetry,
)

PATTERNS = ("all_at_once", "rolling", "churn")
LAUNCHES = ("run_task", "service")
KEYS = ("shared", "per_cluster")
DISTRIBUTIONS = {
    "fixed": ("mean",),
    "exponential": ("mean",),
    "uniform": ("low", "high"),
    "lognormal": ("mean", "sigma"),
}
#: Quotas a spec may set: KMS's (simulator.kms.quotas), the grants per key, and ECS/Fargate's
#: (simulator.ecs.tasks): RunTask calls per second, the launch bucket's rate and burst.
KMS_RATE_QUOTAS = ("CreateGrant", "RetireGrant", "RevokeGrant", "DescribeKey", "ListGrants",
                   "CryptographicOperationsSymmetric")
OTHER_QUOTAS = ("GrantsPerKey", "RunTask", "FargateLaunchRate", "FargateLaunchBurst")
QUOTAS = KMS_RATE_QUOTAS + OTHER_QUOTAS
#: Fargate's published grants-per-key quota (AWS: 50,000 grants per KMS key).
GRANTS_PER_KEY = 50_000
#: Seconds from RunTask to RUNNING and from StopTask to STOPPED with the default timings;
#: a churned task holds its grant about this much longer than its lifetime.
_HOLD_EXTRA_SECONDS = 13 + 8

GRID_KEYS = ("pattern", "tasks", "launch", "accounts", "clusters", "keys", "rate", "lifetime",
             "minimum_healthy_percent", "maximum_percent", "quotas", "fargate_retry",
             "launcher_retry", "provisioning_jitter", "seed", "horizon", "launches_per_month",
             "region")

Err = Callable[..., Exception]


class ShapeError(ValueError):
    """An impossible fleet: ``key`` (dotted, under grid), what is wrong, what is allowed."""

    def __init__(self, key: str, problem: str, allowed: str = "") -> None:
        self.key, self.problem, self.allowed = key, problem, allowed
        super().__init__(f"{key}: {problem}" + (f" (allowed: {allowed})" if allowed else ""))


@dataclass(frozen=True)
class Lifetime:
    """A distribution of task lifetimes in seconds, drawn from the fleet's seeded RNG."""

    dist: str = "exponential"
    mean: float = 600.0
    low: float = 0.0
    high: float = 0.0
    sigma: float = 0.5

    def draw(self, rng: Any) -> float:
        """One lifetime (seconds, >= 0)."""
        if self.dist == "fixed":
            return self.mean
        if self.dist == "exponential":
            return rng.expovariate(1.0 / self.mean)
        if self.dist == "uniform":
            return rng.uniform(self.low, self.high)
        # lognormal with this mean: mu = ln(mean) - sigma^2 / 2
        return rng.lognormvariate(math.log(self.mean) - self.sigma**2 / 2, self.sigma)

    @property
    def expected(self) -> float:
        """The mean lifetime."""
        return (self.low + self.high) / 2 if self.dist == "uniform" else self.mean

    def to_dict(self) -> dict[str, Any]:
        """The spec table form, only the fields the distribution uses."""
        return {"dist": self.dist, **{k: getattr(self, k) for k in DISTRIBUTIONS[self.dist]}}


@dataclass(frozen=True)
class FleetShape:
    """One fleet cell, validated: every field has its final value."""

    pattern: str = "all_at_once"
    tasks: int = 100
    launch: str = "run_task"
    accounts: int = 1
    clusters: int = 1
    keys: str = "shared"
    rate: float = 0.0
    lifetime: Lifetime = field(default_factory=Lifetime)
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    quotas: dict[str, float] = field(default_factory=dict)
    fargate_retry: FargateKmsRetry = DEFAULT_FARGATE_RETRY
    launcher_retry: LauncherRetry = DEFAULT_LAUNCHER_RETRY
    provisioning_jitter: float = PROVISIONING_JITTER
    seed: int = 0
    horizon: float = 7200.0
    launches_per_month: float = 1.0
    region: str = "us-west-2"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FleetShape:
        """A shape from one cell's parameters (spec values; missing ones take defaults)."""
        grid = validate_grid({k: [v] for k, v in params.items()}, _raise)
        one = {k: v[0] for k, v in grid.items()}
        lifetime = Lifetime(**json.loads(one.pop("lifetime")))
        fr = DEFAULT_FARGATE_RETRY.override(json.loads(one.pop("fargate_retry")))
        lr = DEFAULT_LAUNCHER_RETRY.override(json.loads(one.pop("launcher_retry")))
        quotas = json.loads(one.pop("quotas"))
        return cls(lifetime=lifetime, fargate_retry=fr, launcher_retry=lr, quotas=quotas,
                   **one)

    @property
    def keys_per_account(self) -> int:
        """KMS keys each account creates."""
        return self.clusters if self.keys == "per_cluster" else 1

    def cluster_names(self) -> list[str]:
        """The clusters each account creates, in order (fleet-000, fleet-001, ...)."""
        return [f"fleet-{i:03d}" for i in range(self.clusters)]

    def busiest_key(self) -> str:
        """Which key holds the most grants at once, in words a refusal can name: the key of
        the largest cluster (keys per cluster) or the one key every cluster shares."""
        names = self.cluster_names()
        if self.keys == "per_cluster":
            return f"the key of cluster {names[0]}"  # cluster_tasks puts the extra task first
        if len(names) == 1:
            return f"the key of cluster {names[0]}"
        return f"the key shared by clusters {names[0]} to {names[-1]}"

    def cluster_tasks(self) -> list[int]:
        """Tasks of each cluster (the account's tasks split as evenly as they go)."""
        q, r = divmod(self.tasks, self.clusters)
        return [q + (1 if i < r else 0) for i in range(self.clusters)]

    def grants_per_key(self) -> int:
        """The grants-per-key quota in force."""
        return int(self.quotas.get("GrantsPerKey", GRANTS_PER_KEY))

    def peak_tasks_per_key(self) -> float:
        """Tasks holding a grant on one key at once, at most (churn: on average)."""
        counts = self.cluster_tasks()
        if self.pattern == "churn":
            on_key = self.rate * (self.lifetime.expected + _HOLD_EXTRA_SECONDS)
            share = 1.0 / self.clusters if self.keys == "per_cluster" else 1.0
            return min(on_key * share, float(self.tasks))
        if self.pattern == "rolling":  # old and new tasks together, up to maximumPercent
            counts = [math.floor(n * self.maximum_percent / 100) for n in counts]
        return float(max(counts) if self.keys == "per_cluster" else sum(counts))


def _raise(key: str, problem: str, allowed: str = "") -> Exception:
    return ShapeError(f"grid.{key}" if not key.startswith("grid.") else key, problem, allowed)


# ------------------------------------------------------------------ validation


def validate_grid(g: dict[str, Any], err: Err) -> dict[str, list[Any]]:
    """Normalise a fleet grid (every axis a list) and refuse impossible shapes.

    ``err(key, problem, allowed)`` builds the exception to raise (spec.py's SpecError naming
    the file; ShapeError here); keys are dotted under ``grid.``.
    """
    g = dict(g)
    for key in g:
        if key not in GRID_KEYS:
            raise err(f"grid.{key}", "unknown key", ", ".join(GRID_KEYS))

    def axis(key: str, default: Any, conv: Callable[[Any], Any], allowed: str) -> list[Any]:
        raw = g.get(key, default)
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise err(f"grid.{key}", "empty list", allowed)
        out = []
        for value in values:
            try:
                out.append(conv(value))
            except (TypeError, ValueError) as exc:
                raise err(f"grid.{key}", f"{value!r}: {exc}", allowed) from None
        return _dedupe(out)

    def sub(key: str, conv: Callable[[Any], Any], allowed: str) -> list[Any]:
        """A table axis (a table or a list of tables); each table converted and kept as its
        canonical JSON text (a cell's parameters are plain values in the run's table)."""
        raw = g.get(key, {})
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise err(f"grid.{key}", "empty list", allowed)
        out = []
        for value in values:
            if isinstance(value, str):  # a cell's parameter read back
                try:
                    value = json.loads(value)
                except ValueError:
                    raise err(f"grid.{key}", f"{value!r} is not a table", allowed) from None
            if not isinstance(value, Mapping):
                raise err(f"grid.{key}", f"{value!r} is not a table", allowed)
            try:
                out.append(table_text(conv(dict(value))))
            except ShapeError as exc:
                raise err(f"grid.{key}.{exc.key}", exc.problem, exc.allowed) from None
        return _dedupe(out)

    grid: dict[str, list[Any]] = {
        "pattern": axis("pattern", "all_at_once", _choice(PATTERNS), ", ".join(PATTERNS)),
        "tasks": axis("tasks", None, _count(1, 10_000_000), "a whole number of tasks >= 1"),
        "launch": axis("launch", "run_task", _choice(LAUNCHES), ", ".join(LAUNCHES)),
        "accounts": axis("accounts", 1, _count(1, 10_000), "1 to 10,000 accounts"),
        "clusters": axis("clusters", 1, _count(1, 10_000), "1 to 10,000 clusters per account"),
        "keys": axis("keys", "shared", _choice(KEYS), ", ".join(KEYS)),
        "rate": axis("rate", 0.0, _number(0, 1e6), "arrivals per second, > 0 for churn"),
        "lifetime": sub("lifetime", _lifetime, "{ dist = ..., mean = ... } with dist one of "
                        + ", ".join(DISTRIBUTIONS)),
        "minimum_healthy_percent": axis("minimum_healthy_percent", 100, _count(0, 100),
                                        "0 to 100"),
        "maximum_percent": axis("maximum_percent", 200, _count(100, 200), "100 to 200"),
        "quotas": sub("quotas", _quotas, "a table of quota names to positive rates: "
                      + ", ".join(QUOTAS)),
        "fargate_retry": sub("fargate_retry", _backoff(FargateKmsRetry, 1),
                             ", ".join(FargateKmsRetry.field_names())),
        "launcher_retry": sub("launcher_retry", _backoff(LauncherRetry, 0),
                              ", ".join(LauncherRetry.field_names())),
        "provisioning_jitter": axis("provisioning_jitter", PROVISIONING_JITTER,
                                    _number(0, 0.99), "a fraction, 0 to 0.99"),
        "seed": axis("seed", 0, _count(0, 2**63), "a whole number >= 0"),
        "horizon": axis("horizon", 7200.0, _number(1, 30 * 86400),
                        "simulated seconds, 1 to 2,592,000"),
        "launches_per_month": axis("launches_per_month", 1.0, _number(0, 1e7),
                                   "how often a month the launch recurs, >= 0"),
        "region": axis("region", "us-west-2", _region, "a Region name such as us-west-2"),
    }
    if "tasks" not in g:
        raise err("grid.tasks", "missing", "a whole number of tasks >= 1")
    _check_combinations(grid, err)
    return grid


def _check_combinations(grid: dict[str, list[Any]], err: Err) -> None:
    """Refuse cells that cannot run: churn without a rate, too many grants on one key, ..."""
    import itertools

    names = list(grid)
    for combo in itertools.product(*(grid[k] for k in names)):
        p = dict(zip(names, combo, strict=True))
        if p["pattern"] == "churn":
            if p["rate"] <= 0:
                raise err("grid.rate", f"{p['rate']!r}: churn needs arrivals per second > 0",
                          "a number > 0")
            if p["launch"] != "run_task":
                raise err("grid.launch", "churn launches standalone tasks (RunTask)",
                          "run_task")
        if (p["pattern"] == "rolling" and p["maximum_percent"] <= 100
                and p["minimum_healthy_percent"] >= 100):
            raise err("grid.maximum_percent",
                      f"{p['maximum_percent']} with minimum_healthy_percent "
                      f"{p['minimum_healthy_percent']}: a rolling deployment could neither "
                      "start a new task nor stop an old one",
                      "maximum_percent > 100 or minimum_healthy_percent < 100")
        if p["clusters"] > p["tasks"]:
            raise err("grid.clusters", f"{p['clusters']} clusters for {p['tasks']} tasks: a "
                      "cluster would have none", f"at most tasks ({p['tasks']})")
        shape = FleetShape(
            pattern=p["pattern"], tasks=p["tasks"], launch=p["launch"],
            clusters=p["clusters"], keys=p["keys"], rate=p["rate"],
            lifetime=Lifetime(**json.loads(p["lifetime"])),
            maximum_percent=p["maximum_percent"], quotas=json.loads(p["quotas"]))
        peak, limit = shape.peak_tasks_per_key(), shape.grants_per_key()
        if peak > limit:
            how = ("on average " if p["pattern"] == "churn" else "")
            raise err("grid.tasks",
                      f"{p['tasks']} tasks ({p['pattern']}, {p['clusters']} cluster(s), keys "
                      f"{p['keys']}) hold {how}{peak:,.0f} grants at once on {shape.busiest_key()} "
                      "in each account; a "
                      f"key holds at most {limit:,} (the grants-per-key quota: one grant per "
                      "running task)",
                      f"at most {limit:,} tasks at once per key: more clusters with keys = "
                      "\"per_cluster\", more accounts, or grid.quotas.GrantsPerKey")


def table_text(table: Mapping[str, Any]) -> str:
    """The canonical JSON text of a table axis value (sorted keys, no spaces)."""
    return json.dumps(dict(table), sort_keys=True, separators=(",", ":"))


def _dedupe(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def conv(value: Any) -> str:
        if value not in options:
            raise ValueError("not one of the choices")
        return str(value)
    return conv


def _count(lo: int, hi: int) -> Callable[[Any], int]:
    def conv(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("not a whole number")
        if value < 0:
            raise ValueError("negative")
        if not lo <= value <= hi:
            raise ValueError(f"out of range {lo:,}..{hi:,}")
        return value
    return conv


def _number(lo: float, hi: float) -> Callable[[Any], float]:
    def conv(value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError("not a number")
        if value != value or value in (math.inf, -math.inf):
            raise ValueError("not a finite number")
        if value < 0:
            raise ValueError("negative")
        if not lo <= value <= hi:
            raise ValueError(f"out of range {lo:g}..{hi:g}")
        return float(value)
    return conv


def _region(value: Any) -> str:
    if not isinstance(value, str) or not value or not value.replace("-", "").isalnum():
        raise ValueError("not a Region name")
    return value


def _lifetime(table: dict[str, Any]) -> dict[str, Any]:
    dist = table.pop("dist", "exponential")
    if dist not in DISTRIBUTIONS:
        raise ShapeError("dist", f"unknown distribution {dist!r}", ", ".join(DISTRIBUTIONS))
    wanted = DISTRIBUTIONS[dist]
    for key in table:
        if key not in wanted:
            raise ShapeError(key, f"unknown key for dist {dist!r}", ", ".join(wanted))
    out: dict[str, Any] = {"dist": dist}
    defaults = {"mean": 600.0, "low": 0.0, "high": 0.0, "sigma": 0.5}
    for key in wanted:
        value = table.get(key, defaults[key])
        try:
            out[key] = _number(0, 1e9)(value)
        except (TypeError, ValueError) as exc:
            raise ShapeError(key, f"{value!r}: {exc} (a lifetime is seconds >= 0)",
                             "seconds >= 0") from None
    if dist == "uniform":
        if "high" not in table:
            raise ShapeError("high", "missing", "seconds >= low")
        if out["high"] < out["low"]:
            raise ShapeError("high", f"{out['high']:g} is below low {out['low']:g}",
                             "seconds >= low")
    if dist in ("exponential", "lognormal") and out["mean"] <= 0:
        raise ShapeError("mean", f"{dist} lifetimes need a mean > 0", "seconds > 0")
    return dict(sorted(out.items()))


def _quotas(table: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in table.items():
        if name not in QUOTAS:
            raise ShapeError(name, "unknown quota", ", ".join(QUOTAS))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ShapeError(name, f"{value!r} is not a number", "a number > 0")
        if not value > 0 or value != value or value == math.inf:
            raise ShapeError(name, f"{value!r}: a quota must be a positive, finite rate",
                             "a number > 0")
        out[name] = float(value)
    return dict(sorted(out.items()))


def _backoff(cls: type[Backoff], min_attempts: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def conv(table: dict[str, Any]) -> dict[str, Any]:
        allowed = cls.field_names()
        out: dict[str, Any] = {}
        for key, value in table.items():
            if key not in allowed:
                raise ShapeError(key, "unknown key", ", ".join(allowed))
            if key == "attempts":
                try:
                    out[key] = _count(min_attempts, 1000)(value)
                except (TypeError, ValueError) as exc:
                    raise ShapeError(key, f"{value!r}: {exc}",
                                     f"{min_attempts} to 1000") from None
            else:
                try:
                    out[key] = _number(0, 3600)(value)
                except (TypeError, ValueError) as exc:
                    raise ShapeError(key, f"{value!r}: {exc}", "seconds, 0 to 3600") from None
        return dict(sorted(out.items()))
    return conv
