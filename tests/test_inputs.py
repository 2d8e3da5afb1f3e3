"""simulator.inputs: bounded reads, UTF-8 with the bad byte named, nesting and alias limits."""

from __future__ import annotations

import pytest

from simulator import inputs
from simulator.inputs import InputError

BOMB = "\n".join(
    [f'a: &a [{", ".join(["lol"] * 9)}]']
    + [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdef", "bcdefg", strict=True)]
)


def test_read_refuses_more_than_the_limit_without_reading_it_all(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    assert inputs.read_bytes(path, limit=101) == b"x" * 101
    with pytest.raises(InputError, match=r"big: larger than the 100-byte limit for a thing"):
        inputs.read_bytes(path, limit=100, what="thing")


def test_decode_names_the_byte_and_drops_a_bom():
    assert inputs.decode("\ufeff{}".encode(), "f") == "{}"
    with pytest.raises(InputError, match=r"^f: not UTF-8 text \(byte 0xff at offset 2\)$"):
        inputs.decode(b"ab\xffcd", "f")


@pytest.mark.parametrize(("parse", "text"), [
    (inputs.parse_json, "[" * 10_000 + "]" * 10_000),
    (inputs.parse_json, "[" * 65 + "]" * 65),
    (inputs.parse_yaml, "k: " + "[" * 10_000 + "]" * 10_000),
    (inputs.parse_toml, "k = " + "[" * 10_000 + "]" * 10_000),
])
def test_nesting_beyond_the_limit_is_refused(parse, text):
    with pytest.raises(InputError, match=r"^doc: nested more than 64 levels deep$"):
        parse(text, "doc")


def test_nesting_within_the_limit_is_fine():
    assert inputs.parse_json("[" * 64 + "]" * 64, "doc") is not None
    # Brackets inside quoted strings are text, not nesting.
    assert inputs.parse_yaml("k: '" + "[" * 100 + "'", "doc") == {"k": "[" * 100}


def test_a_yaml_alias_bomb_is_refused_before_it_is_built():
    assert len(BOMB) < 450
    with pytest.raises(InputError, match="expands to more than 100,000 YAML nodes"):
        inputs.parse_yaml(BOMB, "bomb.yaml")
    # Aliases within the limit still work, and share what they refer to.
    doc = inputs.parse_yaml("a: &x [1, 2]\nb: *x\n", "ok.yaml")
    assert doc == {"a": [1, 2], "b": [1, 2]}


def test_a_recursive_alias_is_refused():
    with pytest.raises(InputError, match="a YAML alias refers to a node that contains it"):
        inputs.parse_yaml("a: &x [*x]", "loop.yaml")


def test_parse_errors_are_one_line():
    with pytest.raises(InputError) as info:
        inputs.parse_yaml("a: [1,\n  b: {", "bad.yaml")
    assert "\n" not in str(info.value) and str(info.value).startswith("bad.yaml: not valid YAML")
    with pytest.raises(InputError, match=r"^j: not valid JSON \(Expecting value at line 1"):
        inputs.parse_json("[,]", "j")
