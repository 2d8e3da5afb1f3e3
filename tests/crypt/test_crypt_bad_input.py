"""Bad input is a clean Python exception for every backend, never a crash.

Each case runs in a fresh interpreter, so that a segfault or an abort in C shows as a failed
test instead of killing the test run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from simulator.crypt import available_engines

ENGINES = available_engines()

_SCRIPT = r"""
import json, sys
import numpy as np
from simulator.crypt import CipherSpec, EncryptedVolume, get_engine

engine = get_engine(sys.argv[1])
results = {}

def case(name, fn):
    try:
        fn()
        results[name] = "no error"
    except Exception as exc:  # the point: an exception, not a crash
        results[name] = type(exc).__name__

for text in ("aes-xts-plain64:512:4096", "aes-gcm-random:256:512"):
    spec = CipherSpec.parse(text)
    if not engine.supports(spec):
        continue
    key = bytes(range(1, spec.key_bytes + 1))
    size = spec.sector_size
    aead = spec.is_aead
    meta = (lambda n: bytearray(28 * n)) if aead else (lambda n: None)
    bound = engine.bind(spec, key)
    big = bytearray(4 * size)
    tag = text.split(":")[0]
    case(f"{tag} short key", lambda: engine.bind(spec, key[:-1]))
    case(f"{tag} long key", lambda: engine.bind(spec, key + b"x"))
    case(f"{tag} str key", lambda: engine.bind(spec, "k" * spec.key_bytes))
    case(f"{tag} partial sector", lambda: bound.encrypt(bytes(size - 1), bytearray(size - 1), 0,
                                                        meta(1)))
    case(f"{tag} dst too short", lambda: bound.encrypt(bytes(size), bytearray(size // 2), 0,
                                                       meta(1)))
    case(f"{tag} read-only dst", lambda: bound.encrypt(bytes(size), bytes(size), 0, meta(1)))
    case(f"{tag} overlapping", lambda: bound.encrypt(memoryview(big)[:2 * size],
                                                     memoryview(big)[size:3 * size], 0, meta(2)))
    case(f"{tag} sector -1", lambda: bound.encrypt(bytes(size), bytearray(size), -1, meta(1)))
    case(f"{tag} sector 2**64", lambda: bound.encrypt(bytes(size), bytearray(size), 2**64,
                                                      meta(1)))
    case(f"{tag} runs past 2**64", lambda: bound.encrypt(bytes(2 * size), bytearray(2 * size),
                                                         2**64 - 1, meta(2)))
    case(f"{tag} float sector", lambda: bound.encrypt(bytes(size), bytearray(size), 1.0,
                                                      meta(1)))
    case(f"{tag} sectors list short", lambda: bound.encrypt(bytes(2 * size), bytearray(2 * size),
                                                            0, meta(2),
                                                            np.zeros(1, dtype=np.uint64)))
    if aead:
        case(f"{tag} metadata short", lambda: bound.encrypt(bytes(size), bytearray(size), 0,
                                                            bytearray(27)))
        case(f"{tag} metadata missing", lambda: bound.encrypt(bytes(size), bytearray(size), 0))
        case(f"{tag} metadata overlaps", lambda: bound.encrypt(
            memoryview(big)[:size], memoryview(big)[size:2 * size], 0,
            memoryview(big)[size:size + 28]))
    vol = EncryptedVolume(1 << 20, spec, key, engine=sys.argv[1])
    case(f"{tag} volume past the end", lambda: vol.write((1 << 20) - 10, bytes(20)))
    case(f"{tag} volume negative", lambda: vol.read(-1, 10))
    case(f"{tag} volume wrong key", lambda: EncryptedVolume(1 << 20, spec, key[:5],
                                                            engine=sys.argv[1]))
print(json.dumps(results))
"""


@pytest.mark.parametrize("name", ENGINES)
def test_bad_input_raises_cleanly_in_every_backend(name):
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, name], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    results = json.loads(proc.stdout.splitlines()[-1])
    assert results, "no case ran"
    wrong = {k: v for k, v in results.items() if v not in
             ("ValueError", "TypeError", "InvalidKeyError", "VolumeRangeError")}
    assert wrong == {}, wrong
