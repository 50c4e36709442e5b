"""FHIR R4 (4.0.1) on the wire: the version said, the `fhirVersion` parameter honoured, R4's types served as R4.

One world and one real server for the module; the node's care team (Dr Bob, affiliated) writes the
node's own definitional resources.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from careledger.fhir import r4_problems
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
# R4's Evidence, which R4B redefined: `exposureBackground` (1..1 in R4) is no element of R4B's.
R4_EVIDENCE = {
    "resourceType": "Evidence",
    "status": "active",
    "name": "StatinsInElderly",
    "exposureBackground": {"reference": "EvidenceVariable/older-adults"},
    "exposureVariant": [{"reference": "EvidenceVariable/statin"}],
}
MEDICINAL_PRODUCT = {  # an R4 type R4B dropped
    "resourceType": "MedicinalProduct",
    "name": [
        {
            "productName": "Aspirin 100 mg tablets",
            "countryLanguage": [{"country": {"text": "NL"}, "language": {"text": "nl"}}],
        }
    ],
    "domain": {"system": "http://hl7.org/fhir/medicinal-product-domain", "code": "Human"},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("r4")) / "home") as world, serving(world) as api:
        world.node.contracts.identity_registry(as_wallet=NODE_WALLET).attest(
            world.drbob.address, AFFILIATION, int(time.time()) + 3600
        )
        yield api


@pytest.fixture(scope="module")
def care_team(api: Api) -> httpx.Client:
    return api.client(api.world.drbob)


def test_the_capability_statement_says_r4_4_0_1_and_lists_r4s_types(api: Api) -> None:
    response = httpx.get(f"{api.url}/metadata")
    statement = response.json()
    assert statement["fhirVersion"] == "4.0.1"
    assert response.headers["content-type"] == f"{FHIR_JSON}; fhirVersion=4.0"
    types = {resource["type"] for resource in statement["rest"][0]["resource"]}
    assert {"MedicinalProduct", "Evidence", "Patient"} <= types
    assert not {"Citation", "SubscriptionTopic", "Ingredient", "SubscriptionStatus"} & types
    assert r4_problems(statement, lambda resource, where: [f"{where}: a resource"]) == []  # valid R4 itself


def test_versions_says_4_0_is_served_and_the_default(api: Api) -> None:
    response = httpx.get(f"{api.url}/$versions")
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{FHIR_JSON}; fhirVersion=4.0"
    assert response.json() == {
        "resourceType": "Parameters",
        "parameter": [{"name": "version", "valueCode": "4.0"}, {"name": "default", "valueCode": "4.0"}],
    }
    as_xml = httpx.get(f"{api.url}/$versions", headers={"Accept": FHIR_XML})
    assert as_xml.headers["content-type"] == f"{FHIR_XML}; charset=utf-8; fhirVersion=4.0"
    assert b'<valueCode value="4.0"' in as_xml.content


@pytest.mark.parametrize("version", ["4.0", "4.0.1"])
def test_r4_named_in_accept_and_content_type_is_served(api: Api, care_team: httpx.Client, version: str) -> None:
    headers = {"Accept": f"{FHIR_JSON}; fhirVersion={version}", "Content-Type": f"{FHIR_JSON}; fhirVersion={version}"}
    response = care_team.post("/MedicinalProduct", json=MEDICINAL_PRODUCT, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == f"{FHIR_JSON}; fhirVersion=4.0"


@pytest.mark.parametrize("version", ["4.3", "4.3.0", "5.0", "3.0"])
def test_another_version_in_accept_is_not_acceptable(api: Api, care_team: httpx.Client, version: str) -> None:
    for headers in (
        {"Accept": f"{FHIR_JSON}; fhirVersion={version}"},
        {"Accept": f"{FHIR_XML}; fhirVersion={version}"},
    ):
        response = httpx.get(f"{api.url}/metadata", headers=headers)
        assert response.status_code == 406, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "fhirVersion=4.0" in response.json()["issue"][0]["diagnostics"]
    preferred = httpx.get(f"{api.url}/metadata", headers={"Accept": f"{FHIR_XML}; fhirVersion={version}, {FHIR_JSON}"})
    assert preferred.status_code == 200  # another the client also accepts is served instead
    formatted = httpx.get(f"{api.url}/metadata", params={"_format": f"{FHIR_JSON}; fhirVersion={version}"})
    assert formatted.status_code == 406


def _refusals_before_any_route(api: Api, care_team: httpx.Client) -> dict[str, httpx.Response]:
    """A refusal of each layer that answers before a route runs, and of the method table."""
    observation = b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}}'
    return {
        "406": httpx.get(f"{api.url}/metadata", headers={"Accept": f"{FHIR_JSON}; fhirVersion=4.3"}),
        "415": care_team.post("/Observation", content=observation, headers={"Content-Type": "text/plain"}),
        "413": httpx.post(f"{api.url}/Patient/p1/$claim", json={"resourceType": "Parameters", "x": "y" * 20_000}),
        "xml 400": care_team.post("/Observation", content=b"<Observation", headers={"Content-Type": FHIR_XML}),
        "preflight 403": httpx.options(
            f"{api.url}/Observation",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        ),
        "405": httpx.post(f"{api.url}/metadata", json={"resourceType": "Parameters"}),
    }


def test_every_refusal_says_the_fhir_version_in_its_media_type(api: Api, care_team: httpx.Client) -> None:
    for expected, response in _refusals_before_any_route(api, care_team).items():
        assert str(response.status_code) == expected.split()[-1], (expected, response.text)
        assert response.headers["content-type"] == f"{FHIR_JSON}; fhirVersion=4.0", expected
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("version", ["4.3", "4.3.0", "5.0"])
def test_a_body_in_another_version_is_an_unsupported_media_type(
    api: Api, care_team: httpx.Client, version: str
) -> None:
    before = care_team.get("/MedicinalProduct").json()["total"]
    response = care_team.post(
        "/MedicinalProduct", json=MEDICINAL_PRODUCT, headers={"Content-Type": f"{FHIR_JSON}; fhirVersion={version}"}
    )
    assert response.status_code == 415, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert care_team.get("/MedicinalProduct").json()["total"] == before  # nothing was written


def test_an_r4_evidence_r4b_redefined_round_trips_as_r4(care_team: httpx.Client) -> None:
    created = care_team.post("/Evidence", json=R4_EVIDENCE)
    assert created.status_code == 201, created.text
    read = care_team.get(f"/Evidence/{created.json()['id']}")
    assert read.status_code == 200
    body = read.json()
    assert {key: body[key] for key in R4_EVIDENCE} == R4_EVIDENCE


# The issue's own example: R4B left MedicationKnowledge as R4 had it, so R4B's model validates it,
# and every R4 element of it must come back as written.
R4_MEDICATION_KNOWLEDGE = {
    "resourceType": "MedicationKnowledge",
    "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049502"}]},
    "status": "active",
    "synonym": ["Oxycodone 5 mg oral tablet"],
    "productType": [{"text": "opioid analgesic"}],
    "monitoringProgram": [{"type": {"text": "REMS"}, "name": "Opioid Analgesic REMS"}],
    "kinetics": [{"halfLifePeriod": {"value": 3.5, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}}],
    "regulatory": [
        {
            "regulatoryAuthority": {"display": "FDA"},
            "schedule": [{"schedule": {"text": "Schedule II"}}],
        }
    ],
}


def test_an_r4_medication_knowledge_round_trips(care_team: httpx.Client) -> None:
    created = care_team.post("/MedicationKnowledge", json=R4_MEDICATION_KNOWLEDGE)
    assert created.status_code == 201, created.text
    read = care_team.get(f"/MedicationKnowledge/{created.json()['id']}")
    assert read.status_code == 200
    body = read.json()
    assert {key: body[key] for key in R4_MEDICATION_KNOWLEDGE} == R4_MEDICATION_KNOWLEDGE


def test_an_r4b_shaped_body_of_a_type_r4b_changed_is_refused_with_its_path(care_team: httpx.Client) -> None:
    """Refused as every invalid resource is: 422 (FHIR's answer to a body that breaks its definition)."""
    r4b_evidence = {  # R4B's Evidence: variableDefinition, and no exposureBackground, which R4 requires
        "resourceType": "Evidence",
        "status": "active",
        "variableDefinition": [{"variableRole": {"text": "exposure"}}],
    }
    response = care_team.post("/Evidence", json=r4b_evidence)
    assert response.status_code == 422, response.text
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "Evidence.variableDefinition: unknown element" in diagnostics
    assert "Evidence.exposureBackground: is required" in diagnostics
    r4b_definition = {"resourceType": "ActivityDefinition", "status": "active", "subjectCanonical": "http://x.org/g"}
    response = care_team.post("/ActivityDefinition", json=r4b_definition)
    assert response.status_code == 422
    assert "ActivityDefinition.subjectCanonical: unknown element" in response.json()["issue"][0]["diagnostics"]


def test_an_r4_only_type_is_created_read_and_searched(care_team: httpx.Client) -> None:
    created = care_team.post("/MedicinalProduct", json=MEDICINAL_PRODUCT)
    assert created.status_code == 201, created.text
    read = care_team.get(f"/MedicinalProduct/{created.json()['id']}")
    assert read.status_code == 200
    assert read.json()["name"] == MEDICINAL_PRODUCT["name"]
    summary = care_team.get(f"/MedicinalProduct/{created.json()['id']}", params={"_summary": "true"}).json()
    assert {"name", "domain"} <= summary.keys()  # R4's isSummary elements
    bad = care_team.post("/MedicinalProduct", json={"resourceType": "MedicinalProduct", "name": [{"productName": 5}]})
    assert bad.status_code == 422
    assert "MedicinalProduct.name[0].productName: must be a string" in bad.json()["issue"][0]["diagnostics"]


def test_an_r4b_only_type_answers_as_an_unknown_type_does(care_team: httpx.Client) -> None:
    for method, path, body in (
        ("GET", "/{}", None),
        ("GET", "/{}/1", None),
        ("POST", "/{}", {"status": "active"}),
    ):
        unknown = care_team.request(method, path.format("Foo"), json={**body, "resourceType": "Foo"} if body else None)
        citation = care_team.request(
            method, path.format("Citation"), json={**body, "resourceType": "Citation"} if body else None
        )
        assert citation.status_code == unknown.status_code, (method, path)
        assert citation.status_code in (400, 404)
        assert citation.json()["resourceType"] == "OperationOutcome"


def test_a_type_r4b_changed_or_dropped_is_not_read_or_written_as_xml_r4b_cannot_hold(
    care_team: httpx.Client,
) -> None:
    before = care_team.get("/MedicinalProduct").json()["total"]
    created = care_team.post("/MedicinalProduct", json=MEDICINAL_PRODUCT).json()
    read = care_team.get(f"/MedicinalProduct/{created['id']}", headers={"Accept": FHIR_XML})
    assert read.status_code == 406
    assert read.headers["content-type"].startswith(FHIR_XML)
    assert b"OperationOutcome" in read.content
    assert b"application/fhir+json" in read.content
    xml = b'<MedicinalProduct xmlns="http://hl7.org/fhir"><name><productName value="A"/></name></MedicinalProduct>'
    posted = care_team.post("/MedicinalProduct", content=xml, headers={"Content-Type": FHIR_XML})
    assert posted.status_code == 415
    assert posted.json()["resourceType"] == "OperationOutcome"
    answered_in_xml = care_team.post("/MedicinalProduct", json=MEDICINAL_PRODUCT, headers={"Accept": FHIR_XML})
    assert answered_in_xml.status_code == 406  # refused before anything is written
    assert care_team.get("/MedicinalProduct").json()["total"] == before + 1
    patient_xml = care_team.get("/Patient", headers={"Accept": FHIR_XML})
    assert patient_xml.status_code == 200  # the types R4B left as they were keep their XML
