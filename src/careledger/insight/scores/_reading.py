"""Reading a score's inputs out of `Facts`, the same way for every equation: each value read becomes an `Input`
with its source, and each value missing, stale or outside the equation's range becomes one sentence of the
`CannotCompute`, so that a clinician learns every gap at once rather than one per try.

    Facts ──► Reading.age / .sex / .measurement / .finding / .status ──► values
                    │                                                      │
                    └── inputs (label, value, source)    missing ("no HDL cholesterol in the last 5 years")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from careledger.insight._model import LOINC, CannotCompute, Code, Facts, Finding, Input, Measurement, Sex

TOTAL_CHOLESTEROL = Code(LOINC, "2093-3")
HDL_CHOLESTEROL = Code(LOINC, "2085-9")
SYSTOLIC_BP = Code(LOINC, "8480-6")
BODY_MASS_INDEX = Code(LOINC, "39156-5")
# Serum/plasma creatinine and creatinine in blood, both mass/volume (mg/dL once gathered).
CREATININE = (Code(LOINC, "2160-0"), Code(LOINC, "38483-4"))
# Creatinine's molar mass is 113.12 g/mol: µmol/L per mg/dL (the gatherer converts by it; thresholds stated in
# µmol/L are compared through it, so a paper's boundary stays exactly where the paper put it).
CREATININE_UMOL_L_PER_MG_DL = 88.42
# eGFR by the CKD-EPI 2021 creatinine equation, as a laboratory reports it.
EGFR_2021 = Code(LOINC, "98979-8")


@dataclass(frozen=True, slots=True)
class Window:
    """A look-back: how old a measurement may be, and the words that say so in a message."""

    span: timedelta
    words: str


# Lipids change slowly and the 2018 ACC/AHA cholesterol guideline repeats them every 4-6 years: 5 years.
LIPIDS = Window(timedelta(days=5 * 365 + 2), "in the last 5 years")  # leap days included
# Blood pressure, creatinine and weight change within months: the newest of the last year.
ONE_YEAR = Window(timedelta(days=366), "in the last year")


@dataclass(frozen=True, slots=True)
class Bounds:
    """The range an equation was derived on (inclusive), and its unit as a reader writes it."""

    low: float
    high: float
    unit: str

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def words(self) -> str:
        """The range as a message says it: "130-320 mg/dL"."""
        return f"{_number(self.low)}-{_number(self.high)} {self.unit}"


class Reading:
    """One score's pass over one patient's facts: what it read and what it could not.

    A value outside its equation's range is refused, not clamped: the equation says nothing about it."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.patient = f"Patient/{facts.patient}"  # where age and sex come from: her Patient resource
        self.inputs: list[Input] = []
        self.missing: list[str] = []

    def age(self, bounds: Bounds) -> int | None:
        """Whole years on the facts' date, within `bounds`."""
        age = self.facts.age
        if age is None:
            self.missing.append("no birth date")
            return None
        if age not in bounds:
            self.missing.append(f"age {age} years is outside {bounds.words()}")
            return None
        self.inputs.append(Input("Age", f"{age} years", self.patient))
        return age

    def sex(self) -> Sex | None:
        """Administrative sex, which selects the sex-specific coefficients."""
        if self.facts.sex is None:
            self.missing.append("no sex (female or male) recorded")
            return None
        self.inputs.append(Input("Sex", self.facts.sex, self.patient))
        return self.facts.sex

    def measurement(
        self, label: str, codes: Iterable[Code], window: Window, bounds: Bounds, *, required: bool = True
    ) -> Measurement | None:
        """The newest measurement of `codes` within `window`, refused when outside `bounds`; its absence is a gap
        unless it is not `required` (an input only an optional part of a score needs)."""
        wanted = tuple(codes)
        found = self.facts.latest(wanted, within=window.span)
        if found is None:
            if required:
                self.missing.append(no_value(self.facts, label, wanted, window))
            return None
        shown = f"{_number(found.value)} {bounds.unit} on {found.when.isoformat()}"
        if found.value not in bounds:
            if required:
                self.missing.append(f"{label} {shown} is outside {bounds.words()}")
            else:
                self.note(_sentence(label), f"{shown}, outside {bounds.words()}: not used", found.source)
            return None
        self.inputs.append(Input(_sentence(label), shown, found.source))
        return found

    def finding(self, label: str, findings: Iterable[Finding], matches: Callable[[Code], bool]) -> Finding | None:
        """A present-or-absent fact: its absence from the record counts as "no" (the problem list and medication
        list are what the equations' "history of" means), and both answers are shown."""
        found = None
        for finding in findings:
            if matches(finding.code):
                found = finding
                break
        self.inputs.append(Input(label, "yes" if found else "no", found.source if found else None))
        return found

    def status(self, label: str, question: str, answers: Iterable[Code], positive: frozenset[Code]) -> Finding | None:
        """A status that must be recorded (smoking status): the newest answer coded with any of `answers`, or a gap
        naming `label` when there is none; shown as `question` yes or no, and the Finding returned is the answer
        when it is one of `positive`, else None."""
        wanted = set(answers)
        given = [f for f in self.facts.answers if f.code in wanted]
        if not given:
            self.missing.append(f"no {label} recorded")
            return None
        newest = max(given, key=lambda f: f.when or date.min)
        yes = newest.code in positive
        self.inputs.append(Input(question, "yes" if yes else "no", newest.source))
        return newest if yes else None

    def note(self, label: str, value: str, source: str | None = None) -> None:
        """An input that was derived or chosen rather than read as is (the equation set used, a computed eGFR)."""
        self.inputs.append(Input(label, value, source))

    def refused(self, score: str, version: str) -> CannotCompute | None:
        """The CannotCompute naming every gap, or None when everything was read."""
        return CannotCompute(score, version, tuple(self.missing)) if self.missing else None


def no_value(facts: Facts, label: str, codes: Iterable[Code], window: Window) -> str:
    """The gap of a measurement not found: "no HDL cholesterol in the last 5 years", or, when one was taken but
    could not be read, "no usable HDL cholesterol in the last 5 years (unit 'xyz' not understood, Observation/1 on
    2026-01-02)", so that no one goes looking for a test that was done."""
    unread = facts.unusable(codes, within=window.span)
    if unread is None:
        return f"no {label} {window.words}"
    return f"no usable {label} {window.words} ({unread.why}, {unread.source} on {unread.when.isoformat()})"


def percent(fraction: float) -> str:
    """A risk as the calculators show it: a percentage with one decimal."""
    return f"{fraction * 100:.1f} %"


def _sentence(label: str) -> str:
    """A label as the first words of a line: "serum creatinine" → "Serum creatinine"; "eGFR" stays."""
    return label if label[1:2].isupper() else label[0].upper() + label[1:]


def _number(value: float) -> str:
    return f"{value:g}"
