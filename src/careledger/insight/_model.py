"""The values every score, card and check shares: what was found in a record, and what a score made of it.

A score never reads a record itself: it is handed `Facts`, gathered once from the patient's FHIR resources (by
the door for a caller, or from a CDS client's prefetch), and it answers an `Assessment` that names every input it
used (`basis`, which becomes the RiskAssessment's `basis` references) or a `CannotCompute` that says which input is
missing in words a clinician reads ("no HDL cholesterol in the last 5 years"). Nothing is ever guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, Protocol

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"

Sex = Literal["female", "male"]


@dataclass(frozen=True, slots=True)
class Code:
    """One coding: a system and a code (the display is not part of identity)."""

    system: str
    code: str


@dataclass(frozen=True, slots=True)
class Measurement:
    """One observed value: in the unit the score wants (converted when gathered), when it was taken, and from which
    resource (`source`, a relative reference such as ``Observation/abc``, which goes into `basis`)."""

    code: Code
    value: float
    unit: str
    when: date
    source: str


@dataclass(frozen=True, slots=True)
class Unread:
    """A quantity the gatherer could not use (a unit it does not read for its code, or a value that is not a finite
    number): kept so that a score says "no usable HDL cholesterol (unit 'xyz' not understood)" rather than that
    none was taken, which would send a clinician looking for a test that was done."""

    code: Code
    why: str
    when: date
    source: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A coded fact that is present or not: an active Condition, a MedicationStatement/Request, an
    AllergyIntolerance, or a coded Observation answer (smoking status). `when` is its onset or date when known."""

    code: Code
    source: str
    when: date | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What a patient's record says, as of `on`: demographics, measurements (newest first per code), and findings.

    Built by `careledger.insight.gather` (from the door or a prefetch); read by scores with the helpers below.
    `answers` are coded Observation values (smoking status, activity); `race` is the US Core race extension's
    OMB categories (the 2013 Pooled Cohort Equations are race-specific; nothing else reads it); `unread` are the
    quantities skipped (newest first), so a gap can say why; `intolerances` are the sources of the allergies
    recorded as an intolerance or of low criticality (an order check warns of those, rather than alarms).
    """

    patient: str
    on: date
    birth_date: date | None
    sex: Sex | None
    measurements: Mapping[Code, tuple[Measurement, ...]] = field(default_factory=dict)
    conditions: tuple[Finding, ...] = ()
    medications: tuple[Finding, ...] = ()
    allergies: tuple[Finding, ...] = ()
    answers: tuple[Finding, ...] = ()
    race: tuple[Code, ...] = ()
    unread: tuple[Unread, ...] = ()
    intolerances: frozenset[str] = frozenset()

    @property
    def age(self) -> int | None:
        """Whole years on `on`, or None when the birth date is unknown."""
        if self.birth_date is None:
            return None
        born = self.birth_date
        return self.on.year - born.year - ((self.on.month, self.on.day) < (born.month, born.day))

    def latest(self, codes: Iterable[Code], *, within: timedelta | None = None) -> Measurement | None:
        """The newest measurement under any of `codes`, taken no longer than `within` before `on` (any age if None).

        Looked up by code, not scanned: each code's measurements are newest first, so its first one within the
        window is its newest. Of a tie between codes, the one whose code comes first in `measurements` wins."""
        best: tuple[Measurement, Code] | None = None
        for code in codes:  # a code given twice finds its own measurement again: a tie it does not win
            for measured in self.measurements.get(code, ()):
                if within is None or self.on - measured.when <= within:
                    if (
                        best is None
                        or measured.when > best[0].when
                        or (measured.when == best[0].when and _earlier(self, code, best[1]))
                    ):
                        best = (measured, code)
                    break
        return None if best is None else best[0]

    def unusable(self, codes: Iterable[Code], *, within: timedelta | None = None) -> Unread | None:
        """The newest skipped quantity under any of `codes` within `within` of `on` (any age if None)."""
        if not self.unread:
            return None
        wanted = set(codes)
        found = [u for u in self.unread if u.code in wanted and (within is None or self.on - u.when <= within)]
        return max(found, key=lambda u: u.when, default=None)

    def has(self, findings: Iterable[Finding], codes: Iterable[Code]) -> Finding | None:
        """The first of `findings` coded with any of `codes`, or None."""
        wanted = codes if isinstance(codes, frozenset | set) else set(codes)
        for finding in findings:
            if finding.code in wanted:
                return finding
        return None


def _earlier(facts: Facts, code: Code, other: Code) -> bool:
    """Whether `code` comes before `other` in `facts.measurements` (a tie of dates goes to the first, as a scan of
    them would find it)."""
    keys = list(facts.measurements)
    return keys.index(code) < keys.index(other)


@dataclass(frozen=True, slots=True)
class Input:
    """One input a score used, as it used it: a label a patient reads, the value shown, and its source reference
    (None for what came from demographics or was derived)."""

    label: str
    value: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Lowering:
    """What would lower a score: the change in words, and the score recomputed with it."""

    change: str
    value: float


@dataclass(frozen=True, slots=True)
class Assessment:
    """A computed score.

    `value` is the score as its source states it (a probability as a fraction 0..1 for risk equations, points for
    point scores, mL/min/1.73 m² for eGFR); `display` is it in words ("7.5 % 10-year risk"); `band` is the source's
    category ("intermediate", "high"); `alert` is set when the source's threshold is crossed, with `why`.
    """

    score: str
    version: str
    value: float
    display: str
    band: str
    inputs: tuple[Input, ...]
    alert: bool = False
    why: str = ""
    lowering: tuple[Lowering, ...] = ()


@dataclass(frozen=True, slots=True)
class CannotCompute:
    """A score that could not be computed, and why: each missing or out-of-range input in words."""

    score: str
    version: str
    missing: tuple[str, ...]

    def __str__(self) -> str:
        return "cannot compute: " + "; ".join(self.missing)


Result = Assessment | CannotCompute


class Score(Protocol):
    """A published equation: `id` (stable, used in URLs and codes), `title`, `version` (the equation and its
    revision, cited by every card and RiskAssessment), `citation` (the paper or guideline), `url` (where a reader
    finds it), and `assess`."""

    id: str
    title: str
    version: str
    citation: str
    url: str
    observation: bool

    def assess(self, facts: Facts) -> Result: ...
