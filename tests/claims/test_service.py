"""The claims service on the in-process chain: Claim, submission, following, EOB, permits."""

from __future__ import annotations

import pytest

from careledger.access import Accessor
from careledger.chain import ClaimStatus, Role
from careledger.claims import CPT, ClaimLine, ServiceClass, claim_record_id
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.errors import NotFound, ValidationError, Withheld
from tests.claims.conftest import CARE, World


def test_a_claim_for_an_encounter_is_paid_and_explained_to_the_patient(world: World) -> None:
    encounter = world.encounter("visit-1")
    outcome = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "99213", 200 * CARE)])
    assert outcome.state.status is ClaimStatus.PAID
    assert (outcome.state.payer_share, outcome.state.patient_share) == (0, 150 * CARE)
    records = world.node._records
    claim = records.read(claim_record_id(encounter))
    assert claim["item"][0]["productOrService"]["coding"][0]["code"] == "99213"
    assert claim["total"] == {"value": 200}
    eob = records.read(outcome.eob_id or "")
    assert eob["outcome"] == "complete"
    assert eob["patient"] == {"reference": world.patient_reference}
    adjudication = {a["category"]["coding"][0]["code"]: a for a in eob["item"][0]["adjudication"]}
    assert adjudication["eligible"]["amount"] == {"value": 150}
    assert adjudication["eligible"]["reason"]["coding"][0]["code"] == "45"
    assert adjudication["deductible"]["amount"] == {"value": 150}
    assert adjudication["memberliability"]["amount"] == {"value": 150}
    assert eob["payment"]["amount"] == {"value": 0}
    stored = records.get(outcome.eob_id or "")
    assert (stored.patient_address, stored.category.value) == (world.alice.address, "billing")


def test_submitting_again_finds_the_claim_and_submits_nothing(world: World) -> None:
    encounter = world.encounter("visit-1")
    lines = [ClaimLine(CPT, "99213", 200 * CARE)]
    first = world.node.claims.submit(world.billing, encounter, lines)
    again = world.node.claims.submit(world.billing, encounter, lines)
    assert again.claim_id == first.claim_id
    assert len(again.decisions) == 1
    assert len(world.node._records.history(claim_record_id(encounter))) == 1
    assert len(world.node._records.history(first.eob_id or "")) == 1


def test_a_corrected_claim_is_a_new_version_and_a_new_claim(world: World) -> None:
    encounter = world.encounter("visit-1")
    first = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "99213", 200 * CARE)])
    corrected = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "99214", 120 * CARE)])
    assert corrected.claim_id != first.claim_id
    assert world.node._records.get(claim_record_id(encounter)).version == 2
    assert corrected.state.patient_share == 120 * CARE  # still in the deductible


def test_a_pended_claim_is_followed_to_the_insurers_approval(world: World) -> None:
    encounter = world.encounter("surgery-1")
    outcome = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "29881", 10_000 * CARE)])
    assert outcome.state.status is ClaimStatus.PENDED
    response = world.node._records.read(outcome.response_id or "")
    assert response["outcome"] == "queued"
    assert response["disposition"].startswith("Pended: 133")
    world.claims("insurer").approve(outcome.claim_id)
    followed = world.node.claims.follow(outcome.record_id or "")
    assert [d.status for d in followed.decisions] == [ClaimStatus.PENDED, ClaimStatus.PAID]
    response = world.node._records.read(outcome.response_id or "")
    assert (response["outcome"], response["payment"]["amount"]) == ("complete", {"value": 6_500})
    assert world.node._records.get(outcome.response_id or "").version == 2


def test_following_a_pended_claim_adds_to_her_accounting_only_when_it_is_decided(world: World) -> None:
    """The server follows pended claims every few seconds: waiting must not fill her accounting."""
    encounter = world.encounter("surgery-1")
    outcome = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "29881", 10_000 * CARE)])
    waiting = len(world.node.audit.entries(patient=world.alice.address))
    for _ in range(3):
        world.node.claims.follow_pending()
    assert len(world.node.audit.entries(patient=world.alice.address)) == waiting
    world.claims("insurer").approve(outcome.claim_id)
    world.node.claims.follow_pending()
    decided = [e.access for e in world.node.audit.entries(patient=world.alice.address)[waiting:]]
    assert {(a.interaction, a.purpose) for a in decided} == {("read", "HPAYMT"), ("update", "HPAYMT")}
    assert world.node._records.read(outcome.response_id or "")["outcome"] == "complete"


def test_a_denial_is_explained_with_its_reason_code(world: World) -> None:
    encounter = world.encounter("mri-1")
    outcome = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "72148", 1_500 * CARE)])
    assert (outcome.state.status, outcome.state.reason) == (ClaimStatus.DENIED, 197)
    eob = world.node._records.read(outcome.eob_id or "")
    denial = eob["item"][0]["adjudication"][-1]
    assert denial["reason"]["coding"][0] == {
        "system": "https://x12.org/codes/claim-adjustment-reason-codes",
        "code": "197",
        "display": "Precertification/authorization/notification/pre-treatment absent",
    }
    assert "payment" not in eob


def test_lines_of_two_service_classes_are_refused_and_nothing_is_stored(world: World) -> None:
    encounter = world.encounter("visit-1")
    lines = [ClaimLine(CPT, "99213", 200 * CARE), ClaimLine(CPT, "80061", 100 * CARE)]
    with pytest.raises(ValidationError, match="one service class; these lines are lab, office-visit"):
        world.node.claims.submit(world.billing, encounter, lines)
    with pytest.raises(NotFound):
        world.node._records.get(claim_record_id(encounter))
    split = world.node.claims.submit(world.billing, encounter, lines[1:], service_class=ServiceClass.LAB)
    assert split.state.service_class == ServiceClass.LAB


def test_a_claim_needs_an_encounter_with_a_date(world: World) -> None:
    with pytest.raises(ValidationError, match="not an Encounter"):
        world.node.claims.submit(world.billing, world.patient_reference.split("/")[1], [])


def test_the_member_pays_their_share_with_a_permit_and_no_gas(world: World) -> None:
    encounter = world.encounter("visit-1")
    outcome = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "99213", 200 * CARE)])
    world.node.contracts.token(as_wallet=NODE_WALLET).mint(world.alice.address, 1_000 * CARE)
    alice = world.node.unlock("alice").account
    gas_before = world.node.chain.balance(alice.address)
    world.node.claims.pay_share(outcome.claim_id, alice)
    token = world.node.contracts.token()
    assert token.balance_of(alice.address) == 850 * CARE
    assert token.balance_of(world.node.address) == 150 * CARE
    assert world.node.chain.balance(alice.address) == gas_before
    assert world.claims().claim(outcome.claim_id).patient_paid


def test_the_adjudication_reads_and_writes_are_in_her_accounting_for_payment(world: World) -> None:
    """The claims service reaches her records only through the node's system repository for claims: each
    read and write is an HPAYMT entry of the node's in her accounting, and the Encounter read by who bills."""
    encounter = world.encounter("visit-1")
    outcome = world.node.claims.submit(world.billing, encounter, [ClaimLine(CPT, "99213", 200 * CARE)])
    alice = Accessor(world.alice.address, Purpose.PATRQT)
    accounting = [e.access for e in world.node.disclosures.of(alice, world.alice.address, limit=500)]
    payment = [a for a in accounting if a.purpose == Purpose.HPAYMT.value and a.agent == world.node.address]
    assert {a.detail for a in payment} == {"claims"}
    assert {a.interaction for a in payment} >= {"create", "read"}
    written = {e.split("/_history")[0] for a in payment if a.interaction == "create" for e in a.entities}
    assert written == {
        f"Claim/{outcome.record_id}",
        f"ClaimResponse/{outcome.response_id}",
        f"ExplanationOfBenefit/{outcome.eob_id}",
    }
    assert any(f"Claim/{outcome.record_id}/_history/1" in a.entities for a in payment if a.interaction == "read")
    billed = [a for a in accounting if a.interaction == "read" and a.purpose == Purpose.HOPERAT.value]
    assert any(f"Encounter/{encounter}/_history/1" in a.entities for a in billed)


def test_only_the_node_and_its_care_team_bill_and_a_refusal_writes_nothing(world: World) -> None:
    encounter = world.encounter("visit-1")
    stranger = world.node.wallets.create("stranger", Role.PRACTITIONER, "pw")
    as_stranger = world.node.access.for_caller(Accessor(stranger.address, Purpose.TREAT))
    with pytest.raises(Withheld):  # she may not even read the Encounter (the API tells it as an unknown id)
        world.node.claims.submit(as_stranger, encounter, [ClaimLine(CPT, "99213", 200 * CARE)])
    with pytest.raises(NotFound):
        world.node._records.get(claim_record_id(encounter))
    refused = world.node.audit.entries(agent=stranger.address)
    assert [(e.access.interaction, e.access.allowed) for e in refused] == [("read", False)]
