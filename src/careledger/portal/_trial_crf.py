"""A visit's case report form as a web form: the Questionnaire's items as inputs, the posted fields as a
QuestionnaireResponse.

```
Questionnaire item ─type─► input: integer/decimal → number (step, min, max from the minValue/maxValue extensions),
   string → text (maxLength), text → textarea, boolean → yes/no, choice → its options, date → date,
   group → a fieldset of its items, display → words
posted fields ─► QuestionnaireResponse items (valueInteger, valueDecimal, valueCoding, …) ─► the site's service,
   which judges it against the Questionnaire (careledger.trials); its problems shown beside the fields they name
```

Only what cannot be an answer at all (letters in a number field) is refused here, beside its field; whether an
answer is allowed (required, range, option, length) is the service's word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from careledger.fhir import systems
from careledger.portal._formats import printed_unit
from careledger.records import Resource

COMPLETED, IN_PROGRESS = "completed", "in-progress"  # a CRF stored done, or saved half entered
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
_PREFIX = "item-"
_INPUTS = {
    "integer": "number",
    "decimal": "number",
    "string": "text",
    "url": "url",
    "text": "textarea",
    "boolean": "boolean",
    "choice": "select",
    "open-choice": "select",
    "date": "date",
    "group": "group",
    "display": "display",
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class CrfField:
    """One input of the form, as the template draws it: `name` is the posted field's, `value` what it holds
    (an option's index for a choice, "true"/"false" for a boolean), `problems` what the service or the form found
    wrong with it."""

    link_id: str
    name: str
    label: str
    kind: str
    required: bool = False
    repeats: bool = False
    step: str = ""
    minimum: str = ""
    maximum: str = ""
    max_length: int | None = None
    unit: str = ""
    code: str = ""
    options: tuple[tuple[str, str], ...] = ()
    value: str = ""
    problems: tuple[str, ...] = ()
    children: tuple[CrfField, ...] = field(default_factory=tuple)


def field_name(link_id: str) -> str:
    """The posted field of an item (HTML ids and names are free text, but a prefix keeps them apart from the form's
    own, such as `csrf` and `reason`)."""
    return f"{_PREFIX}{link_id}"


def crf_fields(
    questionnaire: Resource, values: Mapping[str, str], problems: Mapping[str, Sequence[str]]
) -> list[CrfField]:
    """The form's fields for `questionnaire`'s items, holding `values` (by linkId, as the form posts them) and
    showing `problems` (by linkId)."""
    return [_field(item, values, problems) for item in questionnaire.get("item", [])]


def _field(item: Mapping[str, Any], values: Mapping[str, str], problems: Mapping[str, Sequence[str]]) -> CrfField:
    link_id = str(item.get("linkId", ""))
    kind = _INPUTS.get(str(item.get("type", "")), "text")
    item_type = item.get("type")
    return CrfField(
        link_id=link_id,
        name=field_name(link_id),
        label=str(item.get("text") or link_id),
        kind=kind,
        required=bool(item.get("required")),
        repeats=bool(item.get("repeats")),
        step="1" if item_type == "integer" else "any" if item_type == "decimal" else "",
        minimum=_bound(item, MIN_VALUE),
        maximum=_bound(item, MAX_VALUE),
        max_length=item.get("maxLength") if isinstance(item.get("maxLength"), int) else None,
        unit=_unit(item),
        code=", ".join(_codes(item)),
        options=tuple((str(i), _option_label(o)) for i, o in enumerate(item.get("answerOption", []))),
        value=values.get(link_id, ""),
        problems=tuple(problems.get(link_id, ())),
        children=tuple(_field(child, values, problems) for child in item.get("item", [])),
    )


def _bound(item: Mapping[str, Any], url: str) -> str:
    for extension in item.get("extension", []):
        if extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return str(value)
    return ""


def _unit(item: Mapping[str, Any]) -> str:
    """The unit an item's number is in (the questionnaire-unit extension), as it is printed."""
    for extension in item.get("extension", []):
        coding = extension.get("valueCoding") if extension.get("url") == UNIT else None
        if isinstance(coding, dict):
            return printed_unit(str(coding.get("code", ""))) or str(coding.get("display", ""))
    return ""


def _codes(item: Mapping[str, Any]) -> Iterator[str]:
    """The codes an item is compared with her record by (source data verification), as "LOINC 8480-6"."""
    for coding in item.get("code", []):
        if coding.get("code"):
            yield f"LOINC {coding['code']}" if coding.get("system") == systems.LOINC else str(coding["code"])


def _option_label(option: Mapping[str, Any]) -> str:
    coding = option.get("valueCoding")
    if isinstance(coding, dict):
        return str(coding.get("display") or coding.get("code", ""))
    return next((str(option[key]) for key in option if key.startswith("value")), "")


def posted_values(questionnaire: Resource, form: Mapping[str, str]) -> dict[str, str]:
    """What the form posted for each of `questionnaire`'s items, by linkId, stripped (an unanswered item left out)."""
    return {
        link_id: form[field_name(link_id)].strip()
        for link_id, _ in _items(questionnaire.get("item", []))
        if form.get(field_name(link_id), "").strip()
    }


def values_of(questionnaire: Resource, response: Resource) -> dict[str, str]:
    """A stored response's answers as the form holds them (to correct it), by linkId."""
    items = dict(_items(questionnaire.get("item", [])))
    found: dict[str, str] = {}
    for answered in _answered(response.get("item", [])):
        item = items.get(str(answered.get("linkId")))
        if item is not None and answered.get("answer"):
            found[item["linkId"]] = ",".join(_shown(item, answer) for answer in answered["answer"])
    return found


def _shown(item: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    """One stored answer as its input holds it: an option by its index, a boolean as "true"/"false"."""
    value = next(((key, v) for key, v in answer.items() if key.startswith("value")), ("", ""))
    for index, option in enumerate(item.get("answerOption", [])):
        if option.get(value[0]) == value[1]:
            return str(index)
    if isinstance(value[1], bool):
        return "true" if value[1] else "false"
    return str(value[1])


def crf_response(
    questionnaire: Resource, values: Mapping[str, str], status: str = COMPLETED
) -> tuple[Resource, dict[str, list[str]]]:
    """The QuestionnaireResponse of the posted `values`, and the problems of any value that is not an answer of its
    item's type at all (by linkId); `status` completed, or in-progress (saved half entered: its required items may
    wait), pointing to its Questionnaire (the service adds whose it is)."""
    problems: dict[str, list[str]] = {}
    items = _response_items(questionnaire.get("item", []), values, problems)
    response: Resource = {"resourceType": "QuestionnaireResponse", "status": status, "item": items}
    if questionnaire.get("url"):
        response["questionnaire"] = questionnaire["url"]
    return response, problems


def _response_items(
    items: Sequence[Mapping[str, Any]], values: Mapping[str, str], problems: dict[str, list[str]]
) -> list[Resource]:
    answered: list[Resource] = []
    for item in items:
        link_id = str(item.get("linkId", ""))
        if item.get("type") == "group":
            children = _response_items(item.get("item", []), values, problems)
            if children:
                answered.append({"linkId": link_id, "item": children})
            continue
        raw = values.get(link_id, "")
        if not raw or item.get("type") == "display":
            continue
        parts = raw.split(",") if item.get("repeats") and item.get("answerOption") else [raw]
        answers = []
        for part in parts:
            answer, problem = _answer(item, part.strip())
            if problem:
                problems.setdefault(link_id, []).append(problem)
            else:
                answers.append(answer)
        if answers:
            answered.append({"linkId": link_id, "answer": answers})
    return answered


def _answer(item: Mapping[str, Any], raw: str) -> tuple[dict[str, Any], str]:
    """An answer of the item's type from its posted text, or the problem of text that is not one."""
    item_type = item.get("type")
    options = item.get("answerOption", [])
    if options:
        if not raw.isdigit() or int(raw) >= len(options):
            return {}, "pick one of its options"
        option = options[int(raw)]
        return {key: value for key, value in option.items() if key.startswith("value")}, ""
    if item_type == "integer":
        return ({"valueInteger": int(raw)}, "") if re.fullmatch(r"-?\d{1,15}", raw) else ({}, "a whole number")
    if item_type == "decimal":
        return _decimal(raw)
    if item_type == "boolean":
        return ({"valueBoolean": raw == "true"}, "") if raw in ("true", "false") else ({}, "yes or no")
    if item_type == "date":
        return ({"valueDate": raw}, "") if _DATE.fullmatch(raw) else ({}, "a date (YYYY-MM-DD)")
    if item_type == "url":
        return {"valueUri": raw}, ""
    return {"valueString": raw}, ""


def _decimal(raw: str) -> tuple[dict[str, Any], str]:
    try:
        number = Decimal(raw)
    except InvalidOperation:
        return {}, "a number"
    if not number.is_finite() or len(raw) > 20:
        return {}, "a number"
    return {"valueDecimal": int(number) if number == number.to_integral_value() else float(number)}, ""


def _items(items: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every answerable item of a Questionnaire, nested ones too, by linkId."""
    for item in items:
        if item.get("type") not in ("group", "display"):
            yield str(item.get("linkId", "")), item
        yield from _items(item.get("item", []))


def _answered(items: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for item in items:
        yield item
        yield from _answered(item.get("item", []))
