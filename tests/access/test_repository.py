"""Consent enforcement: each attack refused, and each refusal in the audit log."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable
from functools import partial

import pytest

from careledger.access import AFFILIATION, Accessor, RecordAccess
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.errors import (
    AccessDenied,
    CareLedgerError,
    Conflict,
    PatientWithheld,
    TransactionReverted,
    UnheldPatient,
    UnknownRecord,
    http_status,
)
from careledger.records import Category, SearchQuery, StoredRecord, categorise, search_query
from tests.access.conftest import Statement, World, statements

DAY = 86_400.0


def _grant(world: World, categories: list[Category], purposes: list[Purpose] | None = None, **when: float) -> int:
    terms = world.consent.terms(
        world.alice.address,
        world.clinic.address,
        categories,
        purposes or [Purpose.TREAT],
        days=when.get("days", 30),
        starts=int(world.now[0] + when.get("starts_in", 0)),
    )
    return world.consent.grant(world.alice.name, terms).grant_id


def test_the_patient_and_the_custodian_read_without_a_grant(world: World) -> None:
    assert world.access.for_caller(Accessor(world.alice.address)).read(world.mental_health_id)["id"] == "depression-1"
    assert world.access.for_caller(Accessor(world.node.address)).read(world.labs_id)["id"] == world.labs_id
    entry = world.last_entry()
    assert entry.access.allowed
    assert entry.access.entities == (f"Observation/{world.labs_id}/_history/1",)


def test_no_consent_is_denied_and_audited(world: World) -> None:
    denial = world.assert_denied(world.clinic, world.labs_id, "no consent from the patient to labs records for TREAT")
    assert denial.access.purpose == "TREAT"
    assert denial.access.entities == (f"Observation/{world.labs_id}/_history/1",)


def test_a_grant_allows_its_category_and_nothing_else(world: World) -> None:
    _grant(world, [Category.LABS])
    assert world.access.for_caller(Accessor(world.clinic.address)).read(world.labs_id)["id"] == world.labs_id
    assert world.last_entry().access.allowed
    world.assert_denied(world.clinic, world.general_id, "no consent from the patient to general records")
    world.assert_denied(world.clinic, world.labs_id, "only de-identified", purpose=Purpose.HRESCH)


def test_a_general_grant_does_not_reach_a_sensitive_category(world: World) -> None:
    _grant(world, [c for c in Category if not c.sensitive])
    world.assert_denied(world.clinic, world.mental_health_id, "no consent names mental-health")
    _grant(world, [Category.MENTAL_HEALTH])
    assert world.access.for_caller(Accessor(world.clinic.address)).read(world.mental_health_id)["id"] == "depression-1"


def test_an_expired_consent_is_denied(world: World) -> None:
    _grant(world, [Category.LABS], days=1)
    world.travel(DAY + 1)
    world.assert_denied(world.clinic, world.labs_id, "has expired")


def test_a_consent_not_yet_valid_is_denied(world: World) -> None:
    _grant(world, [Category.LABS], starts_in=DAY)
    world.assert_denied(world.clinic, world.labs_id, "not valid yet")
    world.travel(DAY)
    assert world.access.for_caller(Accessor(world.clinic.address)).read(world.labs_id)


def test_a_revoke_is_honoured_from_the_next_block(world: World) -> None:
    grant_id = _grant(world, [Category.LABS])
    assert world.access.for_caller(Accessor(world.clinic.address)).read(world.labs_id)
    grant = world.consent.get(grant_id)
    world.registry(world.alice).revoke(grant.patient, grant.grantee, grant_id)  # straight to the chain
    revoked_in = world.node.chain.block_number()
    world.consent.sync()  # what the serving node does every second
    assert world.node.chain.block_number() == revoked_in
    world.assert_denied(world.clinic, world.labs_id, "the patient revoked the consent")
    assert world.consent.get(grant_id).revoked


def test_a_replayed_signed_consent_is_refused(world: World) -> None:
    alice = world.node.unlock(world.alice.name).account
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    signed = world.consent.sign(alice, terms)
    grant = world.consent.submit(world.clinic.name, signed)
    assert grant.granted_by == world.alice.address
    world.consent.revoke(world.alice.name, grant.grant_id)
    with pytest.raises(Conflict, match="already submitted"):
        world.consent.submit(world.clinic.name, signed)
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        world.registry(world.clinic).grant_by_signature(signed.terms, signed.deadline, signed.signature)
    world.assert_denied(world.clinic, world.labs_id, "revoked")


def test_a_consent_signed_by_someone_else_is_refused(world: World) -> None:
    mallory = world.node.unlock(world.mallory.name).account
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    forged = world.consent.sign(mallory, terms)
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        world.consent.submit(world.clinic.name, forged)
    world.assert_denied(world.clinic, world.labs_id, "no consent from the patient")


def test_a_delegate_grants_until_the_delegation_expires(world: World) -> None:
    world.consent.delegate(world.alice.name, world.guardian.address, [Category.LABS], days=1)
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    world.consent.grant(world.guardian.name, terms)
    assert world.access.for_caller(Accessor(world.clinic.address)).read(world.labs_id)
    world.travel(DAY + 1)
    later = world.consent.terms(world.alice.address, world.drbob.address, [Category.LABS], [Purpose.TREAT], days=30)
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        world.consent.grant(world.guardian.name, later)
    world.assert_denied(world.drbob, world.labs_id, "no consent from the patient")


def test_break_glass_needs_a_licensed_practitioner(world: World) -> None:
    denial = world.assert_denied(
        world.mallory, world.labs_id, "holds no valid medical-licence", purpose=Purpose.ETREAT, reason="collapsed"
    )
    assert denial.access.break_glass
    assert denial.access.interaction == "break-glass"
    world.assert_denied(world.drbob, world.labs_id, "no consent", purpose=Purpose.ETREAT)  # no reason given

    reason = "unconscious in the emergency department"
    emergency = Accessor(world.drbob.address, Purpose.ETREAT, reason)
    assert world.access.for_caller(emergency).read(world.mental_health_id)["id"] == "depression-1"
    opened, read = world.node.audit.entries()[-2:]
    assert (opened.access.interaction, opened.access.break_glass, opened.access.detail) == ("break-glass", True, reason)
    assert (read.access.allowed, read.access.break_glass) == (True, True)
    logs = world.node.contracts.consent_registry().contract.events.EmergencyAccess().get_logs(from_block=0)
    assert [(log["args"]["patient"], log["args"]["practitioner"]) for log in logs] == [
        (world.alice.address, world.drbob.address)
    ]
    assert reason.encode() not in bytes(logs[0]["args"]["reason_hash"])  # only a salted hash is on chain
    # The window stays open for ETREAT without a new reason, and for nothing else.
    assert world.access.for_caller(Accessor(world.drbob.address, Purpose.ETREAT)).read(world.labs_id)
    world.assert_denied(world.drbob, world.labs_id, "no consent", purpose=Purpose.TREAT)


def test_a_patient_may_turn_break_glass_off(world: World) -> None:
    world.registry(world.alice).set_emergency_access(world.alice.address, False)
    with pytest.raises(AccessDenied, match="turned emergency access off"):
        world.access.for_caller(Accessor(world.drbob.address, Purpose.ETREAT, "collapsed")).read(world.labs_id)
    assert not world.last_entry().access.allowed


def test_search_returns_what_the_consent_allows_and_audits_per_patient(world: World) -> None:
    _grant(world, [Category.LABS])
    found = world.access.for_caller(Accessor(world.clinic.address)).search(
        SearchQuery(patient_address=world.alice.address)
    )
    assert found
    assert {categorise(r) for r in found} == {Category.LABS}
    entry = world.last_entry()
    assert entry.access.interaction == "search-type"
    assert len(entry.access.entities) == len(found)
    assert "withheld" in (entry.access.detail or "")


def test_a_search_that_finds_only_withheld_records_answers_as_one_that_finds_none(world: World) -> None:
    """No oracle: the caller cannot tell 'someone has this code' from 'nobody has'; the audit can."""
    query = SearchQuery(patient_address=world.alice.address)
    assert world.access.for_caller(Accessor(world.drbob.address)).search(query) == []
    denied = world.last_entry().access
    assert (denied.allowed, denied.agent, denied.patient) == (False, world.drbob.address, world.alice.address)
    assert "withheld" in (denied.detail or "")
    assert "mental-health" in (denied.detail or "")
    before = len(world.node.audit.entries())
    nobody = SearchQuery(patient_address=world.drbob.address)
    assert world.access.for_caller(Accessor(world.drbob.address)).search(nobody) == []
    assert len(world.node.audit.entries()) == before


def test_the_custodians_care_team_reads_what_the_node_holds_but_others_sensitive_records(world: World) -> None:
    registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
    drbob = Accessor(world.drbob.address)
    world.assert_denied(world.drbob, world.labs_id, "no consent")  # not on the care team yet
    registry.attest(world.drbob.address, AFFILIATION, int(world.now[0]) + 86_400)
    world.access = _fresh(world)  # the care team is remembered for a few seconds; a new door asks the chain
    for record_id in (world.labs_id, world.general_id):
        assert world.access.for_caller(drbob).read(record_id)["id"] == record_id
        entry = world.last_entry()
        assert (entry.access.allowed, entry.access.detail) == (True, "the custodian's care team")
        assert entry in world.node.audit.entries(patient=world.alice.address)  # in her accounting
    world.assert_denied(world.drbob, world.mental_health_id, "mental-health")  # written by another
    world.assert_denied(world.drbob, world.labs_id, "HRESCH", purpose=Purpose.HRESCH)
    world.assert_denied(world.mallory, world.labs_id, "no consent")  # no affiliation from this node

    # Alice keeps her labs from the hospital's care team, on chain: honoured at the next sync.
    world.consent.restrict_care_team(world.alice.name, world.alice.address, world.node.address, [Category.LABS])
    world.assert_denied(world.drbob, world.labs_id, "the patient keeps labs records from the care team")
    assert world.access.for_caller(drbob).read(world.general_id)["id"] == world.general_id
    world.consent.restrict_care_team(world.alice.name, world.alice.address, world.node.address, [])
    assert world.access.for_caller(drbob).read(world.labs_id)["id"] == world.labs_id

    note = world.access.for_caller(drbob).write(
        {**world.node._records.read(world.mental_health_id), "id": "psy-by-bob"}
    )
    assert (note.category, note.author) == (Category.MENTAL_HEALTH, world.drbob.address)
    assert world.access.for_caller(drbob).read("psy-by-bob")["id"] == "psy-by-bob"  # her own note


def _fresh(world: World) -> RecordAccess:
    return RecordAccess(
        world.node._records,
        lambda: world.consent,
        world.node.audit,
        world.node.db,
        custodian=world.node.address,
        identity=world.node.contracts.identity_registry,
        registry_as=world.node._consent_registry_as,
        payers=lambda: world.node.claims.payers,
    )


def test_a_stranger_s_quantity_search_opens_none_of_the_records_she_may_not_see(world: World) -> None:
    """Narrowed to the patients she may see before anything is decrypted: with every blob gone, a stranger's
    search still answers (nothing), while the patient's own, which must open her records to compare, cannot."""
    query, _ = search_query("Observation", [("value-quantity", "ge0")], patient_address=None)
    shutil.rmtree(world.node.home.blobs_dir)
    assert world.access.for_caller(Accessor(world.mallory.address)).search(query) == []
    with pytest.raises(CareLedgerError):
        world.access.for_caller(Accessor(world.alice.address)).search(query)
    refused = world.node.audit.entries(agent=world.mallory.address)[-1].access  # what she matched: audited after
    assert (refused.agent, refused.patient, refused.allowed) == (world.mallory.address, world.alice.address, False)
    assert "withheld labs" in (refused.detail or "")


@pytest.mark.parametrize("sort", [(("_lastUpdated", False),), (("_tag", False),)], ids=["index-ordered", "decrypted"])
def test_a_page_discloses_only_the_records_on_it(world: World, sort: tuple[tuple[str, bool], ...]) -> None:
    """The care team pages through two patients' records one at a time: a patient none of whose records is on a
    page was disclosed nothing by it, so her accounting shows no read for it, only what it withheld of hers."""
    registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.attest(world.drbob.address, AFFILIATION, int(world.now[0]) + 86_400)
    world.access = _fresh(world)
    guardian = {"resourceType": "Patient", "name": [{"family": "Guardian"}]}
    guardian_id = world.node._records.write(guardian, patient_address=world.guardian.address).record_id
    drbob = world.access.for_caller(Accessor(world.drbob.address))
    query = SearchQuery(sort=sort)
    order = [r["id"] for r in drbob.search(query)]
    alices = next(i for i, record_id in enumerate(order) if record_id != guardian_id)
    for offset, on_page, off_page in (
        (order.index(guardian_id), world.guardian.address, world.alice.address),
        (alices, world.alice.address, world.guardian.address),
    ):
        since = len(world.node.audit.entries())
        [shown] = drbob.search_page(query, offset=offset, count=1).resources
        entries = [e.access for e in world.node.audit.entries()[since:]]
        [disclosed] = [e for e in entries if e.patient == on_page]
        assert disclosed.allowed
        assert [e.split("/")[1] for e in disclosed.entities] == [shown["id"]]
        withheld = [e for e in entries if e.patient == off_page]
        if off_page == world.alice.address:  # her mental-health record, written by another, is not the team's
            assert [(e.allowed, e.entities) for e in withheld] == [(False, ())]
            assert "withheld mental-health" in (withheld[0].detail or "")
        else:
            assert withheld == []


def test_a_write_naming_a_patient_its_writer_may_not_read_is_refused_as_one_not_here(world: World) -> None:
    """In the words and status of a Patient this node does not hold, yet still an `AccessDenied` (the device
    recorder drops a revoked binding's readings on it); a writer who may read the Patient keeps the policy's 403."""
    patient = _her_patient(world)
    door = world.access.for_caller(Accessor(world.clinic.address))
    reading = _reading
    with pytest.raises(PatientWithheld) as withheld:
        door.write(reading(patient.record_id))
    assert "no consent from the patient to write labs" in (world.last_entry().access.detail or "")
    with pytest.raises(UnheldPatient) as unheld:
        door.write(reading("not-here"))
    assert isinstance(withheld.value, AccessDenied)  # a refusal still, to those who act on refusals
    assert not isinstance(unheld.value, AccessDenied)
    told = [
        (http_status(e.value), e.value.public.replace(i, "<id>"))
        for e, i in ((withheld, patient.record_id), (unheld, "not-here"))
    ]
    assert told[0] == told[1] == ((400, "invalid"), "Observation refers to Patient/<id>, which this node does not hold")
    _grant(world, [Category.GENERAL])  # her Patient the clinic now reads; her labs it still may not write
    with pytest.raises(AccessDenied, match="no consent from the patient to write labs") as refused:
        door.write(reading(patient.record_id))
    assert type(refused.value) is AccessDenied


def _her_patient(world: World) -> StoredRecord:
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    return patient


def _reading(patient_id: str) -> dict[str, object]:
    """A lab Observation of the Patient `patient_id`."""
    lab = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [lab],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def _provenance(*targets: str) -> dict[str, object]:
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target} for target in targets],
        "recorded": "2024-03-04T10:00:00Z",
        "agent": [{"who": {"display": "the emergency team"}}],
    }


def _told(write: Callable[[], object], record_id: str) -> tuple[int, str, str]:
    """A refused write's status, code and words, the id it named written as `<id>`."""
    with pytest.raises(CareLedgerError) as refused:
        write()
    return (*http_status(refused.value), refused.value.public.replace(record_id, "<id>"))


def test_a_write_that_names_her_records_opens_no_break_glass_window(world: World) -> None:
    """Break-glass is an explicit read. A write for ETREAT with a reason (which no write is allowed for) names her
    records (a Provenance's targets, the Patient of a refused write, the record it deletes): judging them opens no
    window, sends no `EmergencyAccess`, and answers as for ids not here, for a licensed practitioner and for one
    whose break-glass would be refused (its 403 told that the record exists)."""
    patient = _her_patient(world)
    for who in (world.drbob, world.mallory):
        door = world.access.for_caller(Accessor(who.address, Purpose.ETREAT, "collapsed in the car park"))
        for body, hers in ((lambda i: _provenance(f"Observation/{i}"), world.labs_id), (_reading, patient.record_id)):
            assert _told(partial(door.write, body(hers)), hers) == _told(partial(door.write, body("x")), "x")
        with pytest.raises(AccessDenied):
            door.delete(world.labs_id)
    logs = world.node.contracts.consent_registry().contract.events.EmergencyAccess().get_logs(from_block=0)
    assert logs == []
    assert not [e for e in world.node.audit.entries() if e.access.interaction == "break-glass"]
    world.assert_denied(world.drbob, world.labs_id, "no consent", purpose=Purpose.ETREAT)  # no window is open


def test_a_provenances_targets_are_judged_in_one_audit_commit(world: World) -> None:
    """Every target is judged and its read audited in one commit, before the write or its refusal."""
    targets = [f"Observation/{world.labs_id}", "Observation/not-here", f"Condition/{world.mental_health_id}"]
    clinic = world.access.for_caller(Accessor(world.clinic.address))
    with statements(world.node) as ran, pytest.raises(UnknownRecord):
        clinic.write(_provenance(*targets))
    assert _audit_inserts(ran) == 1
    reads = [e.access for e in world.node.audit.entries(agent=world.clinic.address)[-3:]]
    assert [(a.interaction, a.allowed) for a in reads] == [("read", False)] * 3
    alice = world.access.for_caller(Accessor(world.alice.address))
    with statements(world.node) as ran:
        alice.write(_provenance(targets[0], targets[2]))
    assert _audit_inserts(ran) == 2  # her reads of both targets, then the write with its entry


def _audit_inserts(ran: list[Statement]) -> int:
    """How many times audit entries were inserted (each insert is one commit's entries)."""
    return sum(s.sql.startswith("INSERT INTO audit_events") for s in ran)


def test_a_refused_write_from_the_event_loop_reads_and_audits_off_it(world: World) -> None:
    """The answer of a refused `write_async` judges the Patient it names and commits its audit entry: neither on
    the event loop's thread, where it would hold up every other request."""
    door = world.access.for_caller(Accessor(world.clinic.address))
    draft = door.prepare(_reading(_her_patient(world).record_id))

    async def write() -> int:
        with pytest.raises(PatientWithheld):
            await door.write_async(draft)
        return threading.get_ident()

    with statements(world.node) as ran:
        loop = asyncio.run(write())
    assert any(s.sql.startswith("SELECT") for s in ran)
    assert [s.sql for s in ran if s.thread == loop] == []
    assert "no consent from the patient to write labs" in (world.last_entry().access.detail or "")
