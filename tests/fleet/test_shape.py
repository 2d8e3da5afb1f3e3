"""Fleet shapes: impossible ones are refused before anything runs, naming the key."""

from __future__ import annotations

import pytest

from simulator.bench import SpecError, parse_spec_text
from simulator.fleet import FleetShape, ShapeError
from simulator.fleet.assumptions import (
    FREE_REQUESTS_PER_MONTH,
    monthly_request_cost_usd,
    request_cost_usd,
)


def spec(grid: str) -> str:
    return f'name = "f"\nkind = "fleet"\n[measure]\nrepetitions = 1\n[grid]\n{grid}\n'


@pytest.mark.parametrize(("grid", "key", "words"), [
    ("tasks = -5", "grid.tasks", "negative"),
    ("tasks = 0", "grid.tasks", "out of range"),
    ("tasks = 10\nclusters = -1", "grid.clusters", "negative"),
    ("tasks = 10\naccounts = 0", "grid.accounts", "out of range"),
    ('tasks = 10\npattern = "churn"\nrate = -2.0', "grid.rate", "negative"),
    ('tasks = 10\npattern = "churn"', "grid.rate", "churn needs"),
    ('tasks = 10\npattern = "churn"\nrate = 1.0\nlifetime = { mean = -60 }',
     "grid.lifetime.mean", "lifetime"),
    ('tasks = 10\npattern = "churn"\nrate = 1.0\nlifetime = { dist = "uniform", low = 9, '
     'high = 3 }', "grid.lifetime.high", "below low"),
    ('tasks = 10\nlifetime = { dist = "gamma" }', "grid.lifetime.dist", "unknown"),
    ("tasks = 10\nquotas = { CreateGrant = -50 }", "grid.quotas.CreateGrant", "positive"),
    ("tasks = 10\nquotas = { CreateGrants = 5 }", "grid.quotas.CreateGrants", "unknown quota"),
    ("tasks = 10\nfargate_retry = { attempts = 0 }", "grid.fargate_retry.attempts",
     "out of range"),
    ("tasks = 10\nfargate_retry = { base_seconds = -1 }", "grid.fargate_retry.base_seconds",
     "negative"),
    ('tasks = 10\npattern = "rolling"\nmaximum_percent = 100', "grid.maximum_percent",
     "neither"),
    ("tasks = 3\nclusters = 5", "grid.clusters", "would have none"),
    ("tasks = 10\nhorizon = -1", "grid.horizon", "negative"),
    ("tasks = 10\nspeed = 3", "grid.speed", "unknown key"),
])
def test_impossible_shapes_are_refused_naming_the_key(grid: str, key: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec_text(spec(grid), path="experiments/f.toml")
    msg = str(info.value)
    assert msg.startswith(f"experiments/f.toml: {key}: "), msg
    assert words in msg


def test_more_tasks_at_once_than_a_key_has_grants_is_refused_naming_the_key() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec_text(spec("tasks = 60000"), path="f.toml")
    msg = str(info.value)
    assert "f.toml: grid.tasks:" in msg
    assert "60,000 grants at once on the key of cluster fleet-000" in msg
    assert "at most 50,000" in msg and "per_cluster" in msg
    # the same tasks spread over two clusters with a key each, or a raised quota, are fine
    parse_spec_text(spec('tasks = 60000\nclusters = 2\nkeys = "per_cluster"'))
    parse_spec_text(spec("tasks = 60000\nquotas = { GrantsPerKey = 100000 }"))
    # two clusters sharing one key still hold every grant on it
    with pytest.raises(SpecError, match="on the key shared by clusters fleet-000 to fleet-001"):
        parse_spec_text(spec('tasks = 60000\nclusters = 2\nkeys = "shared"'))
    # a key per cluster: the refusal names the largest cluster's key
    with pytest.raises(SpecError, match="50,001 grants at once on the key of cluster fleet-000"):
        parse_spec_text(spec('tasks = 100001\nclusters = 2\nkeys = "per_cluster"'))


def test_rolling_and_churn_count_the_tasks_they_hold_at_once() -> None:
    # 30,000 tasks replaced at maximumPercent 200 hold 60,000 grants during the rollout
    with pytest.raises(SpecError, match="60,000 grants"):
        parse_spec_text(spec('pattern = "rolling"\ntasks = 30000'))
    parse_spec_text(spec('pattern = "rolling"\ntasks = 30000\nmaximum_percent = 150'))
    # churn: 100/s living 10 minutes on average hold about 62,100 at once
    with pytest.raises(SpecError, match="on average"):
        parse_spec_text(spec('pattern = "churn"\ntasks = 1000000\nrate = 100.0\n'
                             "lifetime = { mean = 600 }"))


def test_a_shape_from_cell_parameters_takes_the_defaults() -> None:
    shape = FleetShape.from_params({"tasks": 7, "clusters": 3, "quotas": {"CreateGrant": 500}})
    assert shape.cluster_tasks() == [3, 2, 2]
    assert shape.quotas == {"CreateGrant": 500.0}
    assert shape.fargate_retry.attempts == 3 and shape.launcher_retry.attempts == 0
    with pytest.raises(ShapeError, match=r"grid\.tasks"):
        FleetShape.from_params({"tasks": -1})


def test_request_cost_follows_the_published_price_and_free_tier() -> None:
    assert request_cost_usd(10_000) == pytest.approx(0.03)
    assert monthly_request_cost_usd(FREE_REQUESTS_PER_MONTH) == 0.0
    assert monthly_request_cost_usd(FREE_REQUESTS_PER_MONTH + 10_000) == pytest.approx(0.03)
    # each account has its own free tier
    assert monthly_request_cost_usd(2 * FREE_REQUESTS_PER_MONTH, accounts=2) == 0.0


def test_no_summary_column_shadows_a_grid_parameter() -> None:
    from simulator.bench.runners.fleet import FleetRunner
    from simulator.fleet.shape import GRID_KEYS

    assert not set(FleetRunner.columns) & set(GRID_KEYS)
