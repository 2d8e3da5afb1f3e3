"""Engines: byte-identical output, each reads the other's, tag failures, buffers, selection."""

from __future__ import annotations

import errno
import os
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.crypt import (
    CipherSpec,
    EngineUnavailableError,
    IntegrityError,
    InvalidKeyError,
    available_engines,
    engines,
    get_engine,
    native_available,
)

from .crypt_helpers import ALL_SPECS, reference_encrypt, requires_native

ENGINES = available_engines()


def _key(spec: CipherSpec) -> bytes:
    return bytes((i * 37 + 11) % 256 for i in range(spec.key_bytes))


def _meta(spec: CipherSpec, n: int) -> bytearray | None:
    return bytearray(n * spec.metadata_size) if spec.is_aead else None


@pytest.fixture(params=ENGINES)
def engine(request):
    return get_engine(request.param)


def _runs(engine, spec) -> None:
    """Skip, saying why, when a backend does not run a cipher (IPP: no ChaCha20)."""
    if not engine.supports(spec):
        pytest.skip(f"{engine.name} does not run {CipherSpec.parse(spec).name}")


def _engines_for(spec) -> list[str]:
    return [name for name in ENGINES if get_engine(name).supports(spec)]


# ---------------------------------------------------------------- agreement (hypothesis)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(ALL_SPECS),
    sector=st.sampled_from([512, 4096]),
    n=st.integers(min_value=0, max_value=9),
    first=st.one_of(st.integers(0, 2**20), st.integers(2**64 - 64, 2**64 - 10)),
    threads=st.integers(1, 3),
    data=st.data(),
)
def test_engines_agree_with_each_other_and_the_format(which, sector, n, first, threads, data):
    spec = CipherSpec.parse(which[0], key_bits=which[1], sector_size=sector)
    key = data.draw(st.binary(min_size=spec.key_bytes, max_size=spec.key_bytes))
    if spec.name == "aes-xts-plain64" and key[: len(key) // 2] == key[len(key) // 2 :]:
        key = bytes(b ^ i for i, b in enumerate(key, 1))
    pt = data.draw(st.binary(min_size=n * sector, max_size=n * sector))
    nonces = [data.draw(st.binary(min_size=12, max_size=12)) for _ in range(n)]
    results = {}
    for name in _engines_for(spec):
        eng = get_engine(name)
        ct = bytearray(len(pt))
        meta = _meta(spec, n)
        if meta is not None:
            for i, nonce in enumerate(nonces):
                meta[i * 28 : i * 28 + 12] = nonce
        eng.encrypt_sectors(spec, key, pt, ct, first, meta, threads, nonces="given")
        results[name] = (bytes(ct), bytes(meta) if meta is not None else None)
    expected = reference_encrypt(spec, key, pt, first, nonces if spec.is_aead else None)
    for name, got in results.items():
        assert got == expected, name
    # each engine reads what the others wrote
    for writer in results:
        ct, meta = results[writer]
        for reader in results:
            back = bytearray(len(ct))
            get_engine(reader).decrypt_sectors(
                spec, key, ct, back, first, None if meta is None else bytearray(meta), threads
            )
            assert bytes(back) == pt, (writer, reader)


@pytest.mark.parametrize("which", [s for s in ALL_SPECS if s[0] != "null"])
def test_random_nonces_are_fresh_and_readable_by_the_other_engine(engine, which):
    spec = CipherSpec.parse(which[0], key_bits=which[1], sector_size=4096)
    _runs(engine, spec)
    key, pt = _key(spec), os.urandom(4096 * 8)
    a, b = bytearray(len(pt)), bytearray(len(pt))
    ma, mb = _meta(spec, 8), _meta(spec, 8)
    engine.encrypt_sectors(spec, key, pt, a, 5, ma)
    engine.encrypt_sectors(spec, key, pt, b, 5, mb)
    if spec.is_aead:
        nonces = {bytes(ma[i * 28 : i * 28 + 12]) for i in range(8)}
        nonces |= {bytes(mb[i * 28 : i * 28 + 12]) for i in range(8)}
        assert len(nonces) == 16  # a fresh nonce per sector write
        assert a != b
    else:
        assert a == b  # XTS is deterministic
    for reader in _engines_for(spec):
        out = bytearray(len(pt))
        get_engine(reader).decrypt_sectors(spec, key, a, out, 5, ma)
        assert out == pt


# ---------------------------------------------------------------- integrity


@pytest.mark.parametrize("cipher", ["aes-gcm-random", "chacha20-poly1305-random"])
@pytest.mark.parametrize("what", ["ciphertext", "nonce", "tag"])
def test_tampering_names_the_absolute_sector(engine, cipher, what):
    spec = CipherSpec.parse(cipher, sector_size=512)
    _runs(engine, spec)
    key, n, first = _key(spec), 16, 1000
    pt = os.urandom(512 * n)
    ct, meta = bytearray(len(pt)), _meta(spec, n)
    engine.encrypt_sectors(spec, key, pt, ct, first, meta, threads=2)
    bad = 11
    if what == "ciphertext":
        ct[bad * 512 + 100] ^= 0x01
    elif what == "nonce":
        meta[bad * 28 + 3] ^= 0x80
    else:
        meta[bad * 28 + 12 + 15] ^= 0x01
    for reader in _engines_for(spec):
        out = bytearray(b"\xaa" * len(pt))
        with pytest.raises(IntegrityError) as err:
            get_engine(reader).decrypt_sectors(spec, key, ct, out, first, meta, threads=2)
        assert err.value.sector == first + bad
        assert err.value.errno == errno.EIO
        assert isinstance(err.value, OSError)
        assert str(first + bad) in str(err.value)
        # the failing sector is zeroed, never unauthenticated plaintext; the others are fine
        assert out[bad * 512 : (bad + 1) * 512] == bytes(512)
        assert out[: bad * 512] == pt[: bad * 512]
        assert out[(bad + 1) * 512 :] == pt[(bad + 1) * 512 :]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_first_failing_sector_reported_with_count(engine, threads):
    spec = CipherSpec.parse("aes-gcm-random", sector_size=512)
    key, n = _key(spec), 12
    pt = os.urandom(512 * n)
    ct, meta = bytearray(len(pt)), _meta(spec, n)
    engine.encrypt_sectors(spec, key, pt, ct, 0, meta)
    for bad in (9, 2, 7):
        ct[bad * 512] ^= 0xFF
    with pytest.raises(IntegrityError) as err:
        engine.decrypt_sectors(spec, key, ct, bytearray(len(pt)), 0, meta, threads=threads)
    assert (err.value.sector, err.value.count) == (2, 3)


def test_sector_moved_to_another_index_fails(engine):
    spec = CipherSpec.parse("aes-gcm-random")
    key, pt = _key(spec), os.urandom(4096)
    ct, meta = bytearray(4096), _meta(spec, 1)
    engine.encrypt_sectors(spec, key, pt, ct, 7, meta)
    with pytest.raises(IntegrityError) as err:
        engine.decrypt_sectors(spec, key, ct, bytearray(4096), 8, meta)
    assert err.value.sector == 8


def test_xts_tampering_is_silent_garbage(engine):
    spec = CipherSpec.parse("aes-xts-plain64")
    key, pt = _key(spec), os.urandom(4096 * 2)
    ct = bytearray(len(pt))
    engine.encrypt_sectors(spec, key, pt, ct, 0)
    ct[10] ^= 1
    out = bytearray(len(pt))
    engine.decrypt_sectors(spec, key, ct, out, 0)  # no error
    assert out[:16] != pt[:16]  # the touched 16-byte block is garbage
    assert out[4096:] == pt[4096:]


# ---------------------------------------------------------------- buffers and validation


def test_numpy_memoryview_and_in_place(engine):
    spec = CipherSpec.parse("aes-xts-plain64", sector_size=512)
    key = _key(spec)
    src = np.frombuffer(os.urandom(512 * 4), dtype=np.uint64).copy()
    want = bytearray(512 * 4)
    engine.encrypt_sectors(spec, key, src.tobytes(), want, 3)
    dst = np.zeros(512 * 4, dtype=np.uint8)
    engine.encrypt_sectors(spec, key, src, dst, 3)
    assert dst.tobytes() == bytes(want)
    inplace = bytearray(src.tobytes())
    view = memoryview(inplace)
    engine.encrypt_sectors(spec, key, view, view, 3)
    assert inplace == want
    engine.decrypt_sectors(spec, key, view, view, 3)
    assert bytes(inplace) == src.tobytes()


def test_metadata_may_be_read_only_on_decrypt(engine):
    spec = CipherSpec.parse("aes-gcm-random")
    key, pt = _key(spec), os.urandom(4096)
    ct, meta = bytearray(4096), _meta(spec, 1)
    engine.encrypt_sectors(spec, key, pt, ct, 0, meta)
    out = bytearray(4096)
    engine.decrypt_sectors(spec, key, bytes(ct), out, 0, bytes(meta))
    assert out == pt


@pytest.mark.parametrize(
    ("spec_text", "src_len", "dst", "meta", "exc"),
    [
        ("aes-xts-plain64", 4000, bytearray(4000), None, ValueError),
        ("aes-xts-plain64", 4096, bytearray(8192), None, ValueError),
        ("aes-xts-plain64", 4096, bytes(4096), None, TypeError),
        ("aes-xts-plain64", 4096, bytearray(4096), bytearray(28), ValueError),
        ("aes-gcm-random", 4096, bytearray(4096), None, ValueError),
        ("aes-gcm-random", 4096, bytearray(4096), bytearray(27), ValueError),
        ("aes-gcm-random", 4096, bytearray(4096), bytes(28), TypeError),
    ],
)
def test_bad_buffers_refused(engine, spec_text, src_len, dst, meta, exc):
    spec = CipherSpec.parse(spec_text)
    with pytest.raises(exc):
        engine.encrypt_sectors(spec, _key(spec), bytes(src_len), dst, 0, meta)


def test_bad_arguments_refused(engine):
    spec = CipherSpec.parse("aes-xts-plain64", sector_size=512)
    key, buf = _key(spec), bytearray(512)
    with pytest.raises(ValueError):
        engine.encrypt_sectors(spec, key, bytes(512), buf, -1)
    with pytest.raises(ValueError):
        engine.encrypt_sectors(spec, key, bytes(1024), bytearray(1024), 2**64 - 1)
    engine.encrypt_sectors(spec, key, bytes(512), buf, 2**64 - 1)  # the last sector is fine
    with pytest.raises(ValueError):
        engine.encrypt_sectors(spec, key, bytes(512), buf, 0, threads=0)
    with pytest.raises(InvalidKeyError):
        engine.encrypt_sectors(spec, key[:-1], bytes(512), buf, 0)
    with pytest.raises(TypeError):
        engine.encrypt_sectors(spec, key, "x" * 512, buf, 0)
    with pytest.raises(ValueError):
        engine.encrypt_sectors(spec, key, bytes(512), buf, 0, nonces="reused")


def test_bound_cipher_takes_keywords_and_numpy_integers(engine):
    """Every backend's bound cipher takes the call its signature gives: keywords, and a
    sector number that is a NumPy integer (anything with ``__index__``), as Python does."""
    spec = CipherSpec.parse("aes-gcm-random:256")
    _runs(engine, spec)
    bound = engine.bind(spec, _key(spec))
    pt = os.urandom(3 * 4096)
    ct, meta = bytearray(len(pt)), _meta(spec, 3)
    bound.encrypt(src=pt, dst=ct, first_sector=np.uint64(7), metadata=meta)
    back = bytearray(len(pt))
    bound.decrypt(ct, dst=back, first_sector=np.int64(7), metadata=meta)
    assert back == pt
    with pytest.raises(IntegrityError):  # the number counted: sector 8 is not sector 7
        bound.decrypt(ct, back, np.int32(8), meta)
    for bad in ({"bogus": 1}, {"first_sector": 1}):
        with pytest.raises(TypeError, match=r"bogus|multiple values"):
            bound.encrypt(pt, ct, 7, meta, **bad)
    with pytest.raises(TypeError, match="first_sector"):
        bound.encrypt(pt, ct)


def _refusal(name: str, case: str) -> tuple[str, str]:
    spec = CipherSpec.parse("aes-gcm-random:256")
    bound = get_engine(name).bind(spec, _key(spec))
    src, dst, meta = bytes(8192), bytearray(8192), bytearray(56)
    strided = memoryview(bytearray(16384))[::2]
    args = {
        "strided src": (strided, dst, 0, meta),
        "strided dst": (src, strided, 0, meta),
        "read-only dst": (src, bytes(8192), 0, meta),
        "read-only metadata": (src, dst, 0, bytes(56)),
        "metadata not a buffer": (src, dst, 0, 5),
        "str src": ("x" * 8192, dst, 0, meta),
        "bool sector": (src, dst, True, meta),
        "float sector": (src, dst, 1.0, meta),
    }[case]
    try:
        bound.encrypt(*args)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)
    return "no error", ""


@pytest.mark.parametrize("case", ["strided src", "strided dst", "read-only dst",
                                  "read-only metadata", "metadata not a buffer", "str src",
                                  "bool sector", "float sector"])
def test_a_bad_buffer_or_number_is_refused_alike_by_every_backend(case):
    """Same exception, same words, whichever backend runs: code written against one
    backend's refusals keeps working on another."""
    got = {name: _refusal(name, case) for name in _engines_for("aes-gcm-random:256")}
    assert len(set(got.values())) == 1, got
    assert got["cryptography"][0] != "no error"


_SECTOR_ARRAYS = {
    "float64": (lambda: np.array([3.0, 9.0]), "64-bit integers"),
    "int32": (lambda: np.array([3, 9, 0, 0], dtype=np.int32), "64-bit integers"),
    "negative int64": (lambda: np.array([3, -1], dtype=np.int64), "negative sector number"),
    "unaligned": (lambda: memoryview(bytearray(17))[1:], "aligned"),
    "too short": (lambda: np.array([3], dtype=np.uint64), "expected 16"),
    "strided": (lambda: np.arange(4, dtype=np.uint64)[::2], "C-contiguous"),
}


@pytest.mark.parametrize("case", list(_SECTOR_ARRAYS))
def test_a_sectors_array_that_is_not_64_bit_numbers_is_refused_by_every_backend(engine,
                                                                                   case):
    """A float64 array was read bit for bit as sector numbers (wrong tweaks, silently) and
    int64 -1 as sector 2**64-1; every backend refuses them alike, and takes uint64, int64,
    array('Q') and raw bytes to the same sectors."""
    import array

    spec = CipherSpec.parse("aes-xts-plain64:512")
    bound = engine.bind(spec, _key(spec))
    src, dst = os.urandom(8192), bytearray(8192)
    make, words = _SECTOR_ARRAYS[case]
    with pytest.raises(ValueError, match=words):
        bound.encrypt(src, dst, 0, None, make())
    outs = set()
    for good in (np.array([3, 9], dtype=np.uint64), np.array([3, 9], dtype=np.int64),
                 array.array("Q", [3, 9]), np.array([3, 9], dtype=np.uint64).tobytes()):
        out = bytearray(8192)
        bound.encrypt(src, out, 0, None, good)
        outs.add(bytes(out))
    assert len(outs) == 1
    with pytest.raises(ValueError, match="first_sector"):  # checked with sectors too
        bound.encrypt(src, dst, "x", None, np.array([3, 9], dtype=np.uint64))


@pytest.mark.parametrize("decrypt", [False, True])
def test_xts_equal_halves_refused_both_ways(engine, decrypt):
    spec = CipherSpec.parse("aes-xts-plain64")
    call = engine.decrypt_sectors if decrypt else engine.encrypt_sectors
    with pytest.raises(InvalidKeyError, match="K1 and K2"):
        call(spec, bytes(range(32)) * 2, bytes(4096), bytearray(4096), 0)


def test_zero_length_batch(engine):
    spec = CipherSpec.parse("aes-gcm-random")
    engine.encrypt_sectors(spec, _key(spec), b"", bytearray(), 0, bytearray())
    engine.decrypt_sectors(spec, _key(spec), b"", bytearray(), 0, bytearray())


# ---------------------------------------------------------------- selection


def test_get_engine_names_and_repr():
    auto = get_engine("auto")
    assert auto.name == ("native" if native_available() else "cryptography")
    if native_available():
        assert auto is get_engine("native")
        for spec in ("aes-xts-plain64", "aes-gcm-random", "chacha20-poly1305-random"):
            chosen = auto.engine_for(spec)
            assert chosen.name in ENGINES and chosen.name.startswith("native-")
            assert chosen.supports(spec)
    assert get_engine("cryptography").name == "cryptography"
    assert get_engine(auto) is auto
    assert "OpenSSL" in get_engine("cryptography").openssl_version
    with pytest.raises(ValueError, match="unknown engine"):
        get_engine("openssl")
    assert "key" not in repr(auto).lower()


@pytest.mark.parametrize("name", [*ENGINES, "auto"])
def test_every_engine_describes_its_provenance(name):
    engine = get_engine(name)
    info = engine.describe()
    assert {"engine", "library", "version", "code_path"} <= set(info)
    assert all(isinstance(v, str) and v for v in info.values())
    assert info["engine"] == engine.name
    if name == "native-ipp":  # the distribution, as the README and its users name it
        assert info["package"].startswith(("ipp-crypto 20", "not from the ipp-crypto wheel"))


@requires_native
def test_native_describes_its_choice_per_cipher():
    native = get_engine("native")
    info = native.describe("aes-xts-plain64")
    assert info["engine"] == native.engine_for("aes-xts-plain64").name
    assert info["selected_by"] == "native"
    if "native-ipp" in ENGINES:
        assert "GB/s" in info["selection"]  # chosen by measurement, figures kept


def test_native_alias_chooses_among_native_backends():
    if not native_available():
        with pytest.raises(EngineUnavailableError):
            get_engine("native")
        return
    native = get_engine("native")
    assert native.engine_for("chacha20-poly1305-random").name == "native-openssl"
    assert native.engine_for("aes-xts-plain64").name in ("native-ipp", "native-openssl")


def test_native_missing_falls_back(monkeypatch):
    monkeypatch.setattr(engines, "_native", None)
    monkeypatch.setattr(engines, "_NATIVE_REASON", "no compiler here")
    monkeypatch.setattr(engines, "_instances", {})
    monkeypatch.setattr(engines, "_problems", {})
    assert not engines.native_available()
    assert engines.native_unavailable_reason() == "no compiler here"
    assert get_engine("auto").name == "cryptography"
    assert engines.available_engines() == ["cryptography"]
    with pytest.raises(EngineUnavailableError, match="no compiler here"):
        get_engine("native")
    with pytest.raises(EngineUnavailableError, match="no compiler here"):
        get_engine("native-ipp")


# ---------------------------------------------------------------- native specifics


@requires_native
def test_native_xts_paths_agree():
    """The provider fast path and the EVP loop write the same sectors."""
    from simulator.crypt import _native

    spec = CipherSpec.parse("aes-xts-plain64", key_bits=256, sector_size=512)
    key, pt = _key(spec), os.urandom(512 * 33)
    eng = get_engine("native-openssl")
    outs = []
    for direct in (True, False):
        was = _native.set_xts_direct(direct)
        try:
            assert _native.xts_path() == ("provider" if direct else "evp")
            out = bytearray(len(pt))
            eng.encrypt_sectors(spec, key, pt, out, 2**40, threads=2)
            back = bytearray(len(pt))
            eng.decrypt_sectors(spec, key, out, back, 2**40, threads=2)
            assert back == pt
            outs.append(bytes(out))
        finally:
            _native.set_xts_direct(was)
    assert outs[0] == outs[1] == reference_encrypt(spec, key, pt, 2**40, None)[0]


@requires_native
@pytest.mark.parametrize("text", ["aes-gcm-random:128", "aes-gcm-random:256",
                                  "chacha20-poly1305-random"])
def test_native_aead_paths_agree(text):
    """The AEAD provider fast path and the EVP loop write the same sectors and tags (given
    nonces, as the reference), read each other's back, and both refuse a bad tag, naming the
    first bad sector and zeroing only the failing ones."""
    from simulator.crypt import _native

    spec = CipherSpec.parse(text, sector_size=512)
    n, first = 33, 2**40
    key, pt = _key(spec), os.urandom(512 * n)
    nonces = [os.urandom(12) for _ in range(n)]
    given = b"".join(nc + bytes(16) for nc in nonces)
    want = reference_encrypt(spec, key, pt, first, nonces)
    eng = get_engine("native-openssl")
    sealed = []
    for direct in (True, False):
        was = _native.set_aead_direct(direct)
        try:
            assert _native.aead_path() == ("provider" if direct else "evp")
            out, meta = bytearray(len(pt)), bytearray(given)
            eng.encrypt_sectors(spec, key, pt, out, first, meta, threads=2, nonces="given")
            assert (bytes(out), bytes(meta)) == want
            sealed.append((out, meta))
        finally:
            _native.set_aead_direct(was)
    for direct in (True, False):  # each path reads what the other wrote, and refuses a bad tag
        out, meta = sealed[1 - direct]
        was = _native.set_aead_direct(direct)
        try:
            back = bytearray(len(pt))
            eng.decrypt_sectors(spec, key, out, back, first, meta, threads=2)
            assert back == pt
            bad = bytearray(meta)
            for i in (5, 20):
                bad[i * 28 + 12] ^= 1
            back = bytearray(pt)
            with pytest.raises(IntegrityError) as err:
                eng.decrypt_sectors(spec, key, out, back, first, bad)
            assert (err.value.sector, err.value.count) == (first + 5, 2)
            assert back[5 * 512 : 6 * 512] == bytes(512) == back[20 * 512 : 21 * 512]
            assert back[:5 * 512] == pt[:5 * 512] and back[21 * 512:] == pt[21 * 512:]
        finally:
            _native.set_aead_direct(was)


@requires_native
def test_native_reports_system_openssl():
    eng = get_engine("native-openssl")
    assert eng.openssl_version.startswith("OpenSSL 3.")


@requires_native
@pytest.mark.parametrize(
    "spec_text", ["aes-xts-plain64", "aes-gcm-random", "chacha20-poly1305-random"]
)
def test_native_ceiling_runs(spec_text):
    for name in ("native", *[n for n in ENGINES if n.startswith("native-")]):
        eng = get_engine(name)
        if not eng.supports(spec_text):
            continue
        assert eng.ceiling(spec_text, unit_bytes=4096, seconds=0.05) > 0
        assert eng.ceiling(spec_text, 4096, 0.05, decrypt=True) > 0


@pytest.mark.skipif("native-ipp" not in ENGINES, reason="IPP Crypto not loaded here")
@pytest.mark.parametrize("alg", [1, 2])  # XTS, GCM
def test_ipp_ceiling_out_of_place_writes_what_in_place_would(alg):
    """The benchmark yardstick for a volume's out-of-place writes: the same bytes as the
    in-place loop, into `out`; an `out` of another size or sharing bytes is refused."""
    from simulator.crypt.engines import _native

    get_engine("native-ipp")
    key = bytes(range(64 if alg == 1 else 32))
    src = bytearray(os.urandom(4096))
    out, in_place = bytearray(4096), bytearray(src)
    _native.ipp_ceiling(alg, 1, key, src, 512, 1, out)
    _native.ipp_ceiling(alg, 1, key, in_place, 512, 1)
    assert out == in_place != src
    backing = bytearray(8192)
    for buf, bad in ((src, bytearray(512)),
                     (memoryview(backing)[:4096], memoryview(backing)[2048:6144])):
        with pytest.raises(ValueError, match="out must be as long as buf and share no byte"):
            _native.ipp_ceiling(alg, 1, key, buf, 512, 1, bad)


@requires_native
def test_native_concurrent_callers_share_the_pool():
    """Several Python threads with threads=2 at once: the pool is taken by one caller, the
    others run their batches alone; every result is right."""
    spec = CipherSpec.parse("aes-gcm-random")
    key = _key(spec)
    pt = os.urandom(64 * 4096)
    eng = get_engine("native")
    errors = []

    def work():
        try:
            for _ in range(20):
                ct, meta = bytearray(len(pt)), _meta(spec, 64)
                eng.encrypt_sectors(spec, key, pt, ct, 0, meta, threads=2)
                out = bytearray(len(pt))
                eng.decrypt_sectors(spec, key, ct, out, 0, meta, threads=2)
                assert out == pt
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors


@requires_native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_native_pool_survives_fork():
    spec = CipherSpec.parse("aes-xts-plain64")
    key, pt = _key(spec), os.urandom(16 * 4096)
    eng = get_engine("native")
    want = bytearray(len(pt))
    eng.encrypt_sectors(spec, key, pt, want, 0, threads=2)  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # child: the pool threads did not survive the fork
        ok = False
        try:
            got = bytearray(len(pt))
            eng.encrypt_sectors(spec, key, pt, got, 0, threads=2)
            ok = got == want
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


@requires_native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("name", [n for n in ENGINES if n.startswith("native-")])
def test_forked_child_never_reuses_the_parents_nonces(name):
    """Small batches draw nonces from a per-thread pool; a forked child must not hand out
    the ones its parent is about to use (same key: a GCM nonce reuse)."""
    spec = CipherSpec.parse("aes-gcm-random")
    bound = get_engine(name).bind(spec, _key(spec))
    pt, ct = bytes(4096), bytearray(4096)

    def nonce() -> bytes:
        meta = bytearray(28)
        bound.encrypt(pt, ct, 0, meta)
        return bytes(meta[:12])

    nonce()  # the pool is filled now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, b"".join(nonce() for _ in range(4)))
        finally:
            os._exit(0)
    os.close(write)
    theirs = os.read(read, 48)
    os.close(read)
    os.waitpid(pid, 0)
    ours = b"".join(nonce() for _ in range(4))
    child = {theirs[i : i + 12] for i in range(0, 48, 12)}
    parent = {ours[i : i + 12] for i in range(0, 48, 12)}
    assert len(child) == 4 and not child & parent


@requires_native
@pytest.mark.parametrize("name", [n for n in ENGINES if n.startswith("native-")])
@pytest.mark.parametrize("cipher", ["aes-xts-plain64", "aes-gcm-random"])
def test_batches_split_across_workers_agree_and_name_bad_sectors(name, cipher):
    """Below 128 KiB a worker a batch is not split (it would not pay); lowered, every split
    writes the same sectors as one thread and a bad tag is named wherever it falls."""
    from simulator.crypt import _native

    spec = CipherSpec.parse(cipher, sector_size=512)
    eng = get_engine(name)
    key, n = _key(spec), 40
    pt = os.urandom(512 * n)
    meta0 = _meta(spec, n)
    if meta0 is not None:
        meta0[:] = os.urandom(len(meta0))
    was = _native.set_split_bytes(4096)
    try:
        outs = []
        for threads in (1, 2, 3, 7):
            ct, meta = bytearray(len(pt)), None if meta0 is None else bytearray(meta0)
            eng.bind(spec, key, threads).encrypt(pt, ct, 9, meta, None, True)
            outs.append((bytes(ct), None if meta is None else bytes(meta)))
        assert all(o == outs[0] for o in outs)
        ct, meta = bytearray(outs[0][0]), outs[0][1]
        back = bytearray(len(pt))
        eng.bind(spec, key, 3).decrypt(ct, back, 9, meta)
        assert back == pt
        if spec.is_aead:
            ct[35 * 512] ^= 1
            with pytest.raises(IntegrityError) as err:
                eng.bind(spec, key, 3).decrypt(ct, back, 9, meta)
            assert err.value.sector == 9 + 35
    finally:
        _native.set_split_bytes(was)


def test_a_failing_self_test_disables_the_backend_loudly(monkeypatch, caplog):
    """A backend that gives a wrong known answer is not used: logged, warned, reported."""
    from simulator.crypt import selftest

    def wrong(engine):
        raise selftest.SelfTestFailure("AES-256-XTS IEEE 1619 vector 10 (bound sector cipher)")

    monkeypatch.setattr(selftest, "run_self_test", wrong)
    monkeypatch.setattr(engines, "_instances", {})
    monkeypatch.setattr(engines, "_problems", {})
    with pytest.warns(RuntimeWarning, match="self-test failed"):
        assert engines.available_engines() == []
    assert "self-test failed" in caplog.text
    reason = engines.engine_unavailable_reason("native-openssl")
    assert reason is not None and "IEEE 1619" in reason
    with pytest.raises(EngineUnavailableError, match="self-test failed"):
        get_engine("native-openssl")


class _WrongFor:
    """A bound cipher right for every configuration but one: its output has a bit flipped."""

    def __init__(self, inner):
        self.inner, self.threads = inner, inner.threads

    def encrypt(self, src, dst, *args):
        self.inner.encrypt(src, dst, *args)
        memoryview(dst).cast("B")[0] ^= 1

    def decrypt(self, *args):
        return self.inner.decrypt(*args)


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize(("cipher", "bits", "unit"), [
    ("aes-xts-plain64", 256, 512), ("aes-xts-plain64", 512, 4096),
    ("aes-gcm-random", 128, 512), ("aes-gcm-random", 256, 4096),
    ("chacha20-poly1305-random", 256, 512)])
def test_the_self_test_covers_every_key_size_and_sector_size(monkeypatch, name, cipher, bits,
                                                             unit):
    """A backend wrong for one configuration "auto" could hand it (AES-128-XTS, AES-128-GCM,
    4 KiB sectors...) fails its known-answer self-test, not only one wrong for the first."""
    from simulator.crypt import selftest

    eng = get_engine(name)
    if not eng.supports(cipher):
        pytest.skip(f"{name} does not run {cipher}")
    real = type(eng)._bind

    def bind(self, spec, key, threads):
        inner = real(self, spec, key, threads)
        hit = (spec.name, spec.key_bits, spec.sector_size) == (cipher, bits, unit)
        return _WrongFor(inner) if hit else inner

    monkeypatch.setattr(type(eng), "_bind", bind)
    with pytest.raises(selftest.SelfTestFailure):
        selftest.run_self_test(eng)
    monkeypatch.undo()
    selftest.run_self_test(eng)  # and the real one passes


@pytest.mark.skipif("native-ipp" not in ENGINES, reason="needs the IPP backend")
def test_auto_keeps_ipp_when_only_openssl_fails_its_self_test(monkeypatch):
    """Per cipher, the fastest backend that passed: OpenSSL failing its known answers leaves
    AES on IPP (not all on the Python loop), and "auto" runs ChaCha20-Poly1305, which IPP
    does not, on "cryptography"; "native" offers only what IPP runs."""
    from simulator.crypt import selftest

    real = selftest.run_self_test

    def openssl_fails(engine):
        if engine.name == "native-openssl":
            raise selftest.SelfTestFailure("AES-256-XTS IEEE 1619 vector 10 (bound sector cipher)")
        real(engine)

    monkeypatch.setattr(selftest, "run_self_test", openssl_fails)
    monkeypatch.setattr(engines, "_instances", {})
    monkeypatch.setattr(engines, "_problems", {})
    with pytest.warns(RuntimeWarning, match="native-openssl disabled"):
        auto = get_engine("auto")
    assert auto.engine_for("aes-xts-plain64").name == "native-ipp"
    assert auto.engine_for("aes-gcm-random").name == "native-ipp"
    assert auto.engine_for("chacha20-poly1305-random").name == "cryptography"
    native = get_engine("native")
    assert native.supports("aes-gcm-random")
    assert not native.supports("chacha20-poly1305-random")
    assert engines.engine_unavailable_reason("native") is None  # IPP is a native backend


@requires_native
@pytest.mark.parametrize("name", [n for n in ENGINES if n.startswith("native-")])
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64", "aes-gcm-random"])
def test_batches_split_in_shrinking_pieces_are_whole(name, spec_text):
    """Every batch size cut for two threads (each lane in pieces that shrink towards its end,
    down to one sector) gives the one-thread bytes, sector numbers and tags included."""
    from simulator.crypt.engines import _native

    spec = CipherSpec.parse(spec_text, sector_size=512)
    key = bytes((i * 7 + 1) % 256 for i in range(spec.key_bytes))
    eng = get_engine(name)
    one, two = eng.bind(spec, key, 1), eng.bind(spec, key, 2)
    was = _native.set_split_bytes(4096)  # from 16 sectors on, a batch is split
    try:
        for n in (16, 17, 19, 24, 33, 64, 65, 127, 300, 1001):
            pt = os.urandom(512 * n)
            ct1, ct2 = bytearray(len(pt)), bytearray(len(pt))
            meta = bytearray(28 * n) if spec.is_aead else None
            if meta is not None:
                meta[:] = os.urandom(len(meta))  # given nonces: both runs use the same
            meta2 = bytearray(meta) if meta is not None else None
            one.encrypt(pt, ct1, 7 * n, meta, None, True)
            two.encrypt(pt, ct2, 7 * n, meta2, None, True)
            assert ct1 == ct2 and meta == meta2, n
            back = bytearray(len(pt))
            two.decrypt(ct2, back, 7 * n, meta2)
            assert back == pt, n
    finally:
        _native.set_split_bytes(was)


@requires_native
@pytest.mark.parametrize("name", [n for n in ENGINES if n.startswith("native-")])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_split_batches_draw_a_fresh_nonce_for_every_sector(name, threads):
    """Each runner draws the nonces of the pieces it runs (in parallel, not before the
    split): whichever runner took a piece, every sector gets a fresh nonce, no two alike
    across calls, and a one-thread bound reads the result back."""
    from simulator.crypt.engines import _native

    spec = CipherSpec.parse("aes-gcm-random", sector_size=512)
    key = _key(spec)
    bound, reader = get_engine(name).bind(spec, key, threads), get_engine(name).bind(spec, key, 1)
    was = _native.set_split_bytes(4096)  # from 16 sectors on, a batch is split
    try:
        seen: set[bytes] = set()
        for n in (16, 33, 300, 1001):
            pt = os.urandom(512 * n)
            for _ in range(2):
                ct, meta = bytearray(len(pt)), bytearray(28 * n)  # nonces all zero before
                bound.encrypt(pt, ct, 5, meta)
                nonces = {bytes(meta[i * 28 : i * 28 + 12]) for i in range(n)}
                assert len(nonces) == n and bytes(12) not in nonces and not nonces & seen, n
                seen |= nonces
                back = bytearray(len(pt))
                reader.decrypt(ct, back, 5, meta)
                assert back == pt, n
    finally:
        _native.set_split_bytes(was)


@requires_native
@pytest.mark.parametrize("name", [n for n in ENGINES if n.startswith("native-")])
def test_split_batch_run_alone_reports_every_bad_piece(name):
    """A batch cut into pieces for two threads but run on the caller alone (the worker asleep
    and the batch too small to wake it, or the pool busy) is one job over all its pieces: a
    bad tag in any piece is found, the first bad sector and the count are the batch's, and
    only the failing sectors are zeroed, as when the pieces run on two threads."""
    import time

    from simulator.crypt.engines import _native

    spec = CipherSpec.parse("aes-gcm-random", sector_size=512)
    key, n, first = _key(spec), 40, 1000
    pt = os.urandom(512 * n)
    eng = get_engine(name)
    writer, reader = eng.bind(spec, key, 1), eng.bind(spec, key, 2)
    ct, meta = bytearray(len(pt)), bytearray(28 * n)
    writer.encrypt(pt, ct, first, meta)
    was = _native.set_split_bytes(4096)  # 40 sectors: five pieces for two lanes
    try:
        for bad_at in ((3, 17, 30), (39,), (8, 9)):
            bad = bytearray(meta)
            for i in bad_at:
                bad[i * 28 + 20] ^= 0x80
            time.sleep(0.002)  # the pool's worker goes back to sleep
            back = bytearray(pt)
            with pytest.raises(IntegrityError) as err:
                reader.decrypt(ct, back, first, bad)
            assert (err.value.sector, err.value.count) == (first + bad_at[0], len(bad_at))
            for i in range(n):
                want = bytes(512) if i in bad_at else pt[i * 512 : (i + 1) * 512]
                assert back[i * 512 : (i + 1) * 512] == want, (bad_at, i)
            back = bytearray(len(pt))
            reader.decrypt(ct, back, first, meta)
            assert back == pt
    finally:
        _native.set_split_bytes(was)


@pytest.mark.parametrize("name", ENGINES)
def test_sector_numbers_that_the_call_would_overwrite_are_refused(name):
    """A ``sectors`` array inside the destination (the ciphertext would change the numbers
    still to be read) or inside the metadata (the nonces written would) is refused by every
    backend, before anything is written."""
    eng = get_engine(name)
    xts = CipherSpec.parse("aes-xts-plain64:512:4096")
    dst = np.zeros(2 * 4096 // 8, np.uint64)
    dst[:2] = (5, 6)
    with pytest.raises(ValueError, match="sectors overlaps the destination"):
        eng.bind(xts, os.urandom(64)).encrypt(bytes(8192), memoryview(dst).cast("B"), 0,
                                              None, dst[:2])
    assert list(dst[:2]) == [5, 6]
    gcm = CipherSpec.parse("aes-gcm-random:256:4096")
    if not eng.supports(gcm):
        return
    meta = np.zeros(4 * 28 // 8, np.uint64)
    meta[:4] = (100, 200, 300, 400)
    for op in ("encrypt", "decrypt"):
        with pytest.raises(ValueError, match="sectors overlaps the metadata"):
            getattr(eng.bind(gcm, os.urandom(32)), op)(
                bytes(4 * 4096), bytearray(4 * 4096), 0, memoryview(meta).cast("B"), meta[:4])
    assert list(meta[:4]) == [100, 200, 300, 400]


def test_the_portable_engine_runs_on_the_calling_thread_whatever_threads_says(monkeypatch):
    """Its per-sector loop holds the GIL: worker threads only slowed it (two at 0.12-0.60x of
    one), so a batch bound with threads=2 runs, whole, on the caller; threads_used says so."""
    eng = get_engine("cryptography")
    spec = CipherSpec.parse("aes-gcm-random:256")
    seen = []
    real = engines.CryptographyEngine._range

    def spy(*args):
        seen.append((threading.get_ident(), args[-2], args[-1]))
        return real(*args)

    monkeypatch.setattr(engines.CryptographyEngine, "_range", staticmethod(spy))
    bound = eng.bind(spec, _key(spec), 2)
    pt = os.urandom(64 * 4096)
    ct, meta = bytearray(len(pt)), _meta(spec, 64)
    bound.encrypt(pt, ct, 5, meta)
    assert seen == [(threading.get_ident(), 0, 64)]
    assert eng.threads_used(spec, len(pt), 2) == 1


@pytest.mark.parametrize("name", [n for n in ENGINES if n.startswith("native-")])
def test_native_threads_used_follows_the_split_rule(name):
    """A worker per split_bytes (128 KiB) of the batch, at most the threads bound."""
    from simulator.crypt import _native

    eng, spec = get_engine(name), CipherSpec.parse("aes-xts-plain64:512")
    share = _native.split_bytes()
    assert eng.threads_used(spec, 4096, 2) == 1
    assert eng.threads_used(spec, share - 4096, 2) == 1
    assert eng.threads_used(spec, 2 * share, 2) == 2
    assert eng.threads_used(spec, 64 * share, 3) == 3
    assert get_engine("auto").threads_used(spec, 2 * share, 2) == 2


@requires_native
def test_openssl_code_path_is_read_when_openssl_ia32cap_steers_it(monkeypatch):
    """With OPENSSL_ia32cap set the library appends " env:<value>"; the path is still the
    feature list (of the masked capabilities), with the setting beside it."""
    from simulator.crypt import _native

    monkeypatch.setattr(_native, "openssl_cpu_settings", lambda: (
        "OPENSSL_ia32cap=0xfdfa3203078bffff:0x0 env:~0x200000000000000"))
    assert engines.openssl_code_path() == "pclmulqdq+avx (OPENSSL_ia32cap=~0x200000000000000)"
    monkeypatch.setattr(_native, "openssl_cpu_settings", lambda: (
        "OPENSSL_ia32cap=0x7ffaf3bfffebffff:0x40069c219c97a9"))
    assert "vaes" in engines.openssl_code_path().split("+")


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("cipher", ["xts", "gcm", "chacha20-poly1305"])
def test_a_cipher_the_backend_lacks_is_named_on_every_vector_call(name, cipher):
    """crypt_units and crypt_message refuse, alike and by name, a cipher the backend does not
    run (IPP: ChaCha20-Poly1305), instead of an error about an algorithm number."""
    from simulator.crypt.errors import InvalidCipherSpecError

    engine = get_engine(name)
    spec = {"xts": "aes-xts-plain64", "gcm": "aes-gcm-random",
            "chacha20-poly1305": "chacha20-poly1305-random"}[cipher]
    if engine.supports(CipherSpec.parse(spec)):
        pytest.skip(f"{name} runs {cipher}")
    with pytest.raises(InvalidCipherSpecError, match=f"engine {engine.name} does not run"):
        engine.crypt_units(cipher, True, bytes(32), bytes(32), bytearray(32), 0, 32,
                           bytearray(28))
    with pytest.raises(InvalidCipherSpecError, match=f"engine {engine.name} does not run"):
        engine.crypt_message(cipher, True, bytes(32), bytes(12), b"abc")


def test_the_cryptography_engine_names_the_cpu_features_its_openssl_dispatches_over():
    """Every result names the CPU code path: for the OpenSSL inside cryptography, the
    features OpenSSL detects on this CPU, in the words the native OpenSSL engine uses."""
    path = get_engine("cryptography").describe()["code_path"]
    assert path.startswith(engines.openssl_code_path() + ", as OpenSSL detects this CPU")


def test_without_the_native_extension_the_cpu_features_come_from_cpuinfo(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 aes pclmulqdq avx avx2 vaes\n")
    assert engines._cpuinfo_code_path(str(info)) == "aesni+pclmulqdq+avx+avx2+vaes (from " \
        "/proc/cpuinfo)"
    info.write_text("processor\t: 0\nFeatures\t: neon aes\n")
    assert "no flags line" in engines._cpuinfo_code_path(str(info))
    assert "No such file" in engines._cpuinfo_code_path(str(tmp_path / "missing"))
    monkeypatch.setattr(engines, "_native", None)
    assert engines.openssl_code_path().endswith("(from /proc/cpuinfo)")
