"""EncryptedVolume.written_extents: the runs of sectors holding data (for persistence)."""

from __future__ import annotations

import pytest

from simulator.crypt import CipherSpec, EncryptedVolume


def _volume(spec_text: str, size: int) -> EncryptedVolume:
    spec = CipherSpec.parse(spec_text)
    key = bytes(range(spec.key_bytes)) if spec.key_bytes else None
    return EncryptedVolume(size, spec, key)


@pytest.mark.parametrize("spec", ["aes-gcm-random:256:4096", "aes-xts-plain64:512:512",
                                  "null:0:512"])
def test_written_extents_list_the_written_runs_in_order_and_restore_a_copy(spec):
    vol = _volume(spec, 64 << 20)
    size = vol.sector_size
    spc = vol._store.sectors_per_chunk
    assert spc > 23  # the layout below keeps the first runs in chunk 0
    assert vol.written_extents() == []
    vol.write(3 * size, b"a" * (2 * size))          # sectors 3-4
    vol.write(10 * size, b"b" * size)               # sector 10
    vol.write((spc - 1) * size, b"c" * (2 * size))  # across a chunk boundary
    vol.write(20 * size, b"d" * (3 * size))
    vol.discard(21 * size, size)                    # sector 21 no longer holds data
    # a run crossing chunks is given per chunk
    assert vol.written_extents() == [(3, 2), (10, 1), (20, 1), (22, 1), (spc - 1, 1),
                                     (spc, 1)]
    copy = _volume(spec, 64 << 20)
    for first, count in vol.written_extents():
        copy.raw_write(first, *vol.raw(first, count))
    assert copy.written_extents() == vol.written_extents()
    for first, count in vol.written_extents():
        assert copy.read(first * size, count * size) == vol.read(first * size, count * size)
    vol.close()
    assert vol.written_extents() == []
