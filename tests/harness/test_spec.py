"""Spec validation: bad specs are refused before anything runs, naming file, key and choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.bench.grid import expand
from simulator.bench.spec import SpecError, load_spec, parse_spec_text, resolve_spec_path

REPO = Path(__file__).resolve().parents[2]

GOOD = """
name = "t"
kind = "throughput"
[measure]
repetitions = 3
min_time = 0.01
[grid]
cipher = ["aes-xts-plain64", { name = "aes-gcm-random", key_bits = [128, 256] }]
sector_size = [512, 4096]
batch = ["64k", 1048576]
threads = [1, 2]
"""


def refuse(text: str, tmp_path: Path) -> SpecError:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value)
    return info.value


def test_good_spec_normalises_grid() -> None:
    spec = parse_spec_text(GOOD)
    assert spec.grid["batch"] == [65536, 1048576]
    ciphers = [(c["cipher"], c["key_bits"]) for c in spec.grid["cipher"]]
    assert ciphers[0] == ("null", 0)  # the baseline is added and runs first
    assert ("aes-xts-plain64", 512) in ciphers and ("aes-gcm-random", 128) in ciphers
    assert spec.grid["op"] == ["encrypt", "decrypt"] and spec.grid["engine"] == ["auto"]


def test_hash_ignores_spelling_and_comments() -> None:
    a = parse_spec_text(GOOD)
    b = parse_spec_text("# comment\n" + GOOD.replace('"64k"', "65536"))
    c = parse_spec_text(GOOD.replace("repetitions = 3", "repetitions = 4"))
    assert a.hash == b.hash != c.hash


@pytest.mark.parametrize(
    ("change", "key", "allowed"),
    [
        (('threads = [1, 2]', 'threads = [1, 2]\ncolour = "red"'), "grid.colour", "batch"),
        (('kind = "throughput"', 'kind = "speed"'), "kind", "throughput, volume"),
        (("repetitions = 3", 'repetitions = "3"'), "measure.repetitions", "an integer"),
        (("repetitions = 3", "repetitions = 3\nwarm_up = 1"), "measure.warm_up", "warmup"),
        (('cipher = ["aes-xts-plain64"', 'cipher = ["aes-cbc"'), "grid.cipher", "aes-xts-plain64"),
        (("threads = [1, 2]", "threads = [0]"), "grid.threads", "1 to 64"),
        (("sector_size = [512, 4096]", "sector_size = [520]"), "grid.sector_size", "4096"),
        (('batch = ["64k", 1048576]', 'batch = ["2k"]'), "grid.batch", "multiples"),
        (('name = "t"', 'name = "a/b"'), "name", "letters"),
        (("min_time = 0.01", "min_time = -1"), "measure.min_time", "to"),
    ],
)
def test_bad_specs_are_refused(tmp_path: Path, change: tuple[str, str], key: str,
                               allowed: str) -> None:
    err = refuse(GOOD.replace(*change), tmp_path)
    assert err.key == key
    assert allowed in err.allowed


def test_chacha_with_128_bit_key_is_impossible(tmp_path: Path) -> None:
    text = GOOD.replace('cipher = ["aes-xts-plain64"',
                        'cipher = [{ name = "chacha20-poly1305-random", key_bits = 128 }')
    err = refuse(text, tmp_path)
    assert err.key == "grid.cipher.key_bits"
    assert "chacha20-poly1305-random" in str(err) and "128" in str(err)
    assert "256" in err.allowed


def test_key_axis_applies_to_every_cipher(tmp_path: Path) -> None:
    text = GOOD.replace('cipher = ["aes-xts-plain64", { name = "aes-gcm-random", '
                        'key_bits = [128, 256] }]',
                        'cipher = ["aes-gcm-random", "chacha20-poly1305-random"]\n'
                        "key_bits = [128]")
    err = refuse(text, tmp_path)
    assert err.key == "grid.key_bits" and "chacha20" in str(err)


def test_invalid_toml_and_missing_grid(tmp_path: Path) -> None:
    assert refuse("name = \n", tmp_path).key == "toml"
    assert refuse('name = "x"\nkind = "throughput"\n', tmp_path).key == "grid"


def test_volume_and_capacity_grids() -> None:
    vol = parse_spec_text("""
name = "v"
kind = "volume"
[grid]
cipher = "aes-xts-plain64"
rw = ["randread", "randrw", "write"]
rwmixread = [70]
bs = ["4k"]
iodepth = [1, 8]
size = "1m"
""")
    cells = expand(vol)
    mixes = {(c["rw"], c["rwmixread"]) for c in cells}
    assert mixes == {("randread", 100), ("randrw", 70), ("write", 0)}
    cap = parse_spec_text("""
name = "c"
kind = "capacity"
[grid]
size_gib = [20, 200]
cipher = ["aes-xts-plain64", "aes-gcm-random"]
""")
    assert len(expand(cap)) == 2 * 2 * 2  # sizes x ciphers x cmk (default both)
    with pytest.raises(SpecError, match="size_gib"):
        parse_spec_text(
            'name = "c"\nkind = "capacity"\n[grid]\nsize_gib = 10\ncipher = "null"\n')
    with pytest.raises(SpecError, match="size"):
        parse_spec_text('name = "v"\nkind = "volume"\n[grid]\ncipher = "null"\n'
                        'bs = "64k"\niodepth = 32\nsize = "1m"\n')


def test_grid_cells_are_unique_and_baseline_first() -> None:
    cells = expand(parse_spec_text(GOOD))
    assert len(cells) == len({c.id for c in cells})
    # null + xts512 + gcm128 + gcm256, x 2 sectors x 2 batches x 2 threads x 2 ops
    assert len(cells) == 4 * 2 * 2 * 2 * 2
    # each cipher cell runs right after its null baseline (same point of the other axes)
    for i, c in enumerate(cells):
        if c["cipher"] != "null":
            point = {k: v for k, v in c.as_dict().items() if k not in ("cipher", "key_bits")}
            earlier = [d for d in cells[:i] if d["cipher"] == "null"
                       and {k: v for k, v in d.as_dict().items()
                            if k not in ("cipher", "key_bits")} == point]
            assert earlier and cells.index(earlier[0]) > i - 4 - 1


def test_resolve_bare_names_and_repo_specs() -> None:
    assert resolve_spec_path("quick").name == "quick.toml"
    assert resolve_spec_path(None).name == "quick.toml"
    with pytest.raises(SpecError, match="quick"):
        resolve_spec_path("no-such-experiment")
    for name in ("quick", "cipher_matrix", "local_vs_dask"):
        spec = load_spec(REPO / "experiments" / f"{name}.toml")
        assert spec.name == name and expand(spec)


def test_a_new_kind_is_one_registration() -> None:
    from simulator.bench.runners import RUNNERS, Runner, register, runner_for
    from simulator.bench.spec import _GRIDS

    class Echo(Runner):
        kind = "echo"
        rate_column = "seconds"

    def grid(v, g):
        return {"n": v.axis(g, "n", [1], int, "integers")}

    try:
        register("echo", Echo, grid=grid)
        spec = parse_spec_text('name = "e"\nkind = "echo"\n[grid]\nn = [1, 2]\n')
        assert spec.grid == {"n": [1, 2]} and isinstance(runner_for("echo"), Echo)
    finally:
        RUNNERS.pop("echo", None)
        _GRIDS.pop("echo", None)
    with pytest.raises(SpecError, match="unknown kind 'echo'"):
        parse_spec_text('name = "e"\nkind = "echo"\n[grid]\nn = 1\n')


def test_the_cipher_table_is_crypts() -> None:
    from simulator.bench.spec import CIPHER_KEY_BITS, SECTORS
    from simulator.crypt import SECTOR_SIZES, CipherSpec
    from simulator.crypt.spec import cipher_key_bits

    assert cipher_key_bits() == CIPHER_KEY_BITS  # same names and sizes (order aside)
    assert list(CIPHER_KEY_BITS)[-1] == "null"  # the baseline is offered last
    for name, sizes in CIPHER_KEY_BITS.items():
        assert CipherSpec.parse(name).key_bits == sizes[0]  # the default first
        for bits in sizes:
            CipherSpec.parse(name, key_bits=bits or None)
    assert ", ".join(map(str, SECTOR_SIZES)) == SECTORS


def test_each_runner_declares_its_grid_once() -> None:
    from simulator.bench.runners import RUNNERS
    from simulator.bench.spec import _GRIDS, CipherAxis, Grid

    for kind in ("throughput", "volume", "capacity", "scenario"):
        grid = RUNNERS[kind].grid
        assert isinstance(grid, Grid) and _GRIDS[kind] is grid
        names = [a.name for a in grid.axes]
        assert len(names) == len(set(names))
        with pytest.raises(SpecError) as info:
            parse_spec_text(f'name = "x"\nkind = "{kind}"\n[grid]\ncolour = 1\n'
                            'cipher = "null"\nscenario = "experiments/quick.toml"\n',
                            path=REPO / "x.toml")
        assert info.value.allowed == ", ".join(grid.keys)
        assert ("key_bits" in grid.keys) == any(isinstance(a, CipherAxis) for a in grid.axes)


def test_axis_defaults_fill_the_normalised_grid() -> None:
    from simulator.bench.runners import RUNNERS
    from simulator.bench.spec import Axis

    spec = parse_spec_text('name = "t"\nkind = "throughput"\n[grid]\ncipher = "null"\n')
    grid = RUNNERS["throughput"].grid
    assert list(spec.grid) == [a.name for a in grid.axes]  # the declared order
    for axis in grid.axes:
        if isinstance(axis, Axis):
            assert spec.grid[axis.name] == list(axis.default)


def test_a_new_kind_declares_its_axes_as_data() -> None:
    from simulator.bench.runners import RUNNERS, Runner, register
    from simulator.bench.spec import _GRIDS, Axis, Grid, integer, ranged

    class Count(Runner):
        kind = "count"
        grid = Grid((Axis("n", integer, (1,), "integers"),
                     Axis("m", ranged(1, 3), None, "1 to 3")))

    try:
        register("count", Count)
        spec = parse_spec_text('name = "c"\nkind = "count"\n[grid]\nm = [2, 2, 3]\n')
        assert spec.grid == {"n": [1], "m": [2, 3]}
        with pytest.raises(SpecError, match=r"grid\.m: missing \(allowed: 1 to 3\)"):
            parse_spec_text('name = "c"\nkind = "count"\n[grid]\nn = 4\n')
        with pytest.raises(SpecError, match=r"grid\.m: 9: out of range 1\.\.3"):
            parse_spec_text('name = "c"\nkind = "count"\n[grid]\nm = 9\n')
        with pytest.raises(SpecError, match=r"grid\.k: unknown key \(allowed: n, m\)"):
            parse_spec_text('name = "c"\nkind = "count"\n[grid]\nm = 1\nk = 1\n')
    finally:
        RUNNERS.pop("count", None)
        _GRIDS.pop("count", None)
