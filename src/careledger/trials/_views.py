"""What the trial services answer the faces: plain values (addresses and participant ids as 0x-hex, amounts as
integers of CARE base units, days as dates), each with its JSON (amounts as CARE decimal strings, times ISO 8601)
for `--json` and the API. No patient's address is in any of them; a site's own rows name her by her Patient record
id here (`patient_id`), which only this node resolves. What the site's and participant's desks answer is in
`_site_views`.
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


def iso(moment: datetime | None) -> str | None:
    """A moment as ISO 8601 to the second; None stays None."""
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
            "approved_at": iso(self.approved_at),
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

    @property
    def status(self) -> str:
        """Where the trial stands, in the words a table shows (so that a script reads the same as a person)."""
        if not self.blinded:
            return "unblinded"
        if not self.approved:
            return "awaiting ethics approval"
        if self.pending_version is not None:
            return f"recruiting; version {self.pending_version} awaiting approval"
        if not self.seed_committed:
            return "approved; seed not committed"
        return "recruiting" if self.enrolled < self.target else "target reached"

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "id": self.trial_id,
            "title": self.title,
            "phase": self.phase,
            "status": self.status,
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
            "revealed_at": iso(self.revealed_at),
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

    @property
    def deadline_chance(self) -> float | None:
        """The probability (0 to 1, the forecast's draws) that the sites open now reach the target by the end of
        `deadline`; None when no deadline was asked."""
        return self.forecast.deadline_chance

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
            "deadline_chance": self.deadline_chance,
            "sites_to_add": self.sites_to_add,
            "history": [{"day": day.isoformat(), "enrolled": enrolled} for day, enrolled in self.history],
        }


@dataclass(frozen=True, slots=True)
class Payment:
    """One milestone payment from the escrow: a visit of a participant, to its site and her payee (`held`, JSON
    `stipend_held`: she had none yet, so the escrow held her stipend for her until a payee was named)."""

    participant: str
    site: str
    visit: int
    site_fee: int
    stipend: int
    tx_hash: str
    block: int
    held: bool = False

    @classmethod
    def of(cls, paid: VisitPayment) -> Payment:
        """A payment as the chain's `VisitPaid` told it."""
        participant = "0x" + paid.participant.hex()
        return cls(participant, paid.site, paid.visit, paid.site_fee, paid.stipend, paid.tx_hash, paid.block, paid.held)

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
            "stipend_held": self.held,
        }


@dataclass(frozen=True, slots=True)
class PaymentsView:
    """What a trial's escrow paid (per site, per participant id) and holds: `held` is what is left in it (JSON
    `escrow_left`, not to be confused with `held_stipends`), `owed` the most its active participants' remaining
    visits can still cost, `returned` what went back to the sponsor after unblinding (so `budget` is `paid` +
    `returned` + `held`). `paid_by_participant` counts the stipends that
    reached her payee; `held_stipends` those held for her (by participant id) until her site names a payee."""

    trial_id: int
    budget: int
    held: int
    owed: int
    paid_by_site: Mapping[str, int]
    paid_by_participant: Mapping[str, int]
    payments: tuple[Payment, ...]
    held_stipends: Mapping[str, int] = field(default_factory=dict)
    returned: int = 0  # what went back to the sponsor after unblinding: budget = paid + returned + held

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
            "escrow_left": care(self.held),
            "returned": care(self.returned),
            "owed": care(self.owed),
            "by_site": {site: care(amount) for site, amount in self.paid_by_site.items()},
            "by_participant": {p: care(amount) for p, amount in self.paid_by_participant.items()},
            "held_stipends": {p: care(amount) for p, amount in self.held_stipends.items()},
            "payments": [p.to_json() for p in self.payments],
        }
