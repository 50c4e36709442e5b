"""From the journal to the patient's chart: accepted readings stored as FHIR Observations.

Each device's ready journal rows become Observations written through the guarded
repository as that device (the store checks the binding consent again and audits the
write), and the rows are deleted in the same transaction: a crash before the commit
leaves them to be stored on the next round, a crash after leaves nothing to store twice.

In summary mode a row is ready once every interval its readings fall in has ended (plus a
grace for readings still on their way), which its latest reading's time (kept beside it)
tells without opening it; all ready readings of one device, code and
interval become one Observation of `SampledData`. A batch that arrives after its interval
was summarised (a device back from a day offline) becomes a summary of its own, with its
own id: nothing stored is rewritten.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from careledger.access import Accessor, RecordAccess
from careledger.consent import Purpose
from careledger.crypto import AtRestKey
from careledger.errors import AccessDenied
from careledger.iot._frames import Reading
from careledger.iot._intake import journal_aad
from careledger.iot._vitals import reading_observation, summary_observation
from careledger.records import StoredRecord
from careledger.store import Database, DeviceReading

_ROWS_PER_ROUND = 2000


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    device: str
    patient_record: str
    device_record: str
    readings: tuple[Reading, ...]


class ReadingRecorder:
    """Stores journalled readings as Observations, per reading or per interval (`summary_seconds`)."""

    def __init__(
        self,
        db: Database,
        access: RecordAccess,
        key: AtRestKey,
        *,
        summary_seconds: float | None = 60.0,
        grace: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`summary_seconds=None` stores every reading as its own Observation."""
        self.db = db
        self._access = access
        self._key = key
        self._interval_ms = None if summary_seconds is None else int(summary_seconds * 1000)
        self._grace_ms = int(grace * 1000)
        self._clock = clock

    def record_ready(self) -> int:
        """Store what is ready; the Observations written."""
        written = 0
        while True:
            rows = self._ready()
            if not rows:
                return written
            by_device: dict[str, list[_Row]] = defaultdict(list)
            for row in rows:
                by_device[row.device].append(row)
            for device, device_rows in by_device.items():
                written += self._store(device, device_rows)
            if len(rows) < _ROWS_PER_ROUND:
                return written

    def pending(self) -> int:
        """Journal rows not yet stored."""
        with self.db.reading() as connection:
            return int(connection.execute(select(func.count()).select_from(DeviceReading)).scalar_one())

    def _ready(self) -> list[_Row]:
        """The oldest ready rows, opened; rows whose last interval is not over are not even read."""
        statement = select(DeviceReading.id, DeviceReading.device, DeviceReading.sealed)
        if self._interval_ms is not None:
            # A row is ready once the interval of its latest reading has ended (plus the grace):
            # start(latest) + interval <= cutoff, that is latest < start(cutoff).
            cutoff = int(self._clock() * 1000) - self._grace_ms
            statement = statement.where(DeviceReading.latest_ms < self._start(cutoff))
        with self.db.reading() as connection:
            found = connection.execute(statement.order_by(DeviceReading.id).limit(_ROWS_PER_ROUND)).all()
        return [self._open(row.id, row.device, row.sealed) for row in found]

    def _start(self, time_ms: int) -> int:
        assert self._interval_ms is not None
        return time_ms - time_ms % self._interval_ms

    def _open(self, row_id: int, device: str, sealed: bytes) -> _Row:
        body = json.loads(self._key.open(sealed, journal_aad(device)))
        readings = tuple(
            Reading(sequence, time_ms, code, tuple((float(v), str(u)) for v, u in values))
            for sequence, time_ms, code, values in body["readings"]
        )
        return _Row(row_id, device, body["patient_record"], body["device_record"], readings)

    def _store(self, device: str, rows: list[_Row]) -> int:
        resources = self._observations(device, rows)
        ids = [row.id for row in rows]

        def forget_rows(session: Session, _stored: list[StoredRecord]) -> None:
            session.execute(delete(DeviceReading).where(DeviceReading.id.in_(ids)))

        door = self._access.for_caller(Accessor(device, Purpose.TREAT))
        try:
            door.store([door.prepare(resource) for resource in resources], also=forget_rows)
        except AccessDenied:
            # The patient revoked the binding after these were taken and before they were stored: her
            # revocation wins. The refused write is audited; the readings are dropped, not retried forever.
            with self.db.session() as session:
                forget_rows(session, [])
            return 0
        return len(resources)

    def _observations(self, device: str, rows: list[_Row]) -> list[dict[str, object]]:
        if self._interval_ms is None:
            return [
                reading_observation(f"Device/{row.device_record}", f"Patient/{row.patient_record}", device, reading)
                for row in rows
                for reading in row.readings
            ]
        groups: dict[tuple[str, str, str, int], list[Reading]] = defaultdict(list)
        for row in rows:
            for reading in row.readings:
                groups[(row.patient_record, row.device_record, reading.code, self._start(reading.time_ms))].append(
                    reading
                )
        return [
            summary_observation(
                f"Device/{device_record}", f"Patient/{patient_record}", device, start, self._interval_ms, readings
            )
            for (patient_record, device_record, _code, start), readings in groups.items()
        ]
