"""Restoring a backup into a fresh home: unpack and check it aside, load the database, move the files in,
and then (through the restored node) verify every record and the audit log, anchoring what was pending only
when asked."""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import tomli_w

from careledger.backup._archive import CHAIN_STATE, HOME_PREFIX, Manifest, Progress, unpack_backup
from careledger.backup._database import load, member_for
from careledger.config import Home, load_settings
from careledger.errors import ConfigError, Conflict, NotWritable
from careledger.store import Database

if TYPE_CHECKING:
    from careledger.services import Operations


@dataclass(frozen=True, slots=True)
class Restored:
    """What `restore_home` put where."""

    manifest: Manifest
    home: Path
    database: str
    replaced: Path | None


@dataclass(slots=True)
class Verified:
    """What verifying a restored node found: records that verified, records anchored now for the first time
    (written after the last anchoring before the backup), or left waiting for their anchor when not asked to
    anchor, records that failed and why, the audit log and how much of it waits for its anchor."""

    records: int = 0
    anchored_now: int = 0
    records_pending: int = 0
    audit_pending: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    audit_entries: int = 0
    audit_problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every record and the audit log verified."""
        return not self.failed and not self.audit_problems

    def to_json(self) -> dict[str, Any]:
        """What `restore --json` prints of it."""
        return {
            "ok": self.ok,
            "records_verified": self.records,
            "anchored_now": self.anchored_now,
            "records_pending": self.records_pending,
            "audit_entries_pending": self.audit_pending,
            "records_failed": self.failed,
            "audit_entries": self.audit_entries,
            "audit_problems": list(self.audit_problems),
        }


def restore_home(
    source: BinaryIO,
    passphrase: str,
    home: Home,
    *,
    db: str | None,
    force: bool,
    progress: Progress,
    total: int,
) -> Restored:
    """Restore the backup in `source` into `home` (which must hold no node unless `force`: then it is moved
    aside, not deleted). `db` is the new home's database URL (default: the backup's config, else SQLite in
    the home). Nothing is changed if the backup does not authenticate or the database cannot be loaded."""
    refuse_target(home, force=force)
    home.path.parent.mkdir(parents=True, exist_ok=True)
    with _staging(home) as staging:
        manifest = unpack_backup(source, passphrase, staging, progress, total)
        staged_home = Home(staging / HOME_PREFIX.rstrip("/"))
        if db is not None:
            _set_db(staged_home, db)
        url = load_settings(staged_home).db_url(home)
        replaced = _move_aside(home) if force else None
        existed = home.path.exists()
        home.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        database = Database(url)
        try:
            if database.backend != manifest.backend:
                raise ConfigError(
                    f"this backup holds a {manifest.backend} database, and the new home's is {database.backend}: "
                    f"restore it into {manifest.backend} (--db)"
                )
            load(database, staging / member_for(manifest.backend))
        except BaseException:
            database.close()
            _undo(home, existed, replaced)
            raise
        database.close()
        _install(staging, home)
    return Restored(manifest, home.path, Database(url).url.render_as_string(), replaced)


def _refuse_occupied(home: Home, force: bool) -> None:
    if force or not home.path.exists() or not any(home.path.iterdir()):
        return
    if home.is_initialised():
        raise Conflict(f"{home.path} holds a node already: restore into a new home, or pass --force to replace it")
    raise Conflict(f"{home.path} is not empty: restore into a new or empty directory, or pass --force")


def refuse_target(home: Home, *, force: bool) -> None:
    """Refuse, before any work, a home a restore may not go into: one holding a node or files (`Conflict`, unless
    `force`), or one this user may not write (`NotWritable`): the folder the home is in (the staging directory
    goes beside the home; `force` moves the old home aside there), or the nearest one that exists, and an
    empty home that is kept."""
    _refuse_occupied(home, force)
    folder = home.path.parent
    while not folder.exists():
        folder = folder.parent
    folders = [folder] if force or not home.path.exists() else [folder, home.path]
    for needed in folders:
        if not os.access(needed, os.W_OK | os.X_OK):
            raise NotWritable(
                f"{needed} is not writable by this user: a restore writes the new home {home.path} there; "
                "restore as the user who may (the service's user), or into a home in a folder you may write"
            )


@contextmanager
def _staging(home: Home) -> Iterator[Path]:
    """A private directory beside the home (same filesystem: moving out of it is a rename), always removed."""
    staging = home.path.parent / f".{home.path.name}.restoring-{os.getpid()}"
    staging.mkdir(mode=0o700)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _set_db(staged: Home, url: str) -> None:
    """Name the new database in the restored config (the backup's named the old one)."""
    text = staged.config_file.read_text() if staged.config_file.is_file() else ""
    settings = tomllib.loads(text)
    settings["db"] = url
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    staged.config_file.write_text(header + tomli_w.dumps(settings))


def _move_aside(home: Home) -> Path | None:
    if not home.path.exists():
        return None
    aside = home.path.with_name(f"{home.path.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    home.path.rename(aside)
    return aside


def _undo(home: Home, existed: bool, replaced: Path | None) -> None:
    """Leave the home as it was before a restore that failed: gone, empty, or the one it replaced."""
    shutil.rmtree(home.path, ignore_errors=True)
    if replaced is not None:
        replaced.rename(home.path)
    elif existed:
        home.path.mkdir(mode=0o700)


def _install(staging: Path, home: Home) -> None:
    """Move the staged files into the home, the config last: a home counts as one once it has its config."""
    if (staging / CHAIN_STATE).is_file():
        home.chain_dir.mkdir(mode=0o700, exist_ok=True)
        os.replace(staging / CHAIN_STATE, home.chain_dir / "anvil-state.json")
    staged_home = staging / HOME_PREFIX.rstrip("/")
    for entry in sorted(staged_home.iterdir(), key=lambda path: path.name == "config.toml"):
        os.replace(entry, home.path / entry.name)


def verify_restored(node: Operations, progress: Progress, *, anchor: bool) -> Verified:
    """Verify every record and the audit log on `node`; first anchor what the backup held unanchored only if
    `anchor`: a recovery drill on the live chain signs with production's wallet, so anchoring would collide with
    production's nonces and anchor the same commitments twice. Unanchored records are then counted as pending
    (the node anchors them once it serves), not as failures."""
    found = Verified()
    if anchor:
        found.anchored_now = sum(batch.leaf_count for batch in node.anchorer.anchor_pending())
        node.audit_anchorer.anchor_pending()
    found.audit_pending = node.audit_anchorer.pending()
    report = node.verify_audit()
    found.audit_entries, found.audit_problems = report.entries, report.problems
    for done, (record_id, checks, total) in enumerate(node.verify_records(), start=1):
        failed = [check for check in checks if not check.ok]
        if failed and failed[0].step == "anchored" and not anchor:
            found.records_pending += 1
        elif failed:
            found.failed[record_id] = f"{failed[0].step}: {failed[0].detail}"
        else:
            found.records += 1
        progress(done, total, record_id)
    return found
