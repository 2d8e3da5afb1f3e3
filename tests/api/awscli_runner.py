"""The real AWS CLI (v1, ``python -m awscli``) pointed at a test server, and boto3's refusals
as (code, HTTP status, message): what the CLI tours share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from simulator.api import DEFAULT_ROOT_KEY


class AwsCli:
    """``python -m awscli [SERVICE]`` with credentials in the environment (no config files,
    one attempt), pointed at the server at ``url``."""

    def __init__(self, url: str, tmp: Path, key: tuple[str, str] = DEFAULT_ROOT_KEY,
                 token: str | None = None, service: str | None = None) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", ""), "HOME": str(tmp),
            "AWS_ACCESS_KEY_ID": key[0], "AWS_SECRET_ACCESS_KEY": key[1],
            "AWS_DEFAULT_REGION": "us-west-2", "AWS_ENDPOINT_URL": url,
            "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(tmp / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
        }
        if token:
            self.env["AWS_SESSION_TOKEN"] = token
        self.url, self.tmp, self.service = url, tmp, service

    def as_(self, key: tuple[str, str], token: str | None = None) -> AwsCli:
        """The same CLI signing with another key (and session token)."""
        return AwsCli(self.url, self.tmp, key, token, self.service)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = [self.service] if self.service else []
        return subprocess.run([sys.executable, "-m", "awscli", *prefix, *args], env=self.env,
                              capture_output=True, text=True, timeout=120)

    def __call__(self, *args: str) -> dict:
        out = self.run(*args)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def fails(self, *args: str) -> str:
        """The CLI's error line for a call AWS refuses (exit status 255 on CLI v1)."""
        out = self.run(*args)
        assert out.returncode == 255, (out.returncode, out.stdout, out.stderr)
        return out.stderr.strip()


def refusal(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    """boto3's refusal of ``call(*args, **kwargs)``: (code, HTTP status, message)."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


def refusal_explanation(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The simulator's own explanation of a refusal (the ``x-fargate-sim-explanation``
    header beside AWS's words)."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return str(info.value.response["ResponseMetadata"]["HTTPHeaders"].get(
        "x-fargate-sim-explanation", ""))
