"""Importing key material with the AWS CLI and openssl, the AWS developer guide's steps, against
the endpoint: get-parameters-for-import, openssl pkeyutl (RSAES-OAEP SHA-256), then
import-key-material with fileb:// blobs."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest

from tests.api.test_awscli_story import Aws


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_developer_guides_import_steps_with_the_aws_cli(server, tmp_path):
    aws = Aws(tmp_path, server.url)
    key = aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]
    assert key["KeyState"] == "PendingImport"
    params = aws("kms", "get-parameters-for-import", "--key-id", key["KeyId"],
                 "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_3072")
    (tmp_path / "WrappingPublicKey.bin").write_bytes(base64.b64decode(params["PublicKey"]))
    (tmp_path / "ImportToken.bin").write_bytes(base64.b64decode(params["ImportToken"]))
    subprocess.run(["openssl", "rand", "-out", str(tmp_path / "PlaintextKeyMaterial.bin"), "32"],
                   check=True)
    subprocess.run(["openssl", "pkeyutl", "-encrypt",
                    "-in", str(tmp_path / "PlaintextKeyMaterial.bin"),
                    "-out", str(tmp_path / "EncryptedKeyMaterial.bin"),
                    "-inkey", str(tmp_path / "WrappingPublicKey.bin"), "-keyform", "DER",
                    "-pubin", "-pkeyopt", "rsa_padding_mode:oaep",
                    "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"],
                   check=True)
    out = aws("kms", "import-key-material", "--key-id", key["KeyId"],
              "--encrypted-key-material", f"fileb://{tmp_path / 'EncryptedKeyMaterial.bin'}",
              "--import-token", f"fileb://{tmp_path / 'ImportToken.bin'}",
              "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert out["KeyId"] == key["KeyId"]
    meta = aws("kms", "describe-key", "--key-id", key["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    (tmp_path / "plain.txt").write_bytes(b"hello")
    sealed = aws("kms", "encrypt", "--key-id", key["KeyId"],
                 "--plaintext", f"fileb://{tmp_path / 'plain.txt'}")
    (tmp_path / "sealed.bin").write_bytes(base64.b64decode(sealed["CiphertextBlob"]))
    opened = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'sealed.bin'}")
    assert base64.b64decode(opened["Plaintext"]) == b"hello"
