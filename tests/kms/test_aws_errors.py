"""KMS's error codes and messages, exactly as AWS returns them.

Each case is (setup, operation, request) -> (code, message) taken from responses recorded from
real AWS: LocalStack's AWS-validated KMS test suite keeps them as snapshots
(localstack/localstack ``tests/aws/services/kms/test_kms.snapshot.json``; the case ids below
are its test names), and one quoted from AWS in a Terraform issue. ``{arn}`` stands for the
key's ARN, ``{key_id}`` for its id. Cases marked "provider" are texts LocalStack's provider
reproduces for AWS without a recorded snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from simulator import Simulation, errors
from simulator.kms.quotas import ON_DEMAND_ROTATIONS_PER_KEY
from tests.ecs.helpers import make_cluster, make_key, register, run
from tests.kms.conftest import ACCOUNT, explanation_of

SYMMETRIC: dict[str, Any] = {}
HMAC_224 = {"KeySpec": "HMAC_224", "KeyUsage": "GENERATE_VERIFY_MAC"}
HMAC_256 = {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}
RSA_SIGN = {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}
ECC_SIGN = {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}
ECC_AGREE = {"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}
MISSING_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass
class World:
    """What a case's setup made: the client, the key, and values requests refer to."""

    sim: Simulation
    kms: Any
    key: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def fill(self, template: Any) -> Any:
        """``template`` with ``{arn}``, ``{key_id}`` and setup values put in."""
        if isinstance(template, str):
            names = dict(self.values)
            if self.key is not None:
                names.update(arn=self.key["Arn"], key_id=self.key["KeyId"])
            return template.format(**names) if "{" in template else template
        if isinstance(template, dict):
            return {k: self.fill(v) for k, v in template.items()}
        if isinstance(template, list):
            return [self.fill(v) for v in template]
        if callable(template):
            return template(self)
        return template


Setup = Callable[[World], None]


def key_of(**spec: Any) -> Setup:
    def setup(w: World) -> None:
        w.key = w.kms.create_key(**spec)["KeyMetadata"]
    return setup


def then(*steps: Setup) -> Setup:
    def setup(w: World) -> None:
        for step in steps:
            step(w)
    return setup


def disabled(w: World) -> None:
    w.kms.disable_key(KeyId=w.key["KeyId"])


def pending_deletion(w: World) -> None:
    w.kms.schedule_key_deletion(KeyId=w.key["KeyId"], PendingWindowInDays=7)


def ciphertext(context: dict[str, str] | None = None) -> Setup:
    """A ciphertext under a second, symmetric key (the request's key is ``w.key``)."""
    def setup(w: World) -> None:
        other = w.kms.create_key()["KeyMetadata"]
        w.values["other"] = other["KeyId"]
        w.values["blob"] = w.kms.encrypt(
            KeyId=other["KeyId"], Plaintext=b"test message 123!@#",
            EncryptionContext=context or {})["CiphertextBlob"]
    return setup


def own_ciphertext(context: dict[str, str]) -> Setup:
    def setup(w: World) -> None:
        w.values["blob"] = w.kms.encrypt(
            KeyId=w.key["KeyId"], Plaintext=b"secret", EncryptionContext=context)[
            "CiphertextBlob"]
    return setup


def data_key(op: str, **params: Any) -> Setup:
    """A wrapped data key (or private key) made under the key with an encryption context."""
    def setup(w: World) -> None:
        out = getattr(w.kms, op)(KeyId=w.key["KeyId"], EncryptionContext={"a": "b"}, **params)
        w.values["blob"] = out.get("CiphertextBlob") or out["PrivateKeyCiphertextBlob"]
    return setup


def signature_of(message: bytes, algorithm: str) -> Setup:
    def setup(w: World) -> None:
        w.values["sig"] = w.kms.sign(KeyId=w.key["KeyId"], Message=message,
                                     SigningAlgorithm=algorithm)["Signature"]
    return setup


def public_key(w: World) -> None:
    peer = w.kms.create_key(**ECC_AGREE)["KeyMetadata"]
    w.values["peer"] = w.kms.get_public_key(KeyId=peer["KeyId"])["PublicKey"]


def rotated(times: int) -> Setup:
    def setup(w: World) -> None:
        for _ in range(times):
            w.kms.rotate_key_on_demand(KeyId=w.key["KeyId"])
    return setup


def value(name: str) -> Callable[[World], Any]:
    return lambda w: w.values[name]


def truncated(w: World) -> bytes:
    return w.values["blob"][8:]


def tags(n: int, prefix: str = "key") -> list[dict[str, str]]:
    return [{"TagKey": f"{prefix}{i}", "TagValue": f"value{i}"} for i in range(n)]


ARN_IN = f"arn:aws:kms:{{region}}:{ACCOUNT}:key/{MISSING_KEY}"
INCORRECT = "The key ID in the request does not identify a CMK that can perform this operation."
DIGEST_256 = hashlib.sha256(b"m").digest()

#: (id, setup, operation, request, code, message)
CASES: list[tuple[str, Setup | None, str, dict[str, Any], str, str]] = [
    # test_generate_random_invalid_number_of_bytes
    ("generate_random-none", None, "generate_random", {}, "ValidationException",
     "NumberOfBytes is required."),
    ("generate_random-0", None, "generate_random", {"NumberOfBytes": 0}, "ValidationException",
     "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: "
     "Member must have value greater than or equal to 1"),
    ("generate_random-1025", None, "generate_random", {"NumberOfBytes": 1025},
     "ValidationException",
     "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
     "constraint: Member must have value less than or equal to 1024"),
    # test_encrypt_validate_plaintext_size_per_key_type
    *[(f"encrypt-too-long-{spec}-{alg}", key_of(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT"),
       "encrypt", {"KeyId": "{key_id}", "Plaintext": b"x" * (limit + 1),
                   "EncryptionAlgorithm": alg}, "ValidationException",
       f"Algorithm {alg} and key spec {spec} cannot encrypt data larger than {limit} bytes.")
      for spec, alg, limit in [
          ("RSA_2048", "RSAES_OAEP_SHA_1", 214), ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
          ("RSA_3072", "RSAES_OAEP_SHA_1", 342), ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
          ("RSA_4096", "RSAES_OAEP_SHA_1", 470), ("RSA_4096", "RSAES_OAEP_SHA_256", 446)]],
    # test_plaintext_size_for_encrypt
    ("encrypt-over-4096", key_of(), "encrypt", {"KeyId": "{key_id}", "Plaintext": b"m" * 4097},
     "ValidationException", "1 validation error detected: Value at 'plaintext' failed to "
     "satisfy constraint: Member must have length less than or equal to 4096"),
    # test_get_key_in_different_region, test_get_key_does_not_exist, test_get_key_invalid_uuid
    ("describe-other-region-arn", None, "describe_key",
     {"KeyId": ARN_IN.format(region="eu-central-1")}, "NotFoundException",
     "Invalid arn eu-central-1"),
    ("describe-missing-id", None, "describe_key", {"KeyId": MISSING_KEY}, "NotFoundException",
     f"Key 'arn:aws:kms:us-west-2:{ACCOUNT}:key/{MISSING_KEY}' does not exist"),
    ("describe-missing-arn", None, "describe_key",
     {"KeyId": ARN_IN.format(region="us-west-2")}, "NotFoundException",
     f"Key '{ARN_IN.format(region='us-west-2')}' does not exist"),
    ("describe-missing-mrk", None, "describe_key",
     {"KeyId": "mrk-" + "a" * 32}, "NotFoundException",
     f"Key 'arn:aws:kms:us-west-2:{ACCOUNT}:key/mrk-{'a' * 32}' does not exist"),
    ("describe-invalid-uuid", None, "describe_key", {"KeyId": "fake-key-id"},
     "NotFoundException", "Invalid keyId 'fake-key-id'"),
    ("describe-invalid-uuid-2", None, "describe_key",
     {"KeyId": "134f2428cec14b25a1ae9048164dba47"}, "NotFoundException",
     "Invalid keyId '134f2428cec14b25a1ae9048164dba47'"),
    ("describe-invalid-mrk", None, "describe_key", {"KeyId": "mrk-fake-key-id"},
     "NotFoundException", "Invalid keyId 'mrk-fake-key-id'"),
    ("generate_mac-invalid-key-id", None, "generate_mac",
     {"KeyId": "key_id", "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
     "NotFoundException", "Invalid keyId 'key_id'"),
    # test_create_alias
    ("create_alias-no-prefix", key_of(), "create_alias",
     {"AliasName": "no-prefix", "TargetKeyId": "{key_id}"}, "ValidationException",
     'Alias must start with the prefix "alias/". Please see '
     "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"),
    # test_sign_verify
    ("sign-bad-digest", key_of(**ECC_SIGN), "sign",
     {"KeyId": "{key_id}", "Message": b"not a digest", "MessageType": "DIGEST",
      "SigningAlgorithm": "ECDSA_SHA_256"},
     "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256."),
    ("verify-bad-signature", then(key_of(**ECC_SIGN), signature_of(b"bad", "ECDSA_SHA_256")),
     "verify", {"KeyId": "{key_id}", "Message": b"test message", "Signature": value("sig"),
                "SigningAlgorithm": "ECDSA_SHA_256"}, "KMSInvalidSignatureException", ""),
    # test_hmac_create_key_invalid_operations
    ("create_key-hmac-without-usage", None, "create_key", {"KeySpec": "HMAC_256"},
     "ValidationException",
     "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    # test_invalid_generate_mac, test_invalid_verify_mac
    ("generate_mac-algorithm-for-other-spec", key_of(**HMAC_224), "generate_mac",
     {"KeyId": "{key_id}", "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
     "InvalidKeyUsageException", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224."),
    ("verify_mac-algorithm-for-other-spec", key_of(**HMAC_256), "verify_mac",
     {"KeyId": "{key_id}", "Message": b"m", "MacAlgorithm": "HMAC_SHA_512", "Mac": b"x" * 64},
     "InvalidKeyUsageException", "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256."),
    ("verify_mac-wrong-mac", key_of(**HMAC_256), "verify_mac",
     {"KeyId": "{key_id}", "Message": b"m", "MacAlgorithm": "HMAC_SHA_256", "Mac": b"x" * 32},
     "KMSInvalidMacException", ""),
    # test_import_key_symmetric (a key waiting for imported material)
    ("encrypt-pending-import", key_of(Origin="EXTERNAL"), "encrypt",
     {"KeyId": "{key_id}", "Plaintext": b"m"}, "KMSInvalidStateException",
     "{arn} is pending import."),
    # test_error_messaging_for_invalid_keys
    ("generate_mac-encryption-key", key_of(), "generate_mac",
     {"KeyId": "{key_id}", "Message": b"m", "MacAlgorithm": "HMAC_SHA_224"},
     "InvalidKeyUsageException",
     "{arn} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac."),
    ("sign-hmac-key", key_of(**HMAC_224), "sign",
     {"KeyId": "{key_id}", "Message": b"m", "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
     "InvalidKeyUsageException",
     "{arn} key usage is GENERATE_VERIFY_MAC which is not valid for Sign."),
    ("verify-encryption-key", key_of(), "verify",
     {"KeyId": "{key_id}", "Message": b"m", "Signature": b"random text",
      "SigningAlgorithm": "ECDSA_SHA_256"}, "InvalidKeyUsageException",
     "{arn} key usage is ENCRYPT_DECRYPT which is not valid for Verify."),
    ("encrypt-signing-key", key_of(**RSA_SIGN), "encrypt",
     {"KeyId": "{key_id}", "Plaintext": b"m"}, "InvalidKeyUsageException",
     "{arn} key usage is SIGN_VERIFY which is not valid for Encrypt."),
    ("decrypt-hmac-key", then(key_of(**HMAC_224), ciphertext()), "decrypt",
     {"KeyId": "{key_id}", "CiphertextBlob": value("blob")}, "IncorrectKeyException", INCORRECT),
    # test_re_encrypt_incorrect_source_key
    ("re_encrypt-hmac-source", then(key_of(**HMAC_224), ciphertext()), "re_encrypt",
     {"SourceKeyId": "{key_id}", "DestinationKeyId": "{key_id}",
      "CiphertextBlob": value("blob"), "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
      "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
     "IncorrectKeyException", INCORRECT),
    # test_encrypt_decrypt_encryption_context
    ("decrypt-without-context", then(key_of(), own_ciphertext({"context-key": "v"})), "decrypt",
     {"KeyId": "{key_id}", "CiphertextBlob": value("blob")}, "InvalidCiphertextException", ""),
    ("decrypt-truncated", then(key_of(), own_ciphertext({"context-key": "v"})), "decrypt",
     {"KeyId": "{key_id}", "CiphertextBlob": truncated,
      "EncryptionContext": {"context-key": "v"}}, "InvalidCiphertextException", ""),
    # test_encryption_context_generate_data_key*
    *[(f"{op}-decrypt-without-context", then(key_of(), data_key(op, **extra)), "decrypt",
       {"CiphertextBlob": value("blob")}, "InvalidCiphertextException", "")
      for op, extra in [("generate_data_key", {"KeySpec": "AES_256"}),
                        ("generate_data_key_without_plaintext", {"KeySpec": "AES_256"}),
                        ("generate_data_key_pair", {"KeyPairSpec": "ECC_NIST_P256"}),
                        ("generate_data_key_pair_without_plaintext",
                         {"KeyPairSpec": "ECC_NIST_P256"})]],
    # test_derive_shared_secret
    ("derive-signing-key", then(key_of(**ECC_SIGN), public_key), "derive_shared_secret",
     {"KeyId": "{key_id}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": value("peer")},
     "InvalidKeyUsageException",
     "{arn} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret."),
    ("create_key-rsa-key-agreement", None, "create_key",
     {"KeySpec": "RSA_2048", "KeyUsage": "KEY_AGREEMENT"}, "ValidationException",
     "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048"),
    ("derive-invalid-algorithm", then(key_of(**ECC_AGREE), public_key), "derive_shared_secret",
     {"KeyId": "{key_id}", "KeyAgreementAlgorithm": "INVALID", "PublicKey": value("peer")},
     "ValidationException", "1 validation error detected: Value 'INVALID' at "
     "'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value "
     "set: [ECDH]"),
    ("derive-encryption-key", then(key_of(), public_key), "derive_shared_secret",
     {"KeyId": "{key_id}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": value("peer")},
     "InvalidKeyUsageException",
     "{arn} key usage is ENCRYPT_DECRYPT which is not valid for DeriveSharedSecret."),
    ("derive-invalid-public-key", key_of(**ECC_AGREE), "derive_shared_secret",
     {"KeyId": "{key_id}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": b"InvalidPublicKey"},
     "ValidationException", ""),
    # tags: test_tag_key_with_duplicate_tag_keys_raises_error, ..._too_many_tags_...,
    # test_tag_existing_key_with_invalid_tag_key, test_create_key_with_invalid_tag_key,
    # test_key_with_long_tag_value_raises_error
    ("tag_resource-duplicate-keys", key_of(), "tag_resource",
     {"KeyId": "{key_id}", "Tags": [{"TagKey": "tag1", "TagValue": "value1"},
                                    {"TagKey": "tag1", "TagValue": "another-value1"}]},
     "TagException", "Duplicate tag keys"),
    ("create_key-51-tags", None, "create_key", {"Tags": tags(51)}, "TagException",
     "Too many tags"),
    ("tag_resource-aws-prefix", key_of(), "tag_resource",
     {"KeyId": "{key_id}", "Tags": [{"TagKey": "aws:key1", "TagValue": "value1"}]},
     "TagException", "Tags beginning with aws: are reserved"),
    ("create_key-aws-prefix", None, "create_key",
     {"Tags": [{"TagKey": "aws:key1", "TagValue": "value1"}]}, "TagException",
     "Tags beginning with aws: are reserved"),
    ("create_key-AWS-prefix", None, "create_key",
     {"Tags": [{"TagKey": "AWS:key1", "TagValue": "value1"}]}, "TagException",
     "Tags beginning with aws: are reserved"),
    ("create_key-long-tag-key", None, "create_key",
     {"Tags": [{"TagKey": "a" * 129, "TagValue": "value1"}]}, "ValidationException",
     f"1 validation error detected: Value '{'a' * 129}' at 'tags.1.member.tagKey' failed to "
     "satisfy constraint: Member must have length less than or equal to 128"),
    ("create_key-long-tag-value", None, "create_key",
     {"Tags": [{"TagKey": "tag1", "TagValue": "v" * 257}]}, "ValidationException",
     f"1 validation error detected: Value '{'v' * 257}' at 'tags.1.member.tagValue' failed "
     "to satisfy constraint: Member must have length less than or equal to 256"),
    # rotation: test_rotate_key_on_demand_raises_error_given_*, test_key_rotations_limits,
    # test_rotate_key_on_demand_on_external_key_with_no_key_material
    ("rotate-disabled-rsa", then(key_of(KeySpec="RSA_4096", KeyUsage="ENCRYPT_DECRYPT"),
                                 disabled),
     "rotate_key_on_demand", {"KeyId": "{key_id}"}, "DisabledException", "{arn} is disabled."),
    ("rotate-missing-key", None, "rotate_key_on_demand", {"KeyId": MISSING_KEY},
     "NotFoundException",
     f"Key 'arn:aws:kms:us-west-2:{ACCOUNT}:key/{MISSING_KEY}' does not exist"),
    ("rotate-rsa", key_of(KeySpec="RSA_4096", KeyUsage="ENCRYPT_DECRYPT"),
     "rotate_key_on_demand", {"KeyId": "{key_id}"}, "UnsupportedOperationException", ""),
    ("rotate-limit", then(key_of(), rotated(ON_DEMAND_ROTATIONS_PER_KEY)),
     "rotate_key_on_demand", {"KeyId": "{key_id}"},
     "LimitExceededException", "The on-demand rotations limit has been reached for the given "
     "keyId. No more on-demand rotations can be performed for this key: {arn}"),
    ("rotate-external-without-material", key_of(Origin="EXTERNAL"), "rotate_key_on_demand",
     {"KeyId": "{key_id}"}, "KMSInvalidStateException", "{arn} is pending import."),
    # test_generate_data_key_pair_dry_run
    ("generate_data_key_pair-dry-run", key_of(), "generate_data_key_pair",
     {"KeyId": "{key_id}", "KeyPairSpec": "RSA_2048", "DryRun": True},
     "DryRunOperationException",
     "The request would have succeeded, but the DryRun option is set."),
    # Quoted from AWS by hashicorp/terraform-provider-aws issue 17889 ("error scheduling
    # deletion for KMS Key ...: KMSInvalidStateException: <arn> is pending deletion.").
    ("schedule_key_deletion-pending-deletion", then(key_of(), pending_deletion),
     "schedule_key_deletion", {"KeyId": "{key_id}", "PendingWindowInDays": 7},
     "KMSInvalidStateException", "{arn} is pending deletion."),
    # Provider (LocalStack's texts for AWS's key-state errors; the disabled one is recorded
    # above for RotateKeyOnDemand).
    ("encrypt-disabled", then(key_of(), disabled), "encrypt",
     {"KeyId": "{key_id}", "Plaintext": b"m"}, "DisabledException", "{arn} is disabled."),
    ("encrypt-pending-deletion", then(key_of(), pending_deletion), "encrypt",
     {"KeyId": "{key_id}", "Plaintext": b"m"}, "KMSInvalidStateException",
     "{arn} is pending deletion."),
]


@pytest.mark.parametrize(
    ("setup", "operation", "request_", "code", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_error_is_what_aws_returns(setup, operation, request_, code, message):
    sim = Simulation(account_id=ACCOUNT, region="us-west-2")
    world = World(sim, sim.client("kms"))
    if setup is not None:
        setup(world)
    with pytest.raises(errors.ClientError) as info:
        getattr(world.kms, operation)(**world.fill(request_))
    assert info.value.code == code
    assert info.value.message == world.fill(message)
    assert info.value.response["Error"] == {"Code": code, "Message": world.fill(message)}


@pytest.mark.parametrize(
    "case", [c for c in CASES if c[5] == ""], ids=lambda c: c[0],
)
def test_an_empty_aws_message_has_our_explanation_beside_it(case):
    _, setup, operation, request_, _, _ = case
    sim = Simulation(account_id=ACCOUNT, region="us-west-2")
    world = World(sim, sim.client("kms"))
    if setup is not None:
        setup(world)
    with pytest.raises(errors.ClientError) as info:
        getattr(world.kms, operation)(**world.fill(request_))
    assert info.value.message == ""
    assert len(explanation_of(info.value)) > 10


def test_a_disabled_key_reaches_the_tasks_stopped_reason_in_aws_words(sim):
    # The Fargate agent builds stoppedReason from the KMS error's code and message.
    key = make_key(sim)
    make_cluster(sim, key=key)
    sim.client("kms").disable_key(KeyId=key)
    [task] = run(sim, register(sim))
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].endswith(
        "kms:GenerateDataKeyWithoutPlaintext failed with DisabledException: "
        f"{key} is disabled."
    )


def test_over_http_boto3_sees_the_same_codes_and_messages():
    # What a real client reads from the wire: the empty message stays empty, and the
    # server-side range check answers a client that skips botocore's own validation.
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError as BotoClientError

    from simulator.api import serve

    srv = serve(Simulation(account_id=ACCOUNT))
    try:
        kms = boto3.client(
            "kms", endpoint_url=srv.url, region_name="us-west-2", aws_access_key_id="AKIDROOT",
            aws_secret_access_key="x", config=Config(parameter_validation=False))
        key = kms.create_key()["KeyMetadata"]
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"m",
                           EncryptionContext={"a": "b"})["CiphertextBlob"]
        with pytest.raises(BotoClientError) as info:
            kms.decrypt(CiphertextBlob=blob)
        assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"
        assert info.value.response["Error"].get("Message", "") == ""
        with pytest.raises(BotoClientError) as info:
            kms.generate_random(NumberOfBytes=0)
        assert info.value.response["Error"]["Message"] == (
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1")
    finally:
        srv.shutdown()
        srv.server_close()
