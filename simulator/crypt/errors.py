"""Errors of the data path: bad configurations, bad keys, failed integrity checks.

The data path knows nothing of AWS error codes (those belong to the control plane); a failed
tag check is an ``OSError`` with ``errno.EIO`` because that is what the kernel returns to a
reader of a dm-integrity sector that does not verify.
"""

from __future__ import annotations

import errno


class CryptError(Exception):
    """Base class of the errors ``simulator.crypt`` raises on purpose."""


class InvalidCipherSpecError(CryptError, ValueError):
    """A cipher name, key size or sector size that is not a supported combination."""


class InvalidKeyError(CryptError, ValueError):
    """A key of the wrong length, or an XTS key whose halves are equal."""


class EngineUnavailableError(CryptError, RuntimeError):
    """The requested engine cannot be used here (e.g. the native extension was not built)."""


class BackendError(CryptError, RuntimeError):
    """OpenSSL reported a failure that is not an authentication failure."""


class VolumeRangeError(CryptError, ValueError):
    """An I/O request outside the volume or otherwise malformed; nothing was changed."""


class IntegrityError(CryptError, OSError):
    """An AEAD tag did not verify: the sector was tampered with, moved or corrupted.

    ``sector`` is the absolute index of the first failing sector, ``count`` how many sectors of
    the request failed; ``errno`` is ``EIO`` as the kernel reports it.
    """

    def __init__(self, sector: int, count: int = 1, detail: str = "") -> None:
        more = f" (and {count - 1} more)" if count > 1 else ""
        why = f": {detail}" if detail else ""
        super().__init__(errno.EIO, f"integrity check failed at sector {sector}{more}{why}")
        self.sector = sector
        self.count = count

    def __reduce__(self):  # keep sector/count through pickling (multiprocessing)
        return (type(self), (self.sector, self.count))
