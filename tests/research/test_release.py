"""A de-identified release of 1,000 patients from two nodes: no identifier survives, every class has k members,
intervals hold, and two studies cannot link a patient. The checks are written apart from the code they check."""

from __future__ import annotations

import copy
import json
import random
import re
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest

from careledger.records import Resource
from careledger.research import AGE_BAND_URL, Deidentifier, release, shift_date
from careledger.testdata import synthetic_patients

TODAY = date(2026, 11, 29)
STUDY = b"s" * 32
ZIPS = ["02139", "02140", "02141", "10001", "10002", "94110", "94117", "60601", "98101", "73301"]
STATES = {"021": "MA", "100": "NY", "941": "CA", "606": "IL", "981": "WA", "733": "TX"}


def _identified(count: int, seed: int) -> list[list[Resource]]:
    """Synthetic patients with every identifier a registration desk records: SSN, e-mail, a street, a ZIP."""
    rng = random.Random(seed)
    people = []
    for patient in synthetic_patients(count, seed=seed):
        person = copy.deepcopy(patient.patient)
        postal = rng.choice(ZIPS) if rng.random() < 0.97 else f"{rng.randrange(10_000, 99_999)}"  # some rare ZIPs
        person["identifier"].append(
            {
                "system": "http://hl7.org/fhir/sid/us-ssn",
                "value": f"{rng.randrange(100, 899)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}",
            }
        )
        person["telecom"].append({"system": "email", "value": f"p{rng.randrange(10**9)}@mail.example"})
        person["address"] = [
            {
                "line": [f"{rng.randrange(1, 999)} Elm Street Apt {rng.randrange(1, 60)}"],
                "city": "Springfield",
                "state": STATES.get(postal[:3], "ZZ"),
                "postalCode": postal,
            }
        ]
        if rng.random() < 0.02:
            person["birthDate"] = f"{rng.randrange(1920, 1935)}-06-15"  # over 89: pooled
        people.append([person, *copy.deepcopy(patient.records)])
    return people


@pytest.fixture(scope="module")
def population() -> tuple[list[list[Resource]], list[Resource]]:
    """1,000 patients, half on each of two nodes, each node releasing its own with the study's key."""
    people = _identified(1000, seed=23)
    first, second = people[:500], people[500:]
    released = [
        r
        for node in (first, second)
        for r in release((r for person in node for r in person), STUDY, today=TODAY).records
    ]
    return people, released


# Anything in the release shaped like an identifier of the population: found in one pass each, then compared.
_SHAPES = (
    r"MRN-\d+",  # medical record numbers
    r"\d{3}-\d{2}-\d{4}",  # SSN-shaped
    r"\+1-555-\d{4}",  # phone numbers
    r"[\w.]+@[\w.]+",  # e-mail addresses
    r"\d+ Elm Street[^\"]*",  # street lines
    r"\d{4}-\d{2}-\d{2}",  # dates
)


def test_no_direct_identifier_survives(population: tuple[list[list[Resource]], list[Resource]]) -> None:
    people, released = population
    text = "\n".join(json.dumps(r) for r in released)
    shaped = {found for shape in _SHAPES for found in re.findall(shape, text)}
    values = set(re.findall(r'"((?:[^"\\]|\\.)*)"', text))  # every JSON string, whole
    for person in (p[0] for p in people):
        direct = [i["value"] for i in person["identifier"]] + [t["value"] for t in person["telecom"]]
        direct += [*person["address"][0]["line"], person["birthDate"]]
        assert not shaped & set(direct), shaped & set(direct)  # MRN, SSN, phone, e-mail, street, birth date
        names = {n["family"] for n in person["name"]} | {g for n in person["name"] for g in n["given"]}
        assert not values & names, values & names
        assert person["id"] not in values  # nor the source ids
    assert not any("Take one tablet" in v for v in values)  # free text (dosage instructions) is dropped
    assert "Progress note" not in values  # notes (DocumentReference) are not released


def test_every_class_has_at_least_five_patients(population: tuple[list[list[Resource]], list[Resource]]) -> None:
    _, released = population
    patients = [r for r in released if r["resourceType"] == "Patient"]
    assert 900 <= len(patients) <= 1000
    classes = Counter(
        (
            next(e["valueString"] for e in p["extension"] if e["url"] == AGE_BAND_URL),
            p["gender"],
            (p.get("address") or [{}])[0].get("postalCode"),
        )
        for p in patients
    )
    assert min(classes.values()) >= 5, classes.most_common()[-3:]
    holders: defaultdict[str, set[str]] = defaultdict(set)
    for r in released:
        if r["resourceType"] == "Condition":
            for coding in r["code"]["coding"]:
                holders[coding["code"]].add(r["subject"]["reference"])
    assert holders
    assert min(len(h) for h in holders.values()) >= 5
    assert all(p["extension"][0]["valueString"] != "unknown" for p in patients)
    assert any(p["extension"][0]["valueString"] == "90+" for p in patients)  # pooled, not a birth year


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else datetime.fromisoformat(value)


def test_intervals_within_a_patient_are_kept(population: tuple[list[list[Resource]], list[Resource]]) -> None:
    people, released = population
    deid = Deidentifier(STUDY, today=TODAY)
    by_id = {r["id"]: r for r in released}
    checked = 0
    for person in people[:50]:
        pairs = []
        for record in person[1:]:
            out = by_id.get(deid.pseudonym(record["id"]))
            when = record.get("effectiveDateTime") or record.get("authoredOn")
            if out is not None and when:
                pairs.append((_instant(when), _instant(out.get("effectiveDateTime") or out["authoredOn"])))
        if len(pairs) >= 2:
            first_in, first_out = pairs[0]
            assert all(a - first_in == b - first_out for a, b in pairs[1:])
            assert any(a != b for a, b in pairs)  # shifted, not copied
            checked += 1
    assert checked >= 40


def test_two_studies_cannot_link_a_patient_and_the_report_adds_up() -> None:
    person = _identified(30, seed=4)
    flat = [r for p in person for r in p]
    one = release(flat, STUDY, today=TODAY, k=2)
    other = release(flat, b"t" * 32, today=TODAY, k=2)
    assert not {r["id"] for r in one.records} & {r["id"] for r in other.records}
    report = one.report.as_json()
    assert report["patients"] + report["patients_suppressed"] == 30
    assert report["dropped_types"]["DocumentReference"] > 0
    assert one.ndjson().count(b"\n") == report["records"]
    assert shift_date("2024-02-29T10:00:00Z", 1) == "2024-03-01T10:00:00Z"
    assert shift_date("2024-05", 10) == "2024"
    with pytest.raises(ValueError, match="k >= 2"):
        release(flat, STUDY, today=TODAY, k=1)
    with pytest.raises(ValueError, match="16 random bytes"):
        Deidentifier(b"short", today=TODAY)


def test_each_released_patient_is_named_with_exactly_her_records_in_it() -> None:
    flat = [r for p in _identified(30, seed=4) for r in p]
    by_id = {r["id"]: r for r in flat}
    out = release(flat, STUDY, today=TODAY, k=2)
    pseudonym = Deidentifier(STUDY, today=TODAY).pseudonym

    assert len(out.sources) == len(out.patient_ids) == out.report.patients > 0
    assert sum(map(len, out.sources)) == len(out.records)  # every line is someone's, and once
    released = {r["id"] for r in out.records}
    for patient_id, (own, *records) in zip(out.patient_ids, out.sources, strict=True):
        assert own == f"Patient/{patient_id}"
        for source in records:
            original = by_id[source.split("/")[1]]
            assert (original.get("subject") or original["patient"])["reference"] == f"Patient/{patient_id}"
            assert pseudonym(original["id"]) in released
