"""Known-answer self-tests run once when a backend loads: a backend that fails is disabled.

Each backend must reproduce published vectors through the same calls the data path makes
(a bound per-sector cipher) and through its single-message path, for every key size the data
path offers ("auto" hands a backend each of them), and must agree with an independent
implementation (pyca/cryptography one-shot calls) on the exact sector format at 512-byte and
4 KiB sectors, sector numbers counted across a batch, and AEAD tags verified on decrypt.
Vectors: IEEE Std 1619-2007 Annex B vector 4 (AES-128-XTS, data unit 0) and vector 10
(AES-256-XTS, data unit 0xff), NIST CAVP gcmEncryptExtIV128.rsp and gcmEncryptExtIV256.rsp
(IVlen 96, PTlen 408, AADlen 720, Count 14 each), RFC 8439 Appendix A.5 (ChaCha20-Poly1305).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from .spec import CipherSpec

#: key bits -> (key, data unit number, SHA-256 of the ciphertext of 00 01 .. ff twice)
_XTS = {
    512: (bytes.fromhex("2718281828459045235360287471352662497757247093699959574966967627"
                        "3141592653589793238462643383279502884197169399375105820974944592"),
          0xFF, "e97e974fa393af794f7a4684395814cf820de60a01eaec677d87b452e316b364"),
    256: (bytes.fromhex("2718281828459045235360287471352631415926535897932384626433832795"),
          0, "ebee4d64dd2395bb2d6a2d37a0a48ecb2bf4913cfc99d27c2214f2f4144715ea"),
}
_XTS_PT = bytes(range(256)) * 2

_GCM128 = {
    "key": "55c8bcb0021090e4b2c785c79cb966b8",
    "iv": "5e9f1313282f73d7ffb92837",
    "pt": "2d7c1b689189bbfa2be26ad5c1f296dee4c0f61456ffc94cf8e70aad0f09d0608c4115aa6ed5eb"
          "a93ed5820b3f3426bbf4d64a",
    "aad": "f7e14a57e3bb6b99866b90573d7bc355baeb7ac347e43d0b65d97ecc2eb9c772401a8e3c7e9e28"
           "71c2b79579d44c139e62c33b42a9e0c87686960009d659d5e3874e168c334b6650c6d3616863375"
           "7a7c20764232ce94a0de1a5",
    "ct": "ba59002df3394c5b80983519dc163eca5c44df80f8c4c4e15d3ff73f13c170c80a59d87a2165a7"
          "b450be01031a8e41c505c89f",
    "tag": "28418c564731bddf3d504d8ed32e66ee",
}

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
    """Run the known-answer tests for every cipher and key size ``engine`` supports; raises
    :class:`SelfTestFailure` naming the first wrong answer."""
    if engine.supports("aes-xts-plain64"):
        for bits, (key, unit_no, want) in _XTS.items():
            name = f"AES-{bits // 2}-XTS IEEE 1619 vector {10 if bits == 512 else 4}"
            bound = engine.bind(CipherSpec("aes-xts-plain64", bits, 512), key)
            out = bytearray(512)
            bound.encrypt(_XTS_PT, out, unit_no)
            _check(hashlib.sha256(out).hexdigest() == want, f"{name} (bound sector cipher)")
            back = bytearray(512)
            bound.decrypt(out, back, unit_no)
            _check(back == _XTS_PT, f"{name} decrypt")
            got = engine.crypt_message("xts", True, key, unit_no.to_bytes(16, "little"),
                                       _XTS_PT)[0]
            _check(hashlib.sha256(got).hexdigest() == want, f"{name} (single message)")
            for unit in (512, 4096):
                _check_sector_xts(engine, key, unit)
    if engine.supports("aes-gcm-random"):
        for vector in (_GCM128, _GCM):
            v = {k: bytes.fromhex(x) for k, x in vector.items()}
            name = f"AES-{len(v['key']) * 8}-GCM NIST gcmEncryptExtIV{len(v['key']) * 8} Count 14"
            got = engine.crypt_message("gcm", True, v["key"], v["iv"], v["pt"], v["aad"])
            _check(got == (v["ct"], v["tag"]), name)
            _check(engine.crypt_message("gcm", False, v["key"], v["iv"], v["ct"], v["aad"],
                                        bytes(16)) is None, f"{name}: a wrong tag accepted")
            for unit in (512, 4096):
                _check_sector_aead(engine, "aes-gcm-random", v["key"], unit)
    if engine.supports("chacha20-poly1305-random"):
        got = engine.crypt_message("chacha20-poly1305", True, _CHACHA_KEY, _CHACHA_IV,
                                   _CHACHA_PT, _CHACHA_AAD)
        _check(got is not None and hashlib.sha256(got[0]).hexdigest() == _CHACHA_CT_SHA256
               and got[1] == _CHACHA_TAG, "ChaCha20-Poly1305 RFC 8439 A.5")
        for unit in (512, 4096):
            _check_sector_aead(engine, "chacha20-poly1305-random", _CHACHA_KEY, unit)


#: sector numbers of the format checks: a batch of two counted from near the 32-bit edge
_FIRST = 0xFFFFFFFF


def _plaintext(unit: int) -> bytes:
    return b"".join(hashlib.sha256(bytes([i])).digest() for i in range(2 * unit // 32))


def _check_sector_xts(engine: Any, key: bytes, unit: int) -> None:
    """Two sectors against pyca/cryptography's one-shot XTS: tweak = sector (LE128)."""
    spec = CipherSpec("aes-xts-plain64", len(key) * 8, unit)
    pt = _plaintext(unit)
    out = bytearray(2 * unit)
    engine.bind(spec, key).encrypt(pt, out, _FIRST)
    for i in range(2):
        enc = Cipher(algorithms.AES(key), modes.XTS((_FIRST + i).to_bytes(16, "little")))
        e = enc.encryptor()
        want = e.update(pt[i * unit : (i + 1) * unit]) + e.finalize()
        _check(out[i * unit : (i + 1) * unit] == want,
               f"AES-{len(key) * 4}-XTS {unit}-byte sector format")


def _check_sector_aead(engine: Any, cipher: str, key: bytes, unit: int = 4096) -> None:
    """Two sectors with given nonces against pyca/cryptography's one-shot AEAD: AAD = sector
    (LE64) ‖ nonce, metadata = nonce ‖ tag; they decrypt, and a flipped tag is refused."""
    from .errors import IntegrityError

    spec = CipherSpec(cipher, len(key) * 8, unit)
    pt = _plaintext(unit)
    nonces = [bytes(range(1, 13)), bytes(range(13, 25))]
    meta = bytearray(b"".join(n + bytes(16) for n in nonces))
    out = bytearray(2 * unit)
    bound = engine.bind(spec, key)
    bound.encrypt(pt, out, _FIRST, meta, None, True)
    aead = AESGCM(key) if cipher == "aes-gcm-random" else ChaCha20Poly1305(key)
    what = f"{cipher} ({len(key) * 8}-bit key) {unit}-byte sector format"
    for i, nonce in enumerate(nonces):
        want = aead.encrypt(nonce, pt[i * unit : (i + 1) * unit],
                            (_FIRST + i).to_bytes(8, "little") + nonce)
        _check(bytes(out[i * unit : (i + 1) * unit]) + bytes(meta[i * 28 + 12 : i * 28 + 28])
               == want, what)
    back = bytearray(2 * unit)
    bound.decrypt(out, back, _FIRST, meta)
    _check(back == pt, f"{what}: decrypt")
    meta[-1] ^= 1
    try:
        bound.decrypt(out, back, _FIRST, meta)
    except IntegrityError:
        return
    _check(False, f"{what}: a wrong tag accepted")
