"""Case report forms: a visit's QuestionnaireResponse checked against its Questionnaire, compared with the
participant's record (source data verification), and the Provenance every correction carries.

    Questionnaire (the protocol's CRF) ─┐
    QuestionnaireResponse (the site's) ─┴─► problems ──► [] ─► complete? (status completed/amended)
                                                   └──► source_check (LOINC-coded items vs her Observations that day)

A response `in-progress` may leave required items out (FHIR's rule: `required` binds a completed response), so a
site can save a visit half entered; it is `complete` only once completed with no problem, and only then paid for.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from careledger.errors import ValidationError
from careledger.fhir import fhir_instant, systems
from careledger.insight import Code, facts_from_resources, finite_number
from careledger.records import Resource

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
UNIT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
# How an item of each R4 type is answered: the answer's value[x] (choice: also the type of its options).
ANSWER_VALUES: dict[str, tuple[str, ...]] = {
    "boolean": ("valueBoolean",),
    "decimal": ("valueDecimal",),
    "integer": ("valueInteger",),
    "date": ("valueDate",),
    "dateTime": ("valueDateTime",),
    "time": ("valueTime",),
    "string": ("valueString",),
    "text": ("valueString",),
    "url": ("valueUri",),
    "choice": ("valueCoding",),
    "open-choice": ("valueCoding", "valueString"),
    "attachment": ("valueAttachment",),
    "reference": ("valueReference",),
    "quantity": ("valueQuantity",),
}
# The JSON each answer value is, checked here too, so a response no one validated yet is never misread.
_JSON: dict[str, Callable[[object], bool]] = {
    "valueBoolean": lambda v: isinstance(v, bool),
    "valueDecimal": lambda v: _is_number(v),
    "valueInteger": lambda v: isinstance(v, int) and not isinstance(v, bool),
    **dict.fromkeys(
        ("valueDate", "valueDateTime", "valueTime", "valueString", "valueUri"), lambda v: isinstance(v, str)
    ),
    **dict.fromkeys(
        ("valueCoding", "valueAttachment", "valueReference", "valueQuantity"), lambda v: isinstance(v, dict)
    ),
}
# The minValue/maxValue types each item type takes.
_LIMITS: dict[str, tuple[str, ...]] = {
    "integer": ("valueInteger",),
    "decimal": ("valueDecimal", "valueInteger"),
    "date": ("valueDate",),
    "dateTime": ("valueDateTime",),
    "time": ("valueTime",),
}
_DONE = ("completed", "amended")
_UNANSWERED = ("group", "display")  # item types that take no answer of their own
_VERSIONED = re.compile(r"QuestionnaireResponse/[A-Za-z0-9\-.]{1,64}/_history/[0-9]{1,18}")
_LONGEST_REASON = 1000


def form_problems(form: Resource) -> list[str]:
    """What keeps a Questionnaire from serving as a CRF here: no url, an item type R4 does not have, a linkId used
    twice, `enableWhen` (not evaluated), a choice without `answerOption` (a value set is not expanded), a
    min/maxValue of the wrong type."""
    found = [] if isinstance(form.get("url"), str) else ["a CRF needs a url, which its responses name"]
    links: Counter[str] = Counter()
    for item in _all_items(form.get("item")):
        link, kind = str(item.get("linkId")), str(item.get("type"))
        links[link] += 1
        if kind not in ANSWER_VALUES and kind not in _UNANSWERED:
            found.append(f"item {link!r}: type {kind[:40]!r} is not an R4 item type")
        if "enableWhen" in item:
            found.append(f"item {link!r}: enableWhen is not supported in a CRF")
        if kind in ("choice", "open-choice") and not item.get("answerOption"):
            found.append(f"item {link!r}: a choice lists its answerOption (answerValueSet is not expanded)")
        for url in (MIN_VALUE, MAX_VALUE):
            limit = _extension(item, url)
            if limit is not None and limit[0] not in _LIMITS.get(kind, ()):
                found.append(f"item {link!r}: {url.rsplit('/', 1)[1]} as {limit[0]} does not fit its type, {kind}")
    found += [f"linkId {link!r} is used {count} times" for link, count in links.items() if count > 1]
    return found


def problems(form: Resource, response: Resource) -> list[str]:
    """Each way `response` fails `form`, in words: an unknown linkId, an answer of the wrong type, an option not
    offered, a value out of range or too long, more answers than a non-repeating item takes, and (once completed
    or amended) a required item left out."""
    if response.get("resourceType") != "QuestionnaireResponse":
        return ["not a QuestionnaireResponse"]
    found = []
    named, url = response.get("questionnaire"), form.get("url")
    if named is not None and named not in (url, f"{url}|{form.get('version')}"):
        found.append(f"it answers the Questionnaire {str(named)[:200]}, not {url}")
    _check_items(_list(form.get("item")), _list(response.get("item")), response.get("status") in _DONE, found)
    return found


def check_response(form: Resource, response: Resource) -> None:
    """`ValidationError` listing every problem of `response` against its CRF `form`, if it has any."""
    found = problems(form, response)
    if found:
        raise ValidationError(f"the response does not fit its CRF ({form.get('url')}): {'; '.join(found)}")


def complete(form: Resource, response: Resource) -> bool:
    """Whether the CRF is done: completed (or amended), every required item answered, no problem."""
    return response.get("status") in _DONE and not problems(form, response)


def _check_items(forms: list[dict[str, Any]], given: list[dict[str, Any]], done: bool, found: list[str]) -> None:
    """The items `given` at one level against the form's items there (`forms`)."""
    by_link = {str(item.get("linkId")): item for item in forms}
    present: Counter[str] = Counter(str(item.get("linkId")) for item in given)
    counts: Counter[str] = Counter()
    for item in given:
        link = str(item.get("linkId"))
        form = by_link.get(link)
        if form is None:
            found.append(f"item {link[:64]!r}: not in the Questionnaire")
            continue
        counts[link] += _answered(form, item)
        _check_item(form, item, done, found)
    for link, form in by_link.items():
        repeats = present[link]
        if repeats > 1 and not (form.get("type") == "group" and form.get("repeats")):
            what = "it does not repeat" if form.get("type") == "group" else "give its answers in one item"
            found.append(f"item {_label(form)}: given in {repeats} items; {what}")
        if done and form.get("required") and not counts[link]:
            found.append(f"item {_label(form)}: required")


def _answered(form: dict[str, Any], item: dict[str, Any]) -> int:
    """1 when the item is there with what it needs (a group present, a question with an answer), else 0."""
    return 1 if form.get("type") in _UNANSWERED or _list(item.get("answer")) else 0


def _check_item(form: dict[str, Any], item: dict[str, Any], done: bool, found: list[str]) -> None:
    kind, label = form.get("type"), _label(form)
    answers = _list(item.get("answer"))
    children = _list(form.get("item"))
    if kind in _UNANSWERED:
        if answers:
            found.append(f"item {label}: a {kind} takes no answer")
        if kind == "group":
            _check_items(children, _list(item.get("item")), done, found)
        return
    if item.get("item"):
        found.append(f"item {label}: a question's nested items go under its answer")
    if len(answers) > 1 and not form.get("repeats"):
        found.append(f"item {label}: {len(answers)} answers; it takes one")
    for answer in answers:
        _check_answer(form, answer, found)
        if children or answer.get("item"):
            _check_items(children, _list(answer.get("item")), done, found)


def _check_answer(form: dict[str, Any], answer: dict[str, Any], found: list[str]) -> None:
    kind, label = str(form.get("type")), _label(form)
    values = [key for key in answer if key.startswith("value")]
    if len(values) != 1:
        found.append(f"item {label}: an answer has one value, not {len(values)}")
        return
    key, value = values[0], answer[values[0]]
    options = _list(form.get("answerOption"))
    allowed = _option_keys(options) if kind == "choice" and options else ANSWER_VALUES.get(kind, ())
    if key not in allowed or not _JSON.get(key, lambda _: False)(value):
        found.append(f"item {label}: {_shown(value)} as {key}; {kind} items are answered with {' or '.join(allowed)}")
        return
    if options and not (kind == "open-choice" and key == "valueString") and not _offered(key, value, options):
        found.append(f"item {label}: {_shown(value)} is not one of its options")
    for url, words, beyond in (
        (MIN_VALUE, "below the minimum", operator.lt),
        (MAX_VALUE, "above the maximum", operator.gt),
    ):
        limit = _extension(form, url)
        if limit is not None and _comparable(value, limit[1]) and beyond(value, limit[1]):
            found.append(f"item {label}: {_shown(value)} is {words} {_shown(limit[1])}")
    longest = form.get("maxLength")
    if isinstance(longest, int) and isinstance(value, str) and len(value) > longest:
        found.append(f"item {label}: {len(value)} characters; at most {longest}")


def _option_keys(options: list[dict[str, Any]]) -> tuple[str, ...]:
    """The value types a choice's options are given in (a choice answers in its options' type)."""
    return tuple(dict.fromkeys(key for option in options for key in option if key.startswith("value")))


def _offered(key: str, value: Any, options: list[dict[str, Any]]) -> bool:
    """Whether `value` is one of the options (a Coding by its system and code)."""
    if key == "valueCoding":
        wanted = (value.get("system"), value.get("code"))
        return any(
            isinstance(c := option.get("valueCoding"), dict) and (c.get("system"), c.get("code")) == wanted
            for option in options
        )
    return any(option.get(key) == value for option in options)


def _comparable(value: Any, limit: Any) -> bool:
    """Two numbers, or two FHIR dates/times of the same precision (ISO text orders as time does)."""
    if _is_number(value) and _is_number(limit):
        return True
    return isinstance(value, str) and isinstance(limit, str) and len(value) == len(limit)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _extension(item: dict[str, Any], url: str) -> tuple[str, Any] | None:
    """The (value[x] name, value) of the item's extension `url`, if it has one."""
    for extension in _list(item.get("extension")):
        if extension.get("url") == url:
            key = next((k for k in extension if k.startswith("value")), None)
            return None if key is None else (key, extension[key])
    return None


def _label(form: dict[str, Any]) -> str:
    """An item as messages name it: its linkId, and its text (its first 60 characters) when it has one."""
    link = str(form.get("linkId"))[:64]
    text = form.get("text")
    if not isinstance(text, str):
        return repr(link)
    return f"{link!r} ({text if len(text) <= 60 else text[:59] + '…'})"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("code") or value.get("display") or value)[:80]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:80] if not isinstance(value, str) else repr(value[:80])


def _list(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _all_items(items: object) -> Iterator[dict[str, Any]]:
    for item in _list(items):
        yield item
        yield from _all_items(item.get("item"))


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A CRF value that differs from her record: the item, what the CRF says, what her Observation of the same
    LOINC code that day says (both in `unit`), and that Observation (`source`)."""

    link_id: str
    crf_value: float
    record_value: float
    code: str
    unit: str
    source: str


def source_check(form: Resource, response: Resource, resources: Sequence[Resource], on: date) -> list[Discrepancy]:
    """Source data verification: each numeric answer to an item coded in LOINC compared with her final
    Observations of that code (or a panel's component of it) on day `on`, in the same unit. Agreeing with any of
    that day's values is agreeing; no Observation that day, or none in the CRF's unit, is nothing to compare."""
    facts = facts_from_resources({"resourceType": "Patient"}, resources, on)
    found = []
    for item, answer in _answers(_list(form.get("item")), _list(response.get("item"))):
        code = next((c.get("code") for c in _list(item.get("code")) if c.get("system") == systems.LOINC), None)
        value = _numeric(answer)
        if not isinstance(code, str) or value is None:
            continue
        that_day = [m for m in facts.measurements.get(Code(systems.LOINC, code), ()) if m.when == on]
        given = _unit(item, answer)
        compared = [(crf, m) for m in that_day if (crf := _in_unit(value, given, m.unit)) is not None]
        if compared and not any(math.isclose(crf, m.value, rel_tol=1e-9, abs_tol=1e-9) for crf, m in compared):
            crf, newest = compared[0]
            found.append(Discrepancy(str(item.get("linkId")), crf, newest.value, code, newest.unit, newest.source))
    return found


def _answers(
    forms: list[dict[str, Any]], given: list[dict[str, Any]]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each (form item, answer) of the response, at any depth."""
    by_link = {str(item.get("linkId")): item for item in forms}
    for item in given:
        form = by_link.get(str(item.get("linkId")))
        if form is None:
            continue
        children = _list(form.get("item"))
        yield from _answers(children, _list(item.get("item")))
        for answer in _list(item.get("answer")):
            yield form, answer
            yield from _answers(children, _list(answer.get("item")))


def _numeric(answer: dict[str, Any]) -> float | None:
    """An answer's number (an integer, a decimal, a Quantity's value), if it is a finite one."""
    value = answer.get("valueInteger", answer.get("valueDecimal"))
    if value is None and isinstance(answer.get("valueQuantity"), dict):
        value = answer["valueQuantity"].get("value")
    return finite_number(value)


def _in_unit(value: float, given: str | None, unit: str) -> float | None:
    """A CRF value in `given` units (the record's, if the form names none), if that is `unit`: the gatherer has put
    her results in their usual unit, and a CRF in another is not compared (a conversion here would be a guess)."""
    return value if given is None or given == unit else None


def _unit(item: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """The UCUM code an answer is in: its Quantity's, else the item's questionnaire-unit."""
    quantity = answer.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("code"), str):
        return str(quantity["code"])
    unit = _extension(item, UNIT_EXTENSION)
    return str(unit[1].get("code")) if unit is not None and isinstance(unit[1], dict) else None


def correction_provenance(target: str, who: str | dict[str, Any], reason: str, recorded: datetime) -> Resource:
    """The Provenance of a CRF correction: the new version `target` (`QuestionnaireResponse/<id>/_history/<v>`)
    revised (UPDATE) by `who` (a Reference, a `Type/id`, or a did:pkh) for `reason` at `recorded`.
    `ValidationError` for an empty reason: ICH E6 and 21 CFR Part 11 ask why of every change."""
    if not reason.strip():
        raise ValidationError("a correction needs its reason")
    if len(reason) > _LONGEST_REASON:
        raise ValidationError(f"a correction's reason is at most {_LONGEST_REASON} characters")
    if not _VERSIONED.fullmatch(target):
        raise ValidationError(
            f"a correction names the version it made: QuestionnaireResponse/<id>/_history/<n>, not {target[:80]!r}"
        )
    if isinstance(who, str):
        who = systems.account_reference(who) if who.startswith("did:") else {"reference": who}
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target}],
        "recorded": fhir_instant(recorded, precision="seconds"),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": "UPDATE", "display": "revise"}]},
        "reason": [{"text": reason.strip()}],
        "agent": [
            {
                "type": {"coding": [{"system": systems.PROVENANCE_PARTICIPANT_TYPE, "code": "author"}]},
                "who": who,
            }
        ],
    }
