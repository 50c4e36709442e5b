"""What the trial services answer the faces: plain values (addresses and participant ids as 0x-hex, amounts as
integers of CARE base units, days as dates), each with its JSON (amounts as CARE decimal strings, times ISO 8601)
for `--json` and the API. No patient's address is in any of them; a site's own rows name her by her Patient record
id here (`patient_id`), which only this node resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from careledger.research import care
from careledger.trials._forecast import Forecast, SiteEnrolment

if TYPE_CHECKING:
    from careledger.chain import VisitPayment

# A visit's status on a site's list and in a participant's schedule.
DUE = "due"
BLOCKED_RECONSENT = "blocked: re-consent"
BLOCKED_ALLOCATION = "blocked: not randomised"
WITHDRAWN = "withdrawn"
ENTERED = "entered"
PAID = "paid"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def timestamp(seconds: int) -> datetime | None:
    """A chain's Unix time as an aware datetime; None for 0 (not yet)."""
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


@dataclass(frozen=True, slots=True)
class VersionView:
    """One protocol version: its hashes on chain, whether it asks for re-consent, who approved it and when."""

    version: int
    protocol_hash: str
    consent_hash: str
    reconsent: bool
    approved_by: str | None
    approved_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "version": self.version,
            "protocol_hash": self.protocol_hash,
            "consent_hash": self.consent_hash,
            "reconsent": self.reconsent,
            "approved_by": self.approved_by,
            "approved_at": _iso(self.approved_at),
        }


@dataclass(frozen=True, slots=True)
class TrialSummary:
    """A trial as the chain holds it, with its title, phase and arm names from the definition held here (None, and
    arms numbered, when this node holds none). `current_version` 0: no version approved yet."""

    trial_id: int
    title: str | None
    phase: str | None
    sponsor: str
    target: int
    enrolled: int
    withdrawn: int
    visits: int
    site_fee: int
    stipend: int
    budget: int
    escrow: int
    owed: int
    current_version: int
    latest_version: int
    reconsent_from: int
    seed_committed: bool
    blinded: bool
    revealed_at: datetime | None
    arms: tuple[str, ...]
    sites: tuple[str, ...]
    versions: tuple[VersionView, ...]

    @property
    def approved(self) -> bool:
        """Whether a version is approved (enrolment may start once the seed is committed too)."""
        return self.current_version > 0

    @property
    def pending_version(self) -> int | None:
        """The version waiting for an ethics board's approval; None if there is none."""
        return self.latest_version if self.latest_version > self.current_version else None

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "id": self.trial_id,
            "title": self.title,
            "phase": self.phase,
            "sponsor": self.sponsor,
            "target": self.target,
            "enrolled": self.enrolled,
            "withdrawn": self.withdrawn,
            "visits": self.visits,
            "site_fee": care(self.site_fee),
            "stipend": care(self.stipend),
            "budget": care(self.budget),
            "escrow": care(self.escrow),
            "owed": care(self.owed),
            "current_version": self.current_version,
            "latest_version": self.latest_version,
            "pending_version": self.pending_version,
            "reconsent_from": self.reconsent_from,
            "seed_committed": self.seed_committed,
            "blinded": self.blinded,
            "revealed_at": _iso(self.revealed_at),
            "arms": list(self.arms),
            "sites": list(self.sites),
            "versions": [v.to_json() for v in self.versions],
        }


@dataclass(frozen=True, slots=True)
class Allocation:
    """One participant's arm, as unblinding tells it: in enrolment order (`index`), with her site and stratum."""

    participant: str
    index: int
    site: str
    stratum: int
    arm: int
    arm_code: str
    arm_name: str

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "participant": self.participant,
            "index": self.index,
            "site": self.site,
            "stratum": self.stratum,
            "arm": self.arm,
            "arm_code": self.arm_code,
            "arm_name": self.arm_name,
        }


@dataclass(frozen=True, slots=True)
class Unblinding:
    """A trial unblinded: the seed revealed on chain, and every allocation recomputed from it."""

    trial_id: int
    seed: str
    allocations: tuple[Allocation, ...]

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {"trial": self.trial_id, "seed": self.seed, "allocations": [a.to_json() for a in self.allocations]}


@dataclass(frozen=True, slots=True)
class ForecastView:
    """Enrolment so far by site and the forecast of the day the target is reached (all today once it is), with how
    many sites to add, opening tomorrow, to reach it by `deadline` (None: no deadline asked); `history` is the
    cumulative enrolment by the end of each day someone enrolled, in day order."""

    trial_id: int
    sites: tuple[SiteEnrolment, ...]
    forecast: Forecast
    deadline: date | None = None
    sites_to_add: int | None = None
    history: tuple[tuple[date, int], ...] = ()

    @property
    def target(self) -> int:
        """The trial's target enrolment."""
        return self.forecast.target

    @property
    def enrolled(self) -> int:
        """Enrolled so far, every site."""
        return self.forecast.enrolled

    @property
    def today(self) -> date:
        """The day the forecast is made on."""
        return self.forecast.today

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        predicted = self.forecast
        return {
            "trial": self.trial_id,
            "target": predicted.target,
            "enrolled": predicted.enrolled,
            "today": predicted.today.isoformat(),
            "sites": [
                {
                    "site": s.site,
                    "opened": s.opened.isoformat(),
                    "enrolled": s.enrolled,
                    "rate_per_day": predicted.site_rates.get(s.site),
                }
                for s in self.sites
            ],
            "reached": predicted.reached,
            "median": predicted.median.isoformat(),
            "low": predicted.low.isoformat(),
            "high": predicted.high.isoformat(),
            "rate_per_day": predicted.rate_per_day,
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "sites_to_add": self.sites_to_add,
            "history": [{"day": day.isoformat(), "enrolled": enrolled} for day, enrolled in self.history],
        }


@dataclass(frozen=True, slots=True)
class Payment:
    """One milestone payment from the escrow: a visit of a participant, to its site and her payee."""

    participant: str
    site: str
    visit: int
    site_fee: int
    stipend: int
    tx_hash: str
    block: int

    @classmethod
    def of(cls, paid: VisitPayment) -> Payment:
        """A payment as the chain's `VisitPaid` told it."""
        return cls(
            "0x" + paid.participant.hex(), paid.site, paid.visit, paid.site_fee, paid.stipend, paid.tx_hash, paid.block
        )

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "participant": self.participant,
            "site": self.site,
            "visit": self.visit,
            "site_fee": care(self.site_fee),
            "stipend": care(self.stipend),
            "tx": self.tx_hash,
            "block": self.block,
        }


@dataclass(frozen=True, slots=True)
class PaymentsView:
    """What a trial's escrow paid (per site, per participant id) and holds: `held` is what is left in it, `owed` the
    most its active participants' remaining visits can still cost."""

    trial_id: int
    budget: int
    held: int
    owed: int
    paid_by_site: Mapping[str, int]
    paid_by_participant: Mapping[str, int]
    payments: tuple[Payment, ...]

    @property
    def paid(self) -> int:
        """Everything paid so far (site fees and stipends)."""
        return sum(p.site_fee + p.stipend for p in self.payments)

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "trial": self.trial_id,
            "budget": care(self.budget),
            "paid": care(self.paid),
            "held": care(self.held),
            "owed": care(self.owed),
            "by_site": {site: care(amount) for site, amount in self.paid_by_site.items()},
            "by_participant": {p: care(amount) for p, amount in self.paid_by_participant.items()},
            "payments": [p.to_json() for p in self.payments],
        }


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A participant as her site knows her: her id on chain, her Patient record here, her place in the trial
    (`index` in enrolment order, `stratum`), the consent version she signed, her payee and status
    (`candidate`, `on-study`, `withdrawn`)."""

    trial_id: int
    participant: str
    patient_id: str
    site: str
    status: str
    stratum: int
    consented_version: int
    index: int | None = None
    payee: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As JSON (her payee is not in it: it is hers to tell)."""
        return {
            "trial": self.trial_id,
            "participant": self.participant,
            "patient": self.patient_id,
            "site": self.site,
            "status": self.status,
            "stratum": self.stratum,
            "consented_version": self.consented_version,
            "index": self.index,
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
        return {"version": self.version, "who": self.who, "when": _iso(self.when), "why": self.why}


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
    """The consent document of a trial's current version: what she reads before she signs, and what becomes of her
    data if she withdraws."""

    trial_id: int
    title: str
    version: int
    text: str
    hash: str
    data_on_withdrawal: str

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "trial": self.trial_id,
            "title": self.title,
            "version": self.version,
            "text": self.text,
            "hash": self.hash,
            "data_on_withdrawal": self.data_on_withdrawal,
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
