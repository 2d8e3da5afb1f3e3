"""Shared fixtures: a fresh simulation that checks every response against botocore."""

from __future__ import annotations

import pytest

from simulator import Simulation

ACCOUNT = "111122223333"
REGION = "us-west-2"


@pytest.fixture
def sim() -> Simulation:
    """A simulation with strict response-shape checks and quotas on."""
    return Simulation(account_id=ACCOUNT, region=REGION, strict_shapes=True)



@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Benchmarks run once, untimed, in the ordinary suite (``--benchmark-enable`` times them).

    Only when pytest-benchmark is loaded: plain ``pytest`` works without the plugin (and skips
    the benchmarks, which need its ``benchmark`` fixture).
    """
    if config.pluginmanager.hasplugin("benchmark") and not config.getoption(
        "benchmark_enable", default=False
    ):
        config.option.benchmark_disable = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without pytest-benchmark, a test that asks for its ``benchmark`` fixture is skipped."""
    if config.pluginmanager.hasplugin("benchmark"):
        return
    skip = pytest.mark.skip(reason="needs pytest-benchmark (pip install -e '.[test]')")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)
