"""What a site's desk and a participant's desk answer: her enrolment, the visit list, CRFs and their audit trail, her
schedule, the consent document she reads, an adverse event as staff report it (split from `_views`, whose
conventions hold: ids as 0x-hex, amounts as CARE base units, JSON amounts as CARE strings); and the one rule of
whether her next visit may be recorded or paid (`visit_block`), in the contract's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from careledger.research import care
from careledger.trials._views import iso

if TYPE_CHECKING:
    from careledger.chain import TrialParticipant, TrialState

# A visit's status on a site's list and in a participant's schedule.
DUE = "due"
BLOCKED_RECONSENT = "blocked: re-consent"
BLOCKED_ALLOCATION = "blocked: not randomised"
WITHDRAWN = "withdrawn"
ENTERED = "entered"
PAID = "paid"

# What she is told before she names the address her stipends go to (none named: they are held in the escrow).
PAYEE_NOTICE = (
    "Your stipends are held in the trial's escrow until you name an address to receive them. The address you name "
    "is written on the public chain next to this trial, so anyone can link it to the trial: use a fresh address "
    "that you use for nothing else."
)


def visit_block(state: TrialState, on_chain: TrialParticipant) -> str | None:
    """Why her next visit may not be recorded or paid, as the contract's `may_visit` judges it and in its order
    (withdrawn, then not randomised, then re-consent); None when it may."""
    if on_chain.withdrawn:
        return WITHDRAWN
    if on_chain.allocation is None:
        return BLOCKED_ALLOCATION
    if on_chain.consented_version < state.reconsent_from:
        return BLOCKED_RECONSENT
    return None


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A participant as her site knows her: her id on chain, her Patient record here, her place in the trial
    (`index` in enrolment order, `stratum`), the consent version she signed, her payee (None: her stipends are held)
    and status (`candidate`, `on-study`, `withdrawn`); `witness`: the staff member who witnessed what she just signed in
    person (a did:pkh), None if she signed herself."""

    trial_id: int
    participant: str
    patient_id: str
    site: str
    status: str
    stratum: int
    consented_version: int
    index: int | None = None
    payee: str | None = None
    witness: str | None = None

    @property
    def held(self) -> bool:
        """Whether her stipends are held in the escrow, no payee named yet."""
        return self.payee is None

    def to_json(self) -> dict[str, Any]:
        """As JSON (her payee is not in it: it is hers to tell; whether her stipends are held is)."""
        return {
            "trial": self.trial_id,
            "participant": self.participant,
            "patient": self.patient_id,
            "site": self.site,
            "status": self.status,
            "stratum": self.stratum,
            "consented_version": self.consented_version,
            "index": self.index,
            "stipends_held": self.held,
            "witness": self.witness,
        }


@dataclass(frozen=True, slots=True)
class VisitRow:
    """One visit on a site's list: whose (participant id, Patient record here), which, when it is due and its
    status (`due`, `blocked: re-consent`, `blocked: not randomised`, `withdrawn`, `entered`, `paid`)."""

    trial_id: int
    participant: str
    patient_id: str
    visit: int
    name: str
    due: date | None
    window_days: int
    status: str
    complete: bool | None = None
    record_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "trial": self.trial_id,
            "participant": self.participant,
            "patient": self.patient_id,
            "visit": self.visit,
            "name": self.name,
            "due": None if self.due is None else self.due.isoformat(),
            "window_days": self.window_days,
            "status": self.status,
            "complete": self.complete,
            "record": self.record_id,
        }


@dataclass(frozen=True, slots=True)
class CrfEntry:
    """A CRF stored: its QuestionnaireResponse's id and version, whether it is complete, and where it differs from
    her record on the day (source data verification: link id, CRF value, record value, code)."""

    trial_id: int
    participant: str
    visit: int
    record_id: str
    version: int
    complete: bool
    discrepancies: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "trial": self.trial_id,
            "participant": self.participant,
            "visit": self.visit,
            "record": self.record_id,
            "version": self.version,
            "complete": self.complete,
            "discrepancies": [
                {"link_id": d.link_id, "crf": d.crf_value, "record": d.record_value, "code": d.code}
                for d in self.discrepancies
            ],
        }


@dataclass(frozen=True, slots=True)
class CrfVersion:
    """One version of a CRF in its audit trail: who stored it, when, and why (the first: entered; a correction: its
    reason)."""

    version: int
    who: str
    when: datetime
    why: str
    complete: bool
    response: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """As JSON (without the response itself)."""
        return {
            "version": self.version,
            "who": self.who,
            "when": iso(self.when),
            "why": self.why,
            "complete": self.complete,
        }


@dataclass(frozen=True, slots=True)
class ScheduledVisit:
    """A visit in a participant's schedule: when it is due and its status."""

    visit: int
    name: str
    due: date | None
    status: str

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "visit": self.visit,
            "name": self.name,
            "due": None if self.due is None else self.due.isoformat(),
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class ParticipantTrial:
    """A trial as its participant sees it: the consent version she signed and the current one (re-consent needed
    when hers is behind what the trial asks), her status, schedule and stipends paid."""

    trial_id: int
    title: str | None
    participant: str
    status: str
    consented_version: int
    current_version: int
    reconsent_needed: bool
    schedule: tuple[ScheduledVisit, ...]
    visits_paid: int
    stipend: int
    payee: str | None

    @property
    def stipends_paid(self) -> int:
        """What her payee was paid so far."""
        return self.visits_paid * self.stipend

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "trial": self.trial_id,
            "title": self.title,
            "participant": self.participant,
            "status": self.status,
            "consented_version": self.consented_version,
            "current_version": self.current_version,
            "reconsent_needed": self.reconsent_needed,
            "schedule": [v.to_json() for v in self.schedule],
            "visits_paid": self.visits_paid,
            "stipend": care(self.stipend),
            "stipends_paid": care(self.stipends_paid),
            "payee": self.payee,
        }


@dataclass(frozen=True, slots=True)
class ConsentDocument:
    """The consent document of a trial's current version: what she reads before she signs, what becomes of her
    data if she withdraws, and what naming a payee tells the world (`payee_notice`)."""

    trial_id: int
    title: str
    version: int
    text: str
    hash: str
    data_on_withdrawal: str
    payee_notice: str = PAYEE_NOTICE

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "trial": self.trial_id,
            "title": self.title,
            "version": self.version,
            "text": self.text,
            "hash": self.hash,
            "data_on_withdrawal": self.data_on_withdrawal,
            "payee_notice": self.payee_notice,
        }


@dataclass(frozen=True, slots=True)
class AdverseEventInput:
    """An adverse event as a site's staff report it: its code (system, code, display), whether it is serious, its
    severity (mild, moderate, severe), when it happened, a description for her record, and the `narrative` the site
    chooses to send with a serious one's safety report (none: the report holds codes only)."""

    system: str
    code: str
    display: str
    serious: bool
    severity: str
    date: date
    description: str = ""
    narrative: str | None = None
