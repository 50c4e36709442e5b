"""The staff's review of each break-glass use: a privacy officer judges every emergency window opened here.

```
BreakGlass.open ─(one transaction)─► window + audit entry N + queue row N (no verdict)
pending() ◄── queue rows with no verdict ── review(N, reviewer, verdict, note) ─► verdict set once, audited
reviews(since, until) ◄── the verdicts on uses opened in the period (the compliance report reads these)
```

A reviewer is this node itself (its operator) or an actor to whom this node attested a
`privacy-officer` credential the chain holds valid. Nobody reviews their own use; a verdict, once recorded, is never
changed (a second review of the same use is refused); every review, and every refused one, is
audited on the patient's records, so her accounting shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NoReturn, cast

from sqlalchemy import CursorResult, Row, Select, select, update

from careledger.access._break_glass import open_reason
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry
from careledger.consent import Purpose
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from careledger.identity import PRIVACY_OFFICER
from careledger.store import Database, EmergencyAccess, EmergencyReview, dialect_insert

MAX_NOTE = 2000


class Verdict(StrEnum):
    """What a reviewer found of one break-glass use."""

    JUSTIFIED = "justified"
    UNJUSTIFIED = "unjustified"


def parse_verdict(text: str) -> Verdict:
    """A verdict from its word; `ValidationError` for any other."""
    try:
        return Verdict(text.strip().lower())
    except ValueError:
        raise ValidationError(f"a verdict is {' or '.join(Verdict)}, not {text[:40]!r}") from None


@dataclass(frozen=True, slots=True)
class BreakGlassUse:
    """One break-glass window opened here, as its reviewer sees it: `entry` is its audit entry's number."""

    entry: str
    practitioner: str
    patient: str
    opened_at: datetime
    expires_at: datetime
    reason: str
    block: int


@dataclass(frozen=True, slots=True)
class BreakGlassReview:
    """A recorded review of one break-glass use (`entry`: its audit entry's number)."""

    entry: str
    practitioner: str
    patient: str
    opened_at: datetime
    reviewer: str
    verdict: Verdict
    note: str
    reviewed_at: datetime


class BreakGlassReviews:
    """The review queue of this node's break-glass uses, and the verdicts recorded on them."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        node: str,
        identity: Callable[[], IdentityRegistry],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`node`: this node's address, itself a reviewer and the issuer of its privacy officers' credentials."""
        self._db = db
        self._audit = audit
        self._node = node
        self._identity = identity
        self._clock = clock

    def pending(self) -> list[BreakGlassUse]:
        """The uses not reviewed yet, oldest first (each with the reason its practitioner gave)."""
        self._queue_older_uses()
        query = _uses().where(EmergencyReview.verdict.is_(None)).order_by(EmergencyAccess.opened_at)
        with self._db.session() as session:
            return [self._use(row) for row in session.execute(query)]

    def reviews(self, since: datetime, until: datetime) -> list[BreakGlassReview]:
        """The recorded reviews of the uses opened from `since` until (not including) `until`, oldest use first."""
        self._queue_older_uses()
        query = (
            _uses()
            .add_columns(EmergencyReview.reviewer, EmergencyReview.verdict, EmergencyReview.note)
            .add_columns(EmergencyReview.reviewed_at)
            .where(EmergencyReview.verdict.is_not(None))
            .where(EmergencyAccess.opened_at >= since, EmergencyAccess.opened_at < until)
            .order_by(EmergencyAccess.opened_at)
        )
        with self._db.session() as session:
            return [self._review(row) for row in session.execute(query)]

    def may_review(self, actor: str) -> bool:
        """Whether `actor` reviews break-glass uses here: this node, or its live privacy officer, as the chain judges
        her (`has_valid_credential`: an active actor whose newest `privacy-officer` credential is unexpired, unrevoked
        and from an issuer still holding ISSUER_ROLE) on a credential this node attested, not another node's."""
        if actor.lower() == self._node.lower():
            return True
        identity = self._identity()
        newest = identity.latest_credential(actor, PRIVACY_OFFICER)
        if newest is None or newest.issuer.lower() != self._node.lower():
            return False
        return identity.has_valid_credential(actor, PRIVACY_OFFICER)

    def require_reviewer(self, actor: str) -> None:
        """`AccessDenied` unless `actor` reviews break-glass uses here (`may_review`)."""
        if not self.may_review(actor):
            raise AccessDenied(f"reviewing break-glass uses takes this node's {PRIVACY_OFFICER} credential")

    def review(self, entry: str, reviewer: str, verdict: Verdict | str, note: str) -> BreakGlassReview:
        """Record `reviewer`'s verdict on the use audited as `entry`, once; audited, and so is a refusal (a reviewer
        without the role, her own use, a use already reviewed)."""
        number, verdict, note = _entry_number(entry), parse_verdict(verdict), _note(note)
        with self._db.session() as session:
            row = session.execute(_uses().where(EmergencyReview.entry == number)).first()
        use = None if row is None else self._use(row)
        if not self.may_review(reviewer):
            self._refuse(number, use, reviewer, f"reviewing break-glass uses takes this node's {PRIVACY_OFFICER}")
        if use is None:
            raise NotFound(f"no break-glass use was audited as entry {number}")
        if use.practitioner.lower() == reviewer.lower():
            self._refuse(number, use, reviewer, "nobody reviews their own break-glass use")
        now = self._clock()
        with self._db.session() as session:
            recorded = session.execute(
                update(EmergencyReview)
                .where(EmergencyReview.entry == number, EmergencyReview.verdict.is_(None))
                .values(reviewer=reviewer, verdict=verdict.value, note=note, reviewed_at=now)
            )
            done = cast("CursorResult[Any]", recorded).rowcount == 1
            if done:  # the verdict and its audit entry commit together
                decided = f"entry {number}: {verdict.value}: {note}"
                self._audit.append(session, [_entry(use.patient, reviewer, Outcome.SUCCESS, decided)])
        if not done:
            self._refuse(number, use, reviewer, f"break-glass use {number} was reviewed already", Conflict)
        return BreakGlassReview(use.entry, use.practitioner, use.patient, use.opened_at, reviewer, verdict, note, now)

    def _use(self, row: Row[*tuple[Any, ...]]) -> BreakGlassUse:
        """One use from a row of `_uses()`, its reason opened."""
        practitioner, patient, stored, salt, opened_at, expires_at, entry, block = tuple(row)[:8]
        reason = open_reason(self._audit, stored, practitioner, patient, salt)
        return BreakGlassUse(str(entry), practitioner, patient, _utc(opened_at), _utc(expires_at), reason, block)

    def _review(self, row: Row[*tuple[Any, ...]]) -> BreakGlassReview:
        """One recorded review from a row of `_uses()` with its verdict's columns."""
        use = self._use(row)
        reviewer, verdict, note, reviewed_at = tuple(row)[8:]
        return BreakGlassReview(
            use.entry, use.practitioner, use.patient, use.opened_at, reviewer, Verdict(verdict), note, _utc(reviewed_at)
        )

    def _refuse(
        self,
        number: int,
        use: BreakGlassUse | None,
        reviewer: str,
        why: str,
        error: type[AccessDenied | Conflict] = AccessDenied,
    ) -> NoReturn:
        patient = None if use is None else use.patient
        self._audit.record(_entry(patient, reviewer, Outcome.DENIED, f"entry {number}: {why}"))
        raise error(why)

    def _queue_older_uses(self) -> None:
        """Queue the windows opened before the queue existed (no row yet), each under the audit entry that recorded
        it: the first allowed break-glass entry of its practitioner on its patient from its opening on."""
        unqueued = (
            select(EmergencyAccess)
            .outerjoin(EmergencyReview, EmergencyReview.emergency_id == EmergencyAccess.id)
            .where(EmergencyReview.entry.is_(None))
            .order_by(EmergencyAccess.id)
        )
        with self._db.session() as session:
            windows = list(session.scalars(unqueued))
            if not windows:  # as always, once the older ones are queued
                return
            taken = set(session.scalars(select(EmergencyReview.entry)))
        for window in windows:
            opened = _utc(window.opened_at)
            found = next(
                (
                    e.seq
                    for e in self._audit.entries(patient=window.patient, agent=window.practitioner)
                    if e.access.interaction == "break-glass" and e.access.allowed
                    if e.recorded_at >= opened and e.seq not in taken
                ),
                None,
            )
            if found is None:
                continue
            taken.add(found)
            with self._db.session() as session:
                insert = dialect_insert(self._db.backend)(EmergencyReview).values(entry=found, emergency_id=window.id)
                session.execute(insert.on_conflict_do_nothing())


def _uses() -> Select[str, str, str, bytes, datetime, datetime, int, int]:
    """Each queued use: its window's columns and its audit entry's number, in `_use`'s order."""
    return select(
        EmergencyAccess.practitioner,
        EmergencyAccess.patient,
        EmergencyAccess.reason,
        EmergencyAccess.salt,
        EmergencyAccess.opened_at,
        EmergencyAccess.expires_at,
        EmergencyReview.entry,
        EmergencyAccess.block,
    ).join(EmergencyReview, EmergencyReview.emergency_id == EmergencyAccess.id)


def _entry(patient: str | None, reviewer: str, outcome: Outcome, detail: str) -> Access:
    purpose = Purpose.HOPERAT.value
    return Access(Action.EXECUTE, "break-glass-review", outcome, reviewer, patient, purpose=purpose, detail=detail)


def _entry_number(entry: str) -> int:
    try:
        number = int(str(entry).strip())
    except ValueError:
        shown = str(entry)[:40]
        raise ValidationError(f"a break-glass use is named by its audit entry's number, not {shown!r}") from None
    if number < 1:
        raise ValidationError("an audit entry's number is 1 or more")
    return number


def _note(text: str) -> str:
    note = text.strip()
    if not note:
        raise ValidationError("a review needs a note saying why")
    if len(note) > MAX_NOTE:
        raise ValidationError(f"a review's note is at most {MAX_NOTE} characters")
    return note


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=moment.tzinfo or UTC)
