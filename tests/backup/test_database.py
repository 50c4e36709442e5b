"""The database's part of a backup: a SQLite snapshot ends while another connection keeps writing, and holds
one consistent state."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from careledger.backup._database import snapshot
from careledger.store import Database


def _busy_database(path: Path) -> None:
    """A WAL database of ~12,000 small pages: more than one step of a copy in steps."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA page_size = 512")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY, body BLOB)")
    connection.executemany("INSERT INTO rows (body) VALUES (?)", ((bytes(400),) for _ in range(12000)))
    connection.commit()
    connection.close()


def _writer(path: Path, stop: threading.Event, written: list[int]) -> None:
    """Another connection, committing a row every millisecond or so, as a serving node does."""
    connection = sqlite3.connect(path, timeout=10)
    while not stop.wait(0.001):
        connection.execute("INSERT INTO rows (body) VALUES (?)", (b"x",))
        connection.commit()
        written.append(1)
    connection.close()


def test_a_sqlite_snapshot_ends_while_the_node_writes(tmp_path: Path) -> None:
    _busy_database(tmp_path / "node.db")
    database = Database(f"sqlite:///{tmp_path / 'node.db'}")
    stop, written = threading.Event(), list[int]()
    writer = threading.Thread(target=_writer, args=(tmp_path / "node.db", stop, written))
    writer.start()
    copier = threading.Thread(target=snapshot, args=(database, tmp_path / "copy.db"), daemon=True)
    try:
        time.sleep(0.1)
        copier.start()
        copier.join(20)
        finished = not copier.is_alive()
        during = len(written)
    finally:
        stop.set()
        writer.join(10)
        copier.join(30)
        database.close()
    assert during > 10  # the writer kept writing while the copy was taken
    assert finished, "the snapshot did not end within 20 s while another connection wrote"
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = copy.execute("SELECT count(*) FROM rows").fetchone()[0]
    copy.close()
    assert 12000 <= rows <= 12000 + len(written)
