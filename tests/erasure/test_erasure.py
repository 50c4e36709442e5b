"""Erasure by key destruction between two real nodes: her psychotherapy note opens nowhere after she erases it, and
what she may not erase (a legal hold, a retention rule) or did not sign (forged, replayed, expired, another's
signature) is refused, every time in the audit log."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from eth_account.messages import encode_typed_data
from sqlalchemy import func, select

from careledger.access import Accessor
from careledger.audit import Access, Action, Outcome
from careledger.chain import Role
from careledger.client import FhirClient
from careledger.config import NODE_WALLET
from careledger.erasure import ANSWERED, WAITING, ErasureNotice, ErasureRequest
from careledger.errors import AccessDenied, CareLedgerError, Conflict, NotFound, Unauthenticated
from careledger.exchange import Outbox, forget_outbox
from careledger.iot import forget_journal
from careledger.node import Node
from careledger.store import RECORD_TOKENS, Device, DeviceReading
from careledger.store.models import Ticket
from tests.erasure.conftest import PHRASE, RETENTION, Pair, scan


def _erase_entries(node: Node, outcome: Outcome) -> list[Access]:
    return [e.access for e in node.audit.entries() if e.access.interaction == "erase" and e.access.outcome == outcome]


def _ref(pair: Pair, record_id: str) -> str:
    """A record of the hospital's as Type/id."""
    return f"{pair.hospital._records.get(record_id).resource_type}/{record_id}"


def _needles(node: Node, record_id: str) -> list[bytes]:
    """What of a record's versions a copy of the home could hold: their ciphertexts and sealed data keys."""
    found = []
    for stored in node._records.history(record_id):
        found.append(node._records.blobs.get(stored.cid or "")[40:72])
        found.append((stored.sealed_keys or "")[2:66].encode())
    return found


def _tokens(node: Node, record_id: str) -> list[bytes]:
    """A record's blind-index search tokens that no other record here shares (its `_id`'s, say), as stored: what
    still points at it. (Its code's or patient's tokens are every such record's.)"""
    with node.db.reading() as connection:
        rows = connection.execute(select(RECORD_TOKENS.c.record_id, RECORD_TOKENS.c.value, RECORD_TOKENS.c.system))
        tokens = [(row.record_id, token) for row in rows for token in (row.value, row.system) if token]
    shared = {token for owner, token in tokens if owner != record_id}
    return sorted({token.encode() for owner, token in tokens if owner == record_id and token not in shared})


def test_an_erased_psy_note_opens_nowhere_verifies_as_erased_and_leaves_no_byte_behind(pair: Pair) -> None:
    hospital, clinic = pair.hospital, pair.clinic
    # The phrase is a sanity check only: the note is never on disk in the clear, so it is found neither before nor
    # after. The real needles: what could open the note (ciphertexts, sealed data keys) and what still points at it
    # (its search tokens), at both nodes.
    tokens = [*_tokens(hospital, pair.note), *_tokens(clinic, pair.note)]
    assert len(tokens) >= 2  # its `_id` at each node, at least
    needles = [PHRASE.encode(), *_needles(hospital, pair.note), *_needles(clinic, pair.note), *tokens]
    homes = [hospital.home.path, clinic.home.path]
    before = [hit for home in homes for hit in scan(home, needles)]
    assert len({hit.rsplit("#", 1)[1] for hit in before}) == len(needles) - 1  # all but the phrase: sealed

    plan = hospital.erasure.preview(Accessor(pair.alice.address), pair.alice.address, [pair.note])
    assert [(r.record_id, r.versions) for r in plan.erasable] == [(pair.note, 2)]
    assert plan.peers == (clinic.address,)
    done = hospital.erasure.erase(pair.signed([pair.note]))

    assert (done.erased, done.versions, done.kept) == ((pair.note,), 2, ())
    (asked,) = done.peers
    assert (asked.peer, asked.status, asked.erased) == (clinic.address, ANSWERED, (pair.note,)), asked.problem
    for node in (hospital, clinic):
        for stored in node._records.history(pair.note):
            with pytest.raises(CareLedgerError):
                node._records.read(pair.note, stored.version)
        (entry,) = [a for a in _erase_entries(node, Outcome.SUCCESS) if f"Condition/{pair.note}" in a.entities]
        assert entry.patient == pair.alice.address
    checks = hospital.verify_record(pair.note)
    assert [c.step for c in checks] == ["erased", "anchored", "proof"]
    assert all(c.ok for c in checks)
    assert [hit for home in homes for hit in scan(home, needles)] == []
    assert hospital._records.read(pair.labs[0])["id"] == pair.labs[0]  # the rest of her chart is untouched


def test_a_record_under_legal_hold_is_refused_with_the_holds_name_until_it_is_lifted(pair: Pair) -> None:
    lab = pair.labs[1]
    hold = pair.hospital.erasure.holds.place(pair.hospital.address, pair.alice.address, "Doe v. Hospital", lab)
    with pytest.raises(Conflict, match=r"legal hold 'Doe v\. Hospital'"):
        pair.hospital.erasure.erase(pair.signed([lab]))
    assert pair.hospital._records.read(lab)["id"] == lab
    refused = [a for a in _erase_entries(pair.hospital, Outcome.DENIED) if _ref(pair, lab) in a.entities]
    assert [a.detail for a in refused] == ["kept by legal hold 'Doe v. Hospital'"]
    every = pair.hospital.erasure.preview(Accessor(pair.alice.address), pair.alice.address)
    kept = {k.record_id: k.rule for k in every.kept}
    assert kept[lab] == "legal hold 'Doe v. Hospital'"
    assert all(f"retention rule {RETENTION.name!r}" in kept[vital] for vital in pair.vitals)  # kept 10 years
    assert any("cannot be recalled" in note or "theirs" in note for note in every.notes)

    pair.hospital.erasure.holds.lift(pair.hospital.address, hold.hold_id)
    assert pair.hospital.erasure.erase(pair.signed([lab])).erased == (lab,)
    holds = [e.access for e in pair.hospital.audit.entries() if e.access.interaction == "legal-hold"]
    assert [(a.action, a.patient) for a in holds] == [
        (Action.CREATE, pair.alice.address),
        (Action.UPDATE, pair.alice.address),
    ]


def test_forged_replayed_expired_and_anothers_requests_are_refused_and_audited(pair: Pair) -> None:
    lab = pair.labs[2]
    refusals = len(_erase_entries(pair.hospital, Outcome.DENIED))
    genuine = pair.signed([lab])
    forged = dataclasses.replace(genuine, request=dataclasses.replace(genuine.request, scope={"all": True}))
    expired = ErasureRequest(pair.alice.address, pair.hospital.address, {"records": [lab]}, 7, int(time.time()) - 1)
    for attempt, refusal in [
        (forged, "not by the patient"),
        (pair.signed([lab], by="bob"), "not by the patient"),
        (pair.signed([lab], by=NODE_WALLET), "not by the patient"),  # Alice is no custodial patient of it
        (pair.hospital.erasure.sign(expired, pair.hospital.unlock("alice").account), "expired"),
    ]:
        with pytest.raises(Unauthenticated, match=refusal):
            pair.hospital.erasure.erase(attempt)
    assert pair.hospital.erasure.erase(genuine).erased == (lab,)
    with pytest.raises(Unauthenticated, match="replay"):
        pair.hospital.erasure.erase(genuine)
    with pytest.raises(NotFound):
        pair.hospital.erasure.erase(pair.signed([lab]))  # erased already: nothing of hers by that id
    denied = _erase_entries(pair.hospital, Outcome.DENIED)[refusals:]
    assert len(denied) == 6
    assert {a.patient for a in denied} == {pair.alice.address}
    with pytest.raises(AccessDenied):
        pair.hospital.erasure.preview(Accessor(pair.bob.address), pair.alice.address)


def test_a_notice_not_signed_by_its_sender_or_replayed_is_refused_by_the_node_that_fetched(pair: Pair) -> None:
    registry = pair.hospital.contracts.identity_registry().address
    notice = ErasureNotice.new(pair.hospital.address, pair.clinic.address, pair.signed([pair.labs[3]]))
    forged = notice.sign(pair.hospital.unlock("bob").account, pair.hospital.chain_id, registry)
    with pytest.raises(Unauthenticated, match="not signed by its sender"):
        pair.clinic.erasure.answer(forged)
    signed = notice.sign(pair.hospital.unlock(NODE_WALLET).account, pair.hospital.chain_id, registry)
    answer = pair.clinic.erasure.answer(signed)
    assert answer["request"]["outcome"]["erased"] == [pair.labs[3]]
    with pytest.raises(Unauthenticated, match="replay"):
        pair.clinic.erasure.answer(signed)
    stranger = ErasureRequest.new(pair.alice.address, pair.hospital.address, [pair.labs[4]])
    not_hers = ErasureNotice.new(
        pair.hospital.address,
        pair.clinic.address,
        stranger.sign(pair.hospital.unlock("bob").account, pair.hospital.chain_id, registry),
    )
    with pytest.raises(Unauthenticated, match="not by the patient"):
        pair.clinic.erasure.answer(
            not_hers.sign(pair.hospital.unlock(NODE_WALLET).account, pair.hospital.chain_id, registry)
        )
    assert pair.clinic._records.read(pair.labs[4])["id"] == pair.labs[4]


def test_a_node_that_is_down_is_asked_again_and_the_status_says_it_has_not_answered(pair: Pair) -> None:
    from eth_account import Account

    from careledger.api import free_port

    dead = Account.create()
    pair.hospital.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        dead.address,
        Role.ORG,
        pair.alice.encryption_key,
        f"http://127.0.0.1:{free_port()}",  # nothing listens
    )
    lab = pair.labs[5]
    # The node fetched her lab (as the custodian's audit records every share).
    pair.hospital.audit.record(
        Access(
            Action.EXECUTE,
            "share",
            Outcome.SUCCESS,
            dead.address,
            pair.alice.address,
            (f"{_ref(pair, lab)}/_history/1",),
        )
    )
    done = pair.hospital.erasure.erase(pair.signed([lab]))
    (waiting,) = [p for p in done.peers if p.peer == dead.address]
    assert waiting.status == WAITING
    assert "cannot reach" in (waiting.problem or "")
    (status,) = [e for e in pair.hospital.erasure.status(pair.alice.address) if e.request_id == done.request_id]
    assert [(p.peer, p.status, p.attempts) for p in status.peers if p.peer == dead.address] == [
        (dead.address, WAITING, 1)
    ]
    assert pair.hospital.erasure.retry() == 0  # not due yet: it waits before asking again


def test_her_custodian_erases_for_a_custodial_patient_only_on_a_documented_instruction(pair: Pair) -> None:
    hospital = pair.hospital
    carol = hospital._records.write({"resourceType": "Patient", "id": "carol-1"}).patient_address  # custodial
    weight = {
        "resourceType": "Observation",
        "id": "carol-weight",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/carol-1"},
        "valueQuantity": {"value": 61, "unit": "kg"},
    }
    hospital._records.write(weight)
    without = hospital.erasure.sign(hospital.erasure.request(carol, ["carol-weight"]), hospital.unlock().account)
    with pytest.raises(Unauthenticated, match="documented instruction"):
        hospital.erasure.erase(without)
    own_key = hospital.custodial.account(carol)  # hers, but the custodian holds it: no signature of hers at all
    for instruction in (None, "her letter of 1 Dec, ref 7"):
        request = hospital.erasure.request(carol, ["carol-weight"], instruction=instruction)
        with pytest.raises(Unauthenticated, match="custodial patient"):
            hospital.erasure.erase(hospital.erasure.sign(request, own_key))
    assert hospital._records.read("carol-weight")["id"] == "carol-weight"
    done = hospital.erasure.erase(hospital.erasure.instructed(carol, ["carol-weight"], "her letter of 1 Dec, ref 7"))
    assert done.erased == ("carol-weight",)
    (entry,) = [a for a in _erase_entries(hospital, Outcome.SUCCESS) if a.patient == carol]
    assert (entry.agent, "'her letter of 1 Dec, ref 7'" in (entry.detail or "")) == (hospital.address, True)


def test_erasing_all_of_hers_drops_her_readings_in_the_journal_and_her_messages_in_the_outbox(pair: Pair) -> None:
    hospital = pair.hospital
    dora, eve = (
        hospital._records.write({"resourceType": "Patient", "id": name}).patient_address for name in ("d", "e")
    )
    with hospital.db.session() as session:
        for n, patient in enumerate((dora, eve)):
            device = f"0x{n + 0xD0:040x}"
            watch = Device(
                address=device, name=f"w-{n}", kind="watch", device_record=f"w-{n}", patient=patient, registered_at=0
            )
            session.add(watch)
            session.add(DeviceReading(device=device, sealed=b"sealed readings", latest_ms=2**62))  # not due
    for patient in (dora, eve):  # due long after the test: the serving node's rounds leave them be
        Outbox(hospital.db, clock=lambda: 4e9).keep(pair.clinic.address, patient, {"sealed": "a message of hers"})
    hospital.erasure.erase(hospital.erasure.instructed(dora, None, "her form E-2"))
    with hospital.db.session() as session:
        assert (forget_journal(session, dora), forget_outbox(session, dora)) == (0, 0)  # gone with her records
        assert (forget_journal(session, eve), forget_outbox(session, eve)) == (1, 1)  # another's waited on


def _exported(client: FhirClient) -> str:
    """A bulk export of the caller's Observations, finished: its status URL."""
    kick = client._http.get("/Patient/$export", params={"_type": "Observation"}, headers={"Prefer": "respond-async"})
    assert kick.status_code == 202, kick.text
    status = kick.headers["Content-Location"]
    for _ in range(200):
        if client._http.get(status).status_code != 202:
            return status
        time.sleep(0.05)
    raise AssertionError("the export did not finish")


def _export_files(node: Node) -> int:
    with node.db.session() as session:
        return session.scalar(select(func.count()).select_from(Ticket).where(Ticket.kind == "export-file")) or 0


def test_a_bulk_export_holding_what_she_erases_goes_with_it_and_anothers_stays(pair: Pair) -> None:
    weight = {
        "resourceType": "Observation",
        "id": "alice-weight",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{pair.alice_id}"},
        "valueQuantity": {"value": 58, "unit": "kg"},
    }
    pair.hospital._records.write(weight)
    with FhirClient(pair.url) as alice, FhirClient(pair.url) as bob:
        alice.login(pair.hospital.unlock("alice").account)
        bob.login(pair.hospital.unlock("bob").account)
        hers, his = _exported(alice), _exported(bob)
        manifest = alice._http.get(hers).json()
        assert manifest["output"], manifest  # her Observations, the weight among them, sealed in the database
        files = _export_files(pair.hospital)
        pair.hospital.erasure.erase(pair.signed(["alice-weight"]))
        assert alice._http.get(hers).status_code == 404
        assert alice._http.get(manifest["output"][0]["url"]).status_code == 404
        assert _export_files(pair.hospital) == files - len(manifest["output"])
        assert bob._http.get(his).status_code == 200  # his export named nothing of hers


def test_the_api_previews_takes_her_signed_request_once_and_hides_her_from_a_stranger(pair: Pair) -> None:
    lab = pair.labs[-1]
    alice = pair.hospital.unlock("alice").account
    with FhirClient(pair.url) as client:
        client.login(alice)
        preview = client._http.get(f"/Patient/{pair.alice_id}/$erase", params={"record": _ref(pair, lab)})
        assert preview.status_code == 200, preview.text
        values = {p["name"]: p.get("valueString") for p in preview.json()["parameter"]}
        assert values["erase"] == _ref(pair, lab)
        typed = json.loads(values["typedData"] or "")
        signature = alice.sign_message(encode_typed_data(full_message=typed)).signature.hex()  # as her wallet would
        signed = {"resourceType": "Parameters", "parameter": [
            {"name": "request", "valueString": values["request"]},
            {"name": "signature", "valueString": "0x" + signature.removeprefix("0x")},
        ]}  # fmt: skip
        done = client._http.post(f"/Patient/{pair.alice_id}/$erase", json=signed)
        assert done.status_code == 200, done.text
        assert [p["valueString"] for p in done.json()["parameter"] if p["name"] == "erased"] == [lab]
        assert client._http.post(f"/Patient/{pair.alice_id}/$erase", json=signed).status_code == 401  # replayed
    with FhirClient(pair.url) as stranger:
        stranger.login(pair.hospital.unlock("bob").account)
        assert stranger._http.get(f"/Patient/{pair.alice_id}/$erase").status_code == 404
