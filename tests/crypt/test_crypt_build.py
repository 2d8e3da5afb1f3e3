"""setup.py: a failed native build warns and still succeeds (the install must not break)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_build_without_a_compiler_warns_and_succeeds(tmp_path):
    work = tmp_path / "src"
    (work / "simulator" / "crypt").mkdir(parents=True)
    shutil.copy(ROOT / "setup.py", work / "setup.py")
    shutil.copy(ROOT / "simulator" / "crypt" / "_native.c", work / "simulator" / "crypt")
    env = dict(os.environ, CC="false", LDSHARED="false")
    env.pop("FARGATE_SIM_REQUIRE_NATIVE", None)
    # an explicit ext build of setup.py alone (pyproject.toml is not copied: setuptools' old
    # defaults are enough to run build_ext)
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=work, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "native OpenSSL engine (simulator.crypt._native) was not built" in proc.stderr
    assert not list((tmp_path / "lib").rglob("_native*.so"))


@pytest.mark.slow
def test_build_failure_is_fatal_when_native_is_required(tmp_path):
    work = tmp_path / "src"
    (work / "simulator" / "crypt").mkdir(parents=True)
    shutil.copy(ROOT / "setup.py", work / "setup.py")
    shutil.copy(ROOT / "simulator" / "crypt" / "_native.c", work / "simulator" / "crypt")
    env = dict(os.environ, CC="false", LDSHARED="false", FARGATE_SIM_REQUIRE_NATIVE="1")
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=work, env=env, capture_output=True, text=True,
    )
    assert proc.returncode != 0
