"""Writing a backup of a home while its node serves, and unpacking one into a staging directory.

```
database ─snapshot (sqlite backup API | pg_dump)─┐
managed anvil ─anvil_dumpState (after the snapshot)─┤
home: keys, wallets, deployments, config, blobs ────┴─► tar stream ─► SealingWriter ─► DEST
                        (read after the snapshot, so every blob it names is there)    manifest.json last:
                                                                                      each member's size, sha256
```

Restoring reads the same stream back through `OpeningReader` into a staging directory, checking each member
against the manifest; nothing reaches the new home until the whole stream has authenticated.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

import httpx

from careledger._failpoints import crash_point
from careledger.backup._cipher import OpeningReader, SealingWriter
from careledger.backup._database import member_for, snapshot
from careledger.chain import ChainDir
from careledger.config import NODE_WALLET, Home, Settings
from careledger.errors import ChainUnavailable, Conflict, IntegrityError, ValidationError
from careledger.identity import WalletStore
from careledger.store import Database

FORMAT = "careledger-backup/1"
MANIFEST = "manifest.json"
CHAIN_STATE = "chain/anvil-state.json"
HOME_PREFIX = "home/"
# Where the database's plaintext snapshot waits to be sealed: inside the home, owner-only like the database itself.
SCRATCH = ".backup-scratch"
_CHUNK = 1 << 20
# Progress: (bytes done, bytes in all, what is being written).
Progress = Callable[[int, int, str], None]


@dataclass(slots=True)
class Manifest:
    """What a backup holds: each member's size and SHA-256, and what it is a snapshot of."""

    created: str
    node: str
    backend: str
    revision: str | None
    chain: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The manifest as stored (`manifest.json`, the backup's last member)."""
        return {
            "format": FORMAT,
            "created": self.created,
            "node": self.node,
            "database": {"backend": self.backend, "revision": self.revision},
            "chain": self.chain,
            "files": self.files,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """A stored manifest; `IntegrityError` if it is not one."""
        try:
            if data["format"] != FORMAT:
                raise IntegrityError(f"a backup of format {data['format']!r}, not {FORMAT!r}")
            database = data["database"]
            return cls(
                data["created"], data["node"], database["backend"], database["revision"], data["chain"], data["files"]
            )
        except (KeyError, TypeError) as exc:
            raise IntegrityError(f"the backup's manifest is malformed: {exc}") from None

    @property
    def size(self) -> int:
        """The plaintext bytes of every member."""
        return sum(int(entry["size"]) for entry in self.files.values())


def _home_files(home: Home) -> Iterator[tuple[str, Path]]:
    """Every regular file of the home a restored node needs: config, keys, wallets, deployments, blobs;
    not the database file (snapshotted), the chain's directory (dumped), logs or temporary files."""
    skipped = {
        home.db_file,
        home.db_file.with_name(home.db_file.name + "-wal"),
        home.db_file.with_name(home.db_file.name + "-shm"),
    }
    for path in sorted(home.path.rglob("*")):
        relative = path.relative_to(home.path)
        if (
            path in skipped
            or relative.parts[0] in (home.chain_dir.name, SCRATCH)
            or path.suffix in (".log", ".tmp", ".partial")
            or not path.is_file()
            or path.is_symlink()
        ):
            continue
        yield HOME_PREFIX + relative.as_posix(), path


def _chain_state(home: Home, settings: Settings) -> bytes | None:
    """The managed anvil's state, dumped now (after the database's snapshot, so it holds every anchor the
    snapshot names), or its state file when no anvil runs; None for a chain that is not the home's own."""
    if settings.chain != "anvil":
        return None
    chain_dir = ChainDir(home.chain_dir)
    endpoint = chain_dir.live_endpoint()
    if endpoint is None:
        return chain_dir.state_file.read_bytes() if chain_dir.state_file.is_file() else None
    try:
        reply = httpx.post(
            endpoint.url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_dumpState", "params": []}, timeout=60
        )
        return gzip.decompress(bytes.fromhex(reply.json()["result"].removeprefix("0x")))
    except (httpx.HTTPError, KeyError, ValueError, OSError) as exc:
        raise ChainUnavailable(f"the home's anvil at {endpoint.url} did not dump its state: {exc}") from exc


class _Hashing:
    """A file read through, hashed as it goes (what tarfile copies into the stream)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data


@contextmanager
def _scratch(home: Home) -> Iterator[Path]:
    """A private directory inside the home for the database's snapshot until it is sealed; never beside the
    backup, where a backup killed half way would leave a plaintext database in the place copied off the machine
    (nor in /tmp, which may be a small tmpfs). One backup of a home at a time, under a lock the kernel drops
    when its process dies, so whatever an earlier, killed one left is removed first."""
    root = home.path / SCRATCH
    root.mkdir(mode=0o700, exist_ok=True)
    with (root / "lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"another backup of {home.path} is running: wait for it to finish") from None
        for stale in root.iterdir():
            if stale.name != "lock":
                shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=root) as scratch_dir:
            yield Path(scratch_dir)


def write_backup(home: Home, settings: Settings, out: BinaryIO, passphrase: str, progress: Progress) -> Manifest:
    """Seal a consistent snapshot of `home` into `out`; its manifest."""
    database = Database(settings.db_url(home))
    try:
        manifest = Manifest(
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            node=WalletStore(home.keystore_dir).get(NODE_WALLET).address,
            backend=database.backend,
            revision=database.revision(),
            chain=settings.chain,
        )
        with _scratch(home) as scratch_dir:
            dumped = scratch_dir / "database"
            progress(0, 0, "database snapshot")
            snapshot(database, dumped)
            crash_point("backup-snapshot-taken")
            members: list[tuple[str, Path]] = [(member_for(database.backend), dumped)]
            state = _chain_state(home, settings)
            if state is not None:
                (scratch_dir / "chain").write_bytes(state)
                members.append((CHAIN_STATE, scratch_dir / "chain"))
            members += _home_files(home)
            _write_members(members, out, passphrase, manifest, progress)
    finally:
        database.close()
    return manifest


def _write_members(
    members: list[tuple[str, Path]], out: BinaryIO, passphrase: str, manifest: Manifest, progress: Progress
) -> None:
    sizes = {name: path.stat().st_size for name, path in members if path.exists()}
    total, done = sum(sizes.values()), 0
    sealed = SealingWriter(out, passphrase)
    with tarfile.open(fileobj=sealed, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for name, path in members:
            try:
                raw = path.open("rb")
            except FileNotFoundError:  # removed since it was listed (an erased record's blob): not needed
                continue
            with raw:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = raw.seek(0, 2), 0o600, int(path.stat().st_mtime)
                raw.seek(0)
                hashing = _Hashing(raw)
                tar.addfile(info, hashing)
            manifest.files[name] = {"size": info.size, "sha256": hashing.sha256.hexdigest()}
            done += info.size
            progress(done, total, name)
        body = json.dumps(manifest.to_json(), indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        tar.addfile(info, _Hashing(_Bytes(body)))  # type: ignore[arg-type]
    sealed.close()


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        out, self._data = (self._data, b"") if size < 0 else (self._data[:size], self._data[size:])
        return out


def unpack_backup(source: BinaryIO, passphrase: str, staging: Path, progress: Progress, total: int) -> Manifest:
    """Open a backup into `staging` (`home/…`, `database/…`, `chain/…`); its manifest once every member
    matched it and the stream authenticated to its end. `IntegrityError` (`AccessDenied` for a wrong
    passphrase) otherwise; the caller removes `staging`."""
    reader = OpeningReader(source, passphrase)
    found: dict[str, dict[str, Any]] = {}
    manifest: Manifest | None = None
    done = 0
    with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
        for info in tar:
            name = _safe_name(info)
            extracted = tar.extractfile(info)
            assert extracted is not None
            if name == MANIFEST:
                manifest = Manifest.from_json(json.loads(extracted.read()))
                continue
            if manifest is not None:
                raise IntegrityError(f"the backup has {name} after its manifest")
            found[name] = _extract(extracted, staging / name)
            done += found[name]["size"]
            progress(done, total, name)
    reader.finish()
    if manifest is None:
        raise IntegrityError("the backup has no manifest: it is not complete")
    if found != manifest.files:
        differ = sorted(set(found) ^ set(manifest.files)) or sorted(n for n in found if found[n] != manifest.files[n])
        raise IntegrityError(f"the backup's members do not match its manifest: {', '.join(differ[:5])}")
    return manifest


def _safe_name(info: tarfile.TarInfo) -> str:
    path = PurePosixPath(info.name)
    if not info.isfile() or path.is_absolute() or ".." in path.parts or not path.parts:
        raise IntegrityError(f"the backup holds {info.name!r}, which is not a file a backup writes")
    return path.as_posix()


def _create_new(path: Path) -> BinaryIO:
    """`path` created for writing, owner-only from its first instant; `FileExistsError` if anything is there
    (a file, or a symlink planted to redirect the write): never an existing file overwritten."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _extract(data: IO[bytes], target: Path) -> dict[str, Any]:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        created = _create_new(target)
    except FileExistsError:
        raise IntegrityError(f"the backup holds {target.name} twice") from None
    with created as out:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def backup_home(
    home: Home, settings: Settings, dest: Path, passphrase: str, progress: Progress
) -> tuple[Manifest, Path, int]:
    """Write a backup of `home` to `dest` (a file, or a directory to name one in): its manifest, path and size.
    It is written beside as `.partial` and renamed when complete, so a backup that exists is a whole one."""
    if dest.is_dir():
        dest = dest / f"careledger-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.backup"
    dest = dest.resolve()
    if dest.is_relative_to(home.path):
        raise ValidationError(f"{dest} is inside the home it would back up: write the backup elsewhere")
    if dest.exists():
        raise Conflict(f"{dest} exists: a backup never overwrites a file")
    partial = dest.with_name(dest.name + ".partial")
    try:
        created = _create_new(partial)
    except FileExistsError:
        raise Conflict(f"{partial} exists: another backup is writing it, or one was stopped (then remove it)") from None
    try:
        with created as out:
            manifest = write_backup(home, settings, out, passphrase, progress)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(partial, dest)  # unlike a rename, never replaces a file that appeared at DEST meanwhile
        except FileExistsError:
            raise Conflict(f"{dest} exists: a backup never overwrites a file") from None
    finally:
        partial.unlink(missing_ok=True)
    return manifest, dest, dest.stat().st_size
