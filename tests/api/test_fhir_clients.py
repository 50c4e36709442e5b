"""Widely used third-party FHIR clients (fhirpy, SMART's fhirclient) talk to the node as to any FHIR server."""

from __future__ import annotations

import time

from fhirclient import client
from fhirclient.models import location
from fhirpy import SyncFHIRClient

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from tests.api.conftest import Api


def test_fhirpy_creates_reads_searches_and_updates(api: Api) -> None:
    token = api.client(api.world.alice).headers["Authorization"]
    client = SyncFHIRClient(api.url, authorization=token)
    (patient,) = api.world.node._records.list(patient_address=api.world.alice.address, resource_type="Patient")
    observation = client.resource(
        "Observation",
        status="final",
        code={"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        subject={"reference": f"Patient/{patient.record_id}"},
        valueQuantity={"value": 72, "unit": "beats/minute"},
    )
    observation.save()
    assert observation.id
    assert observation["meta"]["versionId"] == "1"

    fetched = client.reference("Observation", observation.id).to_resource()
    assert fetched["valueQuantity"]["value"] == 72

    found = client.resources("Observation").search(patient=patient.record_id, _id=observation.id).fetch()
    assert [r.id for r in found] == [observation.id]

    fetched["status"] = "amended"
    fetched.save()
    again = client.reference("Observation", observation.id).to_resource()
    assert (again["status"], again["meta"]["versionId"]) == ("amended", "2")


def test_the_nodes_care_team_works_through_fhirpy_and_fhirclient(api: Api) -> None:
    """A practitioner the node attested an affiliation to: the chart and the node's own resources, stock clients."""
    world = api.world
    world.node.contracts.identity_registry(as_wallet=NODE_WALLET).attest(
        world.drbob.address, AFFILIATION, int(time.time()) + 3600
    )
    token = api.client(world.drbob).headers["Authorization"]
    fhirpy = SyncFHIRClient(api.url, authorization=token)

    # A walk-in patient with no wallet: registered at the front desk, charted, found, corrected.
    patient = fhirpy.resource(
        "Patient",
        name=[{"family": "Okafor", "given": ["Ngozi"]}],
        birthDate="1984-07-12",
        identifier=[{"system": "urn:mrn", "value": "MRN-1"}],
    )
    patient.save()
    assert fhirpy.reference("Patient", patient.id).to_resource()["birthDate"] == "1984-07-12"
    assert [r.id for r in fhirpy.resources("Patient").search(identifier="urn:mrn|MRN-1").fetch()] == [patient.id]
    patient["gender"] = "female"
    patient.save()
    assert fhirpy.reference("Patient", patient.id).to_resource()["meta"]["versionId"] == "2"
    custodial = world.node._records.get(patient.id).patient_address
    assert world.node.contracts.identity_registry().custodian_of(custodial) == world.node.address

    pulse = fhirpy.resource(
        "Observation",
        status="final",
        code={"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        subject={"reference": f"Patient/{patient.id}"},
        effectiveDateTime="2026-11-02T09:30:00Z",
        valueQuantity={"value": 64, "unit": "beats/minute"},
    )
    pulse.save()
    by_code = fhirpy.resources("Observation").search(patient=patient.id, code="http://loinc.org|8867-4")
    assert [r.id for r in by_code.fetch()] == [pulse.id]
    assert [r.id for r in fhirpy.resources("Observation").search(date="2026-11-02").fetch()] == [pulse.id]
    pulse.delete()
    assert world.node._records.get(pulse.id).deleted

    # Alice's chart, held by the same node: the care team reads it for treatment.
    assert fhirpy.reference("Observation", world.labs_id).to_resource().id == world.labs_id

    # The node's own resources: an Organization and a Practitioner by fhirpy, a Location by fhirclient.
    ward = fhirpy.resource("Organization", name="Cardiology", identifier=[{"system": "urn:org", "value": "card-1"}])
    ward.save()
    doctor = fhirpy.resource("Practitioner", name=[{"family": "Bob"}], identifier=[{"system": "urn:npi", "value": "1"}])
    doctor.save()
    assert fhirpy.reference("Organization", ward.id).to_resource()["name"] == "Cardiology"
    assert [r.id for r in fhirpy.resources("Practitioner").search(identifier="urn:npi|1").fetch()] == [doctor.id]

    smart = client.FHIRClient(settings={"app_id": "careledger-test", "api_base": api.url + "/"})
    smart.server.session.headers["Authorization"] = token
    room = location.Location({"name": "Room 12", "status": "active", "identifier": [{"value": "room-12"}]})
    created = room.create(smart.server)
    assert created is not None
    read = location.Location.read(created["id"], smart.server)
    assert (read.name, read.meta.versionId) == ("Room 12", "1")
    found = list(location.Location.where(struct={"identifier": "room-12"}).perform_resources_iter(smart.server))
    assert [r.id for r in found] == [read.id]

    # Anyone signed in reads them; only the node and its care team write them.
    alice = api.client(world.alice)
    assert alice.get(f"/Organization/{ward.id}").status_code == 200
    assert alice.get("/Location", params={"identifier": "room-12"}).json()["total"] == 1
    refused = api.client(world.mallory).post("/Organization", json={"resourceType": "Organization", "name": "Mine"})
    assert refused.status_code == 403, refused.text
