"""US Core 6.1.0's SHALL searches, asked of a running node through fhirpy, one test per search.

Where the list comes from: HL7's US Core server CapabilityStatement, release 6.1.0 (the `6.1.0` tag of
github.com/HL7/US-Core, `input/resources/capabilitystatement-us-core-server.json`, with the
`searchparameter-us-core-*.json` definitions beside it): every `searchParam` and
`search-parameter-combination` whose expectation is SHALL, for Patient, Observation (laboratory and
vital signs), Condition, AllergyIntolerance, MedicationRequest (with `_include=MedicationRequest:medication`),
Encounter, Procedure, Immunization, DiagnosticReport, DocumentReference, CareTeam and Goal, and
`_revinclude=Provenance:target` for each; the parameter definitions add that token searches take
`system|code` and `code`, references `id` and `Patient/id`, dates the comparators gt, lt, ge and le at a
precision of seconds with a time offset, and `intent` and `status` of MedicationRequest several values.
`careledger.fhir._us_core.US_CORE` holds the same table; `test_every_shall_search_of_each_listed_profile_is_asked`
checks that the CapabilityStatement's `supportedProfile`s and these cases cover one another.

The chart: the care team writes the same small chart for two patients, Ngozi and Ben Okafor, on the same
days, so a search that over-matches (a patient or a date ignored) brings the other's records and fails.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from careledger.fhir._us_core import PROVENANCE_REVINCLUDE, US_CORE
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.api.test_fhir_api import _outcome

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
NOTE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
PATIENTS = ("ngozi", "ben")


@dataclass
class Chart:
    api: Api
    http: httpx.Client
    fhirpy: SyncFHIRClient
    ids: dict[str, str]  # "ngozi", "ben.glucose", "medication", ... -> id

    def names(self, entries: list[Any], mode: str) -> list[str]:
        """The names of the entries of a searchset in `mode` (every entry must be one the chart wrote)."""
        by_id = {record_id: name for name, record_id in self.ids.items()}
        return sorted(by_id[e.resource.id] for e in entries if e.search.mode == mode)


def _post(http: httpx.Client, body: dict[str, Any]) -> str:
    response = http.post(f"/{body['resourceType']}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _records(patient_id: str, medication_id: str) -> dict[str, dict[str, Any]]:
    """One patient's chart, by name: the same for both patients, so only `patient` tells them apart."""
    subject = {"reference": f"Patient/{patient_id}"}
    lab, vitals = [_concept(OBSERVATION_CATEGORY, "laboratory")], [_concept(OBSERVATION_CATEGORY, "vital-signs")]
    return {
        "glucose": {
            "resourceType": "Observation", "status": "final", "category": lab, "subject": subject,
            "code": _concept(LOINC, "2345-7"), "effectiveDateTime": "2024-03-01T08:00:00Z",
        },
        "potassium": {
            "resourceType": "Observation", "status": "final", "category": lab, "subject": subject,
            "code": _concept(LOINC, "2823-3"), "effectiveDateTime": "2024-03-01T14:30:00Z",
        },
        "weight": {
            "resourceType": "Observation", "status": "final", "category": vitals, "subject": subject,
            "code": _concept(LOINC, "29463-7"), "effectiveDateTime": "2024-03-02",
            "valueQuantity": {"value": 71, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        },
        "problem": {
            "resourceType": "Condition", "subject": subject, "code": _concept(SNOMED, "44054006"),
            "category": [_concept(CONDITION_CATEGORY, "problem-list-item")],
        },
        "diagnosis": {
            "resourceType": "Condition", "subject": subject, "code": _concept(SNOMED, "38341003"),
            "category": [_concept(CONDITION_CATEGORY, "encounter-diagnosis")],
        },
        "allergy": {"resourceType": "AllergyIntolerance", "patient": subject, "code": _concept(SNOMED, "91936005")},
        "metformin": {
            "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
            "medicationReference": {"reference": f"Medication/{medication_id}"}, "authoredOn": "2024-03-01",
        },
        "plan": {
            "resourceType": "MedicationRequest", "status": "completed", "intent": "plan", "subject": subject,
            "medicationCodeableConcept": _concept("http://www.nlm.nih.gov/research/umls/rxnorm", "197361"),
        },
        "visit": {
            "resourceType": "Encounter", "status": "finished", "subject": subject,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": {"start": "2024-03-01T09:00:00Z", "end": "2024-03-01T11:00:00Z"},
        },
        "followup": {
            "resourceType": "Encounter", "status": "planned", "subject": subject,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": {"start": "2024-03-10T09:00:00Z"},
        },
        "appendectomy": {
            "resourceType": "Procedure", "status": "completed", "subject": subject,
            "code": _concept(SNOMED, "80146002"), "performedDateTime": "2024-03-01T10:00:00Z",
        },
        "tonsillectomy": {
            "resourceType": "Procedure", "status": "completed", "subject": subject,
            "code": _concept(SNOMED, "173422009"), "performedDateTime": "1995-06-01",
        },
        "flu": {
            "resourceType": "Immunization", "status": "completed", "patient": subject,
            "vaccineCode": _concept("http://hl7.org/fhir/sid/cvx", "140"), "occurrenceDateTime": "2023-10-01",
        },
        "panel": {
            "resourceType": "DiagnosticReport", "status": "final", "subject": subject,
            "category": [_concept(DIAGNOSTIC_SERVICE, "LAB")], "code": _concept(LOINC, "24323-8"),
            "effectiveDateTime": "2024-03-01T09:00:00Z",
        },
        "imaging": {
            "resourceType": "DiagnosticReport", "status": "final", "subject": subject,
            "category": [_concept(LOINC, "LP29684-5")], "code": _concept(LOINC, "18748-4"),
            "effectiveDateTime": "2024-02-01T09:00:00Z",
        },
        "discharge": {
            "resourceType": "DocumentReference", "status": "current", "subject": subject,
            "type": _concept(LOINC, "18842-5"), "category": [_concept(NOTE_CATEGORY, "clinical-note")],
            "date": "2024-03-03T10:00:00Z", "content": [{"attachment": {"contentType": "text/plain", "data": "b2s="}}],
        },
        "referral": {
            "resourceType": "DocumentReference", "status": "current", "subject": subject,
            "type": _concept(LOINC, "57133-1"), "category": [_concept(NOTE_CATEGORY, "clinical-note")],
            "date": "2024-01-15T10:00:00Z", "content": [{"attachment": {"contentType": "text/plain", "data": "b2s="}}],
        },
        "team": {"resourceType": "CareTeam", "status": "active", "subject": subject},
        "old-team": {"resourceType": "CareTeam", "status": "inactive", "subject": subject},
        "goal": {
            "resourceType": "Goal", "lifecycleStatus": "active", "subject": subject,
            "description": {"text": "HbA1c under 7%"},
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chart]:
    with built_world(Path(tmp_path_factory.mktemp("uscore")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        http = api.client(world.drbob)
        ids = {"medication": _post(http, {"resourceType": "Medication", "code": _concept(LOINC, "x")})}
        for name, given, gender, born in (
            ("ngozi", "Ngozi", "female", "1984-07-12"),
            ("ben", "Ben", "male", "1990-01-02"),
        ):
            ids[name] = _post(http, {
                "resourceType": "Patient", "name": [{"family": "Okafor", "given": [given]}], "gender": gender,
                "birthDate": born, "identifier": [{"system": "urn:mrn", "value": f"US-MRN-{name}"}],
            })  # fmt: skip
            records = _records(ids[name], ids["medication"])
            written = {key: _post(http, body) for key, body in records.items()}
            ids.update({f"{name}.{key}": record_id for key, record_id in written.items()})
            targets = [
                {"reference": f"{records[key]['resourceType']}/{record_id}"} for key, record_id in written.items()
            ]
            targets.append({"reference": f"Patient/{ids[name]}"})
            ids[f"{name}.provenance"] = _post(http, _provenance(targets))
        yield Chart(api, http, SyncFHIRClient(api.url, authorization=http.headers["Authorization"]), ids)


def _provenance(targets: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "target": targets,
        "recorded": "2024-03-04T10:00:00Z",
        "agent": [{"who": {"display": "the care team"}}],
    }


@dataclass(frozen=True)
class Case:
    """One SHALL search: `params` (values name chart ids as `<ngozi>`), and the names of what it must find."""

    resource_type: str
    params: tuple[tuple[str, str], ...]
    matches: tuple[str, ...]
    included: tuple[str, ...] = ()

    @property
    def combination(self) -> frozenset[str]:
        """The parameters it asks, without modifiers or include parameters."""
        return frozenset(name.partition(":")[0] for name, _ in self.params if not name.startswith("_include"))


def _lab(code: str) -> str:
    return f"{OBSERVATION_CATEGORY}|{code}"


CASES: dict[str, Case] = {
    "patient-id": Case("Patient", (("_id", "<ngozi>"),), ("ngozi",)),
    "patient-identifier": Case("Patient", (("identifier", "urn:mrn|US-MRN-ngozi"),), ("ngozi",)),
    "patient-identifier-value": Case("Patient", (("identifier", "US-MRN-ben"),), ("ben",)),
    "patient-name": Case("Patient", (("name", "okafor"),), ("ben", "ngozi")),
    "patient-birthdate-name": Case("Patient", (("birthdate", "1984-07-12"), ("name", "Okafor")), ("ngozi",)),
    "patient-gender-name": Case("Patient", (("gender", "male"), ("name", "okafor")), ("ben",)),
    "patient-gender-system-name": Case(
        "Patient", (("gender", "http://hl7.org/fhir/administrative-gender|female"), ("name", "ngozi")), ("ngozi",)
    ),
    "patient-gender-other-system-name": Case("Patient", (("gender", "urn:other|female"), ("name", "ngozi")), ()),
    "observation-lab": Case(
        "Observation", (("patient", "<ngozi>"), ("category", _lab("laboratory"))), ("glucose", "potassium")
    ),
    "observation-vitals-reference": Case(
        "Observation", (("patient", "Patient/<ngozi>"), ("category", "vital-signs")), ("weight",)
    ),
    "observation-date-gt": Case(
        "Observation",
        (("patient", "<ngozi>"), ("category", "laboratory"), ("date", "gt2024-03-01T12:00:00Z")),
        ("potassium",),
    ),
    "observation-date-lt": Case(
        "Observation",
        (("patient", "<ngozi>"), ("category", _lab("laboratory")), ("date", "lt2024-03-01T12:00:00Z")),
        ("glucose",),
    ),
    "observation-date-ge": Case(
        "Observation",
        (("patient", "<ngozi>"), ("category", "laboratory"), ("date", "ge2024-03-01T14:30:00Z")),
        ("potassium",),
    ),
    "observation-date-le": Case(
        "Observation",
        (("patient", "<ngozi>"), ("category", "laboratory"), ("date", "le2024-03-01T08:00:00Z")),
        ("glucose",),
    ),
    "observation-date-ge-and-le": Case(
        "Observation",
        (
            ("patient", "<ngozi>"),
            ("category", "laboratory"),
            ("date", "ge2024-03-01T07:00:00Z"),
            ("date", "le2024-03-01T09:00:00Z"),
        ),
        ("glucose",),
    ),
    "observation-date-offset": Case(
        "Observation",
        (("patient", "<ngozi>"), ("category", "laboratory"), ("date", "gt2024-03-01T09:00:00-05:00")),
        ("potassium",),
    ),
    "observation-vitals-date": Case(
        "Observation",
        (("patient", "<ngozi>"), ("category", _lab("vital-signs")), ("date", "ge2024-03-02")),
        ("weight",),
    ),
    "observation-code": Case("Observation", (("patient", "<ngozi>"), ("code", f"{LOINC}|2345-7")), ("glucose",)),
    "condition-patient": Case("Condition", (("patient", "<ngozi>"),), ("diagnosis", "problem")),
    "condition-category": Case(
        "Condition",
        (("patient", "<ngozi>"), ("category", f"{CONDITION_CATEGORY}|problem-list-item")),
        ("problem",),
    ),
    "condition-category-code": Case(
        "Condition", (("patient", "Patient/<ngozi>"), ("category", "encounter-diagnosis")), ("diagnosis",)
    ),
    "allergy-patient": Case("AllergyIntolerance", (("patient", "<ngozi>"),), ("allergy",)),
    "allergy-patient-reference": Case("AllergyIntolerance", (("patient", "Patient/<ngozi>"),), ("allergy",)),
    "medicationrequest-intent": Case(
        "MedicationRequest", (("patient", "<ngozi>"), ("intent", "order")), ("metformin",)
    ),
    "medicationrequest-intent-status": Case(
        "MedicationRequest",
        (("patient", "<ngozi>"), ("intent", "order,plan"), ("status", "active")),
        ("metformin",),
    ),
    "medicationrequest-intent-statuses": Case(
        "MedicationRequest",
        (("patient", "Patient/<ngozi>"), ("intent", "plan"), ("status", "active,completed")),
        ("plan",),
    ),
    "medicationrequest-intent-status-systems": Case(
        "MedicationRequest",
        (
            ("patient", "<ngozi>"),
            ("intent", "http://hl7.org/fhir/CodeSystem/medicationrequest-intent|order"),
            ("status", "http://hl7.org/fhir/CodeSystem/medicationrequest-status|active,completed"),
        ),
        ("metformin",),
    ),
    "medicationrequest-include-medication": Case(
        "MedicationRequest",
        (("patient", "<ngozi>"), ("intent", "order"), ("_include", "MedicationRequest:medication")),
        ("metformin",),
        ("medication",),
    ),
    "encounter-id": Case("Encounter", (("_id", "<ngozi.visit>"),), ("visit",)),
    "encounter-patient": Case("Encounter", (("patient", "<ngozi>"),), ("followup", "visit")),
    "encounter-date-gt": Case(
        "Encounter", (("date", "gt2024-03-01T10:00:00Z"), ("patient", "<ngozi>")), ("followup", "visit")
    ),
    "encounter-date-lt": Case("Encounter", (("date", "lt2024-03-05"), ("patient", "<ngozi>")), ("visit",)),
    "encounter-date-ge": Case("Encounter", (("date", "ge2024-03-05T00:00:00Z"), ("patient", "<ngozi>")), ("followup",)),
    "encounter-date-le": Case("Encounter", (("date", "le2024-03-01T09:30:00Z"), ("patient", "<ngozi>")), ("visit",)),
    "procedure-patient": Case("Procedure", (("patient", "<ngozi>"),), ("appendectomy", "tonsillectomy")),
    "procedure-date-ge": Case(
        "Procedure", (("patient", "<ngozi>"), ("date", "ge2024-03-01T10:00:00Z")), ("appendectomy",)
    ),
    "procedure-date-lt": Case(
        "Procedure", (("patient", "<ngozi>"), ("date", "lt2024-03-01T10:00:00Z")), ("tonsillectomy",)
    ),
    "immunization-patient": Case("Immunization", (("patient", "<ngozi>"),), ("flu",)),
    "diagnosticreport-patient": Case("DiagnosticReport", (("patient", "<ngozi>"),), ("imaging", "panel")),
    "diagnosticreport-category": Case(
        "DiagnosticReport", (("patient", "<ngozi>"), ("category", f"{DIAGNOSTIC_SERVICE}|LAB")), ("panel",)
    ),
    "diagnosticreport-code": Case(
        "DiagnosticReport", (("patient", "<ngozi>"), ("code", f"{LOINC}|24323-8")), ("panel",)
    ),
    "diagnosticreport-category-date-ge": Case(
        "DiagnosticReport",
        (("patient", "<ngozi>"), ("category", "LAB"), ("date", "ge2024-03-01T08:00:00Z")),
        ("panel",),
    ),
    "diagnosticreport-category-date-lt": Case(
        "DiagnosticReport",
        (("patient", "<ngozi>"), ("category", f"{LOINC}|LP29684-5"), ("date", "lt2024-03-01T00:00:00Z")),
        ("imaging",),
    ),
    "documentreference-id": Case("DocumentReference", (("_id", "<ngozi.discharge>"),), ("discharge",)),
    "documentreference-patient": Case("DocumentReference", (("patient", "<ngozi>"),), ("discharge", "referral")),
    "documentreference-category": Case(
        "DocumentReference",
        (("patient", "<ngozi>"), ("category", f"{NOTE_CATEGORY}|clinical-note")),
        ("discharge", "referral"),
    ),
    "documentreference-category-date-gt": Case(
        "DocumentReference",
        (("patient", "<ngozi>"), ("category", "clinical-note"), ("date", "gt2024-03-03T09:00:00Z")),
        ("discharge",),
    ),
    "documentreference-category-date-le": Case(
        "DocumentReference",
        (("patient", "<ngozi>"), ("category", "clinical-note"), ("date", "le2024-03-03T09:00:00Z")),
        ("referral",),
    ),
    "documentreference-type": Case(
        "DocumentReference", (("patient", "Patient/<ngozi>"), ("type", f"{LOINC}|18842-5")), ("discharge",)
    ),
    "careteam-status": Case("CareTeam", (("patient", "<ngozi>"), ("status", "active")), ("team",)),
    "careteam-status-reference": Case(
        "CareTeam", (("patient", "Patient/<ngozi>"), ("status", "inactive")), ("old-team",)
    ),
    "careteam-status-system": Case(
        "CareTeam", (("patient", "<ngozi>"), ("status", "http://hl7.org/fhir/care-team-status|active")), ("team",)
    ),
    "goal-patient": Case("Goal", (("patient", "<ngozi>"),), ("goal",)),
}


def _search(chart: Chart, case: Case) -> Any:
    found = chart.fhirpy.resources(case.resource_type)
    for name, value in case.params:
        found = found.search(**{name: re.sub(r"<([a-z.-]+)>", lambda named: chart.ids[named[1]], value)})
    return found.fetch_raw()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_us_core_shall_search_finds_exactly_what_matches(chart: Chart, case: Case) -> None:
    bundle = _search(chart, case)
    wanted = sorted(f"ngozi.{name}" if name not in chart.ids else name for name in case.matches)
    assert chart.names(bundle.entry or [], "match") == wanted
    assert chart.names(bundle.entry or [], "include") == sorted(case.included)
    assert bundle.total == len(case.matches)


@pytest.mark.parametrize("resource_type", sorted(US_CORE))
def test_revinclude_provenance_brings_the_patients_provenance_only(chart: Chart, resource_type: str) -> None:
    for patient in PATIENTS:
        own = "_id" if resource_type == "Patient" else "patient"
        bundle = chart.fhirpy.resources(resource_type).search(**{own: chart.ids[patient]})
        entries = bundle.revinclude("Provenance", "target").fetch_raw().entry or []
        matched = chart.names(entries, "match")
        assert matched
        assert all(name.split(".")[0] == patient for name in matched), matched
        assert chart.names(entries, "include") == [f"{patient}.provenance"]


def test_every_shall_search_of_each_listed_profile_is_asked(chart: Chart) -> None:
    """The CapabilityStatement's `supportedProfile`s, `searchInclude`s and `searchRevInclude`s are US Core's,
    and every SHALL search of each listed type has a case above: a profile listed without its searches fails."""
    statement = httpx.get(f"{chart.api.url}/metadata").json()
    listed = {r["type"]: r for r in statement["rest"][0]["resource"] if r.get("supportedProfile")}
    assert sorted(listed) == sorted(US_CORE)
    asked = {(case.resource_type, case.combination) for case in CASES.values()}
    for resource_type, resource in listed.items():
        served = US_CORE[resource_type]
        assert resource["supportedProfile"] == served.supported_profiles
        assert all(profile.endswith("|6.1.0") for profile in resource["supportedProfile"])
        assert PROVENANCE_REVINCLUDE in resource["searchRevInclude"]
        params = {param["name"] for param in resource["searchParam"]}
        for combination in served.searches:
            assert set(combination) <= params, (resource_type, combination)
            assert (resource_type, frozenset(combination)) in asked, (resource_type, combination)
        for include in served.includes:
            assert include in resource["searchInclude"]
            assert any(("_include", include) in case.params for case in CASES.values()), include


def test_a_provenance_of_another_patient_is_not_included(chart: Chart) -> None:
    """Alice, signed in herself, asks for an Organization with its Provenance: the one about the Organization
    alone is the node's and hers to read; the one that is also about Ben's glucose is Ben's, and left out."""
    world = chart.api.world
    organization = _post(chart.http, {"resourceType": "Organization", "name": "Ward 3"})
    about_it = _post(chart.http, _provenance([{"reference": f"Organization/{organization}"}]))
    _post(
        chart.http,
        _provenance(
            [{"reference": f"Organization/{organization}"}, {"reference": f"Observation/{chart.ids['ben.glucose']}"}]
        ),
    )
    alice = chart.api.client(world.alice)
    bundle = alice.get("/Organization", params={"_id": organization, "_revinclude": "Provenance:target"}).json()
    found = [(e["resource"]["resourceType"], e["resource"]["id"], e["search"]["mode"]) for e in bundle["entry"]]
    assert found == [("Organization", organization, "match"), ("Provenance", about_it, "include")]


def test_a_provenance_of_a_patients_record_is_hers(chart: Chart) -> None:
    """Written without naming her, a Provenance of Ben's records is Ben's: Alice, who may not read his chart,
    cannot read it either (it is not the node's own, as a Provenance of an Organization is)."""
    alice = chart.api.client(chart.api.world.alice)
    provenance = chart.ids["ben.provenance"]
    assert alice.get(f"/Provenance/{provenance}").status_code in (403, 404)
    ben_only = _post(chart.http, _provenance([{"reference": f"Observation/{chart.ids['ben.glucose']}"}]))
    assert alice.get(f"/Provenance/{ben_only}").status_code in (403, 404)
    assert chart.http.get(f"/Provenance/{ben_only}").status_code == 200  # the care team reads it


def test_a_provenance_of_two_patients_records_is_refused(chart: Chart) -> None:
    both = [{"reference": f"Observation/{chart.ids[f'{name}.glucose']}"} for name in PATIENTS]
    _outcome(chart.http.post("/Provenance", json=_provenance(both)), 400, "different patients")


def test_writing_a_provenance_tells_no_one_whether_a_record_exists(chart: Chart) -> None:
    """A guessed id of Ben's record and an id no record has get the same answer, status and words, whoever writes
    (Alice, naming herself as its agent; Mallory, who may write for no one): the door judges each target as a read
    before anything is said of whose it is, and a target not here is refused, not filed as the node's own."""
    world = chart.api.world
    (alice,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    for writer in (world.alice, world.mallory):
        client = chart.api.client(writer)
        answers = []
        for target in (chart.ids["ben.glucose"], str(uuid.uuid4())):
            body = _provenance([{"reference": f"Observation/{target}"}])
            body["agent"] = [{"who": {"reference": f"Patient/{alice.record_id}"}}]
            answer = client.post("/Provenance", json=body)
            answers.append((answer.status_code, answer.text.replace(target, "<id>")))
        assert answers[0] == answers[1], writer
        assert answers[0][0] == 404, answers
        assert "Patient/" not in answers[0][1], answers
    own = _provenance([{"reference": f"Patient/{alice.record_id}"}])
    assert chart.api.client(world.alice).post("/Provenance", json=own).status_code == 201  # hers she may read
