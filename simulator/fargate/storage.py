"""What a Fargate task's ephemeral storage looks like from inside: ``df`` and task metadata.

The model, from the device up (every number is a named constant in :data:`DEFAULTS`, with its
source or marked as an assumption, and can be overridden)::

    device       = configured size + space Fargate reserves (hidden from task metadata,
                   visible in df)                             -- the total, same with or
                                                                 without a customer key
    - CMK slice  = encryption-layer header (key slot) a customer-managed-key task keeps
                   out of the same total                      -- assumption
    - AEAD       = per-sector nonce+tag and dm-integrity journal (CipherSpec)
    = filesystem device
    - fs overhead (inode tables, journal) -> df "Size"
    - fs reserve (blocks only root may use) -> df "Avail" = Size - reserve - Used
    Used         = fs baseline + container image (compressed + uncompressed) + task data

Task metadata v4 ``EphemeralStorageMetrics`` reports ``Reserved`` (the configured size plus a
small fixed amount, 20496 MiB for the default 20 GiB) and ``Utilized`` (image + data), never
the hidden reservation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any

from simulator.crypt.spec import CipherSpec

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Constant:
    """A number the model relies on, with where it comes from."""

    value: float
    source: str

    @property
    def assumption(self) -> bool:
        """True when no published source gives the number."""
        return self.source.lower().startswith("assumption")


@dataclass(frozen=True)
class StorageConstants:
    """Every constant of the model in one table; ``override(name=value)`` changes some."""

    default_size_gib: Constant = Constant(20, "[AWS] platform 1.4.0+: at least 20 GiB")
    task_min_gib: Constant = Constant(
        20, "[AWS] TaskEphemeralStorage.sizeInGiB documents 20-200 (task level)"
    )
    taskdef_min_gib: Constant = Constant(
        21, "[AWS] botocore ECS EphemeralStorage: 21-200 on a task definition"
    )
    max_gib: Constant = Constant(200, "[AWS] ephemeral storage up to 200 GiB")
    hidden_reserve_gib: Constant = Constant(
        11,
        "assumption calibrated on published task metadata and user reports: a default "
        "20 GiB task shows 'overlay 31G' in df -h, so Fargate's hidden reservation is "
        "about 11 GiB; no df output is published for "
        "21-200 GiB, the same 11 GiB is assumed for every size",
    )
    metrics_extra_mib: Constant = Constant(
        16,
        "[AWS] task metadata v4 example: Reserved 20496 MiB for a 20 GiB task = 20480 + 16 "
        "(users report the same); assumed the same 16 MiB for other sizes",
    )
    cmk_slice_bytes: Constant = Constant(
        16 * MiB,
        "assumption: a customer-managed-key task keeps a 16 MiB encryption-layer header "
        "(LUKS2's default header/key-slot area) out of the same total; AWS says only that "
        "'allocation might differ from non-customer managed key tasks, but the total space "
        "remains the same'",
    )
    fs_overhead_fraction: Constant = Constant(
        0.02,
        "assumption: ext4 metadata (inode tables at 256 B per 16 KiB, bitmaps, journal) "
        "about 2 % of the device, so a 31 GiB device shows a 30.4 GiB filesystem ('31G')",
    )
    fs_reserve_fraction: Constant = Constant(
        0.033,
        "[Inf] users' df output: used + avail is about 1G less than size (12G + 18G vs "
        "31G): a reserve of about 1 GiB at the default size, i.e. 3.3 % of the filesystem",
    )
    fs_baseline_used_bytes: Constant = Constant(
        64 * MiB, "assumption: what an empty filesystem and the platform's files use"
    )
    image_expansion: Constant = Constant(
        2.0,
        "assumption: uncompressed image layers are twice the compressed (pulled) size when "
        "only the compressed size is given; [AWS] both are stored on the same space",
    )
    tmpfs_dev_bytes: Constant = Constant(64 * MiB, "assumption: Docker/containerd /dev tmpfs 64M")
    shm_bytes: Constant = Constant(64 * MiB, "assumption: container default /dev/shm 64M")
    tmpfs_memory_fraction: Constant = Constant(
        0.5, "assumption: kernel tmpfs default size, half of the task VM's memory"
    )
    default_memory_mib: Constant = Constant(
        8 * 1024, "assumption: task VM memory for the tmpfs lines when none is given"
    )

    def override(self, **values: float | Constant) -> StorageConstants:
        """A copy with some constants replaced (plain numbers keep the name, source 'override')."""
        names = {f.name for f in fields(self)}
        changes: dict[str, Constant] = {}
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"unknown storage constant {name!r}; known: {sorted(names)}")
            changes[name] = value if isinstance(value, Constant) else Constant(value, "override")
        return replace(self, **changes)

    def table(self) -> dict[str, dict[str, Any]]:
        """name -> {value, source, assumption}: for documentation and results files."""
        return {
            f.name: {"value": c.value, "source": c.source, "assumption": c.assumption}
            for f in fields(self)
            for c in [getattr(self, f.name)]
        }


DEFAULTS = StorageConstants()


def validate_size(
    size_gib: int, level: str = "task", constants: StorageConstants = DEFAULTS
) -> int:
    """Check an ephemeral storage size: 20-200 at task level, 21-200 on a task definition."""
    if level not in ("task", "taskdef"):
        raise ValueError("level must be 'task' or 'taskdef'")
    lo = int(constants.task_min_gib.value if level == "task" else constants.taskdef_min_gib.value)
    hi = int(constants.max_gib.value)
    if isinstance(size_gib, bool) or not isinstance(size_gib, int):
        raise ValueError(f"ephemeral storage size must be a whole number of GiB, not {size_gib!r}")
    if not lo <= size_gib <= hi:
        where = "a task definition" if level == "taskdef" else "a task"
        raise ValueError(
            f"ephemeral storage of {size_gib} GiB is outside {lo}-{hi} GiB for {where}"
        )
    return size_gib


_MIN_WIDTHS = (14, 5, 5, 5, 4)


def human_size(n: int) -> str:
    """A byte count as ``df -h`` prints it: powers of 1024, rounded up, one decimal below 10."""
    if n < 1024:
        return str(n)
    units = "KMGTPEZY"
    value = Fraction(n)
    exp = 0
    while value >= 1024 and exp < len(units):
        value /= 1024
        exp += 1
    if value < 10:
        tenths = math.ceil(value * 10)
        if tenths < 100:
            return f"{tenths // 10}.{tenths % 10}{units[exp - 1]}"
        whole = 10
    else:
        whole = math.ceil(value)
    if whole >= 1024 and exp < len(units):
        return f"1.0{units[exp]}"
    return f"{whole}{units[exp - 1]}"


def use_percent(used: int, avail: int) -> str:
    """df's Use%: used / (used + avail), rounded up; '-' when both are zero."""
    total = used + avail
    if total <= 0:
        return "-"
    return f"{-(-used * 100 // total)}%"


@dataclass
class EphemeralStorage:
    """A task's ephemeral storage: configured size, key kind, cipher, image and data."""

    size_gib: int = 20
    cmk: bool = False
    cipher: CipherSpec | str | None = None
    image_bytes: int = 0
    used_bytes: int = 0
    constants: StorageConstants | None = None
    image_uncompressed_bytes: int | None = None
    memory_mib: int | None = None
    level: str = "task"
    _c: StorageConstants = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._c = self.constants or DEFAULTS
        validate_size(self.size_gib, self.level, self._c)
        if isinstance(self.cipher, str):
            self.cipher = CipherSpec.parse(self.cipher)
        for name in ("image_bytes", "used_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int (bytes)")
        unpacked = self.image_uncompressed_bytes
        if unpacked is not None and (
            isinstance(unpacked, bool) or not isinstance(unpacked, int) or unpacked < 0
        ):
            raise ValueError("image_uncompressed_bytes must be a non-negative int (bytes)")
        memory = self.memory_mib
        if memory is not None and (
            isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0
        ):
            raise ValueError(f"memory_mib must be a positive int (MiB), not {memory!r}")

    # ------------------------------------------------------------------ the layers
    @property
    def configured_bytes(self) -> int:
        """The size the task asked for."""
        return self.size_gib * GiB

    @property
    def hidden_reserve_bytes(self) -> int:
        """Space Fargate reserves: in df, not in task metadata, not billed."""
        return int(self._c.hidden_reserve_gib.value * GiB)

    @property
    def device_bytes(self) -> int:
        """The whole device (the total, the same with or without a customer key)."""
        return self.configured_bytes + self.hidden_reserve_bytes

    @property
    def cmk_slice_bytes(self) -> int:
        """What a customer-managed-key task keeps for its encryption layer (assumption)."""
        return int(self._c.cmk_slice_bytes.value) if self.cmk else 0

    @property
    def crypt_device_bytes(self) -> int:
        """The device after the CMK slice: what the cipher layer spreads over."""
        return self.device_bytes - self.cmk_slice_bytes

    @property
    def aead_metadata_bytes(self) -> int:
        """Per-sector nonces and tags of an AEAD cipher (0 for XTS, null or no cipher)."""
        spec = self.cipher
        return spec.metadata_bytes(self.crypt_device_bytes) if isinstance(spec, CipherSpec) else 0

    @property
    def journal_bytes(self) -> int:
        """dm-integrity journal of an AEAD cipher."""
        spec = self.cipher
        return spec.journal_bytes(self.crypt_device_bytes) if isinstance(spec, CipherSpec) else 0

    @property
    def fs_device_bytes(self) -> int:
        """What the filesystem is made on."""
        spec = self.cipher
        if isinstance(spec, CipherSpec):
            return spec.data_bytes(self.crypt_device_bytes)
        return self.crypt_device_bytes

    @property
    def fs_size_bytes(self) -> int:
        """df "Size": the filesystem minus its own metadata, whole 4 KiB blocks."""
        size = int(self.fs_device_bytes * (1 - self._c.fs_overhead_fraction.value))
        return size // 4096 * 4096

    @property
    def fs_reserve_bytes(self) -> int:
        """Blocks kept for root: in Size, neither in Used nor in Avail."""
        return int(self.fs_size_bytes * self._c.fs_reserve_fraction.value) // 4096 * 4096

    @property
    def image_on_disk_bytes(self) -> int:
        """The pulled image, compressed plus uncompressed (both count against the space)."""
        unpacked = self.image_uncompressed_bytes
        if unpacked is None:
            unpacked = int(self.image_bytes * self._c.image_expansion.value)
        return self.image_bytes + unpacked

    @property
    def wanted_bytes(self) -> int:
        """What the filesystem must hold: baseline + image + task data."""
        baseline = int(self._c.fs_baseline_used_bytes.value)
        return baseline + self.image_on_disk_bytes + self.used_bytes

    @property
    def df_used_bytes(self) -> int:
        """df "Used": baseline + image + task data (capped at the filesystem size)."""
        return min(self.wanted_bytes, self.fs_size_bytes)

    @property
    def df_avail_bytes(self) -> int:
        """df "Avail": what a non-root writer may still use."""
        return max(0, self.fs_size_bytes - self.fs_reserve_bytes - self.df_used_bytes)

    @property
    def capacity_bytes(self) -> int:
        """What the task can fill: the filesystem less the blocks reserved for root."""
        return self.fs_size_bytes - self.fs_reserve_bytes

    @property
    def full(self) -> bool:
        """True when image + data do not fit (writes would fail with ENOSPC)."""
        return self.wanted_bytes > self.capacity_bytes

    def fit_problem(self) -> str | None:
        """Why image + data do not fit on the disk (None when they do)."""
        if not self.full:
            return None
        gib = GiB
        return (
            f"{self.wanted_bytes / gib:.2f} GiB (data {self.used_bytes / gib:.2f} GiB + image "
            f"{self.image_on_disk_bytes / gib:.2f} GiB on disk + filesystem baseline) does not "
            f"fit: a {self.size_gib} GiB task's filesystem holds "
            f"{self.capacity_bytes / gib:.2f} GiB (df Size {self.fs_size_bytes / gib:.2f} GiB "
            f"less {self.fs_reserve_bytes / gib:.2f} GiB reserved for root)"
        )

    # ------------------------------------------------------------------ what the task sees
    def task_metadata(self) -> dict[str, dict[str, int]]:
        """Task metadata v4's ``EphemeralStorageMetrics`` (MiB): the hidden reserve is not in it."""
        reserved = self.size_gib * 1024 + int(self._c.metrics_extra_mib.value)
        utilized = (self.image_on_disk_bytes + self.used_bytes) // MiB
        return {"EphemeralStorageMetrics": {"Utilized": utilized, "Reserved": reserved}}

    def df_rows(self) -> list[tuple[str, int, int, int, str]]:
        """(filesystem, size, used, avail, mount point) for each line df prints in a task."""
        memory = int(self.memory_mib or self._c.default_memory_mib.value) * MiB
        tmpfs = int(memory * self._c.tmpfs_memory_fraction.value) // 4096 * 4096
        size, used, avail = self.fs_size_bytes, self.df_used_bytes, self.df_avail_bytes
        dev = int(self._c.tmpfs_dev_bytes.value)
        shm = int(self._c.shm_bytes.value)
        return [
            ("overlay", size, used, avail, "/"),
            ("tmpfs", dev, 0, dev, "/dev"),
            ("shm", shm, 0, shm, "/dev/shm"),
            ("tmpfs", tmpfs, 0, tmpfs, "/sys/fs/cgroup"),
            ("/dev/nvme1n1", size, used, avail, "/etc/hosts"),
            ("/dev/nvme1n1", size, used, avail, "/etc/hostname"),
            ("/dev/nvme1n1", size, used, avail, "/etc/resolv.conf"),
            ("tmpfs", tmpfs, 0, tmpfs, "/proc/acpi"),
            ("tmpfs", tmpfs, 0, tmpfs, "/sys/firmware"),
        ]

    def df_lines(self, human: bool = True) -> list[str]:
        """The lines ``df -h`` (human=True) or ``df -B1`` prints, aligned as coreutils does."""
        if human:
            header = ["Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on"]
            fmt: Callable[[Any], str] = human_size
        else:
            header = ["Filesystem", "1B-blocks", "Used", "Available", "Use%", "Mounted on"]
            fmt = str
        table = [header] + [
            [fs, fmt(s), fmt(u), fmt(a), use_percent(u, a), mnt]
            for fs, s, u, a, mnt in self.df_rows()
        ]
        # coreutils' minimum column widths: Filesystem 14, Size/Used/Avail 5, Use% 4
        widths = [max(m, *(len(row[i]) for row in table)) for i, m in enumerate(_MIN_WIDTHS)]
        lines = []
        for row in table:
            cells = [row[0].ljust(widths[0])]
            cells += [row[i].rjust(widths[i]) for i in range(1, 5)]
            lines.append(" ".join(cells) + " " + row[5])
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Every layer in bytes, what df and task metadata show, and the constants used."""
        spec = self.cipher
        return {
            "size_gib": self.size_gib,
            "cmk": self.cmk,
            "cipher": str(spec) if spec is not None else None,
            "device_bytes": self.device_bytes,
            "reserved_bytes": self.hidden_reserve_bytes,
            "cmk_slice_bytes": self.cmk_slice_bytes,
            "aead_metadata_bytes": self.aead_metadata_bytes,
            "journal_bytes": self.journal_bytes,
            "fs_device_bytes": self.fs_device_bytes,
            "overlay_size_bytes": self.fs_size_bytes,
            "df_size_bytes": self.fs_size_bytes,
            "df_used_bytes": self.df_used_bytes,
            "df_avail_bytes": self.df_avail_bytes,
            "fs_reserve_bytes": self.fs_reserve_bytes,
            "image_bytes": self.image_bytes,
            "image_bytes_on_disk": self.image_on_disk_bytes,
            "used_bytes": self.used_bytes,
            "full": self.full,
            "metrics_reserved_mib": self.task_metadata()["EphemeralStorageMetrics"]["Reserved"],
            "metrics_utilized_mib": self.task_metadata()["EphemeralStorageMetrics"]["Utilized"],
            "task_metadata": self.task_metadata(),
            "df_h": self.df_lines(human=True),
            "constants": self._c.table(),
        }


__all__ = [
    "DEFAULTS",
    "Constant",
    "EphemeralStorage",
    "StorageConstants",
    "human_size",
    "use_percent",
    "validate_size",
]
