"""The data path: cipher configurations, encryption engines, the encrypted volume.

``CipherSpec`` describes a dm-crypt style configuration, ``get_engine`` returns the engine that
runs the per-sector loop (native C loops over IPP Crypto or OpenSSL, or portable
pyca/cryptography; ``engine.bind`` keys one once), and
``EncryptedVolume`` is a sparse in-memory block device encrypted with them.  This package never
imports the control plane: it is handed a key and a spec.
"""

from __future__ import annotations

from .engines import (
    CryptographyEngine,
    Engine,
    IppEngine,
    NativeEngine,
    OpenSSLEngine,
    SectorCipher,
    SelectingEngine,
    available_engines,
    engine_unavailable_reason,
    get_engine,
    ipp_available,
    ipp_unavailable_reason,
    native_available,
    native_unavailable_reason,
    time_engine,
)
from .errors import (
    BackendError,
    CryptError,
    EngineUnavailableError,
    IntegrityError,
    InvalidCipherSpecError,
    InvalidKeyError,
    VolumeRangeError,
)
from .spec import (
    AEAD_METADATA_SIZE,
    JOURNAL_MAX_BYTES,
    RANDOM_NONCE_LIMIT,
    SECTOR_SIZES,
    CipherSpec,
    valid_combinations,
)
from .store import SparseStore
from .volume import EncryptedVolume, VolumeStats

__all__ = [
    "AEAD_METADATA_SIZE",
    "JOURNAL_MAX_BYTES",
    "RANDOM_NONCE_LIMIT",
    "SECTOR_SIZES",
    "BackendError",
    "CipherSpec",
    "CryptError",
    "CryptographyEngine",
    "EncryptedVolume",
    "Engine",
    "EngineUnavailableError",
    "IntegrityError",
    "InvalidCipherSpecError",
    "InvalidKeyError",
    "IppEngine",
    "NativeEngine",
    "OpenSSLEngine",
    "SectorCipher",
    "SelectingEngine",
    "SparseStore",
    "VolumeRangeError",
    "VolumeStats",
    "available_engines",
    "engine_unavailable_reason",
    "get_engine",
    "ipp_available",
    "ipp_unavailable_reason",
    "native_available",
    "native_unavailable_reason",
    "time_engine",
    "valid_combinations",
]
