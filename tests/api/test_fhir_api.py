"""The FHIR REST API over a real uvicorn server: auth, CRUD, history, search, errors, consent."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import jwt
from eth_account.messages import encode_defunct
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from careledger.consent import Purpose
from careledger.fhir import resource_types
from careledger.records import Category
from tests.api.conftest import Api

OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "category": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
    "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
}


def _outcome(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = OperationOutcome.model_validate(response.json())
    assert fragment in (outcome.issue[0].diagnostics or ""), outcome.issue[0].diagnostics


def test_metadata_is_a_capability_statement(api: Api) -> None:
    response = httpx.get(f"{api.url}/metadata")
    assert response.status_code == 200
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.0.1"  # R4, validated by R4's definitions (R4B's models where R4B kept R4's)
    assert [r.type for r in statement.rest[0].resource] == list(resource_types())


def test_no_token_expired_token_and_forged_token_are_401(api: Api) -> None:
    _outcome(httpx.get(f"{api.url}/Observation/{api.world.labs_id}"), 401, "sign in first")
    secret = api.world.node.vault.secret(api.world.node.home.api_key_file)
    claims = {"sub": api.world.clinic.address, "role": "org", "scope": "user/*.read", "aud": api.server.domain}
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10, "iss": api.server.auth._issuer}, secret)
    headers = {"Authorization": f"Bearer {expired}"}
    _outcome(httpx.get(f"{api.url}/Observation/x", headers=headers), 401, "expired")
    forged = jwt.encode({**claims, "exp": int(time.time()) + 60}, b"not the node's key" * 2)
    _outcome(httpx.get(f"{api.url}/Observation/x", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid token")


def test_siwe_refuses_a_reused_nonce_another_domain_and_another_chain(api: Api) -> None:
    account = api.world.node.unlock(api.world.clinic.name).account
    message = api.siwe_message(account)
    assert api.login_response(account, message).status_code == 200
    _outcome(api.login_response(account, message), 401, "unknown, used or expired nonce")
    _outcome(api.login_response(account, api.siwe_message(account, domain="evil.example")), 401, "not 127.0.0.1")
    _outcome(api.login_response(account, api.siwe_message(account, chain_id=1)), 401, "for chain 1")
    stranger = api.world.node.unlock(api.world.mallory.name).account
    signed_by_other = api.siwe_message(account)
    signature = stranger.sign_message(encode_defunct(text=signed_by_other))
    response = httpx.post(
        f"{api.url}/auth/login", json={"message": signed_by_other, "signature": "0x" + signature.signature.hex()}
    )
    _outcome(response, 401, "does not verify")


def test_a_read_needs_consent_and_is_audited(api: Api) -> None:
    clinic = api.client(api.world.clinic)
    _outcome(clinic.get(f"/Observation/{api.world.labs_id}"), 404, f"no record {api.world.labs_id}")
    denial = api.world.node.audit.entries(agent=api.world.clinic.address)[-1]
    assert denial.access.allowed is False
    assert "no consent from the patient" in (denial.access.detail or "")  # the audit keeps the truth
    node = api.world.node
    terms = node.consent.terms(
        api.world.alice.address, api.world.clinic.address, [Category.LABS], [Purpose.TREAT], days=1
    )
    node.consent.grant(api.world.alice.name, terms)
    response = clinic.get(f"/Observation/{api.world.labs_id}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == api.world.labs_id
    assert response.headers["etag"] == 'W/"1"'
    _outcome(clinic.get(f"/Observation/{api.world.labs_id}", headers={"X-Purpose-Of-Use": "HRESCH"}), 404, "no record")
    assert "HRESCH" in (api.world.node.audit.entries(agent=api.world.clinic.address)[-1].access.detail or "")


def _asked_about(client: httpx.Client, resource_type: str, record_id: str, body: dict[str, object]) -> dict[str, str]:
    """What a caller is told of each interaction on one id, the id written out of it."""
    url = f"/{resource_type}/{record_id}"
    answers = {
        "read": client.get(url),
        "vread": client.get(f"{url}/_history/1"),
        "history": client.get(f"{url}/_history"),
        "update at the right version": client.put(url, json=body, headers={"If-Match": 'W/"1"'}),
        "update at a wrong version": client.put(url, json=body, headers={"If-Match": 'W/"9"'}),
        "delete": client.delete(url),
    }
    return {name: f"{a.status_code} {a.text.replace(record_id, '<id>')}" for name, a in answers.items()}


def test_a_record_the_caller_may_not_read_is_told_as_an_unknown_id_is(api: Api) -> None:
    world, clinic = api.world, api.client(api.world.clinic)
    hidden = {"plain": world.general_id, "labs": world.labs_id, "mental-health": world.mental_health_id}
    for kind, record_id in hidden.items():
        stored = world.node._records.get(record_id)
        body = {**world.node._records.open(stored)}
        audited = len(world.node.audit.entries())
        told = _asked_about(clinic, stored.resource_type, record_id, body)
        denials = [e.access for e in world.node.audit.entries()[audited:]]
        unknown = _asked_about(clinic, stored.resource_type, "no-such-record", {**body, "id": "no-such-record"})
        assert told == unknown, kind
        assert all(answer.startswith("404 ") for answer in told.values()), told
        assert world.node._records.get(record_id).version == 1  # nothing was changed
        assert len(denials) == len(told)  # the audit keeps the truth: each one refused, and why
        assert all(not a.allowed and a.patient == world.alice.address and a.detail for a in denials), denials


def test_a_patient_creates_reads_updates_and_deletes_her_own_records(api: Api) -> None:
    alice = api.client(api.world.alice)
    patient_id = api.world.node._records.list(patient_address=api.world.alice.address, resource_type="Patient")[
        0
    ].record_id
    body = {**OBSERVATION, "subject": {"reference": f"Patient/{patient_id}"}}
    created = alice.post("/Observation", json=body)
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    assert created.headers["location"].endswith(f"/Observation/{record_id}/_history/1")
    assert created.headers["etag"] == 'W/"1"'
    assert alice.get(f"/Observation/{record_id}").json()["valueQuantity"]["value"] == 5.4
    changed = {**created.json(), "valueQuantity": {"value": 6.1, "unit": "mmol/L"}}
    _outcome(alice.put(f"/Observation/{record_id}", json=changed, headers={"If-Match": 'W/"7"'}), 412, "version 1")
    updated = alice.put(f"/Observation/{record_id}", json=changed, headers={"If-Match": 'W/"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"'
    assert alice.get(f"/Observation/{record_id}/_history/1").json()["valueQuantity"]["value"] == 5.4
    history = alice.get(f"/Observation/{record_id}/_history").json()
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']
    assert alice.delete(f"/Observation/{record_id}").status_code == 204
    _outcome(alice.get(f"/Observation/{record_id}"), 410, "deleted")
    _outcome(alice.get("/Observation/no-such-record"), 404, "no record")


def test_bad_input_is_an_operation_outcome_and_stores_nothing(api: Api) -> None:
    alice = api.client(api.world.alice)
    before = len(api.world.node._records.list())
    headers = {"Content-Type": "application/fhir+json"}
    _outcome(alice.post("/Observation", content=b"{not json", headers=headers), 400, "not JSON")
    _outcome(alice.post("/Condition", json=OBSERVATION), 400, "not a Condition as the URL says")
    _outcome(alice.post("/Observation", json={"resourceType": "Observation", "status": "final"}), 422, "code")
    wrong_id = {**OBSERVATION, "id": "other"}
    _outcome(alice.put("/Observation/this-one", json=wrong_id), 400, "is not the URL's")
    huge = json.dumps({**OBSERVATION, "note": [{"text": "x" * (5 * 1024 * 1024)}]})
    _outcome(alice.post("/Observation", content=huge, headers=headers), 413, "limit")
    strict = {"Prefer": "handling=strict"}
    _outcome(alice.get("/Observation?colour=blue", headers=strict), 400, "unknown search parameters: colour")
    assert alice.get("/Observation?colour=blue").status_code == 200  # lenient by default
    assert len(api.world.node._records.list()) == before


def test_a_missing_scope_is_403(api: Api) -> None:
    regulator = api.world.node.wallets.create(
        "regulator", __import__("careledger.chain", fromlist=["Role"]).Role.REGULATOR, "pw"
    )
    api.world.node.contracts.identity_registry(as_wallet="node").register_actor(
        regulator.address, regulator.role, regulator.encryption_key
    )
    _outcome(api.client(regulator).post("/Observation", json=OBSERVATION), 403, "do not allow write of Observation")


def test_search_pages_with_next_links(api: Api) -> None:
    alice = api.client(api.world.alice)
    first = alice.get("/Observation", params={"_count": 3}).json()
    assert first["type"] == "searchset"
    assert len(first["entry"]) == 3
    assert first["total"] > 3
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = alice.get(next_url).json()
    ids = {e["resource"]["id"] for e in first["entry"]} | {e["resource"]["id"] for e in second["entry"]}
    assert len(ids) == 3 + len(second["entry"])
    everything = alice.get(f"/Patient/{api.world.node._records.list(resource_type='Patient')[0].record_id}/$everything")
    assert everything.status_code == 200
    assert everything.json()["total"] == len(api.world.node._records.list(patient_address=api.world.alice.address))


def test_search_by_code_status_identifier_and_dates(api: Api) -> None:
    node = api.world.node
    alice = api.client(api.world.alice)
    (patient,) = node._records.list(patient_address=api.world.alice.address, resource_type="Patient")
    subject = {"reference": f"Patient/{patient.record_id}"}
    for day, code, status in (
        ("2024-03-01", "2345-7", "final"),
        ("2024-03-20", "2345-7", "amended"),
        ("2024-05-02", "718-7", "final"),
    ):
        body = {**OBSERVATION, "subject": subject, "effectiveDateTime": f"{day}T08:00:00Z", "status": status}
        body["code"] = {"coding": [{"system": "http://loinc.org", "code": code}]}
        body["identifier"] = [{"system": "urn:lab", "value": f"lab-{day}"}]
        assert alice.post("/Observation", json=body).status_code == 201

    def ids(**params: str) -> list[str]:
        bundle = alice.get("/Observation", params={**params, "_count": "100"}).json()
        return sorted(e["resource"]["identifier"][0]["value"] for e in bundle["entry"] if "identifier" in e["resource"])

    assert ids(code="http://loinc.org|2345-7") == ["lab-2024-03-01", "lab-2024-03-20"]
    assert ids(code="718-7") == ["lab-2024-05-02"]
    assert ids(code="http://snomed.info/sct|2345-7") == []
    assert ids(status="amended") == ["lab-2024-03-20"]
    assert ids(identifier="urn:lab|lab-2024-05-02") == ["lab-2024-05-02"]
    assert ids(date="2024-03") == ["lab-2024-03-01", "lab-2024-03-20"]
    assert ids(date="gt2024-03") == ["lab-2024-05-02"]
    assert ids(date="lt2024-03-20") == ["lab-2024-03-01"]
    assert ids(date="le2024-03-20", code="2345-7") == ["lab-2024-03-01", "lab-2024-03-20"]
    assert len(ids(_lastUpdated=f"ge{time.strftime('%Y')}")) == 3
    assert ids(_lastUpdated="lt2000") == []
    newest_first = alice.get("/Observation", params={"_sort": "-_lastUpdated", "code": "2345-7,718-7"}).json()
    updated = [e["resource"]["meta"]["lastUpdated"] for e in newest_first["entry"]]
    assert updated == sorted(updated, reverse=True)
    _outcome(alice.get("/Observation", params={"date": "eq2024-13"}), 400, "not a FHIR date")


def _transaction(*entries: tuple[str, str, dict[str, object], str | None]) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {**({"fullUrl": full_url} if full_url else {}), "resource": resource, "request": {"method": m, "url": url}}
            for m, url, resource, full_url in entries
        ],
    }


def test_a_transaction_stores_all_or_nothing_and_links_its_entries(api: Api) -> None:
    node, alice = api.world.node, api.client(api.world.alice)
    did = f"did:pkh:eip155:{node.chain.chain_id}:{api.world.alice.address}"
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": did}],
        "name": [{"family": "Lovelace", "given": ["Ada"]}],
    }
    reading = {**OBSERVATION, "subject": {"reference": "urn:uuid:new-patient"}}
    before = len(node._records.list())
    response = alice.post(
        "/",
        json=_transaction(("POST", "Patient", patient, "urn:uuid:new-patient"), ("POST", "Observation", reading, None)),
    )
    assert response.status_code == 200, response.text
    created_patient, created_reading = (e["resource"] for e in response.json()["entry"])
    assert created_reading["subject"]["reference"] == f"Patient/{created_patient['id']}"
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201", "201"]
    assert len(node._records.list()) == before + 2

    mine = {**OBSERVATION, "subject": {"reference": f"Patient/{created_patient['id']}"}}
    broken = {key: value for key, value in mine.items() if key != "code"}  # code is required
    failed = alice.post(
        "/", json=_transaction(("POST", "Observation", mine, None), ("POST", "Observation", broken, None))
    )
    _outcome(failed, 422, "Bundle.entry[1].resource.code: Field required")
    assert len(node._records.list()) == before + 2  # neither entry stored


def test_a_batch_runs_each_entry_on_its_own(api: Api) -> None:
    alice = api.client(api.world.alice)
    (patient,) = api.world.node._records.list(patient_address=api.world.alice.address, resource_type="Patient")
    good = {**OBSERVATION, "subject": {"reference": f"Patient/{patient.record_id}"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Observation"}},
            {"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "GET", "url": f"Patient/{patient.record_id}"}},
            {"request": {"method": "GET", "url": "Observation/missing"}},
        ],
    }
    response = alice.post("/", json=bundle)
    assert response.status_code == 200, response.text
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201", "422", "200", "404"]


def test_type_history_lists_versions_the_caller_may_see(api: Api) -> None:
    node, alice = api.world.node, api.client(api.world.alice)
    (patient,) = node._records.list(patient_address=api.world.alice.address, resource_type="Patient")
    created = alice.post("/Observation", json={**OBSERVATION, "subject": {"reference": f"Patient/{patient.record_id}"}})
    record_id = created.json()["id"]
    assert alice.delete(f"/Observation/{record_id}").status_code == 204
    history = alice.get("/Observation/_history", params={"_count": 5}).json()
    assert history["type"] == "history"
    newest = history["entry"][0]
    assert (newest["request"]["method"], newest["response"]["etag"]) == ("DELETE", 'W/"2"')
    assert "resource" not in newest
    assert history["entry"][1]["resource"]["id"] == record_id
    nothing = api.client(api.world.clinic).get("/Observation/_history")  # what it may see: nothing, not a 403
    assert (nothing.status_code, nothing.json()["entry"]) == (200, [])
    assert not api.world.node.audit.entries(agent=api.world.clinic.address)[-1].access.allowed


def test_a_patient_cannot_take_over_another_patients_record(api: Api) -> None:
    """Nor learn which Patient ids exist: a create naming a Patient she may not read (POST, or PUT of a new id)
    gets the very answer one naming a Patient that does not exist gets; only the audit keeps the refusal's why."""
    alices = api.world.node._records.list(patient_address=api.world.alice.address, resource_type="Patient")[0]
    takeover = {"resourceType": "Patient", "id": alices.record_id, "name": [{"family": "Guardian"}]}
    guardian = api.client(api.world.guardian)
    _outcome(guardian.put(f"/Patient/{alices.record_id}", json=takeover), 404, "no record")  # hers to know of
    assert api.world.node._records.get(alices.record_id).patient_address == api.world.alice.address
    before = len(api.world.node._records.list())
    for write in ("POST", "PUT"):
        told = []
        for patient_id in (alices.record_id, str(uuid.uuid4())):
            new_id = str(uuid.uuid4())
            about = {**OBSERVATION, "id": new_id, "subject": {"reference": f"Patient/{patient_id}"}}
            url = "/Observation" if write == "POST" else f"/Observation/{new_id}"
            answer = guardian.request(write, url, json=about)
            told.append((answer.status_code, answer.text.replace(patient_id, "<id>").replace(new_id, "<new>")))
            _outcome(answer, 400, f"Observation refers to Patient/{patient_id}, which this node does not hold")
        assert told[0] == told[1], write
    refusals = [e.access for e in api.world.node.audit.entries(agent=api.world.guardian.address)[-6:]]
    assert [(r.allowed, r.interaction, r.patient) for r in refusals if "write labs" in (r.detail or "")] == [
        (False, "create", api.world.alice.address)  # the audit keeps the truth
    ] * 2
    assert len(api.world.node._records.list()) == before
