"""Taking signed readings in: every check, then a durable journal, in one transaction.

A frame is taken only if it is signed by the device it names, for this node, from a
device registered here and bound (by a live consent) to the patient the frame names. A
reading in it is taken only if its sequence is above the device's last, its time within
the window (`max_skew` ahead, `max_age` behind), its code and units known, and each value
within what a body can show (`ranges`; a device reading 1e308 /min is broken or forged,
and its reading would page the care team). Accepted
readings are sealed into the journal, the device's last sequence moves and the refusals
are audited in one transaction, so a reading delivered twice (a broker's redelivery after
a restart) is a counted duplicate, never a second record. Refusals are counted and
audited, one entry per device and reason in a batch, so a flood of bad frames costs few
audit rows.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.crypto import AtRestKey
from careledger.errors import ValidationError
from careledger.iot._devices import DeviceService
from careledger.iot._frames import Frame, Reading, decode_payloads
from careledger.iot._vitals import PLAUSIBLE, plausible_ranges, problem
from careledger.store import Database, Device, DeviceReading

INTERACTION = "device-reading"
UNKNOWN = "0x0000000000000000000000000000000000000000"  # the agent of a payload nobody can be named for


class Refusal(StrEnum):
    """Why a frame or a reading was not taken."""

    MALFORMED = "malformed-payload"
    FORGED = "forged-signature"
    WRONG_NODE = "wrong-node"
    WRONG_TOPIC = "wrong-topic"
    UNREGISTERED = "unregistered-device"
    UNBOUND = "unbound-device"
    WRONG_PATIENT = "wrong-patient"
    NO_CONSENT = "consent-not-live"
    REPLAYED = "replayed-sequence"
    OUTSIDE_WINDOW = "outside-time-window"
    UNKNOWN_CODE = "unknown-code"
    WRONG_UNITS = "wrong-units"
    IMPLAUSIBLE = "implausible-value"


@dataclass(frozen=True, slots=True)
class Accepted:
    """A device's readings taken in one batch, for the patient (and her record) it was bound to then."""

    device: str
    device_record: str
    patient: str
    patient_record: str
    readings: tuple[Reading, ...]


@dataclass(slots=True)
class IntakeResult:
    """What became of one payload: readings accepted, and refusals by reason (in readings)."""

    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        """The result as an HTTP answer or `--json` shows it."""
        return {"accepted": self.accepted, "refused": dict(self.refused)}


@dataclass(slots=True)
class _Batch:
    results: list[IntakeResult]
    accepted: list[Accepted] = field(default_factory=list)
    denials: Counter[tuple[str, str | None, str]] = field(default_factory=Counter)  # (agent, patient, reason)

    def refuse(self, result: IntakeResult, reason: Refusal, count: int, agent: str, patient: str | None) -> None:
        result.refused[reason.value] += count
        self.denials[(agent, patient, reason.value)] += count


class ReadingIntake:
    """Checks payloads of signed frames and journals what passes; thread-safe (one batch at a time)."""

    def __init__(
        self,
        db: Database,
        devices: DeviceService,
        audit: AuditLog,
        key: AtRestKey,
        *,
        custodian: str,
        max_skew: float = 30.0,
        max_age: float = 86_400.0,
        ranges: Mapping[str, tuple[float, float]] = PLAUSIBLE,
        clock: Callable[[], float] = time.time,
        on_accepted: Callable[[list[Accepted]], object] | None = None,
    ) -> None:
        """`ranges` overrides the plausible range of values by code (`ConfigError` for an unknown code or an
        empty range); `on_accepted` sees each batch's accepted readings once they are durable (the alert
        monitor)."""
        self.db = db
        self._devices = devices
        self._audit = audit
        self._key = key
        self._custodian = custodian
        self._max_skew_ms = int(max_skew * 1000)
        self._max_age_ms = int(max_age * 1000)
        self._ranges = plausible_ranges(ranges)
        self._clock = clock
        self._lock = threading.Lock()
        self.on_accepted = on_accepted
        self.totals = IntakeResult()
        self._counters: list[Callable[[IntakeResult], object]] = []

    def count_with(self, counter: Callable[[IntakeResult], object]) -> None:
        """Hand every payload's result to `counter` too, once durable (the API's metrics of device intake)."""
        self._counters.append(counter)

    def accept(self, payload: bytes, *, topic_device: str | None = None) -> IntakeResult:
        """Check and journal one payload (an HTTP body, an MQTT message)."""
        return self.accept_many([(payload, topic_device)])[0]

    def accept_many(self, payloads: Sequence[tuple[bytes, str | None]]) -> list[IntakeResult]:
        """Check and journal many payloads in one transaction: durable when this returns."""
        batch = _Batch([IntakeResult() for _ in payloads])
        decoded: list[tuple[IntakeResult, list[Frame], str | None]] = []
        found = decode_payloads([payload for payload, _ in payloads])
        for result, frames, (_, topic_device) in zip(batch.results, found, payloads, strict=True):
            if isinstance(frames, ValidationError):
                batch.refuse(result, Refusal.MALFORMED, 1, UNKNOWN, None)
            else:
                decoded.append((result, frames, topic_device))
        with self._lock:
            with self.db.session() as session:
                self._check_and_journal(session, batch, decoded)
                self._audit_denials(session, batch)
            for result in batch.results:
                self.totals.accepted += result.accepted
                self.totals.refused.update(result.refused)
                for counter in self._counters:
                    counter(result)
        if batch.accepted and self.on_accepted is not None:
            self.on_accepted(batch.accepted)
        return batch.results

    def _check_and_journal(
        self, session: Session, batch: _Batch, decoded: list[tuple[IntakeResult, list[Frame], str | None]]
    ) -> None:
        addresses = {frame.device for _, frames, _ in decoded for frame in frames}
        devices = {row.address: row for row in session.scalars(select(Device).where(Device.address.in_(addresses)))}
        last = {address: row.last_sequence for address, row in devices.items()}
        now_ms = int(self._clock() * 1000)
        # One journal row per device, patient and batch, however many frames carried the readings.
        journal: dict[tuple[str, str, str, str], list[Reading]] = {}
        for result, frames, topic_device in decoded:
            for frame in frames:
                taken = self._frame(batch, result, frame, devices.get(frame.device), topic_device, last, now_ms)
                if taken is not None:
                    key = (taken.device, taken.device_record, taken.patient, taken.patient_record)
                    journal.setdefault(key, []).extend(taken.readings)
        accepted = [Accepted(*key, readings=tuple(readings)) for key, readings in journal.items()]
        if accepted:
            rows = [
                {"device": a.device, "sealed": self._seal(a), "latest_ms": max(r.time_ms for r in a.readings)}
                for a in accepted
            ]
            session.execute(insert(DeviceReading), rows)
        for address, sequence in last.items():
            if sequence != devices[address].last_sequence:
                session.execute(
                    update(Device)
                    .where(Device.address == address, Device.last_sequence < sequence)
                    .values(last_sequence=sequence)
                )
        batch.accepted.extend(accepted)

    def _frame(
        self,
        batch: _Batch,
        result: IntakeResult,
        frame: Frame,
        device: Device | None,
        topic_device: str | None,
        last: dict[str, int],
        now_ms: int,
    ) -> Accepted | None:
        count = len(frame.readings)
        refusal = self._frame_refusal(frame, device, topic_device)
        if refusal is not None:
            # Only a registered device's own patient sees its refusals in her accounting: a frame
            # anyone could have made names nobody's.
            agent = (frame.signer or UNKNOWN) if refusal == Refusal.FORGED else frame.device
            patient = device.patient if device is not None and refusal != Refusal.FORGED else None
            batch.refuse(result, refusal, count, agent, patient)
            return None
        assert device is not None
        assert device.patient_record is not None
        taken: list[Reading] = []
        for reading in frame.readings:
            why = self._reading_refusal(reading, last[frame.device], now_ms)
            if why is not None:
                batch.refuse(result, why, 1, frame.device, frame.patient)
                continue
            last[frame.device] = reading.sequence
            taken.append(reading)
        result.accepted += len(taken)
        if not taken:
            return None
        return Accepted(frame.device, device.device_record, frame.patient, device.patient_record, tuple(taken))

    def _frame_refusal(self, frame: Frame, device: Device | None, topic_device: str | None) -> Refusal | None:
        if frame.forged:
            return Refusal.FORGED
        if frame.node != self._custodian:
            return Refusal.WRONG_NODE
        if topic_device is not None and topic_device.lower() != frame.device.lower():
            return Refusal.WRONG_TOPIC
        if device is None:
            return Refusal.UNREGISTERED
        if device.patient is None or device.patient_record is None:
            return Refusal.UNBOUND
        if device.patient != frame.patient:
            return Refusal.WRONG_PATIENT
        if not self._devices.consent_live(frame.patient, frame.device):
            return Refusal.NO_CONSENT
        return None

    def _reading_refusal(self, reading: Reading, last_sequence: int, now_ms: int) -> Refusal | None:
        if reading.sequence <= last_sequence:
            return Refusal.REPLAYED
        if not now_ms - self._max_age_ms <= reading.time_ms <= now_ms + self._max_skew_ms:
            return Refusal.OUTSIDE_WINDOW
        why = problem(reading, self._ranges)
        return None if why is None else Refusal(why)

    def _seal(self, taken: Accepted) -> bytes:
        body = {
            "patient": taken.patient,
            "patient_record": taken.patient_record,
            "device_record": taken.device_record,
            "readings": [[r.sequence, r.time_ms, r.code, [list(v) for v in r.values]] for r in taken.readings],
        }
        return self._key.seal(json.dumps(body, separators=(",", ":")).encode(), journal_aad(taken.device))

    def _audit_denials(self, session: Session, batch: _Batch) -> None:
        entries = [
            Access(
                action=Action.CREATE,
                interaction=INTERACTION,
                outcome=Outcome.DENIED,
                agent=agent,
                patient=patient,
                detail=f"{count} reading(s) refused: {reason}",
            )
            for (agent, patient, reason), count in batch.denials.items()
        ]
        if entries:
            self._audit.append(session, entries)


def journal_aad(device: str) -> bytes:
    """What a journal row's sealed readings are bound to: its device (a row moved to another does not open)."""
    return f"careledger:device-readings:{device}".encode()


def forget_journal(session: Session, patient: str) -> int:
    """Delete the readings of `patient`'s devices waiting in the journal, in the caller's transaction (her erasure
    of all her records: they would become records of hers); how many journal rows went."""
    devices = select(Device.address).where(Device.patient == patient)
    return session.connection().execute(delete(DeviceReading).where(DeviceReading.device.in_(devices))).rowcount
