"""A trial definition file: the example loads, round-trips through its canonical document, refuses each malformed
field by name, and its FHIR views (ResearchStudy, the visits' Questionnaires) validate as R4."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from careledger.crypto import keccak
from careledger.errors import ValidationError
from careledger.records import parse_resource
from careledger.research import care_units
from careledger.trials import (
    _protocol,
    consent_hash,
    load_protocol,
    protocol_document,
    questionnaire,
    research_study,
    stratum_of,
)

EXAMPLES = resources.files("careledger.trials") / "examples"
EXAMPLE = (EXAMPLES / "hypertension-trial.json").read_bytes()
AMENDMENT = (EXAMPLES / "hypertension-trial-amendment-1.json").read_bytes()


def example() -> dict[str, Any]:
    """The example definition as JSON, to change one thing in."""
    data: dict[str, Any] = json.loads(EXAMPLE)
    return data


def test_the_example_is_a_phase_3_trial_of_two_arms_three_visits_and_six_strata() -> None:
    protocol = load_protocol(EXAMPLE)
    assert protocol.phase == "phase-3"
    assert [(arm.code, arm.ratio) for arm in protocol.arms] == [("combination", 1), ("monotherapy", 1)]
    assert protocol.block_multiples == (1, 2)
    assert protocol.target == 60
    assert [visit.day for visit in protocol.visits] == [0, 28, 56]
    assert (protocol.site_fee, protocol.stipend, protocol.budget) == tuple(map(care_units, ("40", "15", "9900")))
    assert protocol.strata == 6
    assert [(c.kind, c.what) for c in protocol.criteria] == [
        ("inclusion", "condition"),
        ("inclusion", "age"),
        ("inclusion", "age"),
        ("exclusion", "condition"),
        ("exclusion", "observation"),
    ]
    egfr = protocol.criteria[4]
    assert (egfr.codes, egfr.comparator, egfr.value, egfr.unit, egfr.within_days) == (
        ("62238-1", "98979-8"),
        "<",
        30,
        "mL/min/{1.73_m2}",
        365,
    )
    assert stratum_of(protocol.stratification, {"sex": "other", "age": "60-plus"}) == 5


def test_the_canonical_document_reads_back_to_the_same_protocol_whatever_the_key_order() -> None:
    protocol = load_protocol(EXAMPLE)
    document = protocol_document(protocol)
    assert load_protocol(document) == protocol
    assert protocol_document(load_protocol(document)) == document
    reordered = json.dumps(dict(reversed(list(example().items()))), indent=4).encode()
    assert protocol_document(load_protocol(reordered)) == document


def test_the_amendment_changes_the_consent_document_and_so_both_hashes() -> None:
    original, amended = load_protocol(EXAMPLE), load_protocol(AMENDMENT)
    assert consent_hash(original) != consent_hash(amended)
    assert consent_hash(amended) == keccak(amended.consent_document.encode())
    assert protocol_document(original) != protocol_document(amended)
    assert "sprue-like enteropathy" in amended.consent_document
    kept = ("arms", "block_multiples", "target", "sites", "visits", "criteria", "stratification", "site_fee", "stipend")
    assert all(getattr(original, name) == getattr(amended, name) for name in kept)


def test_the_research_study_validates_as_r4_and_carries_the_trial() -> None:
    protocol = load_protocol(EXAMPLE)
    study = parse_resource(research_study(protocol, 7, 2, status="in-review"))
    assert study["identifier"] == [{"system": "urn:careledger:trial", "value": "7"}]
    assert study["status"] == "in-review"
    assert study["phase"]["coding"][0]["code"] == "phase-3"
    assert [arm["name"] for arm in study["arm"]] == ["combination", "monotherapy"]
    extensions = {e["url"].rsplit("/", 1)[1]: next(v for k, v in e.items() if k != "url") for e in study["extension"]}
    assert extensions == {
        "trial-protocol-hash": "0x" + keccak(protocol_document(protocol)).hex(),
        "trial-consent-hash": "0x" + consent_hash(protocol).hex(),
        "trial-protocol-version": 2,
        "trial-target-enrolment": 60,
    }
    (group,) = study["contained"]
    assert study["enrollment"] == [{"reference": "#criteria"}]
    assert [c["exclude"] for c in group["characteristic"]] == [False, False, False, True, True]
    egfr = group["characteristic"][4]
    assert egfr["valueQuantity"]["comparator"] == "<"
    assert [c["code"] for c in egfr["code"]["coding"]] == ["62238-1", "98979-8"]
    assert study["condition"][0]["coding"][0]["code"] == "59621000"
    assert [s["identifier"]["value"] for s in study["site"]] == list(protocol.sites)


def test_each_visit_has_a_questionnaire_that_validates_as_r4_with_loinc_coded_vitals() -> None:
    protocol = load_protocol(EXAMPLE)
    for visit in protocol.visits:
        form = parse_resource(questionnaire(protocol, visit.number))
        vitals = next(item for item in form["item"] if item["linkId"] == "vitals")
        codes = {item["linkId"]: item["code"][0]["code"] for item in vitals["item"]}
        assert codes == {"systolic": "8480-6", "diastolic": "8462-4", "heart-rate": "8867-4"}
        types = {item["type"] for item in form["item"]}
        assert {"group", "decimal", "boolean", "string"} <= types
    assert "choice" in {item["type"] for item in questionnaire(protocol, 2)["item"]}
    with pytest.raises(ValidationError, match="the protocol schedules visits 1 to 3, not 4"):
        questionnaire(protocol, 4)


def test_a_questionnaire_handed_out_is_a_copy() -> None:
    protocol = load_protocol(EXAMPLE)
    questionnaire(protocol, 1)["item"].clear()
    assert questionnaire(protocol, 1)["item"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets the field at `path` (dots and list indexes) to `value`; `...` deletes it."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = data
        for part in parents:
            target = target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = copy.deepcopy(value)

    return change


def _second_visit_same_url(data: dict[str, Any]) -> None:
    data["visits"][1]["questionnaire"]["url"] = data["visits"][0]["questionnaire"]["url"]


def _enable_when(data: dict[str, Any]) -> None:
    item = data["visits"][1]["questionnaire"]["item"][4]
    item["enableWhen"] = [{"question": "new-symptoms", "operator": "=", "answerBoolean": True}]


MALFORMED = [
    (_set("title", ...), "title: missing"),
    (_set("titel", "HT-3"), "unknown field 'titel'"),
    (_set("phase", "phase-5"), "phase: one of n-a, early-phase-1"),
    (_set("arms", [{"code": "a", "name": "A", "ratio": 1}]), "arms: a list of 2 to 8 items"),
    (_set("arms.1.ratio", 0), r"arms\[1\].ratio: an integer from 1 to 255"),
    (_set("arms.1.ratio", True), r"arms\[1\].ratio: an integer from 1 to 255"),
    (_set("arms.1.code", "combination"), "arms: combination is given twice"),
    (_set("arms.0.code", "Combination"), r"arms\[0\].code: lower-case letters, digits and hyphens"),
    (_set("arms.0.colour", "red"), r"arms\[0\]: unknown field 'colour'"),
    (_set("block_multiples", [1, 2, 3, 4, 5]), "block_multiples: a list of 1 to 4 items"),
    (_set("block_multiples", [1, 0]), r"block_multiples\[1\]: an integer from 1 to 255"),
    (_set("target", 0), "target: an integer from 1 to"),
    (_set("sites.0", "0x1234"), r"sites\[0\]: an address, 0x and 40 hex digits"),
    (_set("sites.1", "0x5171e00000000000000000000000000000000001"), "sites: .* is given twice"),
    (_set("budget", 9900), 'budget: CARE as a decimal string, such as "12.5"'),
    (_set("stipend", "-15"), "stipend: not an amount: '-15'"),
    (_set("site_fee", "0.0000000000000000001"), "site_fee: .* is finer than the token's 18 decimals"),
    (_set("visits.1.number", 3), r"visits\[1\].number: 3, not 2: visits are numbered in order"),
    (_set("visits.2.day", 14), r"visits\[2\].day: 14 is before visit 2's day"),
    (_set("visits.0.questionnaire", {"resourceType": "Patient"}), r"visits\[0\].questionnaire: a FHIR Questionnaire"),
    (_set("visits.0.questionnaire.status", "live"), r"visits\[0\].questionnaire: invalid Questionnaire"),
    (_set("visits.0.questionnaire.url", ...), r"visits\[0\].questionnaire: a CRF needs a url"),
    (_second_visit_same_url, r"visits\[1\].questionnaire.url: another visit's CRF has it"),
    (_enable_when, r"visits\[1\].questionnaire: item 'notes': enableWhen is not supported in a CRF"),
    (_set("criteria.0.what", "diagnosis"), r"criteria\[0\].what: one of condition, observation, age"),
    (_set("criteria.0.comparator", ">"), r"criteria\[0\].comparator: not part of a criterion on condition"),
    (_set("criteria.4.unit", ...), r"criteria\[4\].unit: missing \(a criterion on observation needs"),
    (_set("criteria.4.value", "30"), r"criteria\[4\].value: a number"),
    (_set("criteria.4.codes", []), r"criteria\[4\].codes: a list of 1 to 16 items"),
    (_set("criteria.1", {"kind": "inclusion", "what": "sex", "codes": ["woman"]}), "administrative gender codes"),
    (_set("stratification.1.bounds", [60, 70]), r"stratification\[1\].bounds: rising ages, one fewer than the"),
    (_set("stratification.0.levels", ["female", "man"]), r"stratification\[0\]: gender levels are female, male"),
    (_set("stratification.1.name", "sex"), "stratification: sex is given twice"),
    (_set("consent_document", "  "), "consent_document: a non-empty string"),
    (_set("data_on_withdrawal", ...), "data_on_withdrawal: missing"),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_a_malformed_definition_is_refused_naming_its_field(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = example()
    change(data)
    with pytest.raises(ValidationError, match=message):
        load_protocol(json.dumps(data))


def test_too_many_strata_are_refused() -> None:
    data = example()
    levels = [f"l{n}" for n in range(64)]
    factor = {"source": "age", "levels": levels, "bounds": list(range(1, 64))}
    data["stratification"] = [{**factor, "name": f"f{n}"} for n in range(3)]
    with pytest.raises(ValidationError, match="stratification: 262,144 strata; at most 65,536"):
        load_protocol(json.dumps(data))


@pytest.mark.parametrize("document", [b"", b"{", b"[1]", b'"x"', b"[" * 1000])
def test_what_is_not_a_definition_object_is_refused(document: bytes) -> None:
    with pytest.raises(ValidationError, match=r"not JSON|the JSON is nested|the trial definition: an object"):
        load_protocol(document)


def test_the_docstring_documents_every_field_of_the_file() -> None:
    doc = _protocol.__doc__ or ""
    assert all(f"`{name}`" in doc for name in _protocol._FIELDS)
