"""Known-answer self-tests run once when a backend loads: a backend that fails is disabled.

Each backend must reproduce published vectors through the same calls the data path makes
(a bound per-sector cipher) and through its single-message path, and must agree with an
independent implementation (pyca/cryptography one-shot calls) on the exact sector format.
Vectors: IEEE Std 1619-2007 Annex B vector 10 (AES-256-XTS, 512-byte data unit 0xff), NIST
CAVP gcmEncryptExtIV256.rsp (Keylen 256, IVlen 96, PTlen 408, AADlen 720, Count 14), RFC 8439
Appendix A.5 (ChaCha20-Poly1305).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .spec import CipherSpec

_XTS_KEY = bytes.fromhex(
    "2718281828459045235360287471352662497757247093699959574966967627"
    "3141592653589793238462643383279502884197169399375105820974944592"
)
_XTS_SECTOR = 0xFF
_XTS_PT = bytes(range(256)) * 2
_XTS_CT_SHA256 = "e97e974fa393af794f7a4684395814cf820de60a01eaec677d87b452e316b364"

_GCM = {
    "key": "6be7f4d18ff0fbdd9b3b3cacaba4629a0c617387079add62f6ce1584b33faad1",
    "iv": "fda568c9cb13d9c176bcef03",
    "pt": "4df668e99d5068604a48bcca5baa8245435928558a83d68d7b0b081861224e9bd39ea8f2d55a63"
          "5949e66c6f6a7ff5cc34dd94",
    "aad": "11ebeb97dd4a9925c1fbe2b9af77392058d2d971e42db15da39f090d7bc132573c34bf7d92a2d7"
           "2dc66ee6840c3ff07985b8976ee8d8f36bf47ae330b899fdc60652dd5a23c45f3680f11951f019e0"
           "697c8acfcaa95f01b9c7dd",
    "ct": "488b40ad594e1845ccdd9e9467fc5e1afbbfde34e57d45bfcd30b61cc326d57fe8e3f31a39cdeb"
          "f00f60bbd2c3cdf69f756eff",
    "tag": "3bf3fbab9b48486fd08a5552604df639",
}

_CHACHA_KEY = bytes.fromhex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0")
_CHACHA_IV = bytes.fromhex("000000000102030405060708")
_CHACHA_AAD = bytes.fromhex("f33388860000000000004e91")
_CHACHA_PT = (
    "Internet-Drafts are draft documents valid for a maximum of six months and may be "
    "updated, replaced, or obsoleted by other documents at any time. It is inappropriate to "
    "use Internet-Drafts as reference material or to cite them other than as /“work in "
    "progress./”"
).encode()
_CHACHA_CT_SHA256 = "c20c776fa96533a1c86f7bbe64cc336a913931655c5d141fac818d46597ef356"
_CHACHA_TAG = bytes.fromhex("eead9d67890cbb22392336fea1851f38")


class SelfTestFailure(Exception):
    """A backend produced a wrong answer for a known input."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise SelfTestFailure(what)


def run_self_test(engine: Any) -> None:
    """Run the known-answer tests for every cipher ``engine`` supports; raises
    :class:`SelfTestFailure` naming the first wrong answer."""
    if engine.supports("aes-xts-plain64"):
        spec = CipherSpec("aes-xts-plain64", 512, 512)
        bound = engine.bind(spec, _XTS_KEY)
        out = bytearray(512)
        bound.encrypt(_XTS_PT, out, _XTS_SECTOR)
        _check(hashlib.sha256(out).hexdigest() == _XTS_CT_SHA256,
               "AES-256-XTS IEEE 1619 vector 10 (bound sector cipher)")
        back = bytearray(512)
        bound.decrypt(out, back, _XTS_SECTOR)
        _check(back == _XTS_PT, "AES-256-XTS IEEE 1619 vector 10 decrypt")
        tweak = _XTS_SECTOR.to_bytes(16, "little")
        got = engine.crypt_message("xts", True, _XTS_KEY, tweak, _XTS_PT)[0]
        _check(hashlib.sha256(got).hexdigest() == _XTS_CT_SHA256,
               "AES-256-XTS IEEE 1619 vector 10 (single message)")
    if engine.supports("aes-gcm-random"):
        v = {k: bytes.fromhex(x) for k, x in _GCM.items()}
        got = engine.crypt_message("gcm", True, v["key"], v["iv"], v["pt"], v["aad"])
        _check(got == (v["ct"], v["tag"]), "AES-256-GCM NIST gcmEncryptExtIV256 Count 14")
        _check(engine.crypt_message("gcm", False, v["key"], v["iv"], v["ct"], v["aad"],
                                    bytes(16)) is None, "AES-256-GCM accepted a wrong tag")
        _check_sector_aead(engine, "aes-gcm-random", v["key"])
    if engine.supports("chacha20-poly1305-random"):
        got = engine.crypt_message("chacha20-poly1305", True, _CHACHA_KEY, _CHACHA_IV,
                                   _CHACHA_PT, _CHACHA_AAD)
        _check(got is not None and hashlib.sha256(got[0]).hexdigest() == _CHACHA_CT_SHA256
               and got[1] == _CHACHA_TAG, "ChaCha20-Poly1305 RFC 8439 A.5")


def _check_sector_aead(engine: Any, cipher: str, key: bytes) -> None:
    """One 4 KiB sector with a given nonce, against pyca/cryptography's one-shot AES-GCM:
    AAD = sector (LE64) ‖ nonce, metadata = nonce ‖ tag."""
    spec = CipherSpec(cipher, len(key) * 8, 4096)
    pt = hashlib.sha256(b"sector").digest() * 128
    nonce = bytes(range(1, 13))
    sector = 0x0123456789
    meta = bytearray(nonce + bytes(16))
    out = bytearray(4096)
    engine.bind(spec, key).encrypt(pt, out, sector, meta, None, True)
    want = AESGCM(key).encrypt(nonce, pt, sector.to_bytes(8, "little") + nonce)
    _check(bytes(out) + bytes(meta[12:]) == want, f"{cipher} sector format")
