"""FHIR REST as stock clients expect it: unknown types, conditional interactions, 304, Prefer, XML, result shaping.

One world and one real server for the module; each test makes its own records (its own
MRNs), so what one test writes is not what another counts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhirpy import SyncFHIRClient

from careledger.access import AFFILIATION
from careledger.api._docs import DOCS_ASSETS
from careledger.config import NODE_WALLET
from careledger.fhir import READ_ONLY_TYPES, SUBSETTED, TYPE_INTERACTIONS, resource_types
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.api.test_fhir_api import _outcome

XML = "application/fhir+xml"
STRICT = {"Prefer": "handling=strict"}


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("rest")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        yield api


@pytest.fixture(scope="module")
def staff(rest: Api) -> httpx.Client:
    """Dr Bob, on the node's care team."""
    return rest.client(rest.world.drbob)


def _patient(mrn: str, **more: object) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:mrn", "value": mrn}],
        "name": [{"family": "Okafor", "given": ["Ngozi"]}],
        "birthDate": "1984-07-12",
        **more,
    }


def test_unknown_types_and_operations_are_404_and_consents_are_read_only(rest: Api, staff: httpx.Client) -> None:
    _outcome(staff.get("/Foo"), 404, "no resource type 'Foo'")
    _outcome(staff.get("/$everything"), 404, "no operation $everything")
    _outcome(staff.post("/Foo", json={"resourceType": "Foo"}), 404, "no resource type")
    for method, path in (("GET", "/Foo/1"), ("GET", "/Foo"), ("POST", "/Foo"), ("GET", "/Foo/_history")):
        _outcome(httpx.request(method, f"{rest.url}{path}"), 404, "no resource type")  # before sign-in: nothing to hide
    _outcome(staff.post("/Consent", json={"resourceType": "Consent"}), 405, "read, search-type")


def test_conditional_create_returns_the_match_instead_of_a_duplicate(staff: httpx.Client) -> None:
    headers = {"If-None-Exist": "identifier=urn:mrn|MRN-CC1"}
    first = staff.post("/Patient", json=_patient("MRN-CC1"), headers=headers)
    assert first.status_code == 201, first.text
    again = staff.post("/Patient", json=_patient("MRN-CC1"), headers=headers)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert len(staff.get("/Patient", params={"identifier": "urn:mrn|MRN-CC1"}).json()["entry"]) == 1

    staff.post("/Patient", json=_patient("MRN-CC2", gender="male"))
    staff.post("/Patient", json=_patient("MRN-CC2", gender="female"))
    two = staff.post("/Patient", json=_patient("MRN-CC2"), headers={"If-None-Exist": "identifier=MRN-CC2"})
    _outcome(two, 412, "2 records match")
    _outcome(staff.post("/Patient", json=_patient("X"), headers={"If-None-Exist": "nickname=x"}), 400, "nickname")
    _outcome(staff.post("/Patient", json=_patient("X"), headers={"If-None-Exist": "_count=1"}), 400, "criteria")


def test_a_batch_entry_creates_conditionally_as_the_single_request_does(staff: httpx.Client) -> None:
    entry = {
        "resource": _patient("MRN-BE1"),
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=MRN-BE1"},
    }
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [entry, entry]}
    answered = staff.post("/", json=batch).json()["entry"]
    assert [e["response"]["status"] for e in answered] == ["201", "200"]
    assert answered[0]["resource"]["id"] == answered[1]["resource"]["id"]
    unknown = {**entry, "request": {**entry["request"], "ifNoneExist": "nickname=x"}}
    refused = staff.post("/", json={**batch, "entry": [unknown]}).json()["entry"][0]["response"]
    assert (refused["status"], "nickname" in refused["outcome"]["issue"][0]["diagnostics"]) == ("400", True)
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{**entry, "resource": _patient("MRN-BE2")}],
    }
    _outcome(staff.post("/", json=transaction), 400, "ifNoneExist")  # refused, not a silent duplicate
    assert staff.get("/Patient", params={"identifier": "MRN-BE2"}).json()["total"] == 0


def test_fhirpy_get_or_create_update_and_delete_by_criteria(rest: Api, staff: httpx.Client) -> None:
    client = SyncFHIRClient(rest.url, authorization=staff.headers["Authorization"])
    by_mrn = client.resources("Patient").search(identifier="urn:mrn|MRN-FP1")
    created, was_created = by_mrn.get_or_create(client.resource("Patient", **_patient("MRN-FP1")))
    assert was_created
    found, was_created = by_mrn.get_or_create(client.resource("Patient", **_patient("MRN-FP1")))
    assert (found.id, was_created) == (created.id, False)

    updated, was_created = by_mrn.update(client.resource("Patient", **_patient("MRN-FP1", gender="female")))
    assert (updated.id, was_created, updated["meta"]["versionId"]) == (created.id, False, "2")
    fresh, was_created = (
        client.resources("Patient")
        .search(identifier="urn:mrn|MRN-FP2")
        .update(client.resource("Patient", **_patient("MRN-FP2")))
    )
    assert was_created
    assert fresh.id != created.id

    _, status = by_mrn.delete()
    assert status == 204
    _outcome(staff.get(f"/Patient/{created.id}"), 410, "deleted")
    _outcome(staff.delete("/Patient", params={"identifier": "urn:mrn|MRN-FP1"}), 404, "matches")
    staff.post("/Patient", json=_patient("MRN-FP3"))
    staff.post("/Patient", json=_patient("MRN-FP3"))
    _outcome(staff.delete("/Patient", params={"identifier": "MRN-FP3"}), 412, "not selective")
    _outcome(staff.delete("/Patient"), 400, "needs search criteria")
    assert len(staff.get("/Patient", params={"identifier": "MRN-FP3"}).json()["entry"]) == 2


def test_a_conditional_update_may_not_move_onto_another_record(staff: httpx.Client) -> None:
    other = staff.post("/Patient", json=_patient("MRN-CU1")).json()
    body = {**_patient("MRN-CU2"), "id": other["id"]}
    _outcome(staff.put("/Patient", params={"identifier": "MRN-CU2"}, json=body), 409, "does not match")


def test_conditional_reads_answer_304(rest: Api, staff: httpx.Client) -> None:
    created = staff.post("/Patient", json=_patient("MRN-304"))
    url = f"/Patient/{created.json()['id']}"
    etag = created.headers["etag"]
    assert staff.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert staff.get(url, headers={"If-None-Match": '"1"'}).status_code == 304
    assert staff.get(url, headers={"If-None-Match": 'W/"9"'}).status_code == 200
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=1), usegmt=True)
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    not_modified = staff.get(url, headers={"If-Modified-Since": later})
    assert (not_modified.status_code, not_modified.content, not_modified.headers["etag"]) == (304, b"", etag)
    assert staff.get(url, headers={"If-Modified-Since": earlier}).status_code == 200
    client = SyncFHIRClient(rest.url, authorization=staff.headers["Authorization"])
    patient = client.reference("Patient", created.json()["id"]).to_resource()
    assert patient.refresh()["identifier"][0]["value"] == "MRN-304"  # fhirpy's refresh sends If-None-Match


def test_prefer_return_minimal_representation_and_outcome(staff: httpx.Client) -> None:
    minimal = staff.post("/Patient", json=_patient("MRN-PR1"), headers={"Prefer": "return=minimal"})
    assert (minimal.status_code, minimal.content) == (201, b"")
    assert "/Patient/" in minimal.headers["location"]
    outcome = staff.post("/Patient", json=_patient("MRN-PR2"), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert "created" in outcome.json()["issue"][0]["diagnostics"]
    full = staff.post("/Patient", json=_patient("MRN-PR3"), headers={"Prefer": "return=representation"})
    assert full.json()["identifier"][0]["value"] == "MRN-PR3"


def test_xml_in_and_out(rest: Api, staff: httpx.Client) -> None:
    xml = Patient.model_validate(_patient("MRN-XML")).model_dump_xml()
    created = staff.post("/Patient", content=xml, headers={"Content-Type": XML, "Accept": XML})
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith(XML)
    stored = Patient.model_validate_xml(created.content)
    assert stored.identifier[0].value == "MRN-XML"
    as_json = staff.get(f"/Patient/{stored.id}").json()
    as_xml = staff.get(f"/Patient/{stored.id}", params={"_format": "xml"})
    assert Patient.model_validate_xml(as_xml.content).model_dump() == Patient.model_validate(as_json).model_dump()
    searched = staff.get("/Patient", params={"identifier": "MRN-XML"}, headers={"Accept": XML})
    assert [e.resource.id for e in Bundle.model_validate_xml(searched.content).entry] == [stored.id]
    failed = staff.get("/Patient/no-such-id", headers={"Accept": XML})
    assert failed.status_code == 404
    assert b"<OperationOutcome" in failed.content


def test_formats_no_one_speaks_are_406_and_415(staff: httpx.Client) -> None:
    _outcome(staff.get("/Patient", headers={"Accept": "text/csv"}), 406, "text/csv")
    _outcome(staff.get("/Patient", params={"_format": "turtle"}), 406, "turtle")
    before = len(staff.get("/Patient").json()["entry"])
    _outcome(staff.post("/Patient", content=b"MRN,name", headers={"Content-Type": "text/csv"}), 415, "text/csv")
    _outcome(staff.post("/Patient", content=b"<Patient", headers={"Content-Type": XML}), 400, "not well-formed")
    doctype = b'<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"/>'
    _outcome(staff.post("/Patient", content=doctype, headers={"Content-Type": XML}), 400, "DOCTYPE")
    _outcome(staff.post("/Patient", content=b"<Patient/>", headers={"Content-Type": XML}), 400, "namespace")
    bad = b'<Patient xmlns="http://hl7.org/fhir"><birthDate value="soon"/></Patient>'
    _outcome(staff.post("/Patient", content=bad, headers={"Content-Type": XML}), 422, "birthDate")
    assert len(staff.get("/Patient").json()["entry"]) == before


def test_search_results_are_shaped_and_linked(rest: Api, staff: httpx.Client) -> None:
    for n in range(5):
        staff.post("/Patient", json=_patient(f"MRN-PG{n}", text={"status": "generated", "div": _div(n)}))
    mrns = ",".join(f"MRN-PG{n}" for n in range(5))
    counted = staff.get("/Patient", params={"_summary": "count", "identifier": mrns})
    assert (counted.json()["total"], counted.json().get("entry", [])) == (5, [])

    page = staff.get(
        "/Patient", params={"nickname": "x", "_count": "2", "_elements": "identifier", "_sort": "_id"}
    ).json()
    links = {link["relation"]: link["url"] for link in page["link"]}
    assert "nickname" not in parse_qs(urlsplit(links["self"]).query)  # ignored, so not claimed
    assert parse_qs(urlsplit(links["next"]).query)["_elements"] == ["identifier"]
    assert links["next"].startswith(rest.url)
    assert page["entry"][0]["fullUrl"].startswith(f"{rest.url}/Patient/")
    shown = page["entry"][0]["resource"]
    assert set(shown) <= {"resourceType", "id", "meta", "identifier"}
    assert SUBSETTED in shown["meta"]["tag"]
    summary = staff.get("/Patient", params={"identifier": "MRN-PG1", "_summary": "true"}).json()
    assert "text" not in summary["entry"][0]["resource"]
    assert "name" in summary["entry"][0]["resource"]
    assert "total" not in staff.get("/Patient", params={"_total": "none"}).json()
    _outcome(staff.get("/Patient", params={"nickname": "x"}, headers={"Prefer": "handling=strict"}), 400, "nickname")
    _outcome(staff.get("/Patient", params={"_summary": "maybe"}), 400, "_summary")

    client = SyncFHIRClient(rest.url, authorization=staff.headers["Authorization"])
    everyone = client.resources("Patient").limit(2).fetch_all()  # follows the next links to the end
    assert len(everyone) == staff.get("/Patient").json()["total"] > 5


def _div(n: int) -> str:
    return f'<div xmlns="http://www.w3.org/1999/xhtml">patient {n}</div>'


def test_a_history_bundle_links_itself(staff: httpx.Client) -> None:
    created = staff.post("/Patient", json=_patient("MRN-H1")).json()
    history = staff.get(f"/Patient/{created['id']}/_history").json()
    assert history["link"][0]["relation"] == "self"
    assert history["link"][0]["url"].endswith("/_history")


def test_every_listed_type_and_interaction_answers(rest: Api, staff: httpx.Client) -> None:
    """The CapabilityStatement claims types and interactions; each type's searches answer, writes where listed."""
    statement = httpx.get(f"{rest.url}/metadata").json()
    listed = {r["type"]: {i["code"] for i in r["interaction"]} for r in statement["rest"][0]["resource"]}
    assert list(listed) == list(resource_types())
    for resource in statement["rest"][0]["resource"]:
        resource_type, interactions = resource["type"], listed[resource["type"]]
        assert interactions == set(READ_ONLY_TYPES.get(resource_type, TYPE_INTERACTIONS)), resource_type
        assert staff.get(f"/{resource_type}").status_code == 200, resource_type
        if "history-type" in interactions:
            assert staff.get(f"/{resource_type}/_history").status_code == 200, resource_type
        for param in resource["searchParam"]:  # every kind takes :missing; strict, so an ignored one fails
            asked = staff.get(f"/{resource_type}", params={f"{param['name']}:missing": "true"}, headers=STRICT)
            assert asked.status_code == 200, (resource_type, param["name"], asked.text)
        for include in resource.get("searchInclude", [])[:3]:
            assert staff.get(f"/{resource_type}", params={"_include": include}).status_code == 200, include
    place = {"resourceType": "Location", "name": "Ward 3"}  # the node's own: no patient, no consent
    created = staff.post("/Location", json=place)
    assert created.status_code == 201, created.text
    url = f"/Location/{created.json()['id']}"
    assert staff.put(url, json={**place, "id": created.json()["id"]}).status_code == 200
    for path in (url, f"{url}/_history", f"{url}/_history/1"):
        assert staff.get(path).status_code == 200, path
    assert staff.delete(url).status_code == 204
    assert [i["code"] for i in statement["rest"][0]["interaction"]] == ["transaction", "batch"]
    operations = {("system", o["name"]) for o in statement["rest"][0]["operation"]} | {
        (r["type"], o["name"]) for r in statement["rest"][0]["resource"] for o in r.get("operation", [])
    }
    assert operations == {
        ("system", "export"),
        ("Patient", "everything"),
        ("Patient", "export"),
        ("Patient", "assess"),
        ("Patient", "suggest-codes"),
        ("Patient", "erase"),
        ("Claim", "submit"),
        ("CoverageEligibilityRequest", "submit"),
        ("Appointment", "find"),
        ("Appointment", "book"),
        ("Appointment", "cancel"),
        ("Appointment", "reschedule"),
        ("Appointment", "quote"),
        ("Appointment", "prepare-book"),
        ("Appointment", "join"),
        ("Appointment", "finish"),
        ("Appointment", "respond"),
        ("Appointment", "no-show"),
    }
    assert staff.post("/Claim/$submit", json={"resourceType": "Claim"}).status_code == 422  # answers: not a Claim
    assert staff.get("/Appointment/$find").status_code == 200  # answers: no Schedule here, nothing open
    assert staff.post("/Appointment/$book", json={"resourceType": "Parameters"}).status_code == 400  # no slot
    assert staff.get("/Appointment/$quote").status_code == 400  # answers: no slot, no patient
    assert staff.post("/Appointment/$prepare-book", json={"resourceType": "Parameters"}).status_code == 400
    assert staff.post("/Appointment/no-such-visit/$respond").status_code == 400  # answers: no Parameters
    for visit in ("join", "finish", "no-show"):
        assert staff.post(f"/Appointment/no-such-visit/${visit}").status_code == 404  # answers: no Appointment
    eligibility = staff.post("/CoverageEligibilityRequest/$submit", json={"resourceType": "CoverageEligibilityRequest"})
    assert eligibility.status_code == 422  # answers: no patient, no insurer
    patient = staff.post("/Patient", json=_patient("MRN-OPS")).json()["id"]
    for path in ("/$export", "/Patient/$export"):
        assert staff.get(path, headers={"Prefer": "respond-async"}).status_code == 202, path
    assert staff.get(f"/Patient/{patient}/$everything").status_code == 200
    assert staff.post(f"/Patient/{patient}/$suggest-codes", json={"resourceType": "Parameters"}).status_code == 400
    assert staff.get(f"/Patient/{patient}/$assess").status_code == 200  # answers: each score, or why not
    assert staff.get(f"/Patient/{patient}/$erase").status_code == 403  # answers: her preview is hers alone
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert statement["fhirVersion"] == "4.0.1"


def test_the_api_docs_need_no_network(rest: Api) -> None:
    page = httpx.get(f"{rest.url}/docs")
    assert page.status_code == 200
    loaded = re.findall(r'(?:src|href|url)\s*[=:]\s*["\']([^"\']+)', page.text)
    assert loaded  # the script, the style, the icon and the OpenAPI description
    assert all(url.startswith("/") for url in loaded), loaded  # from this server, no CDN
    for url in loaded:
        assert httpx.get(f"{rest.url}{url}").status_code == 200, url


INSTALLED_SWAGGER = Path(__file__).resolve().parents[2] / "node_modules/swagger-ui-dist"


@pytest.mark.skipif(not INSTALLED_SWAGGER.is_dir(), reason="the npm packages are not installed (make setup)")
def test_the_docs_assets_are_the_pinned_npm_package() -> None:
    for asset in DOCS_ASSETS.iterdir():
        assert asset.read_bytes() == (INSTALLED_SWAGGER / asset.name).read_bytes(), asset.name
