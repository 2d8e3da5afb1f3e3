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
    vol = EncryptedVolume(1 << 20, spec, key, engine=sys.argv[1], threads=2)
    end = 1 << 20
    case(f"{tag} volume past the end", lambda: vol.write(end - 10, bytes(20)))
    case(f"{tag} volume whole sectors past the end", lambda: vol.write(end, bytes(size)))
    case(f"{tag} volume negative", lambda: vol.read(-1, 10))
    case(f"{tag} volume wrong key", lambda: EncryptedVolume(1 << 20, spec, key[:5],
                                                            engine=sys.argv[1]))
    case(f"{tag} volume str data", lambda: vol.write(0, "x" * size))
    case(f"{tag} volume read-only readinto", lambda: vol.readinto(0, bytes(size)))
    strided = np.zeros(2 * size, dtype=np.uint8)[::2]
    case(f"{tag} volume strided data", lambda: vol.write(0, strided))
    # vectored requests (one native call where the pieces allow): every bad piece refused
    case(f"{tag} writev not iterable", lambda: vol.writev(None))
    case(f"{tag} writev not pairs", lambda: vol.writev([(0, bytes(size)), 5]))
    case(f"{tag} writev str piece", lambda: vol.writev([(0, bytes(size)), (size, "x" * size)]))
    case(f"{tag} writev past the end", lambda: vol.writev([(0, bytes(size)), (end, bytes(size))]))
    case(f"{tag} writev negative", lambda: vol.writev([(-size, bytes(size))]))
    case(f"{tag} writev float offset", lambda: vol.writev([(0.0, bytes(size))]))
    case(f"{tag} writev huge offset", lambda: vol.writev([(2**70, bytes(size))]))
    case(f"{tag} writev strided piece", lambda: vol.writev([(0, strided)]))
    case(f"{tag} readv past the end", lambda: vol.readv([(0, size), (end - size, 2 * size)]))
    case(f"{tag} readv negative length", lambda: vol.readv([(0, -size)]))
    case(f"{tag} readv float length", lambda: vol.readv([(0, float(size))]))
    case(f"{tag} readintov read-only", lambda: vol.readintov([(0, bytes(size))]))
    case(f"{tag} readintov strided", lambda: vol.readintov([(0, strided)]))
    vol.writev([(i * size, bytes([i]) * size) for i in range(64)])  # a good one, threads=2
    case(f"{tag} closed volume writev", lambda: (vol.close(), vol.writev([(0, bytes(size))])))
    case(f"{tag} closed volume readv", lambda: vol.readv([(0, size)]))
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


_BROKEN = r"""
import sys, warnings
from simulator.crypt import engines
name = sys.argv[1]


class WrongAnswer:  # a bound cipher whose output has one bit flipped: a broken backend
    def __init__(self, inner):
        self.inner = inner

    def encrypt(self, src, dst, *args):
        self.inner.encrypt(src, dst, *args)
        memoryview(dst).cast("B")[0] ^= 1

    def decrypt(self, *args):
        return self.inner.decrypt(*args)


cls = engines._CLASSES[name]
bind = cls.bind
cls.bind = lambda self, *a, **k: WrongAnswer(bind(self, *a, **k))
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    usable = engines.available_engines()
from simulator.crypt import EncryptedVolume, EngineUnavailableError
try:
    engines.get_engine(name)
    refused = "no"
except EngineUnavailableError as exc:
    refused = str(exc)
cls.bind = bind
vol = EncryptedVolume(1 << 20, "aes-gcm-random:256:4096", bytes(32), engine="auto")
vol.writev([(0, b"a" * 4096), (8192, b"b" * 4096)])
ok = vol.readv([(0, 4096), (8192, 4096)]) == [b"a" * 4096, b"b" * 4096]
print(name in usable, [str(w.message) for w in seen if w.category is RuntimeWarning], ok)
print(refused)
"""


@pytest.mark.parametrize("name", ENGINES)
def test_a_backend_that_fails_its_self_test_is_disabled_loudly_in_a_fresh_process(name):
    """A backend whose bound cipher gives a wrong answer fails the real known-answer test at
    load: it is not offered, get_engine names why, a warning and a log line say so, and the
    volume runs on what is left."""
    proc = subprocess.run([sys.executable, "-c", _BROKEN, name], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    first, refused = proc.stdout.splitlines()[-2:]
    assert first.startswith("False [") and first.endswith(" True"), first
    assert f"{name} disabled: known-answer self-test failed" in first
    assert "self-test failed" in refused and name in refused
    assert f"{name} disabled: known-answer self-test failed" in proc.stderr  # the log line


_DAMAGE = {  # how a copy of the library is spoiled -> what the one-line note says
    "truncated": "is truncated",
    "truncated, named by a relative path": "is truncated",
    "truncated, found on a relative LD_LIBRARY_PATH": "is truncated",
    "not ELF": "not a 64-bit",
    "garbled body under sound headers": "crashed a test process that loaded it",
}


@pytest.mark.skipif("native-ipp" not in ENGINES, reason="needs the IPP library to damage")
@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_a_damaged_ipp_library_is_a_note_and_a_fallback_not_a_crash(tmp_path, damage):
    """A partial copy of libippcp.so would be mapped past its end by dlopen() and kill the
    process with SIGBUS, a garbled one crash it in the loader; each is refused before it is
    loaded here (its segments checked, then loaded in a child first), whatever names it (an
    absolute path, a relative one, a relative LD_LIBRARY_PATH entry), with a one-line reason,
    and the AES ciphers run on OpenSSL."""
    import os
    import random

    from simulator.crypt import ipp

    path, _ = ipp.find_library()
    assert path is not None and ipp.damaged(path) is None
    lib = tmp_path / "lib"
    lib.mkdir()
    bad = lib / "libippcp.so"
    from pathlib import Path

    whole = Path(path).read_bytes()
    if damage.startswith("truncated"):
        bad.write_bytes(whole[:100_000])
    elif damage == "not ELF":
        bad.write_bytes(b"\0" * 4096)
    else:  # the ELF and program headers kept, everything after them random
        rng = random.Random(7)
        bad.write_bytes(whole[:4096] + rng.randbytes(len(whole) - 4096))
    code = ("from simulator.crypt import get_engine, ipp_unavailable_reason\n"
            "print(ipp_unavailable_reason())\n"
            "print(get_engine('auto').engine_for('aes-xts-plain64').name)\n")
    env = dict(os.environ, FARGATE_SIM_IPP_LIBRARY=str(bad))
    if damage.endswith("relative path"):
        env["FARGATE_SIM_IPP_LIBRARY"] = "lib/libippcp.so"
    elif damage.endswith("LD_LIBRARY_PATH"):
        # no good library anywhere before it (the venv's lib/, the base Python's, which
        # may hold a copy too): the search reaches LD_LIBRARY_PATH
        del env["FARGATE_SIM_IPP_LIBRARY"]
        env["LD_LIBRARY_PATH"] = "lib"
        code = ("from simulator.crypt import ipp\n"
                "ipp.candidate_dirs = lambda real=ipp.candidate_dirs: [\n"
                "    d for d in real() if not (d / 'libippcp.so').is_file()\n"
                "    or ipp.damaged(str(d / 'libippcp.so')) is not None]\n" + code)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    why, backend = proc.stdout.splitlines()
    assert why.startswith("IPP Crypto unavailable: ") and str(bad) in why, why
    assert _DAMAGE[damage] in why
    assert backend == "native-openssl"


def test_disabling_ipp_takes_the_usual_spellings_of_true(monkeypatch):
    from simulator.crypt import ipp

    for value in ("1", "true", "YES", "on"):
        monkeypatch.setenv("FARGATE_SIM_DISABLE_IPP", value)
        assert ipp.find_library() == (None, f"disabled by FARGATE_SIM_DISABLE_IPP={value}")
    for value in ("0", "false", ""):
        monkeypatch.setenv("FARGATE_SIM_DISABLE_IPP", value)
        assert ipp.find_library()[1] != f"disabled by FARGATE_SIM_DISABLE_IPP={value}"


def test_the_system_loaders_soname_is_handed_on_as_its_file(monkeypatch):
    """ctypes.util.find_library gives a bare soname; dlopen() of it would load a file no one
    checked, so it is looked up in the loader's cache (or refused)."""
    from simulator.crypt import ipp

    monkeypatch.delenv("FARGATE_SIM_IPP_LIBRARY", raising=False)
    monkeypatch.delenv("FARGATE_SIM_DISABLE_IPP", raising=False)
    monkeypatch.setattr(ipp, "candidate_dirs", lambda: [])
    monkeypatch.setattr(ipp.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(ipp.sys, "platform", "linux")
    monkeypatch.setattr(ipp.ctypes.util, "find_library", lambda name: "libippcp.so.13")
    monkeypatch.setattr(ipp, "_loader_path", lambda soname: "/opt/ipp/lib/libippcp.so.13")
    assert ipp.find_library() == ("/opt/ipp/lib/libippcp.so.13", "found by the system loader")
    monkeypatch.setattr(ipp, "_loader_path", lambda soname: None)
    path, why = ipp.find_library()
    assert path is None and "libippcp.so.13" in why


def test_an_ipp_engine_made_after_the_library_setting_changed_names_the_library_it_runs(
        tmp_path):
    """A process loads libippcp.so once; an engine made after FARGATE_SIM_IPP_LIBRARY
    pointed elsewhere runs the first library, and its results must say so."""
    import os
    import shutil

    from simulator.crypt import ipp

    path, _ = ipp.find_library()
    copy = tmp_path / "libippcp.so"
    shutil.copyfile(path, copy)
    code = ("import os\n"
            "from simulator.crypt.engines import IppEngine\n"
            "first = IppEngine()\n"
            f"os.environ['FARGATE_SIM_IPP_LIBRARY'] = {str(copy)!r}\n"
            "second = IppEngine()\n"
            "print(first.path == second.path, second.describe()['library'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, FARGATE_SIM_IPP_LIBRARY=path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    same, library = proc.stdout.strip().split(" ", 1)
    assert same == "True" and path in library and str(copy) not in library
