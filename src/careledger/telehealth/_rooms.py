"""Visit rooms: the waiting room of an Appointment, and the signalling hub its two browsers meet through.

```
patient  ─enter─► seat (waiting) ─────────────────────────────► in ──┐  offer/answer/candidate relayed
practitioner ─enter─► seat ─ sees "waiting" ─ admit ─► patient in ───┘  between these two seats only
```

Who may enter is decided by `_admission` (participants, in the window, read through the caller's door). The room
itself is kept in the node's database, so any worker may hold any seat: each seat is a ticket (`room-seat`, one
per patient and per practitioner, refreshed every `HEARTBEAT_SECONDS` and gone `PRESENCE_SECONDS` after its
worker dies), the admission of the patient another (`room-admitted`, until the window closes). A change is
announced on the node's bus (`_bus`), and every worker holding a seat of that room reads the room afresh and
tells its seats. Media never passes the node: only session descriptions and ICE candidates do, between the patient
and the first practitioner present, once she is admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from careledger.access import Accessor, RecordAccess
from careledger.errors import AccessDenied, CareLedgerError
from careledger.records import Resource
from careledger.shared import Tickets
from careledger.telehealth._admission import ACTIVE, Admission, RoomRole, admit, window
from careledger.telehealth._bus import Bus, Event
from careledger.telehealth._ice import ice_servers
from careledger.telehealth._signals import Pace, parse_signal

HEARTBEAT_SECONDS = 10.0
PRESENCE_SECONDS = 30.0
RECHECK_SECONDS = 60.0  # a seat's admission is asked again this often, besides whenever its visit is written
# Close codes a seat ends with (besides the WebSocket's own 1008 and 1009 for a malformed or oversized message).
ROOM_CLOSED = 4403  # the window is over, or a patient tried to admit
REPLACED = 4409  # the same participant opened the room elsewhere
TOO_FAST = 4429
_SEAT = "room-seat"
_ADMITTED = "room-admitted"


@dataclass(frozen=True, slots=True)
class Ending:
    """The room ends a seat: the code and reason its connection closes with."""

    code: int
    reason: str


@dataclass(eq=False)
class Seat:
    """One participant's connection to a room, at this worker: what the room sends it waits in `outbox`."""

    admission: Admission
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    since: float = field(default_factory=time.time)
    checked: float = field(default_factory=time.monotonic)  # when its admission was last asked again
    outbox: asyncio.Queue[dict[str, Any] | Ending] = field(default_factory=asyncio.Queue)
    pace: Pace = field(default_factory=Pace)
    call: str | None = None
    peer: str | None = None
    shown: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """Its seat ticket's secret: the room and whose seat it is (the patient's, or one practitioner's)."""
        who = "patient" if self.admission.role == RoomRole.PATIENT else self.admission.who
        return f"{self.admission.appointment_id}|{who}"

    def end(self, code: int, reason: str) -> None:
        """Close the seat's connection after what is already queued."""
        self.outbox.put_nowait(Ending(code, reason))


class Rooms:
    """Every visit room of one node, its seats at this worker, and the bus to the others."""

    def __init__(
        self,
        access: RecordAccess,
        tickets: Tickets,
        bus: Bus,
        *,
        ice_urls: Sequence[str] = (),
        turn_secret: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`ice_urls`, `turn_secret`: the STUN and TURN servers browsers are told of (settings `ice_servers`,
        `turn_secret`)."""
        self._access = access
        self._ice_urls = tuple(ice_urls)
        self._turn_secret = turn_secret
        self._tickets = tickets
        self._bus = bus
        self._clock = clock
        self._seats: dict[str, dict[str, Seat]] = {}  # by appointment, then by seat id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = False

    def ice_servers(self, user: str, admission: Admission | None = None) -> list[dict[str, Any]]:
        """The RTCIceServer list for `user`'s browser (`_ice.ice_servers`): the STUN servers; and, with her
        `admission` to a room, the TURN servers with a credential made for her now that ends when the room closes."""
        until = None if admission is None else admission.closes.timestamp()
        return ice_servers(self._ice_urls, self._turn_secret, user, self._clock().timestamp(), until)

    def changed(self, appointment: Resource) -> None:
        """The visit `appointment` was written (cancelled, moved, declined, missed, edited): the patient's admission
        is dropped unless the visit is still to happen in the window she was admitted for, and every worker asks
        its seats' doors again (`_recheck`), ending those now refused. Blocking: the scheduling calls it."""
        appointment_id = str(appointment.get("id", ""))
        admitted = self._tickets.peek(_ADMITTED, appointment_id)
        if admitted is not None and admitted.get("window") != _window_of(appointment):
            self._tickets.take(_ADMITTED, appointment_id)
        self._bus.publish({"kind": "recheck", "room": appointment_id})

    def close(self) -> None:
        """Stop hearing the other workers (the bus's listening thread)."""
        self._bus.close()

    def admission(self, accessor: Accessor, appointment_id: str) -> Admission:
        """`accessor` admitted to the room of `appointment_id` now, or refused (`_admission.admit`); blocking."""
        return admit(self._access.for_caller(accessor), appointment_id, self._clock())

    @asynccontextmanager
    async def seat(self, admission: Admission) -> AsyncIterator[Seat]:
        """A seat in the room for the admitted participant, held (and kept alive) until the block ends."""
        self._loop = asyncio.get_running_loop()
        if not self._subscribed:
            self._bus.subscribe(self._heard)
            self._subscribed = True
        seat = Seat(admission)
        self._seats.setdefault(admission.appointment_id, {})[seat.id] = seat
        try:
            await asyncio.to_thread(self._sit, seat)
            await self._refresh(admission.appointment_id)
            beating = asyncio.create_task(self._heartbeat(seat))
            try:
                yield seat
            finally:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
        finally:
            room = self._seats.get(admission.appointment_id, {})
            room.pop(seat.id, None)
            if not room:
                self._seats.pop(admission.appointment_id, None)
            await asyncio.to_thread(self._stand, seat)

    async def recheck(self, seat: Seat) -> None:
        """Admit the seat's participant again, through her own door (audited): the seat ends if she is refused now
        (the visit cancelled, declined, missed or moved, or she is no longer its participant), else it goes on with
        the admission as it is now (its window perhaps moved)."""
        admission = seat.admission
        try:
            seat.admission = await asyncio.to_thread(self.admission, admission.accessor, admission.appointment_id)
        except CareLedgerError as refused:
            seat.end(ROOM_CLOSED, refused.public)
        seat.checked = time.monotonic()

    async def receive(self, seat: Seat, raw: str | bytes) -> bool:
        """Act on one message from the seat's browser; False once it hung up. A malformed or oversized message
        raises `ValidationError` or `TooLarge`, one too many `TooMany`, a patient's admit `AccessDenied`: the
        caller closes the connection then."""
        seat.pace.take()
        signal = parse_signal(raw)
        if signal.kind == "admit":
            if seat.admission.role != RoomRole.PRACTITIONER:
                raise AccessDenied("only a practitioner of the visit admits the patient")
            await asyncio.to_thread(self._admit, seat.admission)
            return True
        if seat.call is not None and seat.peer is not None:  # an offer, answer, candidate or bye, for the peer
            event = {"kind": "signal", "room": seat.admission.appointment_id, "call": seat.call}
            await asyncio.to_thread(self._bus.publish, {**event, "to": seat.peer, "message": signal.body})
        return signal.kind != "bye"

    def _sit(self, seat: Seat) -> None:
        """Take the seat (a participant's earlier seat, at any worker, is replaced) and tell the room."""
        self._tickets.put(_SEAT, seat.key, {"seat": seat.id, "since": seat.since}, PRESENCE_SECONDS)
        self._announce(seat.admission.appointment_id)

    def _stand(self, seat: Seat) -> None:
        """Give the seat up, unless another connection of the same participant took it meanwhile."""
        held = self._tickets.peek(_SEAT, seat.key)
        if held is not None and held.get("seat") == seat.id:
            self._tickets.take(_SEAT, seat.key)
            self._announce(seat.admission.appointment_id)

    def _admit(self, admission: Admission) -> None:
        """Let the patient in until the room closes (a reconnection of hers need not wait again)."""
        left = (admission.closes - self._clock()).total_seconds()
        admitted = {"by": admission.who, "window": [admission.opens.isoformat(), admission.closes.isoformat()]}
        self._tickets.put(_ADMITTED, admission.appointment_id, admitted, max(left, 1.0))
        self._announce(admission.appointment_id)

    def _announce(self, appointment_id: str) -> None:
        self._bus.publish({"kind": "changed", "room": appointment_id})

    async def _heartbeat(self, seat: Seat) -> None:
        """Keep the seat's ticket alive, ask its door again every `RECHECK_SECONDS` (what no write of the visit
        announces: a consent or an affiliation ended), and end the seat when the room's window closes."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if time.monotonic() - seat.checked >= RECHECK_SECONDS:
                await self.recheck(seat)
            if not seat.admission.open_at(self._clock()):
                seat.end(ROOM_CLOSED, "the visit's room has closed")
                return
            held = await asyncio.to_thread(self._tickets.peek, _SEAT, seat.key)
            if held is None:  # expired while this worker was too busy to refresh it: taken again
                await asyncio.to_thread(self._sit, seat)
            elif held.get("seat") == seat.id:
                await asyncio.to_thread(self._tickets.touch, _SEAT, seat.key, PRESENCE_SECONDS)
            await self._refresh(seat.admission.appointment_id)

    def _heard(self, event: Event) -> None:
        """An event from the bus (any thread): handled on the loop of this worker's seats."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(self._handle(event)))

    async def _handle(self, event: Event) -> None:
        kind, room = event.get("kind"), str(event.get("room", ""))
        if kind == "resync":
            for appointment_id in list(self._seats):
                await self._refresh(appointment_id)
        elif kind == "changed" and room in self._seats:
            await self._refresh(room)
        elif kind == "recheck" and room in self._seats:
            for held in list(self._seats[room].values()):
                await self.recheck(held)
            await self._refresh(room)
        elif kind == "signal" and (seat := self._seats.get(room, {}).get(str(event.get("to")))) is not None:
            opened = await asyncio.to_thread(self._bus.opened, event)
            message = opened.get("message")
            if seat.call == event.get("call") and isinstance(message, dict):  # between the call's two seats only
                seat.outbox.put_nowait(message)

    async def _refresh(self, appointment_id: str) -> None:
        """Read the room afresh and tell each of its seats here what changed for it."""
        seats = list(self._seats.get(appointment_id, {}).values())
        if not seats:
            return
        room = await asyncio.to_thread(self._read, seats[0].admission)
        for seat in seats:
            self._show(seat, room)

    def _read(self, admission: Admission) -> _Room:
        """The room as the database has it: the patient's seat, whether she is admitted, the practitioners' seats."""
        appointment_id = admission.appointment_id
        patient = self._tickets.peek(_SEAT, f"{appointment_id}|patient")
        admitted = self._tickets.peek(_ADMITTED, appointment_id) is not None
        present = [
            (float(held.get("since", 0)), str(held.get("seat")), practitioner)
            for practitioner in admission.practitioners
            if (held := self._tickets.peek(_SEAT, f"{appointment_id}|{practitioner}")) is not None
        ]
        return _Room(
            patient_seat=str(patient["seat"]) if patient else None,
            admitted=admitted,
            practitioners={p: s for _, s, p in sorted(present)},
        )

    def _show(self, seat: Seat, room: _Room) -> None:
        """Tell `seat` the room's state for it, if it changed; end it if its participant sat down elsewhere."""
        is_patient = seat.admission.role == RoomRole.PATIENT
        mine = room.patient_seat if is_patient else room.practitioners.get(seat.admission.who)
        if mine is not None and mine != seat.id:
            seat.end(REPLACED, "the room was opened in another window")
            return
        first = next(iter(room.practitioners.values()), None)
        patient = "away" if room.patient_seat is None else "in" if room.admitted else "waiting"
        call = f"{room.patient_seat}:{first}" if patient == "in" and first is not None else None
        if seat.id not in (room.patient_seat, first):
            call = None
        seat.call = call
        seat.peer = None if call is None else first if is_patient else room.patient_seat
        state = {
            "type": "room",
            "you": seat.admission.role.value,
            "patient": patient,
            "practitioner": "in" if first is not None else "away",
            "call": call,
            "offerer": not is_patient,
            "closes": seat.admission.closes.isoformat(),
        }
        if state != seat.shown:
            seat.shown = state
            seat.outbox.put_nowait(state)


def _window_of(appointment: Resource) -> list[str] | None:
    """The room's window of a visit still to happen, as an admission ticket keeps it (None: none to keep)."""
    if appointment.get("status") not in ACTIVE:
        return None
    try:
        opens, closes = window(appointment)
    except CareLedgerError:
        return None
    return [opens.isoformat(), closes.isoformat()]


@dataclass(frozen=True, slots=True)
class _Room:
    patient_seat: str | None
    admitted: bool
    practitioners: dict[str, str]  # address: seat id, the first present first
