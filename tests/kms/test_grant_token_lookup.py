"""A request's grant tokens name the grant to try first; the decision is the same either way."""

from __future__ import annotations

import pytest

from simulator import errors
from tests.kms.conftest import APP_ROLE, make_role


@pytest.fixture
def app(sim):
    make_role(sim, "App")
    return sim.client("kms", principal=APP_ROLE)


def _grant(kms, key, context):
    return kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                            Constraints={"EncryptionContextSubset": context})


def test_the_token_of_a_matching_grant_allows_among_many(kms, key, app):
    tokens = [_grant(kms, key, {"task": str(i)})["GrantToken"] for i in range(50)]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"task": "37"})[
        "CiphertextBlob"]
    for given in ([tokens[37]], [tokens[3]], [], [tokens[3], tokens[37]]):
        out = app.decrypt(CiphertextBlob=blob, EncryptionContext={"task": "37"},
                          GrantTokens=given)
        assert out["Plaintext"] == b"x"


def test_a_token_does_not_widen_what_its_grant_allows(kms, key, app):
    token = _grant(kms, key, {"task": "1"})["GrantToken"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"task": "2"})[
        "CiphertextBlob"]
    with pytest.raises(errors.AccessDeniedException):
        app.decrypt(CiphertextBlob=blob, EncryptionContext={"task": "2"}, GrantTokens=[token])


def test_a_token_for_another_key_or_grantee_allows_nothing(kms, key, app, sim):
    other = kms.create_key()["KeyMetadata"]
    foreign = kms.create_grant(KeyId=other["KeyId"], GranteePrincipal=APP_ROLE,
                               Operations=["Decrypt"])["GrantToken"]
    make_role(sim, "Else")
    not_app = kms.create_grant(KeyId=key["KeyId"],
                               GranteePrincipal=APP_ROLE.replace("App", "Else"),
                               Operations=["Decrypt"])["GrantToken"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    for token in (foreign, not_app):
        with pytest.raises(errors.AccessDeniedException):
            app.decrypt(CiphertextBlob=blob, GrantTokens=[token])
