"""Issue 4: what df shows inside the task (FACTS.md calibration, seed S3)."""

import json

import pytest

from simulator.cli import main


def run(capsys, *args):
    rc = main(["df", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def overlay(out):
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "overlay":
            return f
    raise AssertionError(out)


def test_default_task_overlay_31G_reserved_20496(capsys):
    rc, out, _ = run(capsys, "--size", "20")
    assert rc in (0, None)
    f = overlay(out)
    assert f[1] == "31G" and f[-1] == "/"
    assert out.splitlines()[0].split()[:2] == ["Filesystem", "Size"]
    assert any(
        line.split()[0] == "/dev/nvme1n1" and line.split()[-1] == "/etc/hosts"
        for line in out.splitlines()
        if line.split()
    )
    assert '"Reserved": 20496' in out


def test_default_is_20_gib(capsys):
    _, out_default, _ = run(capsys)
    _, out_20, _ = run(capsys, "--size", "20")
    assert out_default == out_20


def test_json_metrics(capsys):
    _rc, out, _ = run(capsys, "--size", "20", "--json")
    d = json.loads(out)
    assert d["task_metadata"]["EphemeralStorageMetrics"]["Reserved"] == 20496
    assert any(line.split()[:2] == ["overlay", "31G"] for line in d["df_h"])


def test_S3_cmk_allocation_differs_total_same(capsys):
    _, a, _ = run(capsys, "--size", "20", "--json")
    _, b, _ = run(capsys, "--size", "20", "--cmk", "--json")
    a, b = json.loads(a), json.loads(b)
    assert a["device_bytes"] == b["device_bytes"]  # total the same
    _, da, _ = run(capsys, "--size", "20", "--bytes")
    _, db, _ = run(capsys, "--size", "20", "--cmk", "--bytes")
    assert overlay(da)[1] != overlay(db)[1]  # allocation differs, visible in df -B1


def test_bytes_output_is_integers(capsys):
    _, out, _ = run(capsys, "--size", "20", "--bytes")
    f = overlay(out)
    size, used, avail = int(f[1]), int(f[2]), int(f[3])
    assert 30 * 2**30 < size < 32 * 2**30
    assert used + avail < size  # filesystem reserve


def test_used_and_image_counted(capsys):
    _, base, _ = run(capsys, "--size", "50", "--bytes")
    _, more, _ = run(capsys, "--size", "50", "--image-size", "1.2G", "--used", "3G", "--bytes")
    assert int(overlay(more)[2]) - int(overlay(base)[2]) >= 3 * 2**30 + int(1.2 * 2**30)
    _, js, _ = run(capsys, "--size", "50", "--used", "3G", "--json")
    assert json.loads(js)["task_metadata"]["EphemeralStorageMetrics"]["Utilized"] >= 3072


def test_aead_cipher_costs_space(capsys):
    _, x, _ = run(capsys, "--size", "50", "--cmk", "--cipher", "aes-xts-plain64", "--bytes")
    _, g, _ = run(capsys, "--size", "50", "--cmk", "--cipher", "aes-gcm-random:256:512", "--bytes")
    assert int(overlay(g)[1]) < int(overlay(x)[1])


@pytest.mark.parametrize("size", [21, 100, 200])
def test_sizes_grow(capsys, size):
    _, out, _ = run(capsys, "--size", str(size), "--bytes")
    assert int(overlay(out)[1]) > size * 2**30


@pytest.mark.parametrize("size", ["19", "201", "abc"])
def test_bad_size_refused(capsys, size):
    try:
        rc, _out, err = run(capsys, "--size", size)
    except SystemExit as e:
        rc, err = e.code, capsys.readouterr().err
    assert rc == 2
    assert err.strip()
