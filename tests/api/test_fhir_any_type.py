"""Every FHIR type storable, through fhirpy used the stock way by the node's care team.

Whose a record is comes from the instance, not its type: a Schedule, a Slot, an Appointment of
practitioners alone, a Group of practitioners are the node's own (any signed-in actor reads
them); an Appointment with a patient and an Account whose `subject` list names her are hers
(her care team and she read them; a stranger is told what an unknown id would tell).
One world and one real server for the module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from careledger.identity import Wallet
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A node whose care team is Dr Bob (an affiliation the node attested), behind a real server."""
    with built_world(Path(tmp_path_factory.mktemp("any-type")) / "home") as world, serving(world) as api:
        world.node.contracts.identity_registry(as_wallet=NODE_WALLET).attest(
            world.drbob.address, AFFILIATION, int(time.time()) + 3600
        )
        yield api


def _fhirpy(api: Api, wallet: Wallet) -> SyncFHIRClient:
    """fhirpy as its README has it: a base URL and an Authorization header (the SIWE sign-in's bearer token)."""
    return SyncFHIRClient(api.url, authorization=api.client(wallet).headers["Authorization"])


@pytest.fixture(scope="module")
def care_team(api: Api) -> SyncFHIRClient:
    return _fhirpy(api, api.world.drbob)


@pytest.fixture(scope="module")
def alice_patient_id(api: Api) -> str:
    """Alice's Patient, as she finds it herself."""
    (patient,) = _fhirpy(api, api.world.alice).resources("Patient").fetch()
    return str(patient.id)


@pytest.fixture(scope="module")
def practitioner(care_team: SyncFHIRClient) -> str:
    doctor = care_team.resource(
        "Practitioner", name=[{"family": "Bob"}], identifier=[{"system": "urn:npi", "value": "7"}]
    )
    doctor.save()
    return f"Practitioner/{doctor.id}"


@pytest.fixture(scope="module")
def room(care_team: SyncFHIRClient) -> str:
    location = care_team.resource("Location", name="Room 12", status="active")
    location.save()
    return f"Location/{location.id}"


def _ids(found: list[object]) -> set[str]:
    return {str(resource.id) for resource in found}  # type: ignore[attr-defined]


def _read_by_stranger_and_everyone(api: Api, path: str) -> None:
    """A resource of the node's own: any signed-in actor reads it, a stranger to the care team too."""
    for who in (api.world.mallory, api.world.alice):
        response = api.client(who).get(path)
        assert response.status_code == 200, (who.name, response.text)


def test_a_schedule_and_its_slots_are_the_nodes_own(
    api: Api, care_team: SyncFHIRClient, practitioner: str, room: str
) -> None:
    schedule = care_team.resource(
        "Schedule",
        active=True,
        actor=[{"reference": practitioner}, {"reference": room}],
        planningHorizon={"start": "2026-11-02T08:00:00Z", "end": "2026-11-02T17:00:00Z"},
        comment="Dr Bob's Monday clinic",
    )
    schedule.save()
    assert schedule["meta"]["versionId"] == "1"
    fetched = care_team.reference("Schedule", schedule.id).to_resource()
    assert fetched["comment"] == "Dr Bob's Monday clinic"
    assert _ids(care_team.resources("Schedule").search(actor=practitioner).fetch()) == {schedule.id}
    fetched["comment"] = "Dr Bob's Monday clinic, room 12"
    fetched.save()
    again = care_team.reference("Schedule", schedule.id).to_resource()
    assert (again["comment"], again["meta"]["versionId"]) == ("Dr Bob's Monday clinic, room 12", "2")

    slots = []
    for start, end in (("09:00", "09:30"), ("09:30", "10:00")):
        slot = care_team.resource(
            "Slot",
            schedule={"reference": f"Schedule/{schedule.id}"},
            status="free",
            start=f"2026-11-02T{start}:00Z",
            end=f"2026-11-02T{end}:00Z",
        )
        slot.save()
        slots.append(slot)
    found = care_team.resources("Slot").search(schedule=f"Schedule/{schedule.id}", status="free").fetch()
    assert _ids(found) == {slot.id for slot in slots}
    first = care_team.reference("Slot", slots[0].id).to_resource()
    first["status"] = "busy"
    first.save()
    assert care_team.reference("Slot", slots[0].id).to_resource()["status"] == "busy"
    assert _ids(care_team.resources("Slot").search(schedule=f"Schedule/{schedule.id}", status="free").fetch()) == {
        slots[1].id
    }

    _read_by_stranger_and_everyone(api, f"/Schedule/{schedule.id}")
    _read_by_stranger_and_everyone(api, f"/Slot/{slots[0].id}")


def test_an_appointment_of_practitioners_alone_is_the_nodes_own(
    api: Api, care_team: SyncFHIRClient, practitioner: str, room: str
) -> None:
    meeting = care_team.resource(
        "Appointment",
        status="booked",
        description="Cardiology handover",
        start="2026-11-02T12:00:00Z",
        end="2026-11-02T12:30:00Z",
        participant=[
            {"actor": {"reference": practitioner}, "status": "accepted"},
            {"actor": {"type": "Practitioner", "display": "Dr Eve (locum)"}, "status": "tentative"},
            {"actor": {"reference": room}, "status": "accepted"},
        ],
    )
    meeting.save()
    fetched = care_team.reference("Appointment", meeting.id).to_resource()
    assert fetched["description"] == "Cardiology handover"
    assert _ids(care_team.resources("Appointment").search(location=room).fetch()) == {meeting.id}
    fetched["status"] = "fulfilled"
    fetched.save()
    assert care_team.reference("Appointment", meeting.id).to_resource()["meta"]["versionId"] == "2"
    _read_by_stranger_and_everyone(api, f"/Appointment/{meeting.id}")


def test_an_appointment_with_a_patient_is_hers(
    api: Api, care_team: SyncFHIRClient, alice_patient_id: str, practitioner: str, room: str
) -> None:
    world = api.world
    visit = care_team.resource(
        "Appointment",
        status="booked",
        description="Follow-up",
        start="2026-11-03T10:00:00Z",
        end="2026-11-03T10:20:00Z",
        participant=[
            {"actor": {"reference": practitioner}, "status": "accepted"},
            {"actor": {"reference": f"Patient/{alice_patient_id}"}, "status": "accepted"},
            {"actor": {"reference": room}, "status": "accepted"},
        ],
    )
    visit.save()
    fetched = care_team.reference("Appointment", visit.id).to_resource()
    assert fetched["description"] == "Follow-up"
    assert _ids(care_team.resources("Appointment").search(patient=alice_patient_id).fetch()) == {visit.id}
    fetched["status"] = "arrived"
    fetched.save()
    assert care_team.reference("Appointment", visit.id).to_resource()["meta"]["versionId"] == "2"

    # She reads it with her own token, and finds it among hers.
    alice = _fhirpy(api, world.alice)
    assert alice.reference("Appointment", visit.id).to_resource()["status"] == "arrived"
    assert visit.id in _ids(alice.resources("Appointment").fetch())
    # The care team's reads of it are hers to see in her accounting.
    entity = f"Appointment/{visit.id}/_history/2"
    theirs = world.node.audit.entries(agent=world.drbob.address)
    assert any(e.access.patient == world.alice.address and entity in e.access.entities for e in theirs)


def test_a_stranger_to_the_care_team_is_told_the_patients_appointment_does_not_exist(
    api: Api, care_team: SyncFHIRClient, alice_patient_id: str, practitioner: str
) -> None:
    world = api.world
    visit = care_team.resource(
        "Appointment",
        status="proposed",
        participant=[
            {"actor": {"reference": practitioner}, "status": "needs-action"},
            {"actor": {"reference": f"Patient/{alice_patient_id}"}, "status": "needs-action"},
        ],
    )
    visit.save()
    stranger = api.client(world.mallory)
    refused, unknown = stranger.get(f"/Appointment/{visit.id}"), stranger.get("/Appointment/no-such-appointment")
    assert (refused.status_code, unknown.status_code) == (404, 404)
    assert refused.json()["issue"][0]["diagnostics"] == f"no record {visit.id}"
    assert stranger.get("/Appointment", params={"_id": visit.id}).json()["total"] == 0
    denial = world.node.audit.entries(agent=world.mallory.address)[-1]
    assert (denial.access.allowed, denial.access.patient) == (False, world.alice.address)
    with pytest.raises(ResourceNotFound):
        _fhirpy(api, world.mallory).reference("Appointment", visit.id).to_resource()


def test_an_account_whose_subject_list_names_her_is_hers_and_found_by_subject(
    api: Api, care_team: SyncFHIRClient, alice_patient_id: str, practitioner: str
) -> None:
    account = care_team.resource(
        "Account",
        status="active",
        name="Alice, inpatient stay",
        subject=[{"reference": f"Patient/{alice_patient_id}"}],
        owner={"display": "Ward 3"},
    )
    account.save()
    by_subject = care_team.resources("Account").search(subject=f"Patient/{alice_patient_id}").fetch()
    assert _ids(by_subject) == {account.id}
    assert _ids(care_team.resources("Account").search(patient=alice_patient_id).fetch()) == {account.id}
    fetched = care_team.reference("Account", account.id).to_resource()
    fetched["status"] = "inactive"
    fetched.save()
    assert care_team.reference("Account", account.id).to_resource()["meta"]["versionId"] == "2"
    assert (
        _fhirpy(api, api.world.alice).reference("Account", account.id).to_resource()["name"] == "Alice, inpatient stay"
    )
    assert api.client(api.world.mallory).get(f"/Account/{account.id}").status_code == 404

    # One that names nobody is the node's own; one that names two patients is refused, and says why.
    ward = care_team.resource("Account", status="active", name="Ward 3 supplies")
    ward.save()
    _read_by_stranger_and_everyone(api, f"/Account/{ward.id}")
    walk_in = care_team.resource(
        "Patient", name=[{"family": "Okafor"}], identifier=[{"system": "urn:mrn", "value": "MRN-ANY-1"}]
    )
    walk_in.save()
    both = care_team.resource(
        "Account",
        status="active",
        subject=[{"reference": f"Patient/{alice_patient_id}"}, {"reference": f"Patient/{walk_in.id}"}],
    )
    with pytest.raises(OperationOutcome, match="Account names 2 different patients"):
        both.save()


def test_a_group_of_practitioners_is_the_nodes_own(api: Api, care_team: SyncFHIRClient, practitioner: str) -> None:
    team = care_team.resource(
        "Group",
        type="practitioner",
        actual=True,
        name="Cardiology on call",
        member=[{"entity": {"reference": practitioner}}],
    )
    team.save()
    assert care_team.reference("Group", team.id).to_resource()["name"] == "Cardiology on call"
    assert _ids(care_team.resources("Group").search(member=practitioner).fetch()) == {team.id}
    fetched = care_team.reference("Group", team.id).to_resource()
    fetched["name"] = "Cardiology on call, nights"
    fetched.save()
    assert care_team.reference("Group", team.id).to_resource()["meta"]["versionId"] == "2"
    _read_by_stranger_and_everyone(api, f"/Group/{team.id}")
