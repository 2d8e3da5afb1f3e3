"""The audit trail's retention: a bound on events and days, LookupEvents and the admin API
consistent with what is kept, the state file pruned alike."""

from __future__ import annotations

import json
import urllib.request

import pytest

from simulator.api import Authenticator, serve
from simulator.api.endpoint import AuditRetention
from simulator.api.store import StateStore
from tests.api.conftest import client, make_sim


@pytest.fixture
def small(tmp_path):
    store = StateStore(tmp_path / "s.db")
    srv = serve(make_sim(), auth=Authenticator(), speed=0.0, make_sim=make_sim, store=store,
                retention=AuditRetention(events=100, days=0))
    srv._stop.set()  # no background ticker: the tests prune when they say so
    srv._ticker.join()
    yield srv
    srv.shutdown()
    srv.server_close()
    store.close()


def _admin(server, path):
    with urllib.request.urlopen(f"{server.url}/_fargate-sim/{path}") as r:
        return json.loads(r.read())


def _retain(server) -> int:
    with server.endpoint.lock:
        server.endpoint.tick()  # saves what is new, then prunes
        return server.endpoint.retain()


def test_the_trail_keeps_the_newest_events_up_to_the_bound(small):
    kms = client(small, "kms")
    key = kms.create_key(Description="first")["KeyMetadata"]["KeyId"]
    for _ in range(250):
        kms.describe_key(KeyId=key)
    _retain(small)
    kept = small.sim.audit_trail
    assert len(kept) == 100
    assert kept.names().count("CreateKey") == 0  # the oldest went first
    ct = client(small, "cloudtrail")
    events = ct.get_paginator("lookup_events").paginate().build_full_result()["Events"]
    assert len(events) == 100 and {e["EventName"] for e in events} == {"DescribeKey"}
    audit = _admin(small, "audit?since=0&limit=10")
    assert audit["first"] == 151 and audit["total"] == 253  # and the two LookupEvents pages
    assert audit["next"] == 161 and len(audit["records"]) == 10
    assert _admin(small, "status")["auditRetention"]["first"] == 151


def test_the_bound_is_pruned_in_batches_not_per_call(small):
    kms = client(small, "kms")
    for _ in range(150):
        kms.list_keys()
    assert _retain(small) == 0  # within the slack (5%, at least 100)
    assert len(small.sim.audit_trail) == 150


def test_the_state_file_keeps_what_the_trail_keeps(small, tmp_path):
    kms = client(small, "kms")
    for _ in range(260):
        kms.list_keys()
    _retain(small)
    store = small.endpoint.store
    rows = store._db.execute("SELECT min(seq), count(*) FROM audit").fetchone()
    assert rows == (160, 100)
    again = StateStore(tmp_path / "s.db")
    sim = again.load()
    assert again.audit_base == 160
    assert len(sim.audit_trail) == 100
    assert sim.audit_trail[-1]["eventID"] == small.sim.audit_trail[-1]["eventID"]
    again.close()


def test_events_older_than_the_days_kept_are_dropped(tmp_path):
    srv = serve(make_sim(), auth=Authenticator(), speed=0.0, make_sim=make_sim,
                retention=AuditRetention(events=0, days=90))
    srv._stop.set()
    srv._ticker.join()
    try:
        kms = client(srv, "kms")
        kms.create_key(Description="old")
        with srv.endpoint.lock:
            srv.sim.clock.advance(60 * 86400)
        kms.create_key(Description="newer")
        assert srv.endpoint.retain() == 0
        with srv.endpoint.lock:
            srv.sim.clock.advance(31 * 86400)  # the first key's record is now 91 days old
        assert srv.endpoint.retain() == 1
        events = client(srv, "cloudtrail").lookup_events()["Events"]
        assert [e["EventName"] for e in events] == ["CreateKey"]
        assert json.loads(events[0]["CloudTrailEvent"])["requestParameters"][
            "description"] == "newer"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("events,days", [(-1, 90.0), (10, -1.0), (10, float("nan"))])
def test_a_negative_retention_is_refused(events, days):
    with pytest.raises(ValueError, match="audit retention"):
        AuditRetention(events, days)


def test_lookup_pages_do_not_shift_when_events_arrive_between_them(small):
    kms = client(small, "kms")
    for _ in range(60):
        kms.list_keys()
    ct = client(small, "cloudtrail")
    first = ct.lookup_events(MaxResults=50)
    for _ in range(10):
        kms.list_keys()  # newer events, and the lookup's own record
    second = ct.lookup_events(MaxResults=50, NextToken=first["NextToken"])
    ids = [e["EventId"] for e in first["Events"] + second["Events"]]
    assert len(ids) == len(set(ids)) == 60
    assert "NextToken" not in second
    with pytest.raises(ct.exceptions.InvalidNextTokenException):
        ct.lookup_events(NextToken="bm8tc3VjaC1ldmVudA==")


def test_the_cli_defaults_are_the_endpoints():
    from simulator.cli.serve import AUDIT_DAYS, AUDIT_EVENTS

    assert AuditRetention() == AuditRetention(AUDIT_EVENTS, AUDIT_DAYS)


def test_the_cli_refuses_a_negative_retention_in_one_line(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "simulator", "serve", "--ephemeral", "--port",
                          "0", "--audit-retention", "-5"], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "audit retention" in out.stderr


def test_a_lookup_is_a_read_only_record_that_keeps_no_answer(small):
    """LookupEvents is CloudTrail's read API: its record is read-only with
    ``responseElements: null`` (as DescribeKey's, ct-describekey.html), so repeated lookups
    do not nest each other's answers (each once doubled the next one's size, until the
    server ran out of memory)."""
    kms = client(small, "kms")
    key = kms.create_key(Description="k")["KeyMetadata"]["KeyId"]
    kms.describe_key(KeyId=key)
    ct = client(small, "cloudtrail")
    sizes = [len(json.dumps(ct.lookup_events(MaxResults=1)["Events"], default=str))
             for _ in range(12)]
    assert max(sizes) < 4096, sizes
    [lookup] = ct.lookup_events(
        MaxResults=1, LookupAttributes=[{"AttributeKey": "EventName",
                                         "AttributeValue": "LookupEvents"}])["Events"]
    record = json.loads(lookup["CloudTrailEvent"])
    assert record["readOnly"] is True and record["responseElements"] is None
    [describe] = ct.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "DescribeKey"}],
    )["Events"]
    assert json.loads(describe["CloudTrailEvent"])["responseElements"] is None
