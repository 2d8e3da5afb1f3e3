"""Fargate platform versions: which exist per OS family, what LATEST means, what each offers.

Linux: 1.0.0–1.4.0, LATEST = 1.4.0. Windows: 1.0.0 only (LATEST = 1.0.0). Customer-managed
keys for ephemeral storage, the 20–200 GiB ephemeral storage, ARM64 and the 8/16 vCPU sizes
need Linux on 1.4.0 or later.
"""

from __future__ import annotations

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


def is_windows(os_family: str | None) -> bool:
    """True for a WINDOWS_SERVER_* operating system family."""
    return bool(os_family) and str(os_family).startswith("WINDOWS")


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.4.0"`` -> ``(1, 4, 0)``."""
    return tuple(int(p) for p in version.split("."))


def platform_family(os_family: str | None) -> str:
    """The task's ``platformFamily``: ``Linux`` or the Windows family name."""
    return os_family if is_windows(os_family) else "Linux"


def resolve(platform_version: str | None, os_family: str | None) -> str:
    """The concrete platform version a task or deployment runs on.

    ``None`` and ``LATEST`` give 1.4.0 on Linux and 1.0.0 on Windows. An unknown version, or a
    version the OS family does not have, raises PlatformUnknownException.
    """
    windows = is_windows(os_family)
    if platform_version in (None, "", "LATEST"):
        return LATEST_WINDOWS if windows else LATEST_LINUX
    known = WINDOWS_VERSIONS if windows else LINUX_VERSIONS
    if platform_version not in known:
        family = os_family if windows else LINUX
        raise errors.PlatformUnknownException(
            f"The specified platform version ({platform_version}) does not exist for the "
            f"{family} platform family. Valid versions: {', '.join(known)} and LATEST"
            f" (= {LATEST_WINDOWS if windows else LATEST_LINUX})."
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
            f"The specified platform does not satisfy the task definition's required "
            f"capabilities: platform version {version} does not support "
            f"{', '.join(missing)}; use 1.4.0 or LATEST."
        )
