"""The specification's search parameters, each kind and modifier, through stock clients (fhirpy, fhirclient).

One node, one server, one small chart for the module: three patients the front desk
registered, and Ngozi's labs, vitals, a condition, an encounter and a prescription. Every
search asks through the API, as a client would, and checks exactly which records came back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import SyncFHIRClient

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.api.test_fhir_api import _outcome

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass
class Chart:
    api: Api
    http: httpx.Client
    fhirpy: SyncFHIRClient
    ids: dict[str, str]

    def found(self, resource_type: str, **params: str) -> list[str]:
        """The names (keys of `ids`) of this chart's records a search finds, in the order it gives them
        (the world's own synthetic patient, Alice, is in the node too and is left out)."""
        names = {v: k for k, v in self.ids.items()}
        response = self.http.get(f"/{resource_type}", params={**params, "_count": "500"})
        assert response.status_code == 200, response.text
        return [names[e["resource"]["id"]] for e in response.json().get("entry", []) if e["resource"]["id"] in names]


def _post(http: httpx.Client, body: dict[str, object]) -> str:
    response = http.post(f"/{body['resourceType']}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chart]:
    with built_world(Path(tmp_path_factory.mktemp("search")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        http = api.client(world.drbob)
        ids: dict[str, str] = {}
        for name, family, given, gender, born, city in (
            ("ngozi", "Okafor", "Ngozi", "female", "1984-07-12", "Lagos"),
            ("zoe", "O'Neil", "Zoë", "female", "1990-02-03", None),
            ("sam", "Smith", "Sam", "male", "1950-01-01", "Leeds"),
        ):
            patient: dict[str, object] = {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:mrn", "value": f"MRN-{name}"}],
                "name": [{"family": family, "given": [given]}],
                "gender": gender,
                "birthDate": born,
            }
            if city:
                patient["address"] = [{"city": city}]
            ids[name] = _post(http, patient)
        subject = {"reference": f"Patient/{ids['ngozi']}"}
        lab = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]
        }
        vitals = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]
        }
        ids["glucose"] = _post(http, {
            "resourceType": "Observation", "status": "final", "category": [lab], "subject": subject,
            "code": {"coding": [{"system": LOINC, "code": "2345-7"}]}, "effectiveDateTime": "2024-03-01T08:00:00Z",
            "valueQuantity": {"value": 5.4, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
        })  # fmt: skip
        ids["pressure"] = _post(http, {
            "resourceType": "Observation", "status": "final", "category": [vitals], "subject": subject,
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}, "effectiveDateTime": "2024-03-20",
            "component": [
                {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": {"value": 128}},
                {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": {"value": 81}},
            ],
        })  # fmt: skip
        ids["diabetes"] = _post(http, {
            "resourceType": "Condition", "subject": subject, "onsetDateTime": "2020-05",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}], "text": "Type 2 diabetes"},
        })  # fmt: skip
        ids["visit"] = _post(http, {
            "resourceType": "Encounter", "status": "finished", "subject": subject,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": {"start": "2024-03-01T09:00:00Z", "end": "2024-03-03T10:00:00Z"},
        })  # fmt: skip
        ids["metformin"] = _post(http, {
            "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "860975"}]},
            "authoredOn": "2024-03-02", "requester": {"identifier": {"system": "urn:npi", "value": "1234"}},
            "encounter": {"reference": f"Encounter/{ids['visit']}"},
        })  # fmt: skip
        fhirpy = SyncFHIRClient(api.url, authorization=http.headers["Authorization"])
        yield Chart(api, http, fhirpy, ids)


def test_string_prefix_exact_contains_and_accents(chart: Chart) -> None:
    assert chart.found("Patient", family="oka") == ["ngozi"]
    assert chart.found("Patient", **{"family:exact": "Okafor"}) == ["ngozi"]
    assert chart.found("Patient", **{"family:exact": "okafor"}) == []
    assert chart.found("Patient", **{"name:contains": "afo"}) == ["ngozi"]
    assert chart.found("Patient", given="zoe") == ["zoe"]  # accents do not matter
    assert chart.found("Patient", name="o'neil") == ["zoe"]
    assert chart.found("Patient", **{"address-city": "LAG"}) == ["ngozi"]
    assert chart.found("Patient", family="okaforxxxxxxxxxxxx") == []  # longer than the indexed prefix: checked
    assert sorted(chart.found("Patient", family="o,s")) == ["ngozi", "sam", "zoe"]


def test_tokens_with_systems_not_and_missing(chart: Chart) -> None:
    assert sorted(chart.found("Patient", gender="female")) == ["ngozi", "zoe"]
    assert chart.found("Patient", **{"gender:not": "female"}) == ["sam"]
    assert chart.found("Patient", identifier="urn:mrn|MRN-sam") == ["sam"]
    assert chart.found("Patient", identifier="urn:other|MRN-sam") == []
    assert chart.found("Patient", **{"address:missing": "true"}) == ["zoe"]
    assert sorted(chart.found("Patient", **{"address:missing": "false"})) == ["ngozi", "sam"]
    assert chart.found("Observation", category="laboratory") == ["glucose"]
    assert chart.found("Observation", **{"component-code": f"{LOINC}|8480-6"}) == ["pressure"]
    assert chart.found("Condition", **{"clinical-status": "active"}) == ["diabetes"]
    assert chart.found("MedicationRequest", intent="order", status="active") == ["metformin"]
    assert chart.found("Encounter", **{"class": "AMB"}) == ["visit"]
    _outcome(chart.http.get("/Patient", params={"gender:text": "f"}), 400, "gender:text is not supported")


def test_dates_with_every_prefix_and_implicit_ranges(chart: Chart) -> None:
    assert chart.found("Patient", birthdate="1984") == ["ngozi"]
    assert chart.found("Patient", birthdate="lt1960") == ["sam"]
    assert sorted(chart.found("Patient", birthdate="ne1984-07-12")) == ["sam", "zoe"]
    assert chart.found("Patient", birthdate="sa1985") == ["zoe"]
    assert chart.found("Patient", birthdate="eb1960") == ["sam"]
    assert sorted(chart.found("Patient", birthdate="ge1984-07-12")) == ["ngozi", "zoe"]
    # A visit from March 1st to 3rd: not wholly on the 2nd, but it reaches past it and starts before it.
    assert chart.found("Encounter", date="2024-03-02") == []
    assert chart.found("Encounter", date="2024-03") == ["visit"]
    assert chart.found("Encounter", date="gt2024-03-02") == ["visit"]
    assert chart.found("Encounter", date="lt2024-03-02") == ["visit"]
    assert chart.found("Encounter", date="sa2024-03-02") == []
    assert chart.found("Condition", **{"onset-date": "2020"}) == ["diabetes"]
    assert chart.found("MedicationRequest", authoredon="2024-03-02") == ["metformin"]
    _outcome(chart.http.get("/Patient", params={"birthdate": "ap1984"}), 400, "ap")


def test_references_chains_has_and_identifiers(chart: Chart) -> None:
    ngozi = chart.ids["ngozi"]
    everything = ["glucose", "pressure"]
    assert chart.found("Observation", subject=f"Patient/{ngozi}", _sort="code") == ["glucose", "pressure"]
    assert sorted(chart.found("Observation", patient=ngozi)) == everything
    assert sorted(chart.found("Observation", **{"subject:Patient": ngozi})) == everything
    assert sorted(chart.found("Observation", subject=f"{chart.api.url}/Patient/{ngozi}")) == everything
    assert sorted(chart.found("Observation", **{"subject:Patient.identifier": "urn:mrn|MRN-ngozi"})) == everything
    assert chart.found("Observation", **{"patient.family": "smith"}) == []
    assert chart.found("MedicationRequest", **{"requester:identifier": "urn:npi|1234"}) == ["metformin"]
    assert chart.found("MedicationRequest", **{"encounter.class": "AMB"}) == ["metformin"]
    assert chart.found("Patient", **{"_has:Observation:patient:code": "2345-7"}) == ["ngozi"]
    assert chart.found("Patient", **{"_has:Condition:patient:code": "nothing"}) == []
    _outcome(chart.http.get("/Observation", params={"subject.nickname": "x"}), 400, "nickname")
    many = [("patient.family", f"x{n}") for n in range(9)]  # each is a search of its own
    _outcome(chart.http.get("/Observation", params=many), 400, "at most 8")


def test_fhirpy_chains_includes_and_searches_uris_and_tags(chart: Chart) -> None:
    labs = chart.fhirpy.resources("Observation").search(**{"subject:Patient.identifier": "urn:mrn|MRN-ngozi"})
    assert sorted(r.id for r in labs.fetch()) == sorted([chart.ids["glucose"], chart.ids["pressure"]])
    with_patient = labs.search(code="2345-7").include("Observation", "subject").fetch_raw()
    assert [e.search.mode for e in with_patient.entry] == ["match", "include"]
    profile = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
    tagged = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "pulse"},
        "subject": {"reference": f"Patient/{chart.ids['zoe']}"},  # no other test asks about her Observations
        "meta": {"profile": [profile], "tag": [{"system": "urn:tags", "code": "remote"}]},
    }
    chart.ids["tagged"] = _post(chart.http, tagged)
    assert chart.found("Observation", _profile=profile) == ["tagged"]  # uri
    assert chart.found("Observation", _tag="urn:tags|remote") == ["tagged"]  # token on meta
    assert chart.found("Observation", **{"_profile:missing": "false"}) == ["tagged"]


def test_quantities_with_units_and_precision(chart: Chart) -> None:
    assert chart.found("Observation", **{"value-quantity": "5.4"}) == ["glucose"]
    assert chart.found("Observation", **{"value-quantity": "5.44"}) == []  # 5.4 is not within 5.435..5.445
    assert chart.found("Observation", **{"value-quantity": f"gt5|{UCUM}|mmol/L"}) == ["glucose"]
    assert chart.found("Observation", **{"value-quantity": f"gt5|{UCUM}|mg/dL"}) == []
    assert chart.found("Observation", **{"value-quantity": "lt5"}) == []
    assert chart.found("Observation", **{"component-value-quantity": "ge128"}) == ["pressure"]


def test_sorting_on_any_parameter_and_several_keys(chart: Chart) -> None:
    assert chart.found("Patient", _sort="birthdate") == ["sam", "ngozi", "zoe"]
    assert chart.found("Patient", _sort="-birthdate") == ["zoe", "ngozi", "sam"]
    assert chart.found("Patient", _sort="gender,-family") == ["ngozi", "zoe", "sam"]  # okafor > o'neil
    _outcome(chart.http.get("/Patient", params={"_sort": "nickname"}), 400, "cannot sort by 'nickname'")


def test_include_and_revinclude_through_fhirpy(chart: Chart) -> None:
    bundle = chart.http.get("/Observation", params={"code": "2345-7", "_include": "Observation:subject"}).json()
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert modes == [("Observation", "match"), ("Patient", "include")]
    assert bundle["total"] == 1
    searched = chart.fhirpy.resources("Patient").search(identifier="MRN-ngozi").revinclude("Observation", "subject")
    found = {(e.resource.resourceType, e.resource.id) for e in searched.fetch_raw().entry}
    assert found == {
        ("Patient", chart.ids["ngozi"]),
        ("Observation", chart.ids["glucose"]),
        ("Observation", chart.ids["pressure"]),
    }
    iterated = chart.http.get(
        "/MedicationRequest",
        params=[
            ("_id", chart.ids["metformin"]),
            ("_include", "MedicationRequest:encounter"),
            ("_include:iterate", "Encounter:subject"),
        ],
    ).json()
    assert [e["resource"]["resourceType"] for e in iterated["entry"]] == ["MedicationRequest", "Encounter", "Patient"]
    _outcome(chart.http.get("/Observation", params={"_include": "Observation:status"}), 400, "not a reference")


def test_an_include_the_caller_may_not_see_is_left_out_and_audited(chart: Chart) -> None:
    world = chart.api.world
    clinic = chart.api.client(world.clinic)  # no consent from Ngozi, not the care team
    location = _post(
        chart.http,
        {
            "resourceType": "Location",
            "name": "Ward 3",
            "managingOrganization": {"reference": f"Patient/{chart.ids['ngozi']}"},
        },
    )
    before = len(world.node.audit.entries())
    bundle = clinic.get("/Location", params={"_id": location, "_include": "Location:organization"}).json()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Location"]
    assert len(world.node.audit.entries()) > before


def test_fhirclient_searches_with_the_specs_names(chart: Chart) -> None:
    smart = smart_client.FHIRClient(settings={"app_id": "careledger-test", "api_base": chart.api.url + "/"})
    smart.server.session.headers["Authorization"] = chart.http.headers["Authorization"]
    found = list(SmartPatient.where(struct={"family": "oka", "birthdate": "1984"}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == [chart.ids["ngozi"]]
    by_gender = SmartPatient.where(struct={"gender": "female", "_sort": "birthdate"}).perform_resources_iter(
        smart.server
    )
    ours = {chart.ids["ngozi"], chart.ids["zoe"]}
    assert [p.id for p in by_gender if p.id in ours] == [chart.ids["ngozi"], chart.ids["zoe"]]


@pytest.mark.parametrize("param", ["code", "date", "family"])
def test_a_search_of_hundreds_of_parameters_is_refused_not_a_server_error(chart: Chart, param: str) -> None:
    """~1,000 conditions passed SQLite's expression-tree limit after seconds of work: a 500 for anyone signed in.
    (Hundreds here: a URL past 8 KiB is refused before it reaches the node, `api._http_head`.)"""
    value = "ge2020-01-01" if param == "date" else "x"
    resource_type = "Patient" if param == "family" else "Observation"
    refused = chart.http.get(f"/{resource_type}", params=[(param, value)] * 400)
    assert refused.status_code == 400, refused.text
    assert "at most 64 parameters" in refused.text
    assert chart.http.get(f"/{resource_type}", params=[(param, value)] * 64).status_code == 200


@pytest.mark.parametrize(
    ("resource_type", "param"),
    [
        ("Observation", "value-quantity"),
        ("Observation", "component-value-quantity"),
        ("Encounter", "length"),
        ("RiskAssessment", "probability"),
    ],
)
def test_a_number_that_is_no_fhir_decimal_is_400_not_500(chart: Chart, resource_type: str, param: str) -> None:
    """NaN and Infinity reached the comparison (a 500 where a record had a value, NaN applied where none had)."""
    for value in ("NaN", "nan", "inf", "-inf", "gtInfinity", "snan", f"NaN|{UCUM}|/min", "1e999999999"):
        _outcome(chart.http.get(f"/{resource_type}", params={param: value}), 400, "not a FHIR decimal")
