"""Fargate platform versions: which exist per OS family, what LATEST means, what each offers.

Linux: 1.0.0–1.4.0, LATEST = 1.4.0. Windows: 1.0.0 only (LATEST = 1.0.0). Customer-managed
keys for ephemeral storage, the 20–200 GiB ephemeral storage, ARM64 and the 8/16 vCPU sizes
need Linux on 1.4.0 or later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from simulator import errors

LINUX = "LINUX"
LINUX_VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
WINDOWS_VERSIONS = ("1.0.0",)
LATEST_LINUX = "1.4.0"
LATEST_WINDOWS = "1.0.0"

#: The first Linux platform version with 20 GiB+ encrypted ephemeral storage and CMK support.
CMK_MIN_VERSION = (1, 4, 0)

#: Windows operating system families Fargate runs (the ECS model lists more).
FARGATE_WINDOWS = (
    "WINDOWS_SERVER_2019_FULL",
    "WINDOWS_SERVER_2019_CORE",
    "WINDOWS_SERVER_2022_FULL",
    "WINDOWS_SERVER_2022_CORE",
    "WINDOWS_SERVER_2025_FULL",
    "WINDOWS_SERVER_2025_CORE",
)


@dataclass(frozen=True)
class Retirement:
    """When a Linux platform version stops taking new tasks, and when its tasks end."""

    #: From this instant RunTask, CreateService and UpdateService refuse the version.
    retired: datetime
    #: From this instant no task runs on it (None: AWS gave no such date).
    terminated: datetime | None
    source: str


#: Linux platform versions AWS has retired, per partition. 1.3.0: "marked Retired on June 15,
#: 2026" (no new tasks or services), remaining tasks "terminated on June 30, 2026";
#: 1.0.0-1.2.0: deprecation date December 14, 2020
#: (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/platform-versions-retired.html).
#: The commercial partition's dates; the simulator uses them for every partition, because the
#: other partitions' rows were not available to it (an assumption: change ``RETIREMENTS``).
_RETIRED_PAGE = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/platform-versions-retired.html"
_EARLY = Retirement(datetime(2020, 12, 14, tzinfo=UTC), None, _RETIRED_PAGE)
RETIREMENTS: dict[str, dict[str, Retirement]] = {
    "aws": {
        "1.0.0": _EARLY,
        "1.1.0": _EARLY,
        "1.2.0": _EARLY,
        "1.3.0": Retirement(datetime(2026, 6, 15, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC),
                            _RETIRED_PAGE),
    },
}

#: PlatformUnknownException's message as ECS sends it (quoted from a real answer in
#: https://github.com/jenkinsci/amazon-ecs-plugin/issues/218; the API reference describes the
#: error as "The specified platform version doesn't exist."). The simulator's account of
#: which version and why goes in ``ClientError.explanation``.
PLATFORM_UNKNOWN = "The specified platform does not exist."
#: PlatformTaskDefinitionIncompatibilityException's message as ECS sends it (real answers
#: quoted in https://github.com/CircleCI-Public/aws-ecs-orb/issues/121 and
#: https://github.com/jenkinsci/amazon-ecs-plugin/issues/218).
PLATFORM_INCOMPATIBLE = "One or more of the requested capabilities are not supported."


def retirement(version: str, partition: str = "aws") -> Retirement | None:
    """The retirement of a Linux platform version in a partition, if it has one."""
    table = RETIREMENTS.get(partition, RETIREMENTS["aws"])
    return table.get(version)


def is_windows(os_family: str | None) -> bool:
    """True for a WINDOWS_SERVER_* operating system family."""
    return bool(os_family) and str(os_family).startswith("WINDOWS")


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.4.0"`` -> ``(1, 4, 0)``."""
    return tuple(int(p) for p in version.split("."))


def platform_family(os_family: str | None) -> str:
    """The task's ``platformFamily``: ``Linux`` or the Windows family name."""
    return os_family if os_family is not None and is_windows(os_family) else "Linux"


def resolve(
    platform_version: str | None,
    os_family: str | None,
    when: datetime | None = None,
    partition: str = "aws",
) -> str:
    """The concrete platform version a task or deployment runs on.

    ``None`` and ``LATEST`` give 1.4.0 on Linux and 1.0.0 on Windows. An unknown version, a
    version the OS family does not have, or (at simulated time ``when``) a Linux version AWS
    has retired, raises PlatformUnknownException.
    """
    windows = is_windows(os_family)
    if not windows and platform_version and when is not None:
        gone = retirement(platform_version, partition)
        if gone is not None and when >= gone.retired:
            raise errors.PlatformUnknownException(
                PLATFORM_UNKNOWN,
                explanation=f"Linux platform version {platform_version} was retired on "
                f"{gone.retired:%Y-%m-%d} ({gone.source}); use 1.4.0 or LATEST.",
                retired=gone.retired.isoformat(),
            )
    if platform_version in (None, "", "LATEST"):
        return LATEST_WINDOWS if windows else LATEST_LINUX
    known = WINDOWS_VERSIONS if windows else LINUX_VERSIONS
    if platform_version not in known:
        family = os_family if windows else LINUX
        raise errors.PlatformUnknownException(
            PLATFORM_UNKNOWN,
            explanation=f"The platform version {platform_version} does not exist for the "
            f"{family} platform family. Valid versions: {', '.join(known)} and LATEST"
            f" (= {LATEST_WINDOWS if windows else LATEST_LINUX}).",
        )
    return platform_version


def supports_cmk(version: str, os_family: str | None) -> bool:
    """Whether a task on this platform may have its ephemeral storage under a cluster CMK."""
    return not is_windows(os_family) and version_tuple(version) >= CMK_MIN_VERSION


def check_capabilities(
    version: str, os_family: str | None, *, arm64: bool, cpu: int, ephemeral_gib: int | None
) -> None:
    """PlatformTaskDefinitionIncompatibilityException when the platform lacks a need."""
    if is_windows(os_family) or version_tuple(version) >= CMK_MIN_VERSION:
        return
    missing = []
    if arm64:
        missing.append("cpuArchitecture ARM64")
    if cpu > 4096:
        missing.append(f"{cpu} CPU units")
    if ephemeral_gib is not None:
        missing.append(f"ephemeralStorage ({ephemeral_gib} GiB)")
    if missing:
        raise errors.PlatformTaskDefinitionIncompatibilityException(
            PLATFORM_INCOMPATIBLE,
            explanation=f"The platform does not satisfy the task definition's required "
            f"capabilities: platform version {version} does not support "
            f"{', '.join(missing)}; use 1.4.0 or LATEST.",
        )
