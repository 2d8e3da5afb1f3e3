"""KMS over HTTP as AWS answers it: the status codes of KMS's client errors, and the real AWS
CLI (v1) against the endpoint for what the wire and the CLI's own handling decide (paging,
blobs from files, error texts).

AWS answers every KMS client error with HTTP 400, KMSInvalidStateException and
DryRunOperationException included (responses recorded from AWS: LocalStack's AWS-validated
snapshots, tests/aws/services/kms/test_kms.snapshot.json).
"""

from __future__ import annotations

import base64

import pytest

from tests.api.awscli_runner import AwsCli, refusal
from tests.api.conftest import client


def test_kms_client_errors_are_http_400(server):
    kms = client(server, "kms")
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert refusal(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == (
        "KMSInvalidStateException", 400, f"{key['Arn']} is pending deletion.")
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    other = kms.create_key()["KeyMetadata"]
    assert refusal(kms.cancel_key_deletion, KeyId=other["KeyId"]) == (
        "KMSInvalidStateException", 400, f"{other['Arn']} is not pending deletion.")
    assert refusal(kms.generate_data_key, KeyId=other["KeyId"], KeySpec="AES_256",
                  DryRun=True) == (
        "DryRunOperationException", 400,
        "The request would have succeeded, but the DryRun option is set.")
    kms.disable_key(KeyId=other["KeyId"])
    assert refusal(kms.encrypt, KeyId=other["KeyId"], Plaintext=b"x")[:2] == (
        "DisabledException", 400)


def test_an_external_key_has_no_expiration_model_before_import(server):
    kms = client(server, "kms")
    meta = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("PendingImport", False)
    assert "ExpirationModel" not in meta
    assert "ExpirationModel" not in kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]


@pytest.mark.slow
def test_the_kms_developer_guide_examples_with_the_aws_cli(server, tmp_path):
    aws = AwsCli(server.url, tmp_path, service="kms")
    kms = client(server, "kms")
    keys = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    key = keys[0]
    aws("create-alias", "--alias-name", "alias/example-alias", "--target-key-id", key)
    assert aws("describe-key", "--key-id", "alias/example-alias")["KeyMetadata"]["KeyId"] == key

    # The CLI's paginator over Limit/Marker/NextMarker/Truncated: pages of 2, at most 2 items.
    first = aws("list-keys", "--page-size", "2", "--max-items", "2")
    assert [k["KeyId"] for k in first["Keys"]] == keys[:2] and "NextToken" in first
    rest = aws("list-keys", "--page-size", "2", "--starting-token", first["NextToken"])
    assert [k["KeyId"] for k in rest["Keys"]] == keys[2:] and "NextToken" not in rest

    # Encrypt with an encryption context, decrypt the blob read from a file.
    (tmp_path / "plain.txt").write_bytes(b"secret\n")
    blob = aws("encrypt", "--key-id", "alias/example-alias", "--plaintext",
               f"fileb://{tmp_path / 'plain.txt'}", "--encryption-context", "purpose=test")
    (tmp_path / "blob").write_bytes(base64.b64decode(blob["CiphertextBlob"]))
    plain = aws("decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
                "--encryption-context", "purpose=test")
    assert base64.b64decode(plain["Plaintext"]) == b"secret\n"
    assert plain["KeyId"].endswith(key) and plain["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"

    # An error is AWS's code and text on stderr, exit status 255 (AWS CLI v1 for a service error).
    out = aws.run("decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}")
    assert out.returncode == 255
    assert "An error occurred (InvalidCiphertextException) when calling the Decrypt operation"\
        in out.stderr
    aws("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7")
    out = aws.run("enable-key", "--key-id", key)
    assert out.returncode == 255 and (
        "(KMSInvalidStateException) when calling the EnableKey operation: "
        f"arn:aws:kms:us-west-2:111122223333:key/{key} is pending deletion.") in out.stderr
