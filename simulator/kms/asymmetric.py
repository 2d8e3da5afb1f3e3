"""The cryptography of asymmetric and HMAC keys: RSA-OAEP, RSA/ECDSA signatures, HMAC.

Private keys are generated on first use (an RSA 4096 key takes a second) and never leave the
key record. Raises ``ValueError`` for inputs the algorithm refuses (message too long for
RSA-OAEP, digest of the wrong length); the service turns that into ValidationException.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}


def generate_private_key(key_spec: str) -> Any:
    """A new private key for an RSA_* or ECC_* key spec."""
    if key_spec.startswith("RSA_"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_spec[4:]))
    return ec.generate_private_key(_CURVES[key_spec]())


def public_key_der(private_key: Any) -> bytes:
    """The public key as DER-encoded SubjectPublicKeyInfo, as GetPublicKey returns it."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_der(private_key: Any) -> bytes:
    """The private key as unencrypted DER PKCS#8, as GenerateDataKeyPair returns it."""
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return _HASHES["SHA_" + algorithm.rsplit("_", 1)[-1]]()


def _oaep(algorithm: str) -> padding.OAEP:
    h = hashes.SHA1() if algorithm == "RSAES_OAEP_SHA_1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def rsa_encrypt(private_key: Any, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES-OAEP encryption with the key's public half."""
    return private_key.public_key().encrypt(plaintext, _oaep(algorithm))


def rsa_decrypt(private_key: Any, algorithm: str, ciphertext: bytes) -> bytes:
    """RSAES-OAEP decryption; ValueError when the ciphertext does not decrypt."""
    return private_key.decrypt(ciphertext, _oaep(algorithm))


def _signature_args(private_key: Any, algorithm: str, message: bytes, digest: bool
                    ) -> tuple[bytes, tuple[Any, ...]]:
    h = _hash_of(algorithm)
    if digest and len(message) != h.digest_size:
        raise ValueError(
            f"a DIGEST message for {algorithm} must be {h.digest_size} bytes, got {len(message)}"
        )
    algo: Any = utils.Prehashed(h) if digest else h
    if algorithm.startswith("ECDSA"):
        return message, (ec.ECDSA(algo),)
    if algorithm.startswith("RSASSA_PSS"):
        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
        return message, (pad, algo)
    return message, (padding.PKCS1v15(), algo)


def sign(private_key: Any, algorithm: str, message: bytes, digest: bool) -> bytes:
    """A signature of ``message`` (or of the digest ``message`` when ``digest``)."""
    msg, args = _signature_args(private_key, algorithm, message, digest)
    return private_key.sign(msg, *args)


def verify(private_key: Any, algorithm: str, message: bytes, signature: bytes,
           digest: bool) -> bool:
    """Whether ``signature`` is valid for ``message`` under the key's public half."""
    msg, args = _signature_args(private_key, algorithm, message, digest)
    try:
        private_key.public_key().verify(signature, msg, *args)
    except InvalidSignature:
        return False
    return True


def derive_shared_secret(private_key: Any, peer_public_der: bytes) -> bytes:
    """ECDH between the key and a peer's DER public key; ValueError for an unusable peer key."""
    try:
        peer = serialization.load_der_public_key(peer_public_der)
    except (ValueError, TypeError):
        raise ValueError("PublicKey is not a DER-encoded SubjectPublicKeyInfo") from None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != (
        private_key.curve.name
    ):
        raise ValueError(f"PublicKey must be an EC key on {private_key.curve.name}")
    return private_key.exchange(ec.ECDH(), peer)


def mac(secret: bytes, algorithm: str, message: bytes) -> bytes:
    """HMAC of ``message`` with the key's secret (HMAC_SHA_224 ... HMAC_SHA_512)."""
    name = "sha" + algorithm.rsplit("_", 1)[-1]
    return hmac.new(secret, message, getattr(hashlib, name)).digest()
