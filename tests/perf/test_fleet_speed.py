"""The fleet's cheaper control plane: request contexts kept across instants (time keys
replaced), responses a record never shows not kept, grant-token MACs from a keyed HMAC, and
the fleet sampler's tally from the trail's outcomes."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from simulator import Simulation
from simulator.fleet.shape import FleetShape
from simulator.fleet.simulate import run_shard
from simulator.iam.authorization import RequestContexts
from simulator.iam.principal import Principal
from simulator.kms.grants import Grant, GrantStore
from tests.benchmarks.task_rate import Workload

ROOT = Principal(kind="Root", arn="arn:aws:iam::111122223333:root", account="111122223333")


class _Facts:
    def __init__(self, now: datetime) -> None:
        self.caller = ROOT
        self.now = now
        self.region = "us-west-2"
        self.source_ip = "192.0.2.10"
        self.via_service = None
        self.source_arn = None


def test_a_request_at_a_new_instant_carries_that_instants_time_and_earlier_ones_keep_theirs():
    contexts = RequestContexts(Simulation())
    t0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = contexts.request(_Facts(t0), "kms:Decrypt", "*")
    later = t0 + timedelta(seconds=90, milliseconds=250)
    second = contexts.request(_Facts(later), "kms:Decrypt", "*")
    assert first.get("aws:CurrentTime") == ("2026-01-02T03:04:05Z",)
    assert first.get("aws:EpochTime") == (int(t0.timestamp()),)
    assert second.get("aws:CurrentTime") == ("2026-01-02T03:05:35.250Z",)
    assert second.get("aws:EpochTime") == (int(later.timestamp()),)
    # Every other key is as a context built from scratch at that instant has it.
    fresh = RequestContexts(Simulation()).request(_Facts(later), "kms:Decrypt", "*")
    assert second.context == fresh.context
    assert list(second.context) == list(fresh.context)  # the same order, too


def test_a_time_key_a_service_sets_itself_is_not_replaced():
    # A service key that names a time key wins over the global one, at every instant.
    contexts = RequestContexts(Simulation(), service_keys=lambda facts: {"aws:EpochTime": 7})
    t0 = datetime(2026, 1, 2, tzinfo=UTC)
    for seconds in (0, 1, 2):
        request = contexts.request(_Facts(t0 + timedelta(seconds=seconds)), "kms:Decrypt", "*")
        assert request.get("aws:EpochTime") == (7,)
        assert request.get("aws:CurrentTime") == (f"2026-01-02T00:00:0{seconds}Z",)


def test_a_decrypt_record_keeps_no_plaintext_and_renders_as_before():
    sim = Simulation()
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"secret data key")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret data key"
    pending = sim._audit_trail._pending
    assert pending[-1][0] == ("kms.amazonaws.com", "Decrypt", None)
    assert not any(isinstance(a, dict) and "Plaintext" in a for a in pending[-1])
    record = sim.audit_trail[-1]
    assert record["eventName"] == "Decrypt" and record["responseElements"] is None
    assert "secret data key" not in repr(record)


def test_grant_tokens_verify_by_their_mac_after_a_pickle_and_forgeries_do_not():
    store = GrantStore()
    grant = Grant(grant_id="ab" * 32, key_id="k", key_arn="arn:k", grantee="g",
                  operations=("Decrypt",), created=datetime(2026, 1, 1, tzinfo=UTC),
                  issuing_account="arn:aws:iam::111122223333:root")
    store.add(grant)
    token = store.token_for(grant)
    copy = pickle.loads(pickle.dumps(store))
    copy._issued.clear()  # not a token this copy remembers issuing: its MAC decides
    assert copy.grant_id_from_token(token) == grant.grant_id
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert copy.grant_id_from_token(forged) is None
    assert GrantStore().grant_id_from_token(token) is None  # another store's secret


def test_the_fleet_tally_counts_every_call_of_the_second():
    shape = FleetShape.from_params({"pattern": "all_at_once", "tasks": 30, "seed": 3})
    result = run_shard(shape)
    timeline = result.timeline
    # Six KMS requests a task: two dry runs, the data key, the grant, Decrypt, RetireGrant
    # (the shard ends with every task running, so no RetireGrant yet).
    assert sum(timeline["kms_GenerateDataKeyWithoutPlaintext_ok"]) == 60
    assert sum(timeline["kms_CreateGrant_ok"]) == 60
    assert sum(timeline["kms_Decrypt_ok"]) == 30
    assert sum(timeline["runtask_ok"]) == 3


def test_the_benchmark_workload_still_makes_every_call():
    w = Workload(batch=2)
    w.sim.drain_audit_outcomes()
    w.round()
    names = [op for _, op, _ in w.sim.drain_audit_outcomes()]
    assert names.count("CreateGrant") == 4 and names.count("RetireGrant") == 2
