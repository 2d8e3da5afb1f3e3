"""Key material never pickles in the clear; an explicit, wrapped export persists it."""

from __future__ import annotations

import io
import os
import pickle
from datetime import UTC, datetime

import pytest

from simulator import Simulation
from simulator.kms.keys import KeyMaterial

WRAPPING_KEY = bytes(range(32))


class WrappingPickler(pickle.Pickler):
    """What a server persisting a simulation does: key material leaves only wrapped."""

    def persistent_id(self, obj):
        if isinstance(obj, KeyMaterial):
            return ("KeyMaterial", obj.export_wrapped(WRAPPING_KEY))
        return None


class WrappingUnpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        kind, blob = pid
        assert kind == "KeyMaterial"
        return KeyMaterial.import_wrapped(blob, WRAPPING_KEY)


def _secrets(sim):
    kms = sim.service("kms")
    return [m.secret for k in kms.keys.values() for m in k.materials.values()]


def test_pickling_a_simulation_with_keys_is_refused_with_the_alternative():
    sim = Simulation()
    sim.client("kms").create_key()
    with pytest.raises(TypeError, match=(
            "KeyMaterial holds KMS key material and cannot be pickled in the clear; persist "
            r"it with KeyMaterial.export_wrapped\(wrapping_key\)")):
        pickle.dumps(sim)


def test_a_wrapping_pickler_round_trips_a_simulation_without_clear_material():
    sim = Simulation()
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"secret data")["CiphertextBlob"]
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    signature = kms.sign(KeyId=signer["KeyId"], Message=b"m",
                         SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    buf = io.BytesIO()
    WrappingPickler(buf).dump(sim)
    data = buf.getvalue()
    assert all(secret not in data for secret in _secrets(sim))
    restored = WrappingUnpickler(io.BytesIO(data)).load()
    again = restored.client("kms")
    assert again.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret data"
    assert again.verify(KeyId=signer["KeyId"], Message=b"m", Signature=signature,
                        SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]


def test_export_wrapped_round_trip_and_refusals():
    material = KeyMaterial("ab" * 32, datetime(2026, 1, 1, tzinfo=UTC), os.urandom(32),
                           "ON_DEMAND")
    blob = material.export_wrapped(WRAPPING_KEY)
    assert material.secret not in blob
    back = KeyMaterial.import_wrapped(blob, WRAPPING_KEY)
    assert (back.material_id, back.created, back.secret, back.rotation_type) == (
        material.material_id, material.created, material.secret, material.rotation_type)
    with pytest.raises(ValueError, match="does not open under this wrapping key"):
        KeyMaterial.import_wrapped(blob, bytes(32))
    tampered = blob[:-1] + bytes((blob[-1] ^ 1,))
    with pytest.raises(ValueError, match="does not open under this wrapping key"):
        KeyMaterial.import_wrapped(tampered, WRAPPING_KEY)
    with pytest.raises(ValueError, match="not a wrapped KeyMaterial"):
        KeyMaterial.import_wrapped(b"\x02" + blob[1:], WRAPPING_KEY)
    with pytest.raises(ValueError, match="16, 24 or 32 bytes"):
        material.export_wrapped(b"short")
