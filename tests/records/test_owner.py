"""Whose a record is, decided per instance from the Patient compartment's parameters (every item of a list read).

None named: the node's own (sealed to its key, like an Organization). One of its Patients: hers.
Several different Patients: a 400 that says which. A Patient it cannot file under: a 400 too.
"""

from __future__ import annotations

from typing import Any

import pytest

from careledger.errors import ValidationError
from careledger.fhir import compartment_references, patient_compartment
from careledger.records import RecordService, search_query
from careledger.records._fhir import patient_reference, patients_named
from careledger.records._rows import owner_of
from careledger.records._tokens import Token, tokens
from tests.records.conftest import Keys

Resource = dict[str, Any]

SCHEDULE: Resource = {
    "resourceType": "Schedule",
    "active": True,
    "actor": [{"reference": "Practitioner/dr-bob"}, {"reference": "Location/room-12"}],
}
SLOT: Resource = {
    "resourceType": "Slot",
    "schedule": {"reference": "Schedule/s1"},
    "status": "free",
    "start": "2026-11-02T09:00:00Z",
    "end": "2026-11-02T09:30:00Z",
}
GROUP_OF_PRACTITIONERS: Resource = {
    "resourceType": "Group",
    "type": "practitioner",
    "actual": True,
    "member": [{"entity": {"reference": "Practitioner/dr-bob"}}, {"entity": {"reference": "Practitioner/dr-eve"}}],
}


def _appointment(*actors: str) -> Resource:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"actor": {"reference": actor}, "status": "accepted"} for actor in actors],
    }


def _account(*subjects: str) -> Resource:
    account: Resource = {"resourceType": "Account", "status": "active", "name": "Ward 3"}
    return account | ({"subject": [{"reference": s} for s in subjects]} if subjects else {})


def _patient(records: RecordService, keys: Keys, patient_id: str) -> str:
    """A Patient of the node's, `Patient/<patient_id>`, and her wallet's address."""
    address = keys.new_patient()
    records.write({"resourceType": "Patient", "id": patient_id}, patient_address=address)
    return address


@pytest.mark.parametrize(
    "resource",
    [
        SCHEDULE,
        SLOT,
        _appointment("Practitioner/dr-bob", "Location/room-12"),
        _account(),
        GROUP_OF_PRACTITIONERS,
        {
            **_appointment("Practitioner/dr-bob"),
            "participant": [{"actor": {"type": "Practitioner", "display": "Dr Bob"}, "status": "accepted"}],
        },
    ],
    ids=["schedule", "slot", "practitioners-appointment", "account-no-subject", "group-of-practitioners", "display"],
)
def test_a_record_that_names_no_patient_is_the_nodes_own(
    records: RecordService, keys: Keys, resource: Resource
) -> None:
    stored = records.write(resource)
    assert (stored.patient_id, stored.patient_address) == (None, keys.custodian_address)
    assert records.read(stored.record_id)["resourceType"] == resource["resourceType"]  # sealed to the node's key


def test_a_record_that_names_one_patient_is_hers(records: RecordService, keys: Keys) -> None:
    address = _patient(records, keys, "ana")
    for resource in (
        _account("Patient/ana"),
        _appointment("Practitioner/dr-bob", "Patient/ana", "Location/room-12"),
        {**GROUP_OF_PRACTITIONERS, "type": "person", "member": [{"entity": {"reference": "Patient/ana"}}]},
    ):
        stored = records.write(resource)
        assert (stored.patient_id, stored.patient_address) == ("ana", address), resource["resourceType"]


def test_someone_named_by_display_beside_her_patient_leaves_the_record_hers(records: RecordService, keys: Keys) -> None:
    """An author or performer by display alone is everyday FHIR: with her Patient named, the record is hers."""
    address = _patient(records, keys, "ana")
    note = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": "Patient/ana"},
        "author": [{"display": "Dr Eve"}, {"identifier": {"system": "urn:staff", "value": "E-1"}}],
        "content": [{"attachment": {"contentType": "text/plain", "data": "b2s="}}],
    }
    assert records.write(note).patient_address == address


def test_the_same_patient_named_twice_is_still_hers(records: RecordService, keys: Keys) -> None:
    address = _patient(records, keys, "ana")
    stored = records.write(_account("Patient/ana", "Patient/ana/_history/1", "Practitioner/dr-bob"))
    assert (stored.patient_id, stored.patient_address) == ("ana", address)
    coverage = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": "Patient/ana"},
        "subscriber": {"reference": "Patient/ana"},
        "payor": [{"reference": "Patient/ana"}],
    }
    assert records.write(coverage).patient_address == address


def test_a_record_that_names_two_different_patients_is_refused_and_says_which(
    records: RecordService, keys: Keys
) -> None:
    _patient(records, keys, "ana")
    _patient(records, keys, "ben")
    with pytest.raises(ValidationError, match=r"^Account names 2 different patients: Patient/ana \(subject\), "):
        records.write(_account("Patient/ana", "Patient/ben"))
    with pytest.raises(ValidationError, match=r"Patient/ana \(actor\), Patient/ben \(actor\); a record is one"):
        records.write(_appointment("Patient/ana", "Practitioner/dr-bob", "Patient/ben"))
    coverage = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": "Patient/ana"},
        "subscriber": {"reference": "Patient/ben"},
        "payor": [{"reference": "Organization/insurer"}],
    }
    with pytest.raises(ValidationError, match=r"Patient/ben \(subscriber\), Patient/ana \(beneficiary\)"):
        records.write(coverage)
    # Refused before anything is stored, whichever patient is unknown.
    assert records.list(resource_type="Account") == []
    with pytest.raises(ValidationError, match="2 different patients"):
        records.write(_account("Patient/ana", "Patient/nobody"))


@pytest.mark.parametrize(
    ("subject", "shown"),
    [
        ({"reference": "https://elsewhere.example/fhir/Patient/ana"}, "elsewhere.example"),
        ({"reference": "urn:uuid:4f1c2a86-4f6b-4c1e-9c55-2d8d1f0b6b6e"}, "urn:uuid:"),
        ({"reference": "#p1"}, "#p1"),
        ({"type": "Patient", "identifier": {"system": "urn:mrn", "value": "MRN-1"}}, "MRN-1"),
        ({"identifier": {"system": "urn:mrn", "value": "MRN-2"}}, "MRN-2"),
        ({"display": "Ana Lima"}, "Ana Lima"),
    ],
    ids=["absolute-url", "unresolved-urn", "contained", "by-identifier", "by-untyped-identifier", "by-display"],
)
def test_a_patient_the_node_cannot_file_under_is_refused_not_made_the_nodes(
    records: RecordService, subject: Resource, shown: str
) -> None:
    condition = {
        "resourceType": "Condition",
        "subject": subject,
        "code": {"text": "asthma"},
        "contained": [{"resourceType": "Patient", "id": "p1"}],
    }
    with pytest.raises(ValidationError, match=f"names a Patient this node cannot file it under: .*{shown}"):
        records.write(condition)


def test_a_record_fetched_from_another_node_keeps_the_owner_it_was_bound_to(keys: Keys) -> None:
    given = keys.new_patient()
    abroad = {**_account(), "subject": [{"reference": "https://elsewhere.example/fhir/Patient/ana"}]}
    assert owner_of(abroad, None, given, {}, keys.custodian_address) == (None, given)
    assert owner_of(_account("Patient/ana"), None, given, {}, keys.custodian_address) == ("ana", given)
    assert owner_of(SCHEDULE, None, given, {}, keys.custodian_address) == (None, given)
    with pytest.raises(ValidationError, match="2 different patients"):
        owner_of(_account("Patient/ana", "Patient/ben"), None, given, {}, keys.custodian_address)


def test_patients_named_reads_every_item_of_list_valued_elements() -> None:
    named = patients_named(_appointment("Practitioner/dr-bob", "Location/room-12", "Patient/ana"))
    assert (named.ids, named.elsewhere) == ({"ana": "actor"}, [])
    assert patients_named(_account("Practitioner/dr-bob", "Patient/ana", "Patient/ben")).ids == {
        "ana": "subject",
        "ben": "subject",
    }
    assert patients_named({"resourceType": "Observation", "subject": {"reference": "Group/g1"}}).ids == {}
    assert patients_named({"resourceType": "Organization", "partOf": {"reference": "Patient/ana"}}).ids == {}
    assert patient_reference(_account("Practitioner/dr-bob", "Patient/ana")) == "ana"
    assert patient_reference(SCHEDULE) is None


def test_every_compartment_type_names_its_patients_through_served_parameters() -> None:
    """No type of the compartment has an element the index cannot read: each parameter resolves to a path."""
    for resource_type in patient_compartment():
        assert list(compartment_references({"resourceType": resource_type})) == [], resource_type


def test_every_item_of_a_list_valued_reference_is_indexed(records: RecordService, keys: Keys) -> None:
    address = _patient(records, keys, "ana")
    account = records.write(_account("Patient/ana", "Practitioner/dr-bob"))
    assert {Token("subject", value="Patient/ana"), Token("subject", value="Practitioner/dr-bob")} <= set(
        tokens(_account("Patient/ana", "Practitioner/dr-bob"))
    )
    for value in ("Patient/ana", "Practitioner/dr-bob"):
        query, unknown = search_query("Account", [("subject", value)], patient_address=None)
        assert unknown == []
        assert [s.record_id for s in records.search(query)] == [account.record_id], value
    query, _ = search_query("Account", [("patient", "ana")], patient_address=address)
    assert [s.record_id for s in records.search(query)] == [account.record_id]


def _provenance(*targets: str) -> Resource:
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target} for target in targets],
        "recorded": "2024-03-04T10:00:00Z",
        "agent": [{"who": {"display": "the care team"}}],
    }


def test_a_provenance_is_the_patients_whose_records_it_targets(records: RecordService, keys: Keys) -> None:
    """FHIR's compartment names her only through a target that is her Patient; a Provenance of her records is
    hers all the same, or it would be the node's own, readable by every signed-in actor."""
    address = _patient(records, keys, "ana")
    observation = records.write(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/ana"},
        }
    )
    stored = records.write(_provenance(f"Observation/{observation.record_id}", "Patient/ana"))
    assert (stored.patient_id, stored.patient_address) == ("ana", address)
    in_one_batch = records.store(
        [
            records.prepare({**_provenance("Observation/later"), "id": "p-later"}),
            records.prepare({"resourceType": "Observation", "id": "later", "status": "final", "code": {"text": "y"},
                             "subject": {"reference": "Patient/ana"}}),
        ]
    )  # fmt: skip
    assert in_one_batch[0].patient_address == address  # judged after its target, wherever the batch put it
    organization = records.write({"resourceType": "Organization", "name": "Ward 3"})
    own = records.write(_provenance(f"Organization/{organization.record_id}"))
    assert (own.patient_id, own.patient_address) == (None, keys.custodian_address)


def test_a_provenance_of_two_patients_records_is_refused_naming_no_one(records: RecordService, keys: Keys) -> None:
    _patient(records, keys, "ana")
    _patient(records, keys, "ben")
    observation = records.write(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/ben"},
        }
    )
    with pytest.raises(ValidationError, match=r"^Provenance is about the records of 2 different patients; ") as told:
        records.write(_provenance(f"Observation/{observation.record_id}", "Patient/ana"))
    assert "Patient/" not in str(told.value)  # whose they are is not said
    assert "0x" not in str(told.value)


def _observation(records: RecordService, patient_id: str) -> str:
    subject = {"reference": f"Patient/{patient_id}"}
    return records.write(
        {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": subject}
    ).record_id


def test_a_provenance_of_a_record_this_node_does_not_hold_is_refused(records: RecordService, keys: Keys) -> None:
    """Filed as the node's own, it would be readable by every signed-in actor: a target not here yet (or of
    another type than its reference says) is refused, beside a record of the node's own too."""
    _patient(records, keys, "ana")
    observation = _observation(records, "ana")
    organization = records.write({"resourceType": "Organization", "name": "Ward 3"}).record_id
    for targets in (["Observation/not-here"], [f"Organization/{organization}", "Observation/not-here"]):
        with pytest.raises(ValidationError, match="is about Observation/not-here, which this node does not hold"):
            records.write(_provenance(*targets))
    with pytest.raises(ValidationError, match=f"is about Condition/{observation}, which this node does not hold"):
        records.write(_provenance(f"Condition/{observation}"))


def test_a_provenance_of_another_servers_record_is_not_filed_under_a_local_patient(
    records: RecordService, keys: Keys
) -> None:
    """An absolute URL is another server's record, even one whose last parts spell a local record's type and id."""
    _patient(records, keys, "ana")
    observation = _observation(records, "ana")
    for target in (
        f"https://other.example/fhir/Observation/{observation}",
        f"https://other.example/fhir/Observation/{observation}/_history/1",
    ):
        stored = records.write(_provenance(target))
        assert (stored.patient_id, stored.patient_address) == (None, keys.custodian_address), target
