"""Loaders for the published vector files in tests/vectors (pyca-style: NIST .rsp and
OpenSSL/BoringSSL "KEY = value" blocks)."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load_nist_rsp(path: Path) -> list[dict[str, str]]:
    """Parse a NIST CAVP .rsp file: ``[SECTION]`` headers (``[ENCRYPT]``, ``[Keylen = 256]``)
    apply to the entries below them; an entry starts at ``COUNT``/``Count``."""
    entries: list[dict[str, str]] = []
    section: dict[str, str] = {}
    current: dict[str, str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            body = line[1:-1]
            if "=" in body:
                k, v = (s.strip() for s in body.split("=", 1))
                section[k.lower()] = v
            else:
                section = {"operation": body.lower()}
            current = None
            continue
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if key.lower() == "count":
            current = dict(section)
            current["count"] = value
            entries.append(current)
            continue
        if current is None:
            continue
        current[key.lower()] = value
    return entries


def load_blocks(path: Path) -> list[dict[str, str]]:
    """Parse "KEY = value" blocks separated by blank lines (OpenSSL evp test files and the
    ChaCha20-Poly1305 files); quoted values become their hex encoding."""
    entries: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in [*path.read_text().splitlines(), ""]:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if current:
                entries.append(current)
                current = {}
            continue
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].encode().hex()
        current[key.lower()] = value
    return entries


def xts_dataunit_vectors(bits: int) -> list[dict[str, str]]:
    """XTSVS entries with tweak = data unit sequence number (bits: 128 or 256 AES)."""
    return load_nist_rsp(VECTORS / "xts" / f"XTSGenAES{bits}-dataunitseqno.rsp")


def xts_hexstr_vectors(bits: int) -> list[dict[str, str]]:
    """XTSVS entries with an explicit 128-bit tweak ``i``."""
    return load_nist_rsp(VECTORS / "xts" / f"XTSGenAES{bits}-128hexstr.rsp")


def ieee1619_vectors() -> list[dict[str, str]]:
    """IEEE 1619-2007 Annex B vectors 6-14 (512-byte data units), OpenSSL format."""
    return load_blocks(VECTORS / "xts" / "ieee1619_evpciph_aes_common.txt")


def gcm_vectors(bits: int) -> list[dict[str, str]]:
    """NIST gcmEncryptExtIV entries with a 96-bit IV and a 128-bit tag."""
    return [
        v
        for v in load_nist_rsp(VECTORS / "gcm" / f"gcmEncryptExtIV{bits}.rsp")
        if v.get("ivlen") == "96" and v.get("taglen") == "128"
    ]


def chacha_vectors() -> list[dict[str, str]]:
    """ChaCha20-Poly1305 entries of both files, normalised to key/iv/aad/pt/ct/tag/fail."""
    out = []
    for entry in load_blocks(VECTORS / "chacha20poly1305" / "openssl.txt"):
        out.append(
            {
                "source": "openssl.txt#" + entry["count"],
                "key": entry["key"],
                "iv": entry["iv"],
                "aad": entry.get("aad", ""),
                "pt": entry["plaintext"],
                "ct": entry["ciphertext"],
                "tag": entry["tag"],
                "fail": "result" in entry,
            }
        )
    for entry in load_blocks(VECTORS / "chacha20poly1305" / "boringssl.txt"):
        out.append(
            {
                "source": "boringssl.txt#" + entry["count"],
                "key": entry["key"],
                "iv": entry["nonce"],
                "aad": entry.get("ad", ""),
                "pt": entry["in"],
                "ct": entry["ct"],
                "tag": entry["tag"],
                "fail": False,
            }
        )
    return out
