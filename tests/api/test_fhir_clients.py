"""A widely used third-party FHIR client (fhirpy) talks to the node as to any FHIR server."""

from __future__ import annotations

from fhirpy import SyncFHIRClient

from tests.api.conftest import Api


def test_fhirpy_creates_reads_searches_and_updates(api: Api) -> None:
    token = api.client(api.world.alice).headers["Authorization"]
    client = SyncFHIRClient(api.url, authorization=token)
    (patient,) = api.world.node.records.list(patient_address=api.world.alice.address, resource_type="Patient")
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
