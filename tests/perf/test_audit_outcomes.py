"""``drain_audit_outcomes``: the trail's (eventSource, eventName, errorCode), unrendered."""

from __future__ import annotations

import pytest

from simulator import Simulation, errors
from tests.benchmarks.task_rate import Workload


def _outcomes(records):
    return [(r["eventSource"], r["eventName"], r.get("errorCode")) for r in records]


def test_outcomes_are_the_rendered_records_fields_and_the_trail_is_emptied():
    w = Workload(batch=3)
    w.round()
    with pytest.raises(errors.ClientError):
        w.sim.client("kms").describe_key(KeyId="alias/none")
    expected = _outcomes(list(w.sim._audit_trail.rendered()))
    w.round()  # more deferred records, DryRun refusals among them
    more = w.sim.audit_trail[len(expected):]
    expected += _outcomes(more)
    assert ("kms.amazonaws.com", "CreateGrant", "DryRunOperationException") in expected
    assert ("kms.amazonaws.com", "DescribeKey", "NotFoundException") in expected
    w.round()
    tail = Workload(batch=3)  # the same calls again in a fresh simulation, never rendered
    tail.sim.drain_audit_outcomes()
    tail.round()
    fresh = tail.sim.drain_audit_outcomes()
    assert fresh and not tail.sim._audit_trail._pending and len(tail.sim.audit_trail) == 0
    assert set(fresh) <= set(expected)
    drained = w.sim.drain_audit_outcomes()
    assert drained[:len(expected)] == expected
    assert drained[len(expected):] == fresh
    assert w.sim.audit_trail == []


def test_outcomes_of_records_appended_already_rendered():
    sim = Simulation()
    sim.audit_trail.append({"eventSource": "x.amazonaws.com", "eventName": "Op"})
    sim.client("kms").list_keys()
    assert sim.drain_audit_outcomes() == [("x.amazonaws.com", "Op", None),
                                          ("kms.amazonaws.com", "ListKeys", None)]
