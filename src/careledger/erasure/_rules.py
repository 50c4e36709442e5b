"""What keeps a record from erasure: a legal hold staff placed (on a patient, or one record of hers), or the
retention rule of its category; each refusal names the one that keeps it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.config import RetentionRule
from careledger.errors import ConfigError, Conflict, NotFound, ValidationError
from careledger.records import Category, ErasableRecord
from careledger.store import Database, LegalHold

HOLD_INTERACTION = "legal-hold"  # placing and lifting a hold, in the audit log
MAX_HOLD_NAME = 200


@dataclass(frozen=True, slots=True)
class Hold:
    """One legal hold: on whose records (all, or `record_id`), under which name, placed and lifted by whom."""

    hold_id: int
    patient: str
    record_id: str | None
    name: str
    placed_by: str
    placed_at: datetime
    lifted_by: str | None = None
    lifted_at: datetime | None = None

    @property
    def rule(self) -> str:
        """The hold as a refusal names it."""
        return f"legal hold {self.name!r}"

    def covers(self, record_id: str) -> bool:
        """Whether the hold keeps this record of hers."""
        return self.record_id is None or self.record_id == record_id


class LegalHolds:
    """The legal holds of one node: placed and lifted by staff, every change audited."""

    def __init__(self, db: Database, audit: AuditLog, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    def place(self, by: str, patient: str, name: str, record_id: str | None = None) -> Hold:
        """Hold `patient`'s records (or only `record_id`) from erasure under `name`, until it is lifted."""
        name = name.strip()
        if not 0 < len(name) <= MAX_HOLD_NAME:
            raise ValidationError(f"a legal hold's name is 1 to {MAX_HOLD_NAME} characters (the matter it serves)")
        row = LegalHold(patient=patient, record_id=record_id, name=name, placed_by=by, placed_at=self._clock())
        with self._db.session() as session:
            session.add(row)
            session.flush()
            hold = _hold(row)
            what = f"record {record_id}" if record_id else "every record of hers"
            self._audit.append(session, [_entry(Action.CREATE, hold, f"{hold.rule} placed on {what}")])
        return hold

    def lift(self, by: str, hold_id: int) -> Hold:
        """End the hold `hold_id`; `NotFound` if there is none, `Conflict` if it was lifted already."""
        with self._db.session() as session:
            row = session.get(LegalHold, hold_id)
            if row is None:
                raise NotFound(f"no legal hold {hold_id}")
            if row.lifted_at is not None:
                raise Conflict(f"legal hold {hold_id} was lifted already")
            row.lifted_by, row.lifted_at = by, self._clock()
            hold = _hold(row)
            self._audit.append(session, [_entry(Action.UPDATE, hold, f"{hold.rule} lifted")])
        return hold

    def listing(self, patient: str | None = None, *, lifted: bool = False) -> list[Hold]:
        """The holds in force (with `lifted`, the lifted ones too), of one patient or of all, oldest first."""
        query = select(LegalHold).order_by(LegalHold.id)
        if patient is not None:
            query = query.where(LegalHold.patient == patient)
        if not lifted:
            query = query.where(LegalHold.lifted_at.is_(None))
        with self._db.session() as session:
            return [_hold(row) for row in session.scalars(query)]


class Retention:
    """The retention rules of the node's settings, by record category."""

    def __init__(self, rules: Mapping[str, RetentionRule]) -> None:
        """`ConfigError` for a rule of a category there is none of."""
        known = {category.value for category in Category}
        unknown = sorted(set(rules) - known)
        if unknown:
            raise ConfigError(
                f"[erasure.retention] names no category {unknown[0]!r}: one of {', '.join(sorted(known))}"
            )
        self.rules = dict(rules)

    def keeps(self, record: ErasableRecord, now: datetime) -> str | None:
        """The rule that keeps `record` now, as a refusal names it; None if none does."""
        rule = self.rules.get(record.category.value)
        if rule is None:
            return None
        until = _years_after(record.last_updated, rule.years)
        if now >= until:
            return None
        return (
            f"retention rule {rule.name!r} ({record.category.value} records are kept {rule.years} years after their"
            f" last change: until {until:%Y-%m-%d})"
        )


def kept_by(record: ErasableRecord, holds: Sequence[Hold], retention: Retention, now: datetime) -> str | None:
    """What keeps `record` from erasure now: a hold on it (or on all of hers), else its retention rule; None if
    nothing does."""
    held = next((hold for hold in holds if hold.covers(record.record_id)), None)
    return held.rule if held is not None else retention.keeps(record, now)


def _years_after(moment: datetime, years: int) -> datetime:
    """The same day `years` later (the 28th for a 29 February that year has not)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def _hold(row: LegalHold) -> Hold:
    lifted = None if row.lifted_at is None else datetime.fromtimestamp(row.lifted_at, UTC)
    placed = datetime.fromtimestamp(row.placed_at, UTC)
    return Hold(row.id, row.patient, row.record_id, row.name, row.placed_by, placed, row.lifted_by, lifted)


def _entry(action: Action, hold: Hold, detail: str) -> Access:
    """The audit entry of placing or lifting `hold` (in her accounting: it decides what she may erase)."""
    by = hold.lifted_by if action == Action.UPDATE and hold.lifted_by else hold.placed_by
    return Access(action, HOLD_INTERACTION, Outcome.SUCCESS, by, hold.patient, detail=detail)
