"""The audit log's commits on PostgreSQL: what every API read waits for before it is answered.

An API read is answered once its audit entry is durable; entries arriving together are committed as one group
(`GroupCommit`), and a group is chained after the log's head, sealed, and inserted under the head's advisory lock.
Measured: groups of `GROUP` entries (eight connections' reads meet in groups of about that size), one after
another, as wall time and CPU per group; beside it, in the same run, the floor: the same number of rows of the same
size inserted by psycopg into a table of the same shape in one transaction each, with no chaining, sealing or lock.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from benchmarks import Result, fresh_database
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.crypto import AtRestKey
from careledger.store import Database

GROUP = 4
GROUPS = 400
ROUNDS = 5
_AGENT = "0x" + "1" * 40
_PATIENT = "0x" + "2" * 40
_FLOOR_TABLE = """CREATE TABLE floor (
    seq integer PRIMARY KEY, recorded_at timestamptz, patient varchar(42), agent varchar(42), event text,
    prev_hash bytea UNIQUE, hash bytea)"""


def bench_audit() -> list[Result]:
    with fresh_database() as url:
        database = Database(url)
        database.prepare()
        log = AuditLog(database, key=AtRestKey(os.urandom(32)), observer=_AGENT, chain_id=1)
        entries = [_read(n) for n in range(GROUP)]
        audited = _timed(lambda: log.record_all(entries))
        assert log.verify(None).ok  # what was timed is a whole chain
        database.close()
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as plain:
            plain.execute(_FLOOR_TABLE)
            plain.commit()
            floor = _timed(_plain_insert(plain))
    conditions = (
        f"{GROUPS} groups of {GROUP} entries, one at a time, median of {ROUNDS} rounds, PostgreSQL on loopback"
        " (one round trip a group: BEGIN, lock, rows and COMMIT pipelined)"
    )
    return [
        Result("audit group commit, wall", "ms", audited[0], conditions),
        Result("audit group commit, CPU", "ms", audited[1], "same; this process's CPU (chaining, sealing, driver)"),
        Result("plain INSERT of the same rows, wall", "ms", floor[0], "psycopg, one transaction a group; baseline"),
        Result("plain INSERT of the same rows, CPU", "ms", floor[1], "same; baseline"),
    ]


def _read(n: int) -> Access:
    return Access(
        Action.READ, "read", Outcome.SUCCESS, _AGENT, _PATIENT, (f"Observation/o{n}/_history/1",), purpose="TREAT"
    )


def _plain_insert(connection: psycopg.Connection) -> Callable[[], None]:  # type: ignore[type-arg]
    """One group's rows as a plain INSERT (random hashes of the audit's size, text of an entry's size)."""
    seq = iter(range(1, 10**9))
    event = "sealed:" + "x" * 900

    def insert() -> None:
        now = datetime.now(UTC)
        rows = [(next(seq), now, _PATIENT, _AGENT, event, os.urandom(32), os.urandom(32)) for _ in range(GROUP)]
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO floor VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
        connection.commit()

    return insert


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """Median over `ROUNDS` of wall and CPU milliseconds per call of `work` (after a warm-up)."""
    for _ in range(GROUPS // 4):
        work()
    walls, cpus = [], []
    for _ in range(ROUNDS):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(GROUPS):
            work()
        walls.append((time.perf_counter() - wall) / GROUPS * 1000)
        cpus.append((time.process_time() - cpu) / GROUPS * 1000)
    return statistics.median(walls), statistics.median(cpus)


BENCHMARKS = [bench_audit]
