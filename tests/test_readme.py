"""The README's Quick start is what CI runs, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from simulator.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_quick_start_has_exactly_two_lines_and_ci_runs_the_second():
    install_and_run, install_and_test = _quick_start()
    assert install_and_run.startswith("pip install") and "fargate-sim run" in install_and_run
    assert install_and_test.startswith("pip install") and install_and_test.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci


def test_every_fargate_sim_command_in_the_readme_exists():
    text = (ROOT / "README.md").read_text()
    commands = set(re.findall(r"^\s*fargate-sim (\w[\w-]*)", text, flags=re.M))
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert commands and commands <= set(sub.choices), commands - set(sub.choices)


def test_the_readme_python_snippets_run():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), {})
