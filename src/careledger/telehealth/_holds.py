"""The rows of `slot_holds`: which Appointment holds which Slot, for which patient, and whether a `$book` of the
hold is under way (`Scheduling` writes them in the transaction of the Appointment's version).

```
take     a new row, its own renewed, or a lapsed one of another's taken over (Conflict if another holds the slot);
         then at most `MAX_LIVE_HOLDS` pending holds per patient (Conflict past it: one account cannot keep a
         practitioner's whole schedule pending)
let_go   the rows of slots the Appointment no longer takes, deleted
claim    a pending hold marked as being booked, compare-and-set: of two `$book`s of one hold, one goes on
```
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from careledger.errors import Conflict
from careledger.store import Database, SlotHold, dialect_insert

HOLDS = cast("Table", SlotHold.__table__)
MAX_LIVE_HOLDS = 3  # slots one patient may hold (pending, not lapsed) at once
SLOT_TAKEN = "the slot is taken: find another"


def let_go(session: Session, appointment_id: str, keep: list[str]) -> list[str]:
    """Delete the rows of `appointment_id` for slots other than `keep`; the slots let go."""
    rows = session.execute(select(HOLDS.c.slot_id).where(HOLDS.c.appointment_id == appointment_id))
    gone = [slot for (slot,) in rows if slot not in keep]
    if gone:
        session.execute(delete(HOLDS).where(HOLDS.c.appointment_id == appointment_id, HOLDS.c.slot_id.in_(gone)))
    return gone


def take(
    session: Session,
    backend: str,
    appointment_id: str,
    holder: str | None,
    slots: list[str],
    now: float,
    expires: float | None,
) -> list[str]:
    """Hold `slots` for `appointment_id` (for the patient `holder`) until `expires` (None: for good): a new row,
    its own row renewed, or a lapsed hold of another's taken over; `Conflict` if another holds one, or if the
    patient would hold more than `MAX_LIVE_HOLDS` pending slots. The Appointments displaced."""
    displaced: list[str] = []
    for slot in slots:
        lapsed = (HOLDS.c.slot_id == slot) & (HOLDS.c.expires_at < now) & (HOLDS.c.appointment_id != appointment_id)
        displaced += [a for (a,) in session.execute(select(HOLDS.c.appointment_id).where(lapsed))]
        fresh = {"appointment_id": appointment_id, "held_at": now, "expires_at": expires, "holder": holder}
        insert = dialect_insert(backend)(HOLDS).values(slot_id=slot, **fresh)
        insert = insert.on_conflict_do_update(
            index_elements=[HOLDS.c.slot_id],
            set_={**fresh, "claimed_at": None},
            where=or_(HOLDS.c.appointment_id == appointment_id, HOLDS.c.expires_at < now),
        )
        # The row comes back if it was written (new, ours, or a lapsed one taken over); psycopg's rowcount of an
        # upsert in a session is not to be relied on.
        if session.execute(insert.returning(HOLDS.c.slot_id)).first() is None:
            raise Conflict(SLOT_TAKEN)
    if expires is not None and holder is not None:
        live = select(func.count()).where(HOLDS.c.holder == holder, HOLDS.c.expires_at >= now)
        if session.execute(live).scalar_one() > MAX_LIVE_HOLDS:
            raise Conflict(
                f"the patient holds {MAX_LIVE_HOLDS} slots already: book one of them, or let one go, before"
                " holding another"
            )
    return displaced


def claim(db: Database, appointment_id: str, now: float, stale_before: float) -> None:
    """Mark `appointment_id`'s pending hold as being booked, if no other `$book` of it is under way (one that
    began before `stale_before` died half way: it is taken over). `Conflict` for a second submission, and for a
    hold that is no longer pending (booked, or freed): the booking that won is left alone."""
    mine = (HOLDS.c.appointment_id == appointment_id) & HOLDS.c.expires_at.is_not(None)
    free = or_(HOLDS.c.claimed_at.is_(None), HOLDS.c.claimed_at < stale_before)
    with db.session() as session:
        taken = session.execute(update(HOLDS).where(mine, free).values(claimed_at=now).returning(HOLDS.c.slot_id))
        if taken.first() is None:
            raise Conflict(f"Appointment/{appointment_id} is being booked already, or is no longer held: see it")
