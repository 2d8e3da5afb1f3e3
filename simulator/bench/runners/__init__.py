"""One runner per experiment kind: throughput, volume, capacity, scenario."""

from __future__ import annotations

from simulator.bench.runners.base import RunContext, RunError, Runner
from simulator.bench.runners.capacity import CapacityRunner
from simulator.bench.runners.fleet import FleetRunner
from simulator.bench.runners.scenario import ScenarioRunner
from simulator.bench.runners.throughput import ThroughputRunner
from simulator.bench.runners.volume import VolumeRunner

RUNNERS: dict[str, type[Runner]] = {
    "throughput": ThroughputRunner,
    "volume": VolumeRunner,
    "capacity": CapacityRunner,
    "scenario": ScenarioRunner,
    "fleet": FleetRunner,
}


def runner_for(kind: str) -> Runner:
    """A fresh runner for an experiment kind."""
    return RUNNERS[kind]()


__all__ = ["RUNNERS", "RunContext", "RunError", "Runner", "runner_for"]
