"""Imported key material: wrapping with the public key KMS hands out, importing, using,
deleting, reimporting, expiring on the simulated clock, and what Fargate tasks see."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from simulator import Simulation, errors


def oaep(algorithm=hashes.SHA256):
    return padding.OAEP(mgf=padding.MGF1(algorithm=algorithm()), algorithm=algorithm(),
                        label=None)


def wrap(params: dict, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256") -> bytes:
    """Wrap ``material`` as a caller does (the AWS developer guide's openssl steps)."""
    public = serialization.load_der_public_key(params["PublicKey"])
    digest = hashes.SHA1 if algorithm.endswith("SHA_1") else hashes.SHA256
    if algorithm.startswith("RSA_AES_KEY_WRAP"):
        aes = os.urandom(32)
        return public.encrypt(aes, oaep(digest)) + aes_key_wrap_with_padding(aes, material)
    return public.encrypt(material, oaep(digest))


@pytest.fixture
def sim():
    return Simulation(account_id="111122223333")


@pytest.fixture
def kms(sim):
    return sim.client("kms")


@pytest.fixture
def external(kms):
    return kms.create_key(Origin="EXTERNAL")["KeyMetadata"]


def parameters(kms, key, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    return kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm=algorithm,
                                         WrappingKeySpec=spec)


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1",
                                       "RSA_AES_KEY_WRAP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1"])
def test_imported_material_is_the_material_the_key_encrypts_with(sim, kms, external, algorithm):
    assert external["KeyState"] == "PendingImport" and external["Enabled"] is False
    with pytest.raises(errors.ClientError) as info:
        kms.encrypt(KeyId=external["KeyId"], Plaintext=b"x")
    assert info.value.code == "KMSInvalidStateException"
    params = parameters(kms, external, algorithm)
    assert params["KeyId"] == external["Arn"]
    assert params["ParametersValidTo"] - sim.clock.now() == timedelta(hours=24)
    material = os.urandom(32)
    out = kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                                  EncryptedKeyMaterial=wrap(params, material, algorithm),
                                  ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    # The bare key id, as AWS's recorded answer has it (the API reference says key ARN).
    assert out["KeyId"] == external["KeyId"] and len(out["KeyMaterialId"]) == 64
    meta = kms.describe_key(KeyId=external["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["ExpirationModel"]) == (
        "Enabled", True, "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert "ValidTo" not in meta
    blob = kms.encrypt(KeyId=external["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # The key encrypts with the caller's material: the ciphertext opens under it alone.
    key = sim.service("kms").keys[external["KeyId"]]
    assert key.materials[key.current_material_id].secret == material


def test_deleted_material_comes_back_only_as_itself(kms, external):
    material = os.urandom(32)
    params = parameters(kms, external)
    kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, material),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    blob = kms.encrypt(KeyId=external["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
    current = kms.describe_key(KeyId=external["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    out = kms.delete_imported_key_material(KeyId=external["KeyId"])
    assert (out["KeyId"], out["KeyMaterialId"]) == (external["Arn"], current)
    meta = kms.describe_key(KeyId=external["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and meta["Enabled"] is False
    # As AWS's recorded DescribeKey: no ExpirationModel, the material id kept.
    assert "ExpirationModel" not in meta and meta["CurrentKeyMaterialId"] == current
    with pytest.raises(errors.ClientError) as info:
        kms.decrypt(CiphertextBlob=blob)
    assert info.value.code == "KMSInvalidStateException"
    params = parameters(kms, external)
    with pytest.raises(errors.ClientError) as info:
        kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(32)),
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert info.value.code == "IncorrectKeyMaterialException"
    kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, material),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_material_expires_on_the_simulated_clock(sim, kms, external):
    params = parameters(kms, external)
    valid_to = sim.clock.now() + timedelta(days=2)
    kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, os.urandom(32)), ValidTo=valid_to)
    meta = kms.describe_key(KeyId=external["KeyId"])["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and meta["ValidTo"] == valid_to
    sim.clock.advance(timedelta(days=2, seconds=1))
    meta = kms.describe_key(KeyId=external["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and "ExpirationModel" not in meta


@pytest.mark.parametrize("kwargs,code,words", [
    ({}, "ValidationException", "validTo date must be set"),
    ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": "+1d"},
     "ValidationException", "only valid if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
    ({"ValidTo": "+400d"}, "ValidationException", "at most 365 days"),
    ({"ValidTo": "-1d"}, "ValidationException", "in the future"),
])
def test_expiration_settings_are_checked(sim, kms, external, kwargs, code, words):
    params = parameters(kms, external)
    if "ValidTo" in kwargs:
        sign, days = kwargs["ValidTo"][0], int(kwargs["ValidTo"][1:-1])
        kwargs = {**kwargs, "ValidTo": sim.clock.now() + timedelta(days=days if sign == "+"
                                                                      else -days)}
    with pytest.raises(errors.ClientError) as info:
        kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(32)), **kwargs)
    assert info.value.code == code and words in info.value.message


def test_tokens_wrapping_and_lengths_are_checked(sim, kms, external):
    params = parameters(kms, external)
    other = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    good = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    with pytest.raises(errors.ClientError) as info:  # another key's token
        kms.import_key_material(KeyId=other["KeyId"], ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(32)), **good)
    assert info.value.code == "InvalidImportTokenException"
    with pytest.raises(errors.ClientError) as info:  # wrapped with SHA-1 for a SHA-256 token
        kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(32),
                                                          "RSAES_OAEP_SHA_1"), **good)
    assert info.value.code == "InvalidCiphertextException"
    with pytest.raises(errors.ClientError) as info:  # 128 bits: a symmetric key takes 256
        kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(16)), **good)
    assert info.value.code == "ValidationException" and "16 bytes" in info.value.message
    sim.clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(errors.ClientError) as info:
        kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(32)), **good)
    assert info.value.code == "ExpiredImportTokenException"
    native = kms.create_key()["KeyMetadata"]
    for call in (lambda: parameters(kms, native),
                 lambda: kms.delete_imported_key_material(KeyId=native["KeyId"])):
        with pytest.raises(errors.ClientError) as info:
            call()
        assert info.value.code == "UnsupportedOperationException"
        assert "origin is AWS_KMS which is not valid for this operation" in info.value.message


def test_the_deprecated_wrapping_algorithm_is_refused_and_deleting_keeps_pending_deletion(
        kms, external):
    with pytest.raises(errors.ClientError) as info:
        parameters(kms, external, "RSAES_PKCS1_V1_5")
    assert info.value.code == "ValidationException" and "RSAES_PKCS1_V1_5" in info.value.message
    params = parameters(kms, external)
    kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, os.urandom(32)),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    kms.schedule_key_deletion(KeyId=external["KeyId"], PendingWindowInDays=7)
    kms.delete_imported_key_material(KeyId=external["KeyId"])
    assert kms.describe_key(KeyId=external["KeyId"])["KeyMetadata"]["KeyState"] == \
        "PendingDeletion"


def test_hmac_keys_take_material_of_their_length(kms):
    key = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256",
                         KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    params = parameters(kms, key)
    secret = os.urandom(48)
    kms.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, secret),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    import hmac

    mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(secret, b"m", "sha256").digest()


def test_a_cluster_on_imported_material_runs_tasks_until_it_expires(sim):
    """The question an operator of an imported key asks: what happens to tasks when the
    material expires? Running tasks keep their data key; new ones fail to start, naming
    the key's state."""
    from tests.ecs.helpers import make_cluster, make_key, register, run

    key = make_key(sim, Origin="EXTERNAL")
    kms = sim.client("kms")
    params = kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    kms.import_key_material(KeyId=key, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, os.urandom(32)),
                            ValidTo=sim.clock.now() + timedelta(hours=1))
    make_cluster(sim, key=key)
    td = register(sim)
    [running] = run(sim, td)
    assert running["lastStatus"] == "RUNNING"
    assert running["fargateEphemeralStorage"]["kmsKeyId"] == key
    sim.clock.advance(timedelta(hours=2))
    [late] = run(sim, td)
    assert late["lastStatus"] == "STOPPED" and late["stopCode"] == "TaskFailedToStart"
    assert "KMSInvalidStateException" in late["stoppedReason"]
    assert "pending import" in late["stoppedReason"]
    [still] = sim.client("ecs").describe_tasks(cluster="prod",
                                               tasks=[running["taskArn"]])["tasks"]
    assert still["lastStatus"] == "RUNNING"


def test_cloudtrail_records_what_kms_does_on_its_own(sim, kms, external):
    """Expired material and a key deleted at the end of its waiting period are CloudTrail
    AwsServiceEvents by "AWS Internal", at the instant they happen."""
    params = parameters(kms, external)
    kms.import_key_material(KeyId=external["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, os.urandom(32)),
                            ValidTo=sim.clock.now() + timedelta(hours=1))
    doomed = kms.create_key()["KeyMetadata"]
    when = kms.schedule_key_deletion(KeyId=doomed["KeyId"],
                                     PendingWindowInDays=7)["DeletionDate"]
    mark = len(sim.audit_trail)
    expiry = (sim.clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sim.clock.advance(timedelta(days=8))
    events = sim.audit_trail[mark:]
    assert [(e["eventName"], e["eventType"]) for e in events] == [
        ("DeleteExpiredKeyMaterial", "AwsServiceEvent"), ("DeleteKey", "AwsServiceEvent")]
    expired, deleted = events
    assert expired["eventTime"] == expiry
    assert expired["userIdentity"] == {"accountId": "111122223333", "invokedBy": "AWS Internal"}
    assert expired["serviceEventDetails"]["keyId"] == external["KeyId"]
    assert deleted["resources"][0]["ARN"] == doomed["Arn"]
    assert deleted["responseElements"] == {"keyId": doomed["Arn"]}
    assert deleted["eventTime"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_import_type_and_material_id_as_far_as_one_material_goes(kms, external):
    material = os.urandom(32)
    params = parameters(kms, external)
    good = {"KeyId": external["KeyId"], "ImportToken": params["ImportToken"],
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    with pytest.raises(errors.ClientError) as info:
        kms.import_key_material(**good, EncryptedKeyMaterial=wrap(params, material),
                                ImportType="EXISTING_KEY_MATERIAL")
    assert info.value.code == "ValidationException"
    out = kms.import_key_material(**good, EncryptedKeyMaterial=wrap(params, material),
                                  ImportType="NEW_KEY_MATERIAL")
    mid = out["KeyMaterialId"]
    # The same token again within its 24 hours, the material's own id, the documented reimport.
    kms.import_key_material(**good, EncryptedKeyMaterial=wrap(params, material),
                            ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=mid)
    with pytest.raises(errors.ClientError) as info:
        kms.import_key_material(**good, EncryptedKeyMaterial=wrap(params, material),
                                KeyMaterialId="0" * 64)
    assert info.value.code == "IncorrectKeyMaterialException"
    with pytest.raises(errors.ClientError) as info:
        kms.import_key_material(**good, EncryptedKeyMaterial=wrap(params, os.urandom(32)),
                                ImportType="NEW_KEY_MATERIAL")
    assert info.value.code == "UnsupportedOperationException"
    with pytest.raises(errors.ClientError) as info:
        kms.delete_imported_key_material(KeyId=external["KeyId"], KeyMaterialId="0" * 64)
    assert info.value.code == "NotFoundException"
    kms.delete_imported_key_material(KeyId=external["KeyId"], KeyMaterialId=mid)
    assert kms.describe_key(KeyId=external["KeyId"])["KeyMetadata"]["KeyState"] == \
        "PendingImport"
