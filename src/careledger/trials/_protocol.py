"""A trial's definition: the file a sponsor registers (and amends), read into checked types, and its FHIR views.

    definition file (JSON) ──load_protocol──► TrialProtocol
        ├── protocol_document ──► canonical JSON ──keccak──► protocol hash
        ├── consent_document (UTF-8) ──keccak──► consent hash
        ├── research_study(p, trial id, version) ──► ResearchStudy (`_study`: criteria in a contained Group)
        └── questionnaire(p, visit) ──► the visit's CRF Questionnaire

The definition file is one JSON object; every field is required unless marked optional, and any other field is
refused (a misspelt one would otherwise be silently dropped from what everyone signs and approves):

- `title` (string, ≤200 characters); `description` (string, markdown); `phase`: a FHIR R4 research-study-phase
  code: n-a, early-phase-1, phase-1, phase-1-phase-2, phase-2, phase-2-phase-3, phase-3, phase-4.
- `arms`: 2 to 8 objects `{"code": "[a-z0-9-]{1,32}", "name": string, "ratio": integer 1-255}`, in allocation order
  (arm 0 first); ratios 1:1 are `1` and `1`.
- `block_multiples`: 1 to 4 integers 1-255: a permuted block holds `ratio * multiple` of each arm, the multiple
  drawn per block from this list.
- `target`: integer, participants to enrol (1 to 2³²-1).
- `sites`: 1 to 32 site node addresses (0x and 40 hex digits), no duplicates.
- `visits`: 1 to 16 objects `{"number": 1.., "name": string, "day": integer ≥0 (days after enrolment),
  "window_days": integer ≥0 (either side of the day), "questionnaire": a FHIR R4 Questionnaire}`, numbered 1, 2, …
  in order of `day`. The Questionnaire is the visit's CRF: it needs a `url` (its responses name it), distinct per
  visit; items of type group, display, boolean, decimal, integer, date, dateTime, time, string, text, url, choice
  or open-choice (choice items list `answerOption`); `required`, `repeats`, `maxLength`, and the extensions
  `http://hl7.org/fhir/StructureDefinition/minValue` / `maxValue` (valueInteger, valueDecimal or valueDate) are
  checked; `code` with a LOINC coding (`http://loinc.org`) marks an item source data verification compares with
  her Observations; `enableWhen` is not supported.
- `criteria`: objects `{"kind": "inclusion" | "exclusion", "what": "condition" | "observation" | "age" | "sex" |
  "medication", "display": string (how messages name it; optional for age and sex), ...}` with, by `what`:
  condition / medication: `system` (URI) and `codes` (1+ codes; any matches); observation: `system`, `codes`,
  `comparator` (<, <=, >, >=, =), `value` (number), `unit` (UCUM code of the value, e.g. "mL/min/{1.73_m2}") and
  optional `within_days` (integer ≥1: the newest result of the last N days; without it, any age); age:
  `comparator` and `value` in whole years; sex: `codes` of administrative gender (female, male, other).
- `stratification`: 0 or more factors `{"name": "[a-z0-9-]{1,32}", "source": "gender" | "age", "levels": [2+
  strings], "bounds": [integers, age only]}`: gender levels are administrative gender codes (a value not listed
  falls in "other"); age has one more level than bounds (under-60, 60-plus is bounds [60]). Strata are numbered in
  mixed radix over the factors in order; at most 65,536 of them.
- `site_fee`, `stipend`, `budget`: CARE as decimal strings ("40", "12.5"), held as base units: the site's fee and
  the participant's stipend per visit, and the escrow the sponsor funds at registration.
- `consent_document` (markdown, what she reads and signs; its keccak256 goes on chain per version) and
  `data_on_withdrawal` (string: what happens to her data if she withdraws, shown before she confirms).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_utils import to_checksum_address

from careledger.crypto import canonical_json, keccak
from careledger.errors import ValidationError
from careledger.fhir import loads
from careledger.records import Resource, parse_resource
from careledger.research import care, care_units
from careledger.trials._crf import form_problems
from careledger.trials._eligibility import (
    COMPARATORS,
    GENDER_SYSTEM,
    GENDERS,
    KINDS,
    SOURCES,
    WHATS,
    Comparator,
    Criterion,
    Kind,
    StratumFactor,
    What,
)

PHASES = ("n-a", "early-phase-1", "phase-1", "phase-1-phase-2", "phase-2", "phase-2-phase-3", "phase-3", "phase-4")
SITE_SYSTEM = "https://careledger.org/fhir/NamingSystem/trial-site"  # a site by its node's address
PROTOCOL_VERSION_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-protocol-version"
MAX_STRATA = 2**16  # strata are uint16 on chain
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_FIELDS = (
    *("title", "phase", "description", "arms", "block_multiples", "target", "sites", "visits", "criteria"),
    *("stratification", "site_fee", "stipend", "budget", "consent_document", "data_on_withdrawal"),
)


@dataclass(frozen=True, slots=True)
class Arm:
    """An arm: its code (how allocations and the ResearchStudy name it), its name in words, its allocation ratio."""

    code: str
    name: str
    ratio: int


@dataclass(frozen=True, slots=True)
class Visit:
    """A scheduled visit: number (1, 2, …), name, day after enrolment, the window either side, and its CRF."""

    number: int
    name: str
    day: int
    window_days: int
    questionnaire: Resource


@dataclass(frozen=True, slots=True)
class TrialProtocol:
    """A trial definition, checked: amounts in CareToken base units, sites checksummed (see the module's docstring
    for the file it comes from)."""

    title: str
    phase: str
    description: str
    arms: tuple[Arm, ...]
    block_multiples: tuple[int, ...]
    target: int
    sites: tuple[str, ...]
    visits: tuple[Visit, ...]
    criteria: tuple[Criterion, ...]
    stratification: tuple[StratumFactor, ...]
    site_fee: int
    stipend: int
    budget: int
    consent_document: str
    data_on_withdrawal: str

    @property
    def ratios(self) -> tuple[int, ...]:
        """The arms' allocation ratios, in arm order, as the contract takes them."""
        return tuple(arm.ratio for arm in self.arms)

    @property
    def strata(self) -> int:
        """How many strata the factors make (1 without stratification)."""
        return math.prod(len(factor.levels) for factor in self.stratification)


def load_protocol(document: bytes | str) -> TrialProtocol:
    """A definition file's JSON read and checked; `ValidationError` naming the field at fault."""
    top = _Reader(loads(document), _TOP).fields(_FIELDS)
    protocol = TrialProtocol(
        title=top.text("title", 200),
        phase=top.choice("phase", PHASES),
        description=top.text("description", 20_000),
        arms=_unique(top.each("arms", 2, 8, _arm), "arms", lambda arm: arm.code),
        block_multiples=tuple(top.each("block_multiples", 1, 4, lambda r: r.integer(None, 1, 255))),
        target=top.integer("target", 1, 2**32 - 1),
        sites=_unique(top.each("sites", 1, 32, _site), "sites", str.lower),
        visits=_visits(top),
        criteria=tuple(top.each("criteria", 0, 64, _criterion)),
        stratification=_unique(top.each("stratification", 0, 8, _factor), "stratification", lambda f: f.name),
        site_fee=top.amount("site_fee"),
        stipend=top.amount("stipend"),
        budget=top.amount("budget"),
        consent_document=top.text("consent_document", 100_000),
        data_on_withdrawal=top.text("data_on_withdrawal", 5_000),
    )
    if protocol.strata > MAX_STRATA:
        raise ValidationError(f"stratification: {protocol.strata:,} strata; at most {MAX_STRATA:,}")
    return protocol


def protocol_document(protocol: TrialProtocol) -> bytes:
    """The canonical JSON (RFC 8785) of the whole definition, in the file's own format: what the sponsor registers,
    the board approves and `load_protocol` reads back; its keccak256 is the protocol hash."""
    return canonical_json(_as_json(protocol))


def consent_hash(protocol: TrialProtocol) -> bytes:
    """What goes on chain of the consent document of a version: keccak256 of its UTF-8 text."""
    return keccak(protocol.consent_document.encode())


def visit_of(protocol: TrialProtocol, number: int) -> Visit:
    """Visit `number` of the protocol; `ValidationError` for one it does not schedule."""
    for visit in protocol.visits:
        if visit.number == number:
            return visit
    raise ValidationError(f"the protocol schedules visits 1 to {len(protocol.visits)}, not {number}")


def questionnaire(protocol: TrialProtocol, visit: int) -> Resource:
    """The CRF Questionnaire of visit `visit` (a copy: the protocol's own stays as signed)."""
    return copy.deepcopy(visit_of(protocol, visit).questionnaire)


class _Reader:
    """One JSON value of the definition (`item`), read field by field when it is an object; every refusal names
    the path of the field at fault."""

    def __init__(self, item: Any, path: str) -> None:
        self.item = item
        self.data: dict[str, Any] = item if isinstance(item, dict) else {}
        self.path = path

    def fields(self, required: Sequence[str], optional: Sequence[str] = ()) -> _Reader:
        """The value checked as an object of `required` and `optional` fields (no others)."""
        names = [*required, *optional]
        if not isinstance(self.item, dict):
            raise ValidationError(f"{self.path}: an object of {', '.join(names)}")
        unknown = [key for key in self.data if key not in names]
        if unknown:
            raise ValidationError(f"{self.path}: unknown field {str(unknown[0])[:40]!r}")
        missing = [key for key in required if key not in self.data]
        if missing:
            raise ValidationError(f"{self._at(missing[0])}: missing")
        return self

    def _at(self, key: str | None) -> str:
        if key is None:
            return self.path
        return key if self.path == _TOP else f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        """Whether an optional field is given (null counts as not given)."""
        return self.data.get(key) is not None

    def raw(self, key: str | None) -> Any:
        """A field's value, or the value itself (`key` None)."""
        return self.item if key is None else self.data.get(key)

    def text(self, key: str | None, longest: int) -> str:
        """A non-blank string of at most `longest` characters."""
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip() or len(value) > longest:
            raise ValidationError(f"{self._at(key)}: a non-empty string of at most {longest:,} characters")
        return value

    def choice(self, key: str, allowed: Sequence[str]) -> Any:
        """One of `allowed`."""
        value = self.raw(key)
        if value not in allowed:
            raise ValidationError(f"{self._at(key)}: one of {', '.join(allowed)}, not {str(value)[:40]!r}")
        return value

    def integer(self, key: str | None, lowest: int, highest: int) -> int:
        """A JSON integer in [lowest, highest] (never a boolean, a float or a string)."""
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise ValidationError(f"{self._at(key)}: an integer from {lowest} to {highest:,}")
        return value

    def number(self, key: str) -> float:
        """A finite JSON number."""
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError(f"{self._at(key)}: a number")
        return float(value)

    def amount(self, key: str) -> int:
        """CARE as a decimal string, in base units."""
        value = self.raw(key)
        if not isinstance(value, str):
            raise ValidationError(f'{self._at(key)}: CARE as a decimal string, such as "12.5"')
        try:
            return care_units(value)
        except ValidationError as exc:
            raise ValidationError(f"{self._at(key)}: {exc}") from None

    def each(self, key: str, fewest: int, most: int, read: Callable[[_Reader], Any]) -> list[Any]:
        """Each item of a list of `fewest` to `most`, read by `read` from a reader of the item."""
        values = self.raw(key)
        where = self._at(key)
        if not isinstance(values, list) or not fewest <= len(values) <= most:
            raise ValidationError(f"{where}: a list of {fewest} to {most} items")
        return [read(_Reader(value, f"{where}[{index}]")) for index, value in enumerate(values)]


_TOP = "the trial definition"


def _unique(values: Sequence[Any], path: str, key: Callable[[Any], str]) -> tuple[Any, ...]:
    seen: set[str] = set()
    for value in values:
        if key(value) in seen:
            raise ValidationError(f"{path}: {key(value)} is given twice")
        seen.add(key(value))
    return tuple(values)


def _name(reader: _Reader, key: str) -> str:
    value = reader.raw(key)
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationError(f"{reader.path}.{key}: lower-case letters, digits and hyphens, at most 32")
    return value


def _arm(reader: _Reader) -> Arm:
    arm = reader.fields(("code", "name", "ratio"))
    return Arm(_name(arm, "code"), arm.text("name", 200), arm.integer("ratio", 1, 255))


def _site(reader: _Reader) -> str:
    value = reader.raw(None)
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ValidationError(f"{reader.path}: an address, 0x and 40 hex digits")
    return str(to_checksum_address(value))


def _visits(top: _Reader) -> tuple[Visit, ...]:
    visits = top.each("visits", 1, 16, _visit)
    urls: set[str] = set()
    for index, visit in enumerate(visits):
        if visit.number != index + 1:
            raise ValidationError(
                f"visits[{index}].number: {visit.number}, not {index + 1}: visits are numbered in order"
            )
        if index and visit.day < visits[index - 1].day:
            raise ValidationError(f"visits[{index}].day: {visit.day} is before visit {index}'s day")
        url = f"{visit.questionnaire['url']}|{visit.questionnaire.get('version', '')}"
        if url in urls:
            raise ValidationError(f"visits[{index}].questionnaire.url: another visit's CRF has it")
        urls.add(url)
    return tuple(visits)


def _visit(reader: _Reader) -> Visit:
    visit = reader.fields(("number", "name", "day", "window_days", "questionnaire"))
    where = f"{visit.path}.questionnaire"
    form = visit.raw("questionnaire")
    if not isinstance(form, dict) or form.get("resourceType") != "Questionnaire":
        raise ValidationError(f"{where}: a FHIR Questionnaire")
    try:
        form = parse_resource(form)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    problems = form_problems(form)
    if problems:
        raise ValidationError(f"{where}: {'; '.join(problems)}")
    return Visit(
        visit.integer("number", 1, 16),
        visit.text("name", 200),
        visit.integer("day", 0, 36_500),
        visit.integer("window_days", 0, 365),
        form,
    )


def _criterion(reader: _Reader) -> Criterion:
    optional = ("display", "system", "codes", "comparator", "value", "unit", "within_days")
    item = reader.fields(("kind", "what"), optional)
    kind = cast("Kind", item.choice("kind", KINDS))
    what = cast("What", item.choice("what", WHATS))
    wanted = _CRITERION_FIELDS[what]
    extra = next((key for key in optional if item.has(key) and key not in wanted and key != "display"), None)
    if extra is not None:
        raise ValidationError(f"{item.path}.{extra}: not part of a criterion on {what}")
    absent = next((key for key in wanted if not item.has(key) and key != "within_days"), None)
    if absent is not None:
        raise ValidationError(f"{item.path}.{absent}: missing (a criterion on {what} needs {', '.join(wanted)})")
    display = item.text("display", 200) if item.has("display") or what not in ("age", "sex") else what
    codes = tuple(item.each("codes", 1, 16, lambda r: r.text(None, 64))) if "codes" in wanted else ()
    if what == "sex" and not set(codes) <= set(GENDERS):
        raise ValidationError(f"{item.path}.codes: administrative gender codes ({', '.join(GENDERS)})")
    return Criterion(
        kind=kind,
        what=what,
        display=display,
        system=GENDER_SYSTEM if what == "sex" else item.text("system", 200) if "system" in wanted else None,
        codes=codes,
        comparator=cast("Comparator", item.choice("comparator", tuple(COMPARATORS))) if "value" in wanted else None,
        value=item.number("value") if "value" in wanted else None,
        unit=item.text("unit", 64) if "unit" in wanted else None,
        within_days=item.integer("within_days", 1, 36_500) if item.has("within_days") else None,
    )


_CRITERION_FIELDS: dict[str, tuple[str, ...]] = {
    "condition": ("system", "codes"),
    "medication": ("system", "codes"),
    "observation": ("system", "codes", "comparator", "value", "unit", "within_days"),
    "age": ("comparator", "value"),
    "sex": ("codes",),
}


def _factor(reader: _Reader) -> StratumFactor:
    factor = reader.fields(("name", "source", "levels"), ("bounds",))
    name = _name(factor, "name")
    source = factor.choice("source", SOURCES)
    levels = _unique(factor.each("levels", 2, 64, lambda r: r.text(None, 64)), f"{factor.path}.levels", str)
    bounds = tuple(factor.each("bounds", 1, 63, lambda r: r.integer(None, 1, 150))) if factor.has("bounds") else ()
    if source == "gender" and (bounds or not set(levels) <= set(GENDERS)):
        raise ValidationError(f"{factor.path}: gender levels are {', '.join(GENDERS)}, with no bounds")
    if source == "age" and (len(levels) != len(bounds) + 1 or list(bounds) != sorted(set(bounds))):
        raise ValidationError(f"{factor.path}.bounds: rising ages, one fewer than the levels")
    return StratumFactor(name, levels, source, bounds)


def _as_json(protocol: TrialProtocol) -> dict[str, Any]:
    """The protocol in the definition file's format (tuples as lists once serialised): amounts in CARE, and of each
    criterion and factor only the fields it has (a sex criterion's system is implied)."""
    data = dataclasses.asdict(protocol)
    data.update({key: care(data[key]) for key in ("site_fee", "stipend", "budget")})
    data["criteria"] = [
        {key: value for key, value in c.items() if value not in (None, ()) and (key, c["what"]) != ("system", "sex")}
        for c in data["criteria"]
    ]
    data["stratification"] = [{k: v for k, v in f.items() if k != "bounds" or v} for f in data["stratification"]]
    return data
