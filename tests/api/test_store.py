"""The SQLite state store: everything survives, key material never in plaintext."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from simulator import Simulation
from simulator.api.store import StateError, StateStore
from simulator.iam.seed import seed_key_policy
from simulator.kms.keys import KeyMaterial


def _world():
    sim = Simulation()
    kms = sim.client("kms")
    key = kms.create_key(Policy=json.dumps(seed_key_policy("111122223333", "web")))
    arn = key["KeyMetadata"]["Arn"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signature = kms.sign(KeyId=rsa, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="web", configuration={"managedStorageConfiguration": {
        "fargateEphemeralStorageKmsKeyId": arn}})
    ecs.register_task_definition(family="app", cpu="256", memory="512", networkMode="awsvpc",
                                 requiresCompatibilities=["FARGATE"], containerDefinitions=[
                                     {"name": "app", "image": "busybox", "essential": True}])
    task = ecs.run_task(cluster="web", taskDefinition="app", launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {
                            "subnets": ["subnet-12345678"]}})["tasks"][0]["taskArn"]
    sim.fargate.settle()
    blob = kms.encrypt(KeyId=arn, Plaintext=b"secret")["CiphertextBlob"]
    return sim, arn, rsa, signature["Signature"], task, blob


def _secrets(sim):
    for key in sim.kms.keys.values():
        for material in key.materials.values():
            if material.secret:
                yield material.secret


def test_a_restored_simulation_keeps_keys_tasks_grants_and_decrypts(tmp_path):
    sim, arn, rsa, signature, task, blob = _world()
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    store.close()
    again = StateStore(tmp_path / "s.db").load()
    assert again.audit_trail.names() == sim.audit_trail.names()
    kms = again.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    assert kms.verify(KeyId=rsa, Message=b"m", Signature=signature,
                      SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
    assert [g["Operations"] for g in kms.list_grants(KeyId=arn)["Grants"]] == [["Decrypt"]]
    ecs = again.client("ecs")
    assert ecs.describe_tasks(cluster="web", tasks=[task])["tasks"][0]["lastStatus"] == "RUNNING"
    # Fargate's KMS clients were made before the save: after the load they make a new
    # task's calls and retire both grants (they once lacked their operation cache: a 500)
    second = ecs.run_task(cluster="web", taskDefinition="app", launchType="FARGATE",
                          networkConfiguration={"awsvpcConfiguration": {
                              "subnets": ["subnet-12345678"]}})["tasks"][0]["taskArn"]
    again.fargate.settle()
    assert ecs.describe_tasks(cluster="web", tasks=[second])["tasks"][0]["lastStatus"] == (
        "RUNNING")
    assert len(kms.list_grants(KeyId=arn)["Grants"]) == 2
    ecs.stop_task(cluster="web", task=task)
    ecs.stop_task(cluster="web", task=second)
    again.fargate.settle()
    assert kms.list_grants(KeyId=arn)["Grants"] == []


def test_key_material_is_wrapped_under_an_owner_only_server_key(tmp_path):
    sim, *_ = _world()
    iam = sim.client("iam")
    iam.create_user(UserName="u")
    access = iam.create_access_key(UserName="u")["AccessKey"]
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if not p.name.endswith(".key"))
    secrets = [*_secrets(sim), access["SecretAccessKey"].encode()]
    assert len(secrets) > 1
    for secret in secrets:
        assert secret not in raw
    assert stat.S_IMODE(os.stat(tmp_path / "s.db.key").st_mode) == 0o600


def test_key_material_that_refuses_plain_pickling_is_still_stored(tmp_path, monkeypatch):
    def refuse(self):
        raise TypeError("KeyMaterial cannot be pickled")

    monkeypatch.setattr(KeyMaterial, "__reduce__", refuse, raising=False)
    monkeypatch.setattr(KeyMaterial, "__reduce_ex__", lambda self, p: refuse(self),
                        raising=False)
    sim, *_, blob = _world()
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    again = StateStore(tmp_path / "s.db").load()
    assert again.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_another_server_key_cannot_open_the_state(tmp_path):
    sim, *_ = _world()
    StateStore(tmp_path / "s.db").save(sim)
    (tmp_path / "s.db.key").write_bytes(os.urandom(32))
    with pytest.raises(StateError, match="does not open under"):
        StateStore(tmp_path / "s.db").load()


def test_a_key_file_others_can_read_is_refused(tmp_path):
    StateStore(tmp_path / "s.db")
    os.chmod(tmp_path / "s.db.key", 0o644)
    with pytest.raises(StateError, match="chmod 600"):
        StateStore(tmp_path / "s.db")


def test_what_a_task_wrote_into_its_volume_is_restored(tmp_path):
    sim, _arn, _rsa, _sig, task, _blob = _world()
    vol = sim.fargate.volume(task)
    far = vol.size - vol.sector_size * 3  # two runs, far apart: the store is sparse
    vol.write(0, b"first" * 1000)
    vol.write(far, b"last words")
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    raw = (tmp_path / "s.db").read_bytes() + (tmp_path / "s.db-wal").read_bytes()
    assert b"first" * 10 not in raw and b"last words" not in raw  # ciphertext only
    store.save(sim)  # unchanged: kept as it is
    vol.write(far, b"LAST")
    store.save(sim)  # changed: rewritten
    store.close()
    again = StateStore(tmp_path / "s.db").load()
    restored = again.fargate.volume(task)
    assert restored.read(0, 5000) == b"first" * 1000
    assert restored.read(far, 10) == b"LAST words"
    assert restored.read(4 * vol.sector_size, 8) == bytes(8)  # never written: zeros
    assert not restored.is_allocated(4)


def test_a_stopped_tasks_volume_rows_are_dropped(tmp_path):
    sim, _arn, _rsa, _sig, task, _blob = _world()
    sim.fargate.volume(task).write(0, b"gone soon")
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    assert store._db.execute("SELECT count(*) FROM volume_data").fetchone()[0] == 1
    sim.client("ecs").stop_task(cluster="web", task=task)
    sim.fargate.settle()
    store.save(sim)
    assert store._db.execute("SELECT count(*) FROM volume_data").fetchone()[0] == 0


def test_a_state_file_of_another_schema_is_refused_in_one_line(tmp_path):
    StateStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE meta SET value = '1' WHERE name = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(StateError) as info:
        StateStore(tmp_path / "s.db")
    text = str(info.value)
    assert "\n" not in text and str(tmp_path / "s.db") in text
    assert "state schema 1" in text and "another --state file" in text


def test_a_snapshot_from_before_a_class_changed_is_refused_at_load(tmp_path):
    """As snapshots written before the audit trail became a property were: they unpickled,
    then failed at the first request."""
    sim, *_ = _world()
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    store.close()
    real = Simulation.__init__

    def newer(self, *args, **kwargs):  # this version's Simulation has one attribute more
        real(self, *args, **kwargs)
        self.added_later = {}

    Simulation.__init__ = newer
    try:
        with pytest.raises(StateError) as info:
            StateStore(tmp_path / "s.db").load()
    finally:
        Simulation.__init__ = real
    text = str(info.value)
    assert "\n" not in text and "Simulation.added_later" in text
    assert "another version of fargate-sim" in text


def test_the_cli_refuses_an_incompatible_state_file_in_one_line(tmp_path):
    StateStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE meta SET value = '1' WHERE name = 'schema'")
    db.commit()
    db.close()
    out = subprocess.run([sys.executable, "-m", "simulator", "serve", "--port", "0",
                          "--state", str(tmp_path / "s.db")], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "schema 1" in out.stderr


def test_a_snapshot_from_before_iam_had_groups_is_brought_up_to_date(tmp_path):
    """A service's restored() hook runs before the check for missing attributes, so a state
    saved before a service grew one (IAM's groups) loads, and the new feature works on it."""
    sim = Simulation()
    iam = sim.client("iam")
    iam.create_user(UserName="alice")
    service = sim.service("iam")
    del service.groups, service.entities["Group"]  # as a state saved before groups were
    for entity in service.users.values():
        del entity.members
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    store.close()
    restored = StateStore(tmp_path / "s.db").load()
    iam = restored.client("iam")
    iam.create_group(GroupName="storage")
    iam.add_user_to_group(GroupName="storage", UserName="alice")
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="alice")["Groups"]] == [
        "storage"]
    with pytest.raises(Exception, match="must remove users from group first"):
        iam.delete_user(UserName="alice")


def test_a_key_saved_before_usage_was_tracked_is_tracked_from_its_restore(tmp_path):
    """GetKeyLastUsage's TrackingStartDate: "the date from which KMS began recording
    cryptographic activity for this key, or the date the KMS key was created, whichever is
    later"; for a key from an older state file, recording began when it was restored."""
    sim = Simulation()
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kept = sim.kms.keys[key["KeyId"]]
    del kept.last_usage, kept.usage_tracked_since  # as a key saved before tracking was
    sim.clock.advance(3600)
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    store.close()
    restored = StateStore(tmp_path / "s.db").load()
    out = restored.client("kms").get_key_last_usage(KeyId=key["KeyId"])
    assert out["KeyLastUsage"] == {}
    assert out["KeyCreationDate"] == key["CreationDate"]
    assert out["TrackingStartDate"] == restored.clock.now() > key["CreationDate"]
