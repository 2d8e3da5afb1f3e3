"""The df / task-metadata model of a task's ephemeral storage, calibrated on FACTS.md."""

from __future__ import annotations

import argparse
import json

import pytest

from simulator.cli import df as df_cli
from simulator.crypt import CipherSpec
from simulator.fargate.storage import (
    DEFAULTS,
    Constant,
    EphemeralStorage,
    human_size,
    use_percent,
    validate_size,
)

MiB, GiB = 1 << 20, 1 << 30


def _cols(line: str) -> list[str]:
    return line.split()


# ---------------------------------------------------------------- calibration on FACTS.md


def test_default_task_matches_the_published_figures():
    st = EphemeralStorage()
    assert st.size_gib == 20
    assert st.task_metadata() == {"EphemeralStorageMetrics": {"Utilized": 0, "Reserved": 20496}}
    lines = st.df_lines()
    assert _cols(lines[0]) == ["Filesystem", "Size", "Used", "Avail", "Use%", "Mounted", "on"]
    assert _cols(lines[1])[:2] == ["overlay", "31G"]


def test_user_report_image_heavy_task_reproduced():
    """FACTS.md: 'overlay 31G 12G 18G 40% /' and '/dev/nvme1n1 31G 12G 18G 40% /etc/hosts'."""
    st = EphemeralStorage(size_gib=20, image_bytes=3 * GiB, used_bytes=int(2.5 * GiB))
    lines = st.df_lines()
    assert _cols(lines[1]) == ["overlay", "31G", "12G", "18G", "40%", "/"]
    hosts = next(line for line in lines if line.endswith("/etc/hosts"))
    assert _cols(hosts) == ["/dev/nvme1n1", "31G", "12G", "18G", "40%", "/etc/hosts"]
    # the hidden reservation is not in task metadata
    assert st.task_metadata()["EphemeralStorageMetrics"]["Reserved"] == 20496
    # used + avail is about 1G less than size
    gap = st.fs_size_bytes - st.df_used_bytes - st.df_avail_bytes
    assert 0.8 * GiB < gap < 1.2 * GiB


def test_df_shows_every_mount_fargate_shows():
    mounts = [line.rsplit(" ", 1)[-1] for line in EphemeralStorage().df_lines()[1:]]
    for m in ("/", "/dev", "/dev/shm", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        assert m in mounts


# ---------------------------------------------------------------- CMK vs Fargate-owned key


def test_cmk_allocation_differs_but_total_is_the_same():
    owned = EphemeralStorage(size_gib=20, cmk=False, used_bytes=GiB)
    cmk = EphemeralStorage(size_gib=20, cmk=True, used_bytes=GiB)
    assert owned.device_bytes == cmk.device_bytes  # "the total space remains the same"
    assert cmk.cmk_slice_bytes == 16 * MiB and owned.cmk_slice_bytes == 0
    assert cmk.df_avail_bytes < owned.df_avail_bytes
    assert owned.task_metadata() == cmk.task_metadata()
    assert DEFAULTS.cmk_slice_bytes.assumption


# ---------------------------------------------------------------- image, AEAD, sizes


def test_image_counts_compressed_and_uncompressed():
    st = EphemeralStorage(image_bytes=GiB, image_uncompressed_bytes=3 * GiB)
    assert st.image_on_disk_bytes == 4 * GiB
    assert st.task_metadata()["EphemeralStorageMetrics"]["Utilized"] == 4096
    default_ratio = EphemeralStorage(image_bytes=GiB)
    assert default_ratio.image_on_disk_bytes == GiB + int(GiB * DEFAULTS.image_expansion.value)


def test_aead_cipher_costs_metadata_and_journal():
    xts = EphemeralStorage(cipher=CipherSpec.parse("aes-xts-plain64"))
    plain = EphemeralStorage()
    gcm4k = EphemeralStorage(cipher="aes-gcm-random:256:4096")
    gcm512 = EphemeralStorage(cipher="aes-gcm-random:256:512")
    assert xts.fs_size_bytes == plain.fs_size_bytes
    assert gcm4k.journal_bytes == 64 * MiB
    assert gcm4k.aead_metadata_bytes == gcm4k.fs_device_bytes // 4096 * 28
    assert plain.fs_size_bytes > gcm4k.fs_size_bytes > gcm512.fs_size_bytes
    lost = 1 - gcm512.fs_device_bytes / gcm512.crypt_device_bytes
    assert lost == pytest.approx(CipherSpec.parse("aes-gcm-random:256:512").capacity_overhead(
        gcm512.crypt_device_bytes))


@pytest.mark.parametrize("size", [20, 21, 100, 200])
def test_sizes_accepted(size):
    st = EphemeralStorage(size_gib=size)
    assert st.task_metadata()["EphemeralStorageMetrics"]["Reserved"] == size * 1024 + 16
    assert st.device_bytes == (size + 11) * GiB


@pytest.mark.parametrize(("size", "level"), [(19, "task"), (201, "task"), (20, "taskdef"),
                                             (0, "task"), (20.5, "task")])
def test_sizes_refused(size, level):
    with pytest.raises(ValueError, match="GiB"):
        validate_size(size, level)
    with pytest.raises(ValueError):
        EphemeralStorage(size_gib=size, level=level)


def test_full_volume_flagged():
    st = EphemeralStorage(used_bytes=40 * GiB)
    assert st.full and st.df_avail_bytes == 0 and st.df_used_bytes == st.fs_size_bytes
    assert not EphemeralStorage(used_bytes=GiB).full


def test_negative_or_bad_byte_counts_refused():
    with pytest.raises(ValueError):
        EphemeralStorage(used_bytes=-1)
    with pytest.raises(ValueError):
        EphemeralStorage(image_bytes=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- constants table


def test_every_constant_has_a_source_and_can_be_overridden():
    table = DEFAULTS.table()
    assert table and all(v["source"] for v in table.values())
    assert table["hidden_reserve_gib"]["assumption"]
    assert not table["metrics_extra_mib"]["assumption"]
    custom = DEFAULTS.override(hidden_reserve_gib=20, cmk_slice_bytes=Constant(0, "none"))
    st = EphemeralStorage(constants=custom, cmk=True)
    assert st.device_bytes == 40 * GiB and st.cmk_slice_bytes == 0
    assert st.to_dict()["constants"]["hidden_reserve_gib"]["source"] == "override"
    with pytest.raises(ValueError, match="unknown storage constant"):
        DEFAULTS.override(nonsense=1)


def test_to_dict_has_the_harness_fields():
    d = EphemeralStorage(cmk=True, cipher="aes-gcm-random", image_bytes=GiB).to_dict()
    for key in ("df_size_bytes", "df_used_bytes", "df_avail_bytes", "reserved_bytes",
                "overlay_size_bytes", "image_bytes_on_disk", "fs_reserve_bytes",
                "metrics_reserved_mib", "metrics_utilized_mib", "task_metadata", "df_h"):
        assert key in d
    json.dumps(d)


# ---------------------------------------------------------------- df formatting


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (1023, "1023"), (1024, "1.0K"), (1025, "1.1K"), (10 * 1024 - 1, "10K"),
     (64 * MiB, "64M"), (int(3.9 * GiB), "3.9G"), (4 * GiB, "4.0G"), (31 * GiB, "31G"),
     (31 * GiB + 1, "32G"), (1024 * GiB - 1, "1.0T"), (int(9.95 * GiB), "10G")],
)
def test_human_sizes_round_up_like_coreutils(n, text):
    assert human_size(n) == text


def test_use_percent_rounds_up():
    assert use_percent(0, 0) == "-"
    assert use_percent(1, 99) == "1%"
    assert use_percent(1, 199) == "1%"
    assert use_percent(12, 18) == "40%"
    assert use_percent(121, 179) == "41%"


def test_bytes_output_is_exact():
    st = EphemeralStorage(used_bytes=GiB)
    cols = _cols(st.df_lines(human=False)[1])
    assert cols[0] == "overlay"
    assert [int(c) for c in cols[1:4]] == [st.fs_size_bytes, st.df_used_bytes, st.df_avail_bytes]
    assert st.df_lines(human=False)[0].split()[1] == "1B-blocks"


# ---------------------------------------------------------------- CLI


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    df_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_human(capsys):
    code, out, _ = _run(["df", "--size", "20", "--image-size", "3G", "--used", "2.5G"], capsys)
    assert code == 0
    assert "overlay          31G   12G   18G  40% /" in out
    assert '"Reserved": 20496' in out


def test_cli_bytes_and_json(capsys):
    code, out, _ = _run(["df", "--size", "50", "--cmk", "--cipher", "aes-gcm-random:256:512",
                         "--used", "300M", "--bytes"], capsys)
    assert code == 0 and "1B-blocks" in out
    code, out, _ = _run(["df", "--json", "--image-size", "1GiB"], capsys)
    data = json.loads(out)
    assert data["image_bytes"] == GiB and data["metrics_reserved_mib"] == 20496


def test_cli_errors(capsys):
    code, _, err = _run(["df", "--size", "500"], capsys)
    assert code == 2 and "outside 20-200" in err
    with pytest.raises(SystemExit):
        _run(["df", "--used", "lots"], capsys)
    assert df_cli.parse_size("1.5G") == int(1.5 * GiB)
    assert df_cli.parse_size("300M") == 300 * MiB
    assert df_cli.parse_size("500MB") == 500 * 10**6
    assert df_cli.parse_size("4096") == 4096


@pytest.mark.parametrize("size", ["19", "201", "0", "-3"])
def test_cli_size_out_of_range_exits_2(size, capsys):
    code, out, err = _run(["df", "--size", size], capsys)
    assert code == 2 and "20-200" in err and not out


def test_cli_size_not_a_number_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        _run(["df", "--size", "abc"], capsys)
    assert exc.value.code == 2
    assert "--size" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--used", "40G"], ["--size", "50", "--used", "70G"], ["--image-size", "20G"],
     ["--used", "1T", "--bytes"], ["--used", "40G", "--json"]],
)
def test_cli_more_data_than_the_disk_holds_exits_2(argv, capsys):
    code, out, err = _run(["df", *argv], capsys)
    assert code == 2 and not out
    assert "does not fit" in err and "GiB" in err


def test_cli_data_that_fits_is_fine(capsys):
    code, out, _ = _run(["df", "--used", "25G"], capsys)  # more than 20 GiB: df shows 31G
    assert code == 0 and "overlay" in out


@pytest.mark.parametrize("memory", ["0", "-1"])
def test_cli_bad_memory_exits_2(memory, capsys):
    code, out, err = _run(["df", "--memory", memory], capsys)
    assert code == 2 and "memory" in err and not out


def test_memory_must_be_positive():
    with pytest.raises(ValueError, match="memory"):
        EphemeralStorage(memory_mib=-1)
    with pytest.raises(ValueError, match="image_uncompressed_bytes"):
        EphemeralStorage(image_uncompressed_bytes=1.5)  # type: ignore[arg-type]


def test_cli_constant_override(capsys):
    code, out, _ = _run(["df", "--constant", "hidden_reserve_gib=0", "--bytes"], capsys)
    assert code == 0
    size = int(_cols(out.splitlines()[1])[1])
    assert size == EphemeralStorage(
        constants=DEFAULTS.override(hidden_reserve_gib=0)).fs_size_bytes
    code, _, err = _run(["df", "--constant", "nonsense=1"], capsys)
    assert code == 2 and "unknown storage constant" in err
    code, _, err = _run(["df", "--constant", "hidden_reserve_gib=lots"], capsys)
    assert code == 2 and "hidden_reserve_gib" in err
