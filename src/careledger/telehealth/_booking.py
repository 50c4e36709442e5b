"""Booking a Slot: finding open ones, holding, confirming, cancelling and moving an Appointment, the practitioner's
answer, and what is coming up.

```
find    Schedules that match ─► their Slots in the window, not held ─► proposed Appointments (nothing stored)
hold    Appointment `pending` ─┬─ one transaction: the Appointment's version, and the slot's row in slot_holds,
book    Appointment `booked`  ─┤  whose key lets one booking per slot commit (Conflict for the other)
confirm `pending` → `booked`  ─┤  (a hold lapses after `hold_seconds`; a confirmed one lasts)
cancel  → `cancelled`         ─┘  (its rows deleted: the slot is free again)
        then the Slot's status follows its row (busy / free), written by the node through its own door
```

Every Appointment is written through the caller's guarded repository, so who may book, confirm or cancel for which
patient is the access policy's (the patient herself, the node's care team, a grantee of her consent); the Slots
stay the node's own and the node marks them. `slot_holds` is the truth of whether a slot is taken: `find` reads
it, and a Slot's `busy` only mirrors it (a slot blocked by hand is `busy-unavailable`).

H3's flow (coverage, the visit's consent, the escrow) runs between `hold` and `confirm`, or as `book`'s
`before_commit`: the pending Appointment has its id (the visit's key on chain) before anything is paid, and a
failed step releases the hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from careledger.access import Accessor, Decision, RecordAccess, Repository
from careledger.consent import Purpose
from careledger.errors import Conflict, NotFound, ValidationError
from careledger.fhir import fhir_instant, systems
from careledger.records import Draft, Resource, SearchQuery, StoredRecord, search_query
from careledger.store import Database
from careledger.telehealth._holds import HOLDS, claim, let_go, take
from careledger.telehealth._holds import SLOT_TAKEN as SLOT_TAKEN  # told by the booking too
from careledger.telehealth._schedule import (
    MAX_FIND_DAYS,
    Schedules,
    appointment_window,
    fee_of,
    parse_instant,
    practitioner_of,
    priced,
    service_class,
)

HOLDING = frozenset({"pending", "booked", "arrived", "checked-in", "fulfilled"})  # statuses that keep their slots
OPEN_SLOT = frozenset({"free", "busy"})  # `busy` only mirrors a hold: the hold decides
DEFAULT_HOLD = timedelta(minutes=15)
MAX_FIND = 200
FIND_STEP = timedelta(days=7)  # `find` searches a week of Slots at a time, until it has found enough
_SLOT = "Slot/"


@dataclass(frozen=True, slots=True)
class Opening:
    """A free Slot, and the Schedule it belongs to (whose practitioner, fee and coding it has)."""

    slot: Resource
    schedule: Resource

    @property
    def fee(self) -> int | None:
        """The visit's fee in CARE units (None: none)."""
        return fee_of(self.schedule)


@dataclass(frozen=True, slots=True)
class Hold:
    """A slot held for a pending Appointment until `expires` (H3 confirms or releases it)."""

    appointment: Resource
    slot_id: str
    expires: datetime

    @property
    def appointment_id(self) -> str:
        """The pending Appointment's id: the visit's key on chain is derived from it."""
        return str(self.appointment["id"])


def proposal(opening: Opening, patient_id: str | None, *, status: str = "proposed") -> Resource:
    """The Appointment `opening` would be for `patient_id` (None: anyone, as `$find` proposes it), not stored."""
    slot, schedule = opening.slot, opening.schedule
    practitioner = practitioner_of(schedule)
    participants = [{"actor": {"reference": practitioner}, "required": "required", "status": "needs-action"}]
    if patient_id is not None:
        participants.insert(
            0, {"actor": {"reference": f"Patient/{patient_id}"}, "required": "required", "status": "accepted"}
        )
    start, end = appointment_window(slot)
    minutes = int((end - start).total_seconds() // 60)
    fee = opening.fee
    appointment: Resource = {
        "resourceType": "Appointment",
        **({"extension": [{"url": systems.VISIT_FEE_EXTENSION, "valueInteger": fee}]} if fee is not None else {}),
        "status": status,
        "serviceType": slot.get("serviceType", []),
        **({"appointmentType": slot["appointmentType"]} if "appointmentType" in slot else {}),
        "start": slot["start"],
        "end": slot["end"],
        "minutesDuration": minutes,
        "slot": [{"reference": f"{_SLOT}{slot['id']}"}],
        "participant": participants,
    }
    return appointment


def slot_ids(appointment: Resource) -> list[str]:
    """The ids of the Slots an Appointment names (`Slot/<id>`)."""
    return [
        ref.removeprefix(_SLOT)
        for s in appointment.get("slot", [])
        if (ref := str(s.get("reference", ""))).startswith(_SLOT)
    ]


def _with_meta(data: Resource, stored: StoredRecord) -> Resource:
    """`data` as stored: its version and time."""
    meta = {"versionId": str(stored.version), "lastUpdated": fhir_instant(stored.last_updated)}
    return {**data, "id": stored.record_id, "meta": {**data.get("meta", {}), **meta}}


class Scheduling(Schedules):
    """Schedules published, Slots opened, found, held, booked, cancelled and moved; Appointments written through
    each caller's door."""

    def __init__(
        self,
        db: Database,
        access: RecordAccess,
        *,
        custodian: str,
        hold_for: timedelta = DEFAULT_HOLD,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        changed: Callable[[Resource], None] = lambda _appointment: None,
    ) -> None:
        """`access` gives the node its own door, through which it marks Slots busy or free (they are its own);
        `changed` is told of every Appointment written (the visit rooms ask their seats' doors again)."""
        self._changed = changed
        self._db = db
        self._access = access
        self._custodian = custodian
        self._hold_for = hold_for
        self._clock = clock

    def now(self) -> datetime:
        """The time the scheduling goes by (its clock: tests move it)."""
        return self._clock()

    # Finding.

    def find(
        self,
        reader: Repository,
        start: datetime,
        end: datetime,
        *,
        practitioner: str | None = None,
        service_type: str | None = None,
        mode: str | None = None,
        limit: int = 50,
    ) -> list[Opening]:
        """The open Slots from `start` to `end` (their start in it, at most `MAX_FIND_DAYS` on) of the active
        Schedules of `practitioner` (`Practitioner/<id>` or the id) offering `service_type` (a service class) in
        `mode`, soonest first: a week searched at a time, until `limit` are found. A Schedule whose fee is malformed
        offers nothing until it is mended."""
        if end <= start:
            raise ValidationError("end must come after start")
        if end - start > timedelta(days=MAX_FIND_DAYS):
            raise ValidationError(f"find slots over at most {MAX_FIND_DAYS} days at once")
        if not 1 <= limit <= MAX_FIND:
            raise ValidationError(f"find at most {MAX_FIND} slots at once")
        wanted = [("active", "true")]
        if practitioner:
            wanted.append(("actor", practitioner if "/" in practitioner else f"Practitioner/{practitioner}"))
        if service_type:
            wanted.append(("service-type", f"{systems.SERVICE_CLASS}|{service_type}"))
        schedules = {s["id"]: s for s in reader.search(_query("Schedule", wanted)) if priced(s)}
        if not schedules:
            return []
        params = [
            ("schedule", ",".join(f"Schedule/{i}" for i in schedules)),
            ("status", ",".join(sorted(OPEN_SLOT))),
            ("_sort", "start"),
            *([("appointment-type", f"{systems.VISIT_MODE}|{mode}")] if mode else []),
        ]
        found: list[Resource] = []
        since = max(start, self._clock())
        while since < end and len(found) < limit:
            until = min(since + FIND_STEP, end)
            between = [("start", f"ge{fhir_instant(since, precision='seconds')}")]
            between.append(("start", f"lt{fhir_instant(until, precision='seconds')}"))
            slots = reader.search(_query("Slot", params + between))
            held = self._held([s["id"] for s in slots])
            found += [s for s in slots if s["id"] not in held]
            since = until
        return [Opening(s, schedules[s["schedule"]["reference"].removeprefix("Schedule/")]) for s in found[:limit]]

    def opening(self, reader: Repository, slot_id: str) -> Opening:
        """The Slot `slot_id` and its Schedule, if it is open for booking (else `Conflict`)."""
        slot = reader.read(slot_id)
        if slot["resourceType"] != "Slot":
            raise NotFound(f"no Slot/{slot_id}")
        if slot.get("status") not in OPEN_SLOT:
            raise Conflict(f"Slot/{slot_id} is {slot.get('status')}: it cannot be booked")
        if parse_instant(slot["start"], "start") <= self._clock():
            raise Conflict(f"Slot/{slot_id} has begun or passed")
        schedule = reader.read(str(slot["schedule"]["reference"]).removeprefix("Schedule/"))
        if not schedule.get("active", True):
            raise Conflict(f"Slot/{slot_id} belongs to a Schedule no longer active")
        return Opening(slot, schedule)

    # Booking.

    def provider(self, repo: Repository) -> bool:
        """Whether the caller acts for the visit's provider, not for its patient (the access policy's
        `acts_as_provider`: this node or its care team)."""
        return self._access.acts_as_provider(repo.accessor).allowed

    def by_hand(self, repo: Repository, before: Resource | None, after: Resource) -> Decision:
        """Whether the caller's plain write of an Appointment may change what it does (the access policy's
        `may_change_by_hand`: only the provider moves a slot, a time, a participant or a status by hand)."""
        return self._access.may_change_by_hand(repo.accessor, before, after)

    def hold(self, repo: Repository, slot_id: str, patient_id: str, *, reason: str | None = None) -> Hold:
        """Hold `slot_id` for `patient_id`: a `pending` Appointment of hers, written as the caller, and the slot's
        row, in one transaction; `Conflict` if another booking holds it. Lapses unless confirmed in time."""
        appointment = self._write(repo, self._drafted(repo, slot_id, patient_id, reason, "pending"))
        return Hold(appointment, slot_id, self._clock() + self._hold_for)

    def confirm(self, repo: Repository, hold: Hold) -> Resource:
        """The held Appointment `booked`, its slot kept for good; `Conflict` if the hold lapsed and another booking
        took the slot (its Appointment is then cancelled)."""
        appointment = repo.read(hold.appointment_id)
        if appointment.get("status") == "booked":
            return appointment
        if appointment.get("status") != "pending":
            raise Conflict(f"Appointment/{hold.appointment_id} is {appointment.get('status')}, not pending")
        return self._write(repo, {**appointment, "status": "booked"})

    def claim(self, hold: Hold) -> None:
        """Mark the hold as being booked (`_holds.claim`): `Conflict` for a second `$book` of it, or a hold no
        longer pending, so a double submission never undoes the booking that won."""
        now = self._clock().timestamp()
        claim(self._db, hold.appointment_id, now, now - self._hold_for.total_seconds())

    def release(self, repo: Repository, hold: Hold, reason: str = "not confirmed") -> Resource:
        """Give the held slot back: the pending Appointment `cancelled`, the slot free."""
        return self.cancel(repo, hold.appointment_id, reason)

    def book(
        self,
        repo: Repository,
        slot_id: str,
        patient_id: str,
        *,
        reason: str | None = None,
        before_commit: Callable[[Hold], None] | None = None,
    ) -> Resource:
        """Book `slot_id` for `patient_id` (a Patient the caller may read): her `booked` Appointment; `Conflict` if
        the slot is taken. `before_commit`, given the hold, runs between hold and confirm (coverage, consent,
        payment): if it raises, the hold is released and the error raised."""
        if before_commit is None:
            return self._write(repo, self._drafted(repo, slot_id, patient_id, reason, "booked"))
        hold = self.hold(repo, slot_id, patient_id, reason=reason)
        try:
            before_commit(hold)
        except BaseException:
            self.release(repo, hold, "a step of the booking failed")
            raise
        return self.confirm(repo, hold)

    def cancel(self, repo: Repository, appointment_id: str, reason: str | None = None) -> Resource:
        """Cancel an Appointment the caller may write (the patient, her care team): its slot is free again. The
        cancellation reason says who cancelled (`pat`, the patient; `prov`, anyone else)."""
        appointment = repo.read(appointment_id)
        if appointment.get("resourceType") != "Appointment":
            raise NotFound(f"no Appointment/{appointment_id}")
        if appointment.get("status") == "cancelled":
            return appointment
        by_patient = repo.stored(appointment_id).patient_address == repo.accessor.address
        cancelled = {
            **appointment,
            "status": "cancelled",
            "cancelationReason": {
                "coding": [{"system": systems.APPOINTMENT_CANCELLATION, "code": "pat" if by_patient else "prov"}],
                **({"text": reason} if reason else {}),
            },
        }
        return self._write(repo, cancelled)

    def reschedule(self, repo: Repository, appointment_id: str, slot_id: str) -> Resource:
        """Move an Appointment to `slot_id` (of the same practitioner and service) in one transaction: the new slot
        taken (`Conflict` if it is, and nothing moves), the old one free."""
        appointment = repo.read(appointment_id)
        if appointment.get("resourceType") != "Appointment" or appointment.get("status") not in ("pending", "booked"):
            raise Conflict(f"Appointment/{appointment_id} is not booked: it cannot be moved")
        opening = self.opening(repo, slot_id)
        if practitioner_of(opening.schedule) != practitioner_of(appointment) or service_class(
            opening.slot
        ) != service_class(appointment):
            raise ValidationError("move an Appointment only to a slot of the same practitioner and service")
        moved = {k: v for k, v in appointment.items() if k not in ("slot", "start", "end", "minutesDuration")}
        fresh = proposal(opening, None, status=str(appointment["status"]))
        moved.update({k: fresh[k] for k in ("slot", "start", "end", "minutesDuration")})
        return self._write(repo, moved)

    def respond(self, repo: Repository, appointment_id: str, *, accept: bool, comment: str | None = None) -> Resource:
        """The practitioner's answer (an AppointmentResponse, the caller's to write): her participant status on the
        Appointment follows it; a decline cancels the Appointment (`prov`) and frees the slot."""
        appointment = repo.read(appointment_id)
        practitioner = practitioner_of(appointment)
        if appointment.get("resourceType") != "Appointment" or practitioner is None:
            raise NotFound(f"no Appointment/{appointment_id} with a practitioner")
        answer = "accepted" if accept else "declined"
        response: Resource = {
            "resourceType": "AppointmentResponse",
            "appointment": {"reference": f"Appointment/{appointment_id}"},
            "actor": {"reference": practitioner},
            "participantStatus": answer,
            **({"comment": comment} if comment else {}),
        }
        updated = dict(appointment)
        updated["participant"] = [
            {**p, "status": answer} if p.get("actor", {}).get("reference") == practitioner else p
            for p in appointment.get("participant", [])
        ]
        if not accept:
            reason = {"coding": [{"system": systems.APPOINTMENT_CANCELLATION, "code": "prov"}]}
            updated.update(status="cancelled", cancelationReason={**reason, **({"text": comment} if comment else {})})
        draft = repo.prepare(response)
        _, stored = self._store(repo, updated, [draft])
        return _with_meta(draft.data, stored[1])

    def written(self, repo: Repository, appointment: Resource) -> StoredRecord:
        """Store an Appointment as the FHIR API's create and update do, its slots held or freed by its status (a
        `cancelled` one frees them; `Conflict` if a slot it takes is another's). Each Slot it names must be one
        (else `NotFound`, before anything is written)."""
        for slot_id in slot_ids(appointment):
            if repo.read(slot_id)["resourceType"] != "Slot":
                raise NotFound(f"no Slot/{slot_id}")
        return self._store(repo, appointment)[1][0]

    # Reminders.

    def upcoming(self, reader: Repository, participant: str | None, within: timedelta) -> list[Resource]:
        """The booked (or held) Appointments of `participant` (`Patient/<id>` or `Practitioner/<id>`; None: anyone's)
        that start from now until `within` from now, soonest first, as far as `reader` may see them."""
        now = self._clock()
        params = [
            *([("actor", participant)] if participant else []),
            ("status", "booked,pending"),
            ("date", f"ge{fhir_instant(now, precision='seconds')}"),
            ("date", f"le{fhir_instant(now + within, precision='seconds')}"),
            ("_sort", "date"),
        ]
        return reader.search(_query("Appointment", params))

    def booked_slots(self, appointment_id: str) -> set[str]:
        """The slots `appointment_id` holds for good (booked, not a hold that lapses): none for a new one."""
        if not appointment_id:
            return set()
        mine = (HOLDS.c.appointment_id == appointment_id) & HOLDS.c.expires_at.is_(None)
        with self._db.reading() as connection:
            return {slot for (slot,) in connection.execute(select(HOLDS.c.slot_id).where(mine))}

    # The writes and their holds.

    def _drafted(self, repo: Repository, slot_id: str, patient_id: str, reason: str | None, status: str) -> Resource:
        """The Appointment to write for `patient_id` in `slot_id`: her Patient is read first (refused as an unknown
        id is to one who may not read it), so a refusal tells nothing of the slot."""
        patient = repo.read(patient_id)
        if patient["resourceType"] != "Patient":
            raise NotFound(f"no Patient/{patient_id}")
        appointment = proposal(self.opening(repo, slot_id), patient_id, status=status)
        appointment["created"] = fhir_instant(self._clock(), precision="seconds")
        if reason:
            appointment["reasonCode"] = [{"text": reason}]
        return appointment

    def _write(self, repo: Repository, appointment: Resource) -> Resource:
        """Store `appointment` with its holds; the stored resource."""
        data, stored = self._store(repo, appointment)
        return _with_meta(data, stored[0])

    def _store(
        self, repo: Repository, appointment: Resource, more: Sequence[Draft] = ()
    ) -> tuple[Resource, list[StoredRecord]]:
        """Store `appointment` (and the `more` drafts) as the caller, in the transaction that takes the slots its
        status holds and lets go of the others; then the Slots' statuses follow. The Appointment as validated, and
        the versions stored."""
        draft = repo.prepare(appointment)
        wanted = slot_ids(draft.data) if draft.data.get("status") in HOLDING else []
        lapsing = draft.data.get("status") == "pending"
        changed: list[str] = []
        displaced: list[str] = []

        def holds(session: Session, written: list[StoredRecord]) -> None:
            """In the Appointment's transaction: its rows made `wanted`, for its patient (`Conflict` if another
            holds one, or if she holds too many)."""
            now = self._clock().timestamp()
            expires = now + self._hold_for.total_seconds() if lapsing else None
            changed.extend(let_go(session, draft.record_id, wanted))
            holder = written[0].patient_address
            displaced.extend(take(session, self._db.backend, draft.record_id, holder, wanted, now, expires))
            changed.extend(wanted)

        stored = repo.store([draft, *more], also=holds)
        self._mark(changed)
        self._lapse(displaced)
        self._changed({**draft.data, "id": draft.record_id})
        return draft.data, stored

    def _held(self, slots: Iterable[str]) -> set[str]:
        """Which of `slots` a booking holds now (confirmed, or pending and not lapsed)."""
        slots = list(slots)
        if not slots:
            return set()
        live = or_(HOLDS.c.expires_at.is_(None), HOLDS.c.expires_at >= self._clock().timestamp())
        with self._db.reading() as connection:
            rows = connection.execute(select(HOLDS.c.slot_id).where(HOLDS.c.slot_id.in_(slots), live))
            return {slot for (slot,) in rows}

    def _door(self) -> Repository:
        """The node's own door: it keeps the Slots (its own resources) and lapses others' holds."""
        return self._access.for_caller(Accessor(self._custodian, Purpose.HOPERAT))

    def _mark(self, slots: Sequence[str]) -> None:
        """Each Slot's status made its hold's (busy if held, else free), as the node. A writer racing on the same
        Slot makes this a `Conflict`: it is read and written once more, then left to the next booking."""
        if not slots:
            return
        door = self._door()
        held = self._held(slots)
        for slot_id in dict.fromkeys(slots):
            for _ in range(2):
                try:
                    slot = door.read(slot_id)
                except NotFound:  # deleted since: nothing to mark
                    break
                status = "busy" if slot_id in held else "free"
                if slot.get("status") not in OPEN_SLOT or slot["status"] == status:
                    break
                try:
                    door.store([door.prepare({**slot, "status": status})])
                    break
                except Conflict:
                    held = self._held(slots)

    def _lapse(self, appointment_ids: Sequence[str]) -> None:
        """Cancel the pending Appointments whose lapsed holds another booking took over, as the node."""
        door = self._door()
        for appointment_id in appointment_ids:
            appointment = door.read(appointment_id)
            if appointment.get("status") == "pending":
                reason = {
                    "coding": [{"system": systems.APPOINTMENT_CANCELLATION, "code": "oth"}],
                    "text": "the hold lapsed",
                }
                self._store(door, {**appointment, "status": "cancelled", "cancelationReason": reason})


def _query(resource_type: str, params: list[tuple[str, str]]) -> SearchQuery:
    """The search `params` ask for (each one the specification's, so understood)."""
    query, unknown = search_query(resource_type, params, patient_address=None)
    if unknown:
        raise ValidationError(f"unknown search parameters of {resource_type}: {', '.join(unknown)}")
    return query
