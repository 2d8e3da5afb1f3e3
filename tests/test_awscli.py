"""The AWS CLI's options, taken from botocore's models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from simulator.awscli import CliInputError, format_output, parse_arguments

SEED_CONFIG = (
    '{"managedStorageConfiguration":{"fargateEphemeralStorageKmsKeyId":'
    '"arn:aws:kms:us-west-2:012345678901:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}}'
)


def test_seed_create_cluster_command_line():
    params = parse_arguments(
        "ecs", "create-cluster", ["--cluster", "clusterName", "--configuration", SEED_CONFIG]
    )
    assert params == {"clusterName": "clusterName", "configuration": json.loads(SEED_CONFIG)}


def test_scalars_lists_booleans_and_files(tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text('{"Version": "2012-10-17"}')
    params = parse_arguments(
        "kms",
        "create-grant",
        ["--key-id", "k", "--grantee-principal", "p", "--operations", "Decrypt", "Encrypt",
         "--dry-run"],
    )
    assert params == {"KeyId": "k", "GranteePrincipal": "p", "Operations": ["Decrypt", "Encrypt"],
                      "DryRun": True}
    params = parse_arguments("kms", "put-key-policy",
                             ["--key-id", "k", "--policy", f"file://{policy}"])
    assert params["Policy"] == '{"Version": "2012-10-17"}'
    assert parse_arguments("ecs", "run-task", ["--task-definition", "t", "--count", "3"])[
        "count"] == 3


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--cluster-name", "c", "--configuration", "{bad"], "not valid JSON"),
        (["--cluster-name", "c", "--bogus", "1"], "Unknown options: --bogus"),
    ],
)
def test_bad_command_lines(argv, needle):
    with pytest.raises(CliInputError, match=needle):
        parse_arguments("ecs", "create-cluster", argv)


def test_integer_options_are_checked():
    with pytest.raises(CliInputError, match="expected an integer"):
        parse_arguments("ecs", "run-task", ["--task-definition", "t", "--count", "two"])


def test_output_is_printed_as_the_aws_cli_does():
    text = format_output({"a": datetime(2025, 1, 1, tzinfo=UTC), "b": b"\x00",
                          "ResponseMetadata": {}})
    assert json.loads(text) == {"a": "2025-01-01T00:00:00+00:00", "b": "AA=="}
    assert text.startswith("{\n    ")
