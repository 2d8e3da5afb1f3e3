"""The endpoint's durable state: one SQLite database holding a snapshot of the simulation.

Every service's state is one pickle of the ``Simulation`` (``cloudpickle``, because scheduled
clock callbacks are closures), written inside one SQLite transaction (WAL mode) after each
mutating request, so a killed server loses at most the request in flight. The audit trail
is kept apart, appended row by row, so a snapshot does not grow with every call.

Key material never reaches the file in plaintext: a ``persistent_id`` hook intercepts the
objects that hold raw key bytes or secrets (KMS key material, asymmetric private keys, the
data keys of task volumes, IAM access keys, STS sessions) by type and stores them
AES-GCM-wrapped under a server key kept beside the database (``PATH.key``, mode 0600).
Objects are rebuilt field by field, so this works whether or not those classes refuse plain
pickling.

What tasks wrote into their volumes is kept in its own table, one row per run of written
sectors, as the volume stores it: ciphertext (and per-sector nonce and tag) under the
volume's data key, whose copy is wrapped as above; a ``null``-cipher volume's sectors, being
plaintext, are wrapped under the server key too. A volume's rows are rewritten only when its
write counters moved since the last save.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]
from botocore.model import OperationModel, ServiceModel
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from simulator import __version__
from simulator.audit import AuditTrail
from simulator.client import Client
from simulator.crypt import EncryptedVolume
from simulator.iam.service import AccessKey
from simulator.kms.keys import KeyMaterial
from simulator.models import service_model
from simulator.sts.service import Session

#: The state file's format. Bump it whenever a change to the simulator's classes makes
#: snapshots written before it unreadable or wrong (renamed or removed attributes, a new
#: table, another persistent-object layout): such a file is then refused at start with one
#: line saying what to do, instead of failing later. 2: volume contents kept; the audit trail
#: behind ``Simulation._audit_trail``.
SCHEMA_VERSION = 2
_AUDIT = ("audit-trail",)
_PRIVATE_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)
#: Records holding secrets, stored whole under the server key: KMS key material, IAM access
#: keys (their secret access key), STS sessions (secret and session token).
_WRAPPED = (KeyMaterial, AccessKey, Session)
_WRAPPED_BY_NAME = {cls.__name__: cls for cls in _WRAPPED}


class StateError(RuntimeError):
    """The state file cannot be used (unreadable, another version, a missing server key)."""


def _incompatible(path: Path, what: str) -> str:
    """One line: which file, what is wrong with it, what to do."""
    return (f"{path} holds {what}; start with another --state file, or move {path} and "
            f"{path}.key away to start afresh")


def missing_attributes(sim: Any) -> list[str]:
    """Attributes a fresh Simulation and its services have that a restored one lacks: the
    sign of a snapshot from before a class changed, which would fail at its first request."""
    from simulator.world import Simulation

    if not isinstance(sim, Simulation):
        return [f"a Simulation (found {type(sim).__name__})"]
    fresh = Simulation(account_id=sim.account_id, region=sim.region)
    missing = [f"Simulation.{name}" for name in vars(fresh) if name not in vars(sim)]
    for name, svc in getattr(sim, "_services", {}).items():
        model = fresh.service(name)
        missing += [f"{type(svc).__name__}.{attr}" for attr in vars(model)
                    if attr not in vars(svc)]
    return missing


class ServerKey:
    """The AES-256-GCM key that wraps key material in the state file."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def beside(cls, db_path: Path) -> ServerKey:
        """The key file next to the database, created with owner-only permissions if absent."""
        path = db_path.with_name(db_path.name + ".key")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise StateError(
                    f"{path} is readable by others (mode {mode:o}); chmod 600 it"
                ) from None
            data = path.read_bytes()
            if len(data) != 32:
                raise StateError(f"{path} is not a 32-byte server key") from None
            return cls(data)
        key = AESGCM.generate_key(bit_length=256)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return cls(key)

    def wrap(self, plaintext: bytes, label: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, label)

    def unwrap(self, blob: bytes, label: bytes) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], label)


def _fields(obj: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return dict(vars(obj))


def _rebuild(cls: type, state: dict[str, Any]) -> Any:
    obj: Any = object.__new__(cls)
    for name, value in state.items():
        object.__setattr__(obj, name, value)
    return obj


_CLIENT_FIELDS = ("_sim", "_service", "_principal", "_via_service", "_source_ip", "_user_agent",
                  "_source_arn")


def _new_client() -> Client:
    return object.__new__(Client)


def _set_client(client: Client, state: tuple[Any, ...]) -> None:
    """Restore a Client's identity; all that follows from it (model, operation cache, the
    source CloudTrail names) is derived again as the constructor does.  State saved before
    ``_source_arn`` was kept has one field fewer."""
    *values, _service_name, region = state
    values += [None] * (len(_CLIENT_FIELDS) - len(values))
    for name, value in zip(_CLIENT_FIELDS, values, strict=True):
        setattr(client, name, value)
    client._derive(region)


def _operation_model(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)


def _write_mark(vol: EncryptedVolume) -> tuple[int, ...]:
    """What changes whenever a volume's stored sectors change."""
    st = vol.stats
    return (st.bytes_written, st.write_requests, st.bytes_discarded, st.raw_writes,
            st.sectors_allocated)


def written_runs(vol: EncryptedVolume) -> list[tuple[int, bytes, bytes | None]]:
    """(first sector, stored ciphertext, metadata) of every run of written sectors."""
    out = []
    for first, count in vol.written_extents():
        ct, meta = vol.raw(first, count)
        out.append((first, ct, meta))
    return out


class VolumeTracker:
    """Which volumes the last snapshot held, under which token, with which write mark."""

    def __init__(self) -> None:
        self.saved: dict[int, tuple[str, EncryptedVolume, tuple[int, ...]]] = {}
        self.seen: dict[int, tuple[str, EncryptedVolume]] = {}

    def token(self, vol: EncryptedVolume) -> str:
        hit = self.saved.get(id(vol))
        token = hit[0] if hit is not None and hit[1] is vol else os.urandom(12).hex()
        self.seen[id(vol)] = (token, vol)
        return token


class _Pickler(cloudpickle.Pickler):
    """Pickles a Simulation, sending key material to the server key instead of the stream."""

    def __init__(self, file: io.BytesIO, key: ServerKey, audit: AuditTrail,
                 volumes: VolumeTracker) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._key = key
        self._audit = audit
        self._volumes = volumes

    def reducer_override(self, obj: Any) -> Any:
        # botocore's models are code, not state: pickled by name (clients hold them).
        if isinstance(obj, Client):
            state = (*(getattr(obj, n) for n in _CLIENT_FIELDS),
                     obj._service.service_name, obj.meta.region_name)
            return _new_client, (), state, None, None, _set_client
        if isinstance(obj, ServiceModel):
            return service_model, (obj.service_name,)
        if isinstance(obj, OperationModel):
            return _operation_model, (obj.service_model.service_name, obj.name)
        return super().reducer_override(obj)

    def persistent_id(self, obj: Any) -> Any:
        if obj is self._audit:
            return _AUDIT
        if isinstance(obj, _WRAPPED):
            kind = type(obj).__name__
            return (kind, self._key.wrap(pickle.dumps(_fields(obj)), kind.encode()))
        if isinstance(obj, _PRIVATE_KEY_TYPES):
            der = obj.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            return ("PrivateKey", self._key.wrap(der, b"PrivateKey"))
        if isinstance(obj, EncryptedVolume):
            # The volume's data key and shape; its written sectors go to the volume table.
            state = pickle.dumps((obj._size, obj._spec, bytes(obj._key), obj.engine,
                                  obj.threads))
            return ("EncryptedVolume", self._key.wrap(state, b"EncryptedVolume"),
                    self._volumes.token(obj))
        return None


#: (first sector, data, metadata) rows of one volume token.
VolumeRows = list[tuple[int, bytes, bytes | None]]


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, key: ServerKey, audit: AuditTrail,
                 rows: Any = None, volumes: VolumeTracker | None = None) -> None:
        super().__init__(file)
        self._key = key
        self._audit = audit
        self._rows = rows
        self._volumes = volumes

    def persistent_load(self, pid: Any) -> Any:
        kind = pid[0]
        if kind == _AUDIT[0]:
            return self._audit
        blob = self._key.unwrap(pid[1], kind.encode())
        if kind in _WRAPPED_BY_NAME:
            return _rebuild(_WRAPPED_BY_NAME[kind], pickle.loads(blob))
        if kind == "PrivateKey":
            return serialization.load_der_private_key(blob, password=None)
        if kind == "EncryptedVolume":
            size, spec, key, engine, threads = pickle.loads(blob)
            vol = EncryptedVolume(size, spec, key, engine=engine, threads=threads)
            token = pid[2]
            if self._rows is not None:
                for first, data, meta in self._rows(token):
                    if spec.name == "null":
                        data = self._key.unwrap(data, b"VolumeData")
                    vol.raw_write(first, data, meta)
            if self._volumes is not None:
                self._volumes.saved[id(vol)] = (token, vol, _write_mark(vol))
            return vol
        raise pickle.UnpicklingError(f"unknown persistent object {kind!r}")


def dumps(sim: Any, key: ServerKey, volumes: VolumeTracker | None = None) -> bytes:
    """The simulation (without its audit trail and volume contents) as bytes, key material
    wrapped; ``volumes`` learns which volumes it holds."""
    buf = io.BytesIO()
    _Pickler(buf, key, sim.audit_trail, volumes or VolumeTracker()).dump(sim)
    return buf.getvalue()


def loads(data: bytes, key: ServerKey, audit: AuditTrail, rows: Any = None,
          volumes: VolumeTracker | None = None) -> Any:
    """A simulation from ``dumps`` output, its audit trail set to ``audit``; ``rows(token)``
    gives each volume's written sectors back."""
    return _Unpickler(io.BytesIO(data), key, audit, rows, volumes).load()


class StateStore:
    """The SQLite file of one endpoint: a snapshot of the simulation and its audit trail."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.key_path = self.path.with_name(self.path.name + ".key")
        self.key = ServerKey.beside(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);"
            "CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " data BLOB NOT NULL);"
            "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, record TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS volume_data (volume TEXT NOT NULL, first INTEGER NOT NULL,"
            " data BLOB NOT NULL, meta BLOB, PRIMARY KEY (volume, first));"
        )
        row = self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('writer', ?)",
                             (f"fargate-sim {__version__}",))
        elif row[0] != str(SCHEMA_VERSION):
            raise StateError(_incompatible(self.path, f"state schema {row[0]}, and this "
                                                      f"fargate-sim reads schema {SCHEMA_VERSION}"))
        self._audit_saved = 0
        row = self._db.execute("SELECT value FROM meta WHERE name='audit_base'").fetchone()
        #: The sequence number of the oldest audit record kept (older ones were pruned).
        self.audit_base = int(row[0]) if row is not None else 0
        self._volumes = VolumeTracker()

    def _volume_rows(self, token: str) -> VolumeRows:
        return list(self._db.execute(
            "SELECT first, data, meta FROM volume_data WHERE volume = ? ORDER BY first",
            (token,)))

    @property
    def saved_at(self) -> float | None:
        """When (wall time, epoch seconds) the snapshot was last saved; None for none, or a
        file written before fargate-sim kept it."""
        row = self._db.execute("SELECT value FROM meta WHERE name='saved_at'").fetchone()
        return float(row[0]) if row is not None else None

    def load(self) -> Any | None:
        """The saved simulation, or None when the file holds none yet."""
        row = self._db.execute("SELECT data FROM snapshot WHERE id = 1").fetchone()
        if row is None:
            return None
        audit = AuditTrail(json.loads(r[0]) for r in self._db.execute(
            "SELECT record FROM audit WHERE seq >= ? ORDER BY seq", (self.audit_base,)))
        self._audit_saved = len(audit)
        try:
            sim = loads(row[0], self.key, audit, self._volume_rows, self._volumes)
        except InvalidTag:
            raise StateError(f"cannot restore {self.path}: its key material does not open "
                             f"under {self.key_path}; give the server key it was written "
                             "with, or use another --state file") from None
        except Exception as exc:  # state written by other code
            raise StateError(_incompatible(
                self.path, f"state this fargate-sim cannot read ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())})")) from exc
        # Each service first sets up what an earlier fargate-sim did not save (its restored()
        # hook); whatever is still missing then is state this version cannot run on.
        try:
            for service in getattr(sim, "_services", {}).values():
                service.restored()
        except Exception as exc:  # a service older than its hook can mend
            raise StateError(_incompatible(
                self.path, f"state this fargate-sim cannot bring up to date "
                           f"({type(exc).__name__}: {' '.join(str(exc).split())})")) from exc
        missing = missing_attributes(sim)
        if missing:
            raise StateError(_incompatible(
                self.path, "state written by another version of fargate-sim (it lacks "
                           + ", ".join(missing) + ")"))
        return sim

    def save(self, sim: Any, *, snapshot: bool = True) -> None:
        """Append new audit records and (if ``snapshot``) replace the snapshot, atomically."""
        tracker = self._volumes
        tracker.seen = {}
        data = dumps(sim, self.key, tracker) if snapshot else None
        trail = sim.audit_trail
        new = trail[self._audit_saved:]
        db = self._db
        saved = dict(tracker.saved)
        db.execute("BEGIN IMMEDIATE")
        try:
            if new:
                db.executemany("INSERT INTO audit (seq, record) VALUES (?, ?)",
                               ((self.audit_base + self._audit_saved + i,
                                 json.dumps(r, default=str))
                                for i, r in enumerate(new)))
            if data is not None:
                db.execute("INSERT OR REPLACE INTO snapshot (id, data) VALUES (1, ?)", (data,))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('saved_at', ?)",
                           (repr(time.time()),))
                saved = self._save_volumes(tracker)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        tracker.saved = saved
        self._audit_saved = len(trail)

    def _save_volumes(self, tracker: VolumeTracker
                      ) -> dict[int, tuple[str, EncryptedVolume, tuple[int, ...]]]:
        """Rewrite the rows of volumes written since the last save, drop those of volumes
        the snapshot no longer holds (inside the caller's transaction)."""
        db = self._db
        saved = {}
        kept = set()
        for ident, (token, vol) in tracker.seen.items():
            mark = _write_mark(vol)
            kept.add(token)
            old = tracker.saved.get(ident)
            if old is None or old[0] != token or old[2] != mark:
                db.execute("DELETE FROM volume_data WHERE volume = ?", (token,))
                null = vol.spec.name == "null"
                db.executemany(
                    "INSERT INTO volume_data (volume, first, data, meta) VALUES (?, ?, ?, ?)",
                    ((token, first, self.key.wrap(ct, b"VolumeData") if null else ct, meta)
                     for first, ct, meta in written_runs(vol)))
            saved[ident] = (token, vol, mark)
        for token, _vol, _mark in tracker.saved.values():
            if token not in kept:
                db.execute("DELETE FROM volume_data WHERE volume = ?", (token,))
        return saved

    def prune(self, count: int) -> None:
        """The ``count`` oldest audit records left the trail: drop their rows too."""
        if count <= 0:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self.audit_base += count
            db.execute("DELETE FROM audit WHERE seq < ?", (self.audit_base,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('audit_base', ?)",
                       (str(self.audit_base),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self.audit_base -= count
            raise
        self._audit_saved = max(0, self._audit_saved - count)

    def clear(self) -> None:
        """Forget everything (the admin API's reset)."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DELETE FROM snapshot")
        self._db.execute("DELETE FROM audit")
        self._db.execute("DELETE FROM volume_data")
        self._db.execute("DELETE FROM meta WHERE name = 'audit_base'")
        self._db.execute("COMMIT")
        self._audit_saved = 0
        self.audit_base = 0
        self._volumes = VolumeTracker()

    def close(self) -> None:
        self._db.close()
