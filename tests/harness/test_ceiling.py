"""The ceiling: openssl speed's machine-readable output, names, and the fallbacks."""

from __future__ import annotations

import math

import pytest

from simulator.bench import ceiling
from simulator.bench.ceiling import OPENSSL_EVP_NAMES, measure_ceilings, parse_speed_mr
from simulator.bench.datapath import default_datapath

MR = """+DT:AES-256-XTS:1:4096
+R:1668362:AES-256-XTS:1.000000
+H:4096
+F:25:AES-256-XTS:6833610752.00
"""


def test_parse_machine_readable_output() -> None:
    assert parse_speed_mr(MR) == {"aes-256-xts": {4096: 6833610752.0}}
    multi = "+H:16:64\n+F:22:aes-128-gcm:100.5:200.25\n"
    assert parse_speed_mr(multi) == {"aes-128-gcm": {16: 100.5, 64: 200.25}}
    assert parse_speed_mr("garbage\n") == {}


def test_evp_names_follow_xts_key_halves() -> None:
    assert OPENSSL_EVP_NAMES[("aes-xts-plain64", 256)] == "aes-128-xts"
    assert OPENSSL_EVP_NAMES[("aes-xts-plain64", 512)] == "aes-256-xts"
    assert OPENSSL_EVP_NAMES[("chacha20-poly1305-random", 256)] == "chacha20-poly1305"


def test_none_and_null() -> None:
    got = measure_ceilings([("aes-xts-plain64", 512, 4096, "encrypt"),
                            ("null", 0, 4096, "encrypt")], "none", 1, None)
    assert all(c.source == "none" and math.isnan(c.bytes_per_s) for c in got.values())
    got = measure_ceilings([("null", 0, 4096, "decrypt")], "auto", 1, None)
    (c,) = got.values()
    assert c.source == "memcpy" and c.bytes_per_s > 0


def test_native_fallback_without_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    dp = default_datapath()
    if dp.native_ceiling is None:
        pytest.skip("native engine not built")
    monkeypatch.setattr(ceiling, "openssl_binary", lambda: None)
    monkeypatch.setattr(ceiling, "native_loop",
                        lambda dp, c, k, u, s, d: 123.0 * 2**20)
    (c,) = measure_ceilings([("aes-gcm-random", 256, 512, "encrypt")], "auto", 1, dp).values()
    assert c.source == "native loop" and c.mib_s == pytest.approx(123.0)


@pytest.mark.skipif(ceiling.openssl_binary() is None, reason="no openssl binary")
def test_real_openssl_speed() -> None:
    bps = ceiling.openssl_speed("aes-128-xts", 4096, 1)
    assert bps > 0
    assert ceiling.openssl_version().startswith("OpenSSL")
