"""Shards merged: the fleet's timeline per second and the figures a person asks for.

The timeline of a fleet is the sum of its shards' timelines second by second (accounts are
independent, so their requests, tasks and grants add). The summary answers: how long until
every task ran, how many failed to start and why, start-latency percentiles, the peak of
throttled KMS requests per second, grants outstanding, and the KMS bill at this rate.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from simulator.fleet.assumptions import (
    BILL_THROTTLED_REQUESTS,
    KEY_MONTH_USD,
    SECONDS_PER_MONTH,
    monthly_request_cost_usd,
    request_cost_usd,
)
from simulator.fleet.shape import FleetShape
from simulator.fleet.simulate import KMS_OPS, ShardResult, timeline_columns

#: Columns of a fleet's summary row, in order (one row per cell and repetition).
SUMMARY_COLUMNS = (
    "tasks_total", "launched", "started", "failed_to_start", "never_started",
    "all_running", "seconds_to_all_running", "seconds_to_last_running", "rollout_seconds",
    "start_p50_s", "start_p90_s", "start_p99_s", "start_max_s",
    "peak_kms_per_s", "peak_kms_throttled_per_s", "kms_requests", "kms_throttled",
    *(f"kms_{op}" for op in KMS_OPS), *(f"kms_{op}_throttled" for op in KMS_OPS),
    "kms_requests_per_task", "fargate_retries", "peak_grants", "peak_running",
    "peak_pending", "peak_queued", "peak_runtask_throttled_per_s", "kms_keys", "tasks_per_month",
    "kms_requests_per_month", "kms_request_usd_per_month", "kms_key_usd_per_month",
    "kms_run_request_usd", "failures", "simulated_seconds", "wall_seconds",
    "tasks_per_wall_second", "shard_peak_rss_mib",
)


def merge_timelines(results: list[ShardResult]) -> pd.DataFrame:
    """The fleet's timeline: shards added second by second (a shard that ended holds still)."""
    cols = timeline_columns()
    if not results:
        return pd.DataFrame(columns=cols)
    frames = [pd.DataFrame(r.timeline, columns=cols).set_index("t") for r in results]
    length = max(len(f) for f in frames)
    index = pd.Index(np.arange(1, length + 1, dtype=float), name="t")
    levels = ("queued", "pending", "running", "failed", "grants")  # states carry on; counts do not
    total = None
    for f in frames:
        f = f.reindex(index)
        f[list(levels)] = f[list(levels)].ffill()
        f = f.fillna(0)
        total = f if total is None else total + f
    assert total is not None
    return total.reset_index().astype({c: "int64" for c in cols if c != "t"})


def summarize_shards(shape: FleetShape, results: list[ShardResult]) -> tuple[dict[str, Any],
                                                                           pd.DataFrame]:
    """(the summary row, the merged timeline) of a fleet run of ``shape`` over its shards."""
    tl = merge_timelines(results)
    totals: Counter[str] = Counter()
    for r in results:
        totals.update(r.kms_totals)
    lat = np.array([x for r in results for x in r.latencies], dtype=float)
    intended = sum(r.intended for r in results)
    started = sum(r.started for r in results)
    failed = sum(r.failed for r in results)
    failures: Counter[str] = Counter()
    for r in results:
        failures.update(r.failures)
    kms = {k: v for k, v in totals.items() if k.startswith("kms_")}
    ok = sum(v for k, v in kms.items() if k.endswith("_ok"))
    throttled = sum(v for k, v in kms.items() if k.endswith("_throttled"))
    billed = ok + (throttled if BILL_THROTTLED_REQUESTS else 0)
    launched = sum(r.launched for r in results)
    # A task still running at the end retires its grant when it stops: one more request.
    unretired = max(0, started - totals.get("kms_RetireGrant_ok", 0))
    per_task = (billed + unretired) / launched if launched else 0.0
    if shape.pattern == "churn":
        tasks_per_month = shape.rate * SECONDS_PER_MONTH * shape.accounts
    else:
        tasks_per_month = shape.tasks * shape.accounts * shape.launches_per_month
    monthly = per_task * tasks_per_month
    keys = sum(r.keys for r in results)
    all_running = bool(failed == 0 and started >= intended and intended > 0
                       and shape.pattern != "churn")
    last = [r.last_running_at for r in results if r.last_running_at is not None]
    wall = max((r.wall_seconds for r in results), default=0.0)
    wall_sum = sum(r.wall_seconds for r in results)
    simulated = max((r.simulated_seconds for r in results), default=0.0)
    rollouts = [r.rollout_seconds for r in results if r.rollout_seconds is not None]

    def pct(q: float) -> float:
        return float(np.percentile(lat, q)) if lat.size else math.nan

    def peak(col: str) -> int:
        return int(tl[col].max()) if not tl.empty else 0

    row: dict[str, Any] = {
        "tasks_total": intended, "launched": launched, "started": started,
        "failed_to_start": failed,
        "never_started": sum(r.pending_at_end for r in results),
        "all_running": all_running,
        "seconds_to_all_running": max(last) if all_running and last else math.nan,
        "seconds_to_last_running": max(last) if last else math.nan,
        "rollout_seconds": (max(rollouts) if len(rollouts) == len(results) else math.nan)
        if shape.pattern == "rolling" else math.nan,
        "start_p50_s": pct(50), "start_p90_s": pct(90), "start_p99_s": pct(99),
        "start_max_s": float(lat.max()) if lat.size else math.nan,
        "peak_kms_per_s": peak("kms_ok"), "peak_kms_throttled_per_s": peak("kms_throttled"),
        "kms_requests": ok, "kms_throttled": throttled,
        "kms_requests_per_task": per_task,
        "fargate_retries": sum(r.fargate_retries for r in results),
        "peak_grants": peak("grants"), "peak_running": peak("running"),
        "peak_pending": peak("pending"), "peak_queued": peak("queued"),
        "peak_runtask_throttled_per_s": peak("runtask_throttled"), "kms_keys": keys,
        "tasks_per_month": tasks_per_month, "kms_requests_per_month": monthly,
        "kms_request_usd_per_month": monthly_request_cost_usd(monthly, shape.accounts),
        "kms_key_usd_per_month": keys * KEY_MONTH_USD,
        "kms_run_request_usd": request_cost_usd(billed),
        "failures": "; ".join(f"{k}: {v}" for k, v in failures.most_common()) or "",
        "simulated_seconds": simulated, "wall_seconds": wall,
        "tasks_per_wall_second": launched / wall_sum if wall_sum else math.nan,
        "shard_peak_rss_mib": max((r.peak_rss_mib for r in results), default=0.0),
    }
    for op in KMS_OPS:
        row[f"kms_{op}"] = totals.get(f"kms_{op}_ok", 0)
        row[f"kms_{op}_throttled"] = totals.get(f"kms_{op}_throttled", 0)
    return {k: row[k] for k in SUMMARY_COLUMNS}, tl
