"""Bad input to any command is one clear line on stderr and exit status 2, never a traceback.

One test per case the issue lists: missing or directory file:// and fileb:// arguments,
non-UTF-8 policy, experiment, template and scenario files, JSON and YAML nested 10,000 deep,
/dev/zero as an input, a bad --out, policy lint --account abc, deploy of a missing file,
create-cluster --help; and every error line has the same prefix style.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "experiments" / "seed" / "key_policy.json"
DEEP_JSON = "[" * 10_000 + "]" * 10_000


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, command: str) -> str:
    """The error output is exactly one line in the ``fargate-sim CMD: error:`` style."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"fargate-sim {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def files(tmp_path):
    latin = tmp_path / "latin1.json"
    latin.write_bytes(b'{"Version": "2012-10-17", "Statement": [{"Sid": "caf\xe9"}]}')
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP_JSON)
    return {"latin": latin, "deep": deep, "dir": tmp_path}


@pytest.mark.parametrize(("scheme", "option", "operation"), [
    ("file://", "--policy", "create-key"),
    ("fileb://", "--plaintext", "encrypt"),
])
@pytest.mark.parametrize("target", ["missing", "dir"])
def test_missing_or_directory_file_arguments(capsys, files, scheme, option, operation, target):
    path = files["dir"] / "nope" if target == "missing" else files["dir"]
    extra = ["--key-id", "alias/x"] if operation == "encrypt" else []
    code, _, err = run(capsys, "kms", operation, *extra, option, f"{scheme}{path}")
    assert code == 2
    line = one_error_line(err, "kms")
    want = "no such file" if target == "missing" else "is a directory, not a file"
    assert line.endswith(f"{path}: {want}")


def test_non_utf8_policy_file(capsys, files):
    code, _, err = run(capsys, "policy", "lint", str(files["latin"]))
    assert code == 2
    assert one_error_line(err, "policy lint").endswith(
        "latin1.json: not UTF-8 text (byte 0xe9 at offset 52)")
    code, _, err = run(capsys, "kms", "create-key", "--policy", f"file://{files['latin']}")
    assert code == 2 and "not UTF-8 text (byte 0xe9" in one_error_line(err, "kms")


def test_non_utf8_template_scenario_and_experiment(capsys, tmp_path):
    for name, argv, command in [
        ("t.yaml", ["deploy"], "deploy"),
        ("s.toml", ["scenario"], "scenario"),
    ]:
        path = tmp_path / name
        path.write_bytes(b"name = \"caf\xe9\"\n")
        code, _, err = run(capsys, *argv, str(path))
        assert code == 2, err
        assert one_error_line(err, command).endswith(
            f"{path}: not UTF-8 text (byte 0xe9 at offset 11)")
    spec = tmp_path / "e.toml"
    spec.write_bytes(b"name = \"caf\xe9\"\n")
    code, _, err = run(capsys, "run", str(spec))
    assert code == 2 and "not UTF-8 text (byte 0xe9 at offset 11)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_json_nested_10000_deep(capsys, files):
    code, _, err = run(capsys, "policy", "lint", str(files["deep"]))
    assert code == 2
    assert one_error_line(err, "policy lint").endswith("deep.json: nested more than 64 levels deep")
    code, _, err = run(capsys, "kms", "create-key", "--tags", f"file://{files['deep']}")
    assert code == 2 and "--tags: nested more than 64 levels deep" in one_error_line(err, "kms")
    code, _, err = run(capsys, "deploy", str(files["deep"]))
    assert code == 2 and "nested more than 64 levels deep" in one_error_line(err, "deploy")


def test_yaml_nested_10000_deep(capsys, tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("Resources: " + "{a: " * 10_000 + "1" + "}" * 10_000)
    block = tmp_path / "block.yaml"
    block.write_text("Resources:\n" + "".join(" " * i + "- \n" for i in range(1, 3000)))
    for path in (flow, block):
        code, _, err = run(capsys, "deploy", str(path))
        assert code == 2
        line = one_error_line(err, "deploy")
        assert "nested more than 64 levels deep" in line or "larger than the 51,200-byte" in line


def test_toml_nested_10000_deep(capsys, tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("name = " + "[" * 10_000 + "]" * 10_000 + "\n")
    code, _, err = run(capsys, "scenario", str(path))
    assert code == 2
    assert one_error_line(err, "scenario").endswith("deep.toml: nested more than 64 levels deep")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize(("argv", "command", "limit"), [
    (["policy", "lint", "/dev/zero"], "policy lint", "524,288-byte limit for a policy file"),
    (["deploy", "/dev/zero"], "deploy", "51,200-byte limit for a template file"),
    (["scenario", "/dev/zero"], "scenario", "1,048,576-byte limit for a scenario file"),
    (["kms", "create-key", "--policy", "file:///dev/zero"], "kms", "1,048,576-byte limit"),
])
def test_dev_zero_is_bounded(capsys, argv, command, limit):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert limit in one_error_line(err, command)


def test_bad_out_directory(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = run(capsys, "run", "quick", "--out", str(blocker / "results"), "--quiet")
    assert code == 2
    line = one_error_line(err, "run")
    assert str(blocker) in line


def test_policy_lint_account_must_be_12_digits(capsys):
    code, _, err = run(capsys, "policy", "lint", str(POLICY), "--account", "abc")
    assert code == 2
    assert one_error_line(err, "policy lint").endswith(
        "--account: 'abc' is not a 12-digit AWS account id")


def test_deploy_of_a_missing_file(capsys, tmp_path):
    path = tmp_path / "stack.yaml"
    code, _, err = run(capsys, "deploy", str(path))
    assert code == 2
    assert one_error_line(err, "deploy").endswith(f"{path}: no such template file")


def test_create_cluster_help_prints_the_operations_options(capsys):
    code, out, err = run(capsys, "ecs", "create-cluster", "--help")
    assert code == 0 and not err
    assert out.startswith("usage: fargate-sim ecs create-cluster")
    assert "--cluster-name" in out and "--configuration" in out
    assert "Creates a new Amazon ECS cluster." in out


def test_unknown_operation_and_options_use_the_same_prefix(capsys):
    code, _, err = run(capsys, "ecs", "create-clusterz")
    assert code == 2
    assert "has no operation 'create-clusterz'" in one_error_line(err, "ecs")
    code, _, err = run(capsys, "df", "--size", "500")
    assert code == 2
    one_error_line(err, "df")


def test_an_unexpected_exception_is_one_line_not_a_traceback(capsys, monkeypatch):
    import simulator.cli.df as df

    def boom(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(df, "_command", boom, raising=False)
    from simulator import cli

    parser = cli.build_parser()
    args = parser.parse_args(["df"])
    monkeypatch.setattr(args, "func", boom)
    monkeypatch.setattr(cli, "build_parser", lambda: type(
        "P", (), {"parse_args": lambda self, argv: args, "print_help": lambda self: None})())
    code, _, err = run(capsys, "df")
    assert code == 70
    assert err.strip() == ("fargate-sim df: internal error: RuntimeError: boom (a simulator "
                           "bug; FARGATE_SIM_TRACEBACK=1 shows where)")
