"""Scenario files: the seed walkthrough end to end, and clear refusals of bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main
from simulator.scenario import ScenarioError, load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "experiments" / "seed_walkthrough.toml"


def test_seed_walkthrough_passes_every_step():
    report = run_scenario(WALKTHROUGH)
    assert report.ok, report.render()
    text = report.render()
    assert "Filesystem" in text  # the df step shows what df prints
    assert len(report.steps) >= 40


def test_scenario_cli_exit_codes(tmp_path, capsys):
    assert main(["scenario", str(WALKTHROUGH)]) == 0
    failing = tmp_path / "f.toml"
    failing.write_text(
        '[[step]]\nname = "expect a denial that does not come"\ncall = "kms.create_key"\n'
        'expect_error = "AccessDeniedException"\n'
    )
    assert main(["scenario", str(failing)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  expect a denial" in out and "but the call succeeded" in out
    bad = tmp_path / "b.toml"
    bad.write_text("[[step]]\nfly = 1\n")
    assert main(["scenario", str(bad)]) == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", r"at least one \[\[step\]\]"),
        ("colour = 1\n[[step]]\nadvance = 1\n", "unknown top-level key"),
        ("[[step]]\nadvance = 1\ncall = 'kms.list_keys'\n", "exactly one of"),
        ("[[step]]\ncall = 'create_key'\n", "service.method"),
        ("[[step]]\nadvance = 'soon'\n", "number of seconds"),
        ("[[step]]\nadvance = -5\n", "0 or more"),
        ("[[step]]\nadvance = inf\n", "got inf"),
        ("[[step]]\nadvance = nan\n", "got nan"),
        ("[[step]]\nadvance = true\n", "got True"),
        ("[[step]]\ncall = 'kms.list_keys'\ncheck = 3\n", "check must be a table"),
        ("[[step]\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_name_the_step_and_key(tmp_path, text, needle):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=needle) as info:
        load_scenario(path)
    assert str(path) in str(info.value)


def test_placeholders_files_save_and_checks(tmp_path):
    (tmp_path / "desc.txt").write_text("key for {{who}}")
    path = tmp_path / "s.toml"
    path.write_text(
        '[vars]\nwho = "tests"\n'
        '[[step]]\ncall = "kms.create_key"\nparams = { Description = "file://desc.txt" }\n'
        'save = { key = "KeyMetadata.KeyId" }\n'
        'check = { "KeyMetadata.Description" = "key for tests" }\n'
        '[[step]]\ncall = "kms.describe_key"\nparams = { KeyId = "{{key}}" }\n'
        'check_contains = { "KeyMetadata.Arn" = "{{key}}" }\n'
        'check_absent = ["KeyMetadata.DeletionDate"]\n'
        '[[step]]\nadvance = 60\n'
        '[[step]]\naudit = "kms"\ncheck = { names = ["CreateKey", "DescribeKey"] }\n'
    )
    report = run_scenario(path)
    assert report.ok, report.render()


def test_advancing_past_year_9999_is_a_scenario_error_not_a_bug(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[[step]]\nname = "far"\nadvance = 3e11\n')
    with pytest.raises(ScenarioError, match=r"step 1 \(far\): advance: .*9999-12-31"):
        run_scenario(path)


def test_unknown_placeholder_is_named(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[[step]]\ncall = "kms.describe_key"\nparams = { KeyId = "{{nope}}" }\n')
    with pytest.raises(ScenarioError, match="nope"):
        run_scenario(path)


def test_a_deployed_template_is_a_stack_later_steps_can_update(tmp_path):
    seed = ROOT / "experiments" / "seed"
    for name in ("stack.yaml", "stack_rotated.yaml"):
        (tmp_path / name).write_text((seed / name).read_text())
    path = tmp_path / "s.toml"
    path.write_text(
        '[[step]]\ndeploy = "stack.yaml"\nstack_name = "seed"\n'
        '[[step]]\ncall = "cloudformation.describe_stacks"\nparams = { StackName = "seed" }\n'
        'check = { "Stacks[0].StackStatus" = "CREATE_COMPLETE" }\n'
        '[[step]]\ncall = "cloudformation.update_stack"\n'
        'params = { StackName = "seed", TemplateBody = "file://stack_rotated.yaml", '
        'Capabilities = ["CAPABILITY_NAMED_IAM"] }\n'
        '[[step]]\ncall = "cloudformation.describe_stacks"\nparams = { StackName = "seed" }\n'
        'check = { "Stacks[0].StackStatus" = "UPDATE_COMPLETE" }\n'
    )
    report = run_scenario(path)
    assert report.ok, report.render()
