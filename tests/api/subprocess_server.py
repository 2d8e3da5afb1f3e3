"""A real ``fargate-sim serve`` in a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_URL = re.compile(r" at (http://127\.0\.0\.1:\d+)")


class ServerProcess:
    """``fargate-sim serve --port 0`` with the given options; ``url`` once it listens."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "serve", "--port", "0", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        self.banner: list[str] = []
        deadline = time.monotonic() + 60
        self.url = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited: " + (self.proc.stderr.read() or ""))
            self.banner.append(line)
            m = _URL.search(line)
            if m:
                self.url = m.group(1)
            if "admin API" in line:
                break
        if not self.url:
            raise RuntimeError("server did not start: " + "".join(self.banner))

    def kill(self) -> None:
        """SIGKILL: no chance to save anything more."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
