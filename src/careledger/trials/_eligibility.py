"""Whether a patient may join a trial, read from her own record, and the stratum values she is randomised in.

    Patient + her resources ──► facts (insight's gatherer: active, final, in known units)
    criteria (protocol) ──────► each: holds / does not / cannot tell ──► met, failed, unknown (by kind)

Nothing is guessed: a value that is not on her record (no eGFR in the look-back, no birth date, a result in a unit
that cannot be compared) makes the criterion `unknown`, which makes her not eligible, with the reason in words. A
coded condition or medication that is not on her active lists counts as absent, as a problem list is read. Only
active Conditions count (clinical status active, recurrence or relapse; never entered-in-error, refuted or still
provisional), only final results, only what happened on or before the day asked about.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from careledger.errors import ValidationError
from careledger.insight import Code, Facts, facts_from_resources
from careledger.records import Resource

Kind = Literal["inclusion", "exclusion"]
What = Literal["condition", "observation", "age", "sex", "medication"]
Comparator = Literal["<", "<=", ">", ">=", "="]

KINDS: tuple[Kind, ...] = ("inclusion", "exclusion")
WHATS: tuple[What, ...] = ("condition", "observation", "age", "sex", "medication")
COMPARATORS: Mapping[Comparator, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
}
# Administrative gender (FHIR R4's required binding of Patient.gender): a sex criterion's codes come from here.
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
GENDERS = ("female", "male", "other", "unknown")
# Where a stratification factor reads its value: Patient.gender, or her age in whole years on the day asked.
SOURCES = ("gender", "age")


@dataclass(frozen=True, slots=True)
class Criterion:
    """One inclusion or exclusion criterion, coded as FHIR codes it.

    `display` names it in the messages ("eGFR", "essential hypertension"). `condition` and `medication`: `system`
    and `codes` (any of them). `observation`: `system`, `codes`, `comparator` and `value` in `unit` (UCUM), the
    newest final result in the last `within_days` days (any age if None). `age`: `comparator` and `value` in whole
    years. `sex`: `codes` of administrative gender. An exclusion holds when its condition does: she is excluded.
    """

    kind: Kind
    what: What
    display: str
    system: str | None = None
    codes: tuple[str, ...] = ()
    comparator: Comparator | None = None
    value: float | None = None
    unit: str | None = None
    within_days: int | None = None


@dataclass(frozen=True, slots=True)
class StratumFactor:
    """A stratification factor: its `name`, its `levels` (the stratum is a mixed-radix number over them, factors in
    protocol order), and where its value comes from (`source`): "gender" (Patient.gender; a value the levels do not
    list falls in the level "other" when there is one) or "age" (whole years; level i is the ages from
    `bounds[i-1]` up to, not including, `bounds[i]`, so there is one more level than bounds)."""

    name: str
    levels: tuple[str, ...]
    source: str
    bounds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Eligibility:
    """The verdict on each criterion, in words: `eligible` only when every one is met (none failed, none unknown)."""

    met: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        """Whether she may be offered consent: every criterion met, none failed and none that cannot be told."""
        return not self.failed and not self.unknown


def check(criteria: Sequence[Criterion], patient: Resource, resources: Sequence[Resource], today: date) -> Eligibility:
    """Each criterion checked against `patient` (her Patient resource) and `resources` (her record) as of `today`."""
    facts = facts_from_resources(patient, resources, today)
    verdict = Eligibility()
    for criterion in criteria:
        holds, words = _holds(criterion, facts, patient)
        if holds is None:
            verdict.unknown.append(words)
        elif holds == (criterion.kind == "inclusion"):
            verdict.met.append(words)
        else:
            verdict.failed.append(words)
    return verdict


def _holds(criterion: Criterion, facts: Facts, patient: Resource) -> tuple[bool | None, str]:
    """Whether the criterion's statement is true of her (None: her record cannot tell), and why, in words."""
    if criterion.what == "age":
        return _age(criterion, facts)
    if criterion.what == "sex":
        gender = patient.get("gender")
        if gender not in ("female", "male", "other"):
            return None, "no sex on record"
        wanted = " or ".join(criterion.codes)
        return gender in criterion.codes, f"sex {gender}" + ("" if gender in criterion.codes else f", not {wanted}")
    if criterion.what == "observation":
        return _observation(criterion, facts)
    findings = facts.conditions if criterion.what == "condition" else facts.medications
    found = facts.has(findings, _codes(criterion))
    if found is None:
        return False, f"no active {criterion.display} on record"
    return True, f"active {criterion.display} on record ({found.source})"


def _age(criterion: Criterion, facts: Facts) -> tuple[bool | None, str]:
    age = facts.age
    if age is None or criterion.comparator is None or criterion.value is None:
        return None, "no full birth date on record"
    bound = f"{criterion.comparator} {_number(criterion.value)}"
    holds = COMPARATORS[criterion.comparator](age, criterion.value)
    return holds, f"age {age} is {bound}" if holds else f"age {age} is not {bound}"


def _observation(criterion: Criterion, facts: Facts) -> tuple[bool | None, str]:
    """The newest final result of the criterion's codes in its look-back, compared in its unit."""
    within = None if criterion.within_days is None else timedelta(days=criterion.within_days)
    span = "" if criterion.within_days is None else f" in the last {criterion.within_days} days"
    codes = _codes(criterion)
    found = facts.latest(codes, within=within)
    if found is None:
        unusable = facts.unusable(codes, within=within)
        if unusable is not None:
            return None, f"no usable {criterion.display}{span} ({unusable.source}: {unusable.why})"
        return None, f"no {criterion.display} on record{span}"
    shown = f"{criterion.display} {_number(found.value)} {found.unit} on {found.when.isoformat()} ({found.source})"
    if criterion.unit is not None and found.unit != criterion.unit:
        return None, f"{shown} is not in {criterion.unit}"
    if criterion.comparator is None or criterion.value is None:
        return None, f"{shown}: the criterion has no threshold"
    bound = f"{criterion.comparator} {_number(criterion.value)}"
    holds = COMPARATORS[criterion.comparator](found.value, criterion.value)
    return holds, f"{shown} is {bound}" if holds else f"{shown} is not {bound}"


def _codes(criterion: Criterion) -> list[Code]:
    return [Code(criterion.system or "", code) for code in criterion.codes]


def _number(value: float) -> str:
    """A threshold or value as a reader writes it: 30, not 30.0."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def stratum_values(factors: Sequence[StratumFactor], patient: Resource, today: date) -> dict[str, str]:
    """Her level of each factor, by name; `ValidationError` when her record cannot tell one (no birth date)."""
    facts = facts_from_resources(patient, [], today)
    return {factor.name: _level(factor, patient, facts) for factor in factors}


def _level(factor: StratumFactor, patient: Resource, facts: Facts) -> str:
    if factor.source == "gender":
        gender = patient.get("gender")
        if gender in factor.levels:
            return str(gender)
        if "other" in factor.levels:
            return "other"
        raise ValidationError(f"stratum factor {factor.name}: sex {gender or 'not on record'} is none of its levels")
    if factor.source == "age":
        if facts.age is None:
            raise ValidationError(f"stratum factor {factor.name}: no full birth date on record")
        return factor.levels[sum(1 for bound in factor.bounds if facts.age >= bound)]
    raise ValidationError(f"stratum factor {factor.name}: unknown source {factor.source!r}")
