"""The insurer's view over FHIR: the claims it pays, its members' Coverage, and eligibility from the chain.

The hospital node of the claims tests (memory chain; alice enrolled in the insurer's plan) behind a real
server, and a rival insurer whose member bob is a patient of the same hospital. Each insurer signs in with
its own wallet (SIWE) and asks for payment (HPAYMT).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse

from careledger.access import Accessor
from careledger.chain import Role
from careledger.claims import CPT, ClaimLine, coverage_id
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.identity import Wallet, did_pkh
from careledger.records import Category
from careledger.testdata import CARE, insure, synthetic_patients
from tests.api.conftest import Api, serving
from tests.claims.conftest import World, world  # noqa: F401 - the claims world fixture

PAYMENT = {"X-Purpose-Of-Use": "HPAYMT"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
ROUND = 1.0  # seconds between the serving node's background rounds


@dataclass
class Insured:
    """The served world: alice's claim (paid by the insurer), bob's (paid by the rival), and who signs in."""

    api: Api
    world: World
    rival: Wallet
    bob: Wallet
    bob_patient: str
    alice_claim: str
    bob_claim: str

    @property
    def alice_patient(self) -> str:
        return self.world.patient_reference.removeprefix("Patient/")

    def client(self, wallet: Wallet, **headers: str) -> httpx.Client:
        client = self.api.client(wallet)
        client.headers.update(headers)
        return client


@pytest.fixture
def insured(world: World) -> Iterator[Insured]:  # noqa: F811 - uses the imported fixture
    node = world.node
    rival = node.wallets.create("rival", Role.INSURER, "pw")
    bob = node.wallets.create("bob", Role.PATIENT, "pw")
    insure(node, rival, [bob])
    patient = synthetic_patients(1, seed=11)[0].patient
    node._records.write(patient, patient_address=bob.address)
    node._records.write(
        {
            "resourceType": "Encounter",
            "id": "bob-visit",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "period": {"start": "2026-11-30T09:00:00+00:00"},
        }
    )
    line = [ClaimLine(CPT, "99213", 200 * CARE)]
    alice_claim = node.claims.submit(world.billing, world.encounter("visit-1"), line).record_id
    bob_claim = node.claims.submit(world.billing, "bob-visit", line).record_id
    assert alice_claim is not None
    assert bob_claim is not None
    with serving(world) as api:  # type: ignore[arg-type]
        yield Insured(api, world, rival, bob, patient["id"], alice_claim, bob_claim)


def _ids(bundle: httpx.Response) -> set[str]:
    assert bundle.status_code == 200, bundle.text
    return {entry["resource"]["id"] for entry in bundle.json().get("entry", [])}


def _unknown_id_words(response: httpx.Response, record_id: str) -> str:
    """The OperationOutcome's words, with the id asked for taken out (to compare with another id's)."""
    assert response.status_code == 404, response.text
    return str(response.json()["issue"][0]["diagnostics"]).replace(record_id, "<id>")


def test_an_insurer_reads_the_claims_it_pays_and_nothing_else(insured: Insured) -> None:
    insurer = insured.client(insured.world.insurer, **PAYMENT)
    alice, bob = insured.alice_claim, insured.bob_claim
    for path in (f"Claim/{alice}", f"ClaimResponse/{alice}-response", f"ExplanationOfBenefit/{alice}-eob"):
        assert insurer.get(f"/{path}").status_code == 200, path
    assert _ids(insurer.get("/ClaimResponse", params={"request": f"Claim/{alice}"})) == {f"{alice}-response"}
    patient = {"patient": insured.world.patient_reference}
    assert _ids(insurer.get("/ExplanationOfBenefit", params=patient)) == {f"{alice}-eob"}
    assert _ids(insurer.get("/Claim", params=patient)) == {alice}
    assert _ids(insurer.get("/ExplanationOfBenefit")) == {f"{alice}-eob"}  # not the rival's

    # The rival's member's claim is told as an unknown id, and no search lists it.
    unknown = _unknown_id_words(insurer.get("/ClaimResponse/claim-nothing-response"), "claim-nothing-response")
    for path in (f"Claim/{bob}", f"ClaimResponse/{bob}-response", f"ExplanationOfBenefit/{bob}-eob"):
        assert _unknown_id_words(insurer.get(f"/{path}"), path.split("/")[1]) == unknown, path
    assert _ids(insurer.get("/ClaimResponse", params={"request": f"Claim/{bob}"})) == set()
    assert _ids(insurer.get("/Claim", params={"patient": f"Patient/{insured.bob_patient}"})) == set()
    rival = insured.client(insured.rival, **PAYMENT)
    assert rival.get(f"/ClaimResponse/{bob}-response").status_code == 200
    assert rival.get(f"/ClaimResponse/{alice}-response").status_code == 404

    # None of alice's other records; and not for any purpose but payment, which is an insurer's by default.
    assert insurer.get(f"/Patient/{insured.alice_patient}").status_code == 404
    assert insurer.get("/Encounter/visit-1").status_code == 404
    assert _ids(insurer.get("/Encounter", params=patient)) == set()
    treating = insured.client(insured.world.insurer, **{"X-Purpose-Of-Use": "TREAT"})
    assert treating.get(f"/ClaimResponse/{alice}-response").status_code == 404
    assert insured.client(insured.world.insurer).get(f"/ClaimResponse/{alice}-response").status_code == 200


def test_alice_s_accounting_shows_her_insurer_s_reads_for_payment(insured: Insured) -> None:
    served = insured.world
    insurer = insured.client(served.insurer, **PAYMENT)
    assert insurer.get(f"/ExplanationOfBenefit/{insured.alice_claim}-eob").status_code == 200
    assert insurer.get("/ClaimResponse", params={"patient": served.patient_reference}).status_code == 200
    alice = served.alice.address
    accounting = served.node.disclosures.of(Accessor(alice), alice)
    reads = [e.access for e in accounting if e.access.agent == served.insurer.address and e.access.allowed]
    assert {(a.interaction, a.purpose) for a in reads} == {("read", "HPAYMT"), ("search-type", "HPAYMT")}
    entities = {entity.split("/_history")[0] for a in reads for entity in a.entities}
    assert entities == {
        f"ExplanationOfBenefit/{insured.alice_claim}-eob",
        f"ClaimResponse/{insured.alice_claim}-response",
    }


def test_coverage_is_read_by_the_member_and_her_insurer_not_by_others(insured: Insured) -> None:
    served = insured.world
    node = served.node
    enrolment = node.contracts.claims().enrolment(served.alice.address)
    alice = insured.client(served.alice)
    found = alice.get("/Coverage", params={"patient": served.patient_reference})
    (coverage,) = [entry["resource"] for entry in found.json()["entry"]]
    Coverage.model_validate(coverage)
    assert coverage["id"] == coverage_id(insured.alice_patient, served.plan_id)
    assert coverage["beneficiary"] == {"reference": served.patient_reference}
    assert coverage["payor"][0]["identifier"]["value"] == did_pkh(node.chain_id, served.insurer.address)
    assert coverage["class"][0]["value"] == str(served.plan_id)
    assert coverage["period"]["start"].startswith(_day(enrolment.start))
    assert coverage["period"]["end"].startswith(_day(enrolment.end))
    assert alice.get(f"/Coverage/{coverage['id']}").json() == coverage

    insurer = insured.client(served.insurer, **PAYMENT)
    assert insurer.get(f"/Coverage/{coverage['id']}").json() == coverage
    assert _ids(insurer.get("/Coverage", params={"patient": served.patient_reference})) == {coverage["id"]}
    staff = insured.client(node.wallets.get(NODE_WALLET))
    assert coverage["id"] in _ids(staff.get("/Coverage"))

    # The rival insurer and a practitioner of no care team: as an unknown id, and no search lists it.
    stranger = node.wallets.create("stranger", Role.PRACTITIONER, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        stranger.address, stranger.role, stranger.encryption_key
    )
    unknown_id = coverage_id("nobody", served.plan_id)
    unknown = _unknown_id_words(alice.get(f"/Coverage/{unknown_id}"), unknown_id)
    for outsider in (insured.client(insured.rival, **PAYMENT), insured.client(stranger)):
        assert _unknown_id_words(outsider.get(f"/Coverage/{coverage['id']}"), coverage["id"]) == unknown
        assert _ids(outsider.get("/Coverage", params={"patient": served.patient_reference})) == set()
    refused = node.audit.entries(agent=stranger.address)[-1].access
    assert (refused.allowed, refused.patient) == (False, served.alice.address)
    assert alice.post("/Coverage", json={"resourceType": "Coverage"}).status_code == 405  # a view, not written
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Coverage"}}]}
    (entry,) = alice.post("/", json=batch).json()["entry"]
    assert entry["response"]["status"].startswith("400")  # read at /Coverage: a batch finds no stored Coverage


def test_eligibility_answers_the_deductible_left_on_chain(world: World) -> None:  # noqa: F811
    node = world.node
    patient_id = world.patient_reference.removeprefix("Patient/")
    with serving(world) as api:  # type: ignore[arg-type]
        alice = api.client(world.alice)
        before = _eligibility(alice, world.patient_reference)
        assert _deductible(before) == {"allowed": 500, "used": 0, "left": 500}
        node.claims.submit(world.billing, world.encounter("visit-1"), [ClaimLine(CPT, "99213", 200 * CARE)])
        met = node.plans.standing(world.alice.address)
        assert met is not None
        after = _eligibility(alice, world.patient_reference)
        assert _deductible(after) == {"allowed": 500, "used": met.deductible_met // CARE, "left": 350}
        insurer = api.client(world.insurer)
        insurer.headers.update(PAYMENT)
        assert _deductible(_eligibility(insurer, world.patient_reference)) == _deductible(after)

        stranger = node.wallets.create("stranger", Role.PRACTITIONER, "pw")
        node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
            stranger.address, stranger.role, stranger.encryption_key
        )
        outsider = api.client(stranger)
        refused = outsider.post("/CoverageEligibilityRequest/$submit", json=_request(world.patient_reference))
        unknown = outsider.post("/CoverageEligibilityRequest/$submit", json=_request("Patient/nobody"))
        assert _unknown_id_words(refused, patient_id) == _unknown_id_words(unknown, "nobody")

        for malformed in (
            b"{not json",
            b'{"resourceType": "Claim", "status": "active"}',
            _json(_request("Group/g1")),
            _json(_request(world.patient_reference, category="astrology")),
            _json({**_request(world.patient_reference), "insurance": [{"coverage": {"reference": "Plan/1"}}]}),
        ):
            answer = alice.post("/CoverageEligibilityRequest/$submit", content=malformed, headers=FHIR_JSON)
            assert answer.status_code == 400, (malformed, answer.text)
            assert answer.json()["resourceType"] == "OperationOutcome"


def _eligibility(client: httpx.Client, patient: str) -> dict[str, object]:
    answer = client.post("/CoverageEligibilityRequest/$submit", json=_request(patient))
    assert answer.status_code == 200, answer.text
    response = answer.json()
    CoverageEligibilityResponse.model_validate(response)
    assert (response["outcome"], response["insurance"][0]["inforce"]) == ("complete", True)
    (visit, lab, dental) = response["insurance"][0]["item"]
    assert (visit["excluded"], lab["excluded"], dental["excluded"]) == (False, False, True)
    return visit


def _deductible(item: dict[str, object]) -> dict[str, int]:
    (benefit,) = [b for b in item["benefit"] if b["type"]["coding"][0]["code"] == "deductible"]  # type: ignore[attr-defined, index]
    return {
        "allowed": benefit["allowedMoney"]["value"],
        "used": benefit["usedMoney"]["value"],
        "left": benefit["extension"][0]["valueMoney"]["value"],
    }


def _request(patient: str, *, category: str = "office-visit") -> dict[str, object]:
    classes = (category, "lab", "dental")
    return {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["benefits"],
        "patient": {"reference": patient},
        "created": "2026-12-01",
        "insurer": {"display": "the member's plan"},
        "item": [
            {"category": {"coding": [{"system": "https://careledger.org/fhir/CodeSystem/service-class", "code": c}]}}
            for c in classes
        ],
    }


def _json(data: dict[str, object]) -> bytes:
    import json

    return json.dumps(data).encode()


def _day(timestamp: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def test_a_claim_resubmitted_to_a_new_plan_is_read_by_each_payer_version_by_version(insured: Insured) -> None:
    """carol's claim for one visit was paid by the insurer; she moved to the rival's plan and the visit was
    submitted again (Claim v2, same id). Each insurer reads the versions it pays, the other's stay unknown."""
    served = insured.world
    node = served.node
    day = 86_400
    carol = node.wallets.create("carol", Role.PATIENT, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        carol.address, carol.role, carol.encryption_key
    )
    now = int(time.time())
    served.claims(served.insurer.name).enroll(carol.address, served.plan_id, now - 20 * day, now - 2 * day)
    patient = synthetic_patients(1, seed=13)[0].patient
    node._records.write(patient, patient_address=carol.address)
    visit = {
        "resourceType": "Encounter",
        "id": "carol-visit",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient['id']}"},
        "period": {"start": datetime.fromtimestamp(now - 3 * day, UTC).isoformat()},
    }
    node._records.write(visit)
    line = [ClaimLine(CPT, "99213", 200 * CARE)]
    claim = node.claims.submit(served.billing, "carol-visit", line).record_id
    rival_plan = node.plans.plan_of(insured.bob.address)[0]
    served.claims(insured.rival.name).enroll(carol.address, rival_plan, now - day, now + 30 * day)
    assert node.claims.submit(served.billing, "carol-visit", line).record_id == claim

    insurer = insured.client(served.insurer, **PAYMENT)
    rival = insured.client(insured.rival, **PAYMENT)
    paths = (f"Claim/{claim}", f"ClaimResponse/{claim}-response", f"ExplanationOfBenefit/{claim}-eob")
    for path in paths:
        versions = [e["resource"]["meta"]["versionId"] for e in rival.get(f"/{path}/_history").json()["entry"]]
        paid = [e["resource"]["meta"]["versionId"] for e in insurer.get(f"/{path}/_history").json()["entry"]]
        assert (versions, paid) == (["2"], ["1"]), path
        assert rival.get(f"/{path}/_history/1").status_code == 404, path
        assert insurer.get(f"/{path}/_history/1").status_code == 200, path
        assert insurer.get(f"/{path}/_history/2").status_code == 404, path
        current = rival.get(f"/{path}")
        assert current.status_code == 200, path
        assert insurer.get(f"/{path}").status_code == 404, path
    answer = rival.get(f"/ClaimResponse/{claim}-response").json()
    assert answer["request"] == {"reference": f"Claim/{claim}", "display": "Claim version 2"}
    assert _ids(insurer.get("/ClaimResponse", params={"request": f"Claim/{claim}"})) == set()


def test_a_caller_who_could_see_no_one_s_coverage_is_refused_before_the_chain_is_asked(
    insured: Insured, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing Patient id and an unknown one cost the same (no enrolment looked up), and an HPAYMT search by
    anyone lists only what its caller could see, writing nothing into other patients' accountings."""
    served = insured.world
    node = served.node
    asked: list[str] = []
    plan_of = node.plans.plan_of
    monkeypatch.setattr(node.plans, "plan_of", lambda member: asked.append(member) or plan_of(member))
    stranger = node.wallets.create("stranger", Role.PRACTITIONER, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        stranger.address, stranger.role, stranger.encryption_key
    )
    outsider = insured.client(stranger, **PAYMENT)
    alice_coverage = coverage_id(insured.alice_patient, served.plan_id)
    assert outsider.get(f"/Coverage/{alice_coverage}").status_code == 404
    assert (
        outsider.post("/CoverageEligibilityRequest/$submit", json=_request(served.patient_reference)).status_code == 404
    )
    assert _ids(outsider.get("/Coverage")) == set()
    assert asked == []

    rival = insured.client(insured.rival, **PAYMENT)
    assert _ids(rival.get("/Coverage")) == {
        coverage_id(insured.bob_patient, node.plans.plan_of(insured.bob.address)[0])
    }
    assert served.alice.address not in asked
    alice = served.alice.address
    refused = [e for e in node.disclosures.of(Accessor(alice), alice) if not e.access.allowed]
    assert [e.access.agent for e in refused] == [stranger.address, stranger.address]  # the two she was named in


def test_an_insurer_s_own_enrolment_does_not_show_it_a_member_this_node_never_claimed_for(
    insured: Insured,
) -> None:
    """The insurer enrols carol on chain, alone: without a claim here to its plan or her consent, it learns
    nothing of her Patient here; with her HPAYMT consent it sees her coverage."""
    served = insured.world
    node = served.node
    carol = node.wallets.create("carol", Role.PATIENT, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        carol.address, carol.role, carol.encryption_key
    )
    node.plans.enroll(served.insurer.name, carol.address, served.plan_id)
    patient = synthetic_patients(1, seed=13)[0].patient
    node._records.write(patient, patient_address=carol.address)
    carol_coverage = coverage_id(patient["id"], served.plan_id)
    insurer = insured.client(served.insurer, **PAYMENT)
    alice_coverage = coverage_id(insured.alice_patient, served.plan_id)
    assert _ids(insurer.get("/Coverage")) == {alice_coverage}
    unknown = _unknown_id_words(insurer.get(f"/Coverage/{coverage_id('nobody', served.plan_id)}"), "nobody")
    assert _unknown_id_words(insurer.get(f"/Coverage/{carol_coverage}"), patient["id"]) == unknown

    terms = node.consent.terms(carol.address, served.insurer.address, [Category.BILLING], [Purpose.HPAYMT], days=1)
    node.consent.grant(carol.name, terms)
    assert insurer.get(f"/Coverage/{carol_coverage}").status_code == 200
    assert _ids(insurer.get("/Coverage")) == {alice_coverage, carol_coverage}


def test_the_coverage_search_takes_patient_beneficiary_and_paging_and_ignores_the_rest(insured: Insured) -> None:
    served = insured.world
    staff = insured.client(served.node.wallets.get(NODE_WALLET))
    rival_plan = served.node.plans.plan_of(insured.bob.address)[0]
    alice, bob = coverage_id(insured.alice_patient, served.plan_id), coverage_id(insured.bob_patient, rival_plan)
    bob_reference = f"Patient/{insured.bob_patient}"
    assert _ids(staff.get("/Coverage", params={"beneficiary": served.patient_reference})) == {alice}
    assert _ids(staff.get("/Coverage", params={"patient": f"{served.patient_reference},{bob_reference}"})) == {
        alice,
        bob,
    }
    both = {"patient": served.patient_reference, "beneficiary": bob_reference}
    assert _ids(staff.get("/Coverage", params=both)) == set()  # each parameter narrows: no one is both

    first = staff.get("/Coverage", params={"_count": "1", "colour": "blue"}).json()
    assert (first["total"], len(first["entry"])) == (2, 1)
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "colour" not in links["self"]
    assert "_count=1" in links["self"]
    second = staff.get(links["next"]).json()
    assert {first["entry"][0]["resource"]["id"], second["entry"][0]["resource"]["id"]} == {alice, bob}
    strict = staff.get("/Coverage", params={"colour": "blue"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert "colour" in strict.json()["issue"][0]["diagnostics"]
    assert staff.get("/Coverage", params={"beneficiary": "Group/g1"}).status_code == 400
    strict_missing = staff.get("/Coverage", params={"patient:missing": "true"}, headers={"Prefer": "handling=strict"})
    assert _ids(strict_missing) == set()
    assert _ids(staff.get("/Coverage", params={"beneficiary:missing": "false"})) == {alice, bob}
    assert staff.get("/Coverage", params={"patient:missing": "perhaps"}).status_code == 400


def test_the_capability_statement_offers_no_revinclude_of_a_view(insured: Insured) -> None:
    """Coverage and Consent are views of the chain, never stored: a `_revinclude` of them brings nothing."""
    statement = insured.client(insured.world.alice).get("/metadata").json()
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    offered = patient.get("searchRevInclude", [])
    assert "Encounter:patient" in offered
    assert [p for p in offered if p.startswith(("Coverage:", "Consent:"))] == []


def test_an_eligibility_item_of_no_known_class_is_told_in_the_api_s_terms(insured: Insured) -> None:
    alice = insured.client(insured.world.alice)
    request = {
        **_request(insured.world.patient_reference),
        "item": [{"productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "XYZ"}]}}],
    }
    answer = alice.post("/CoverageEligibilityRequest/$submit", json=request)
    assert answer.status_code == 400, answer.text
    words = answer.json()["issue"][0]["diagnostics"]
    assert "--class" not in words
    assert "item[0]" in words
    assert "category of https://careledger.org/fhir/CodeSystem/service-class" in words


def test_a_payment_search_by_anyone_but_an_insurer_leaves_the_claims_alone(
    insured: Insured, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Who pays which claim is worked out for an insurer's search only: another actor asking for payment has
    none of the claims read or the chain asked on its account."""
    node = insured.world.node
    walked: list[str] = []
    paid_by = node.claims.payers.paid_by
    monkeypatch.setattr(node.claims.payers, "paid_by", lambda insurer: walked.append(insurer) or paid_by(insurer))
    stranger = node.wallets.create("stranger", Role.PRACTITIONER, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        stranger.address, stranger.role, stranger.encryption_key
    )
    assert _ids(insured.client(stranger, **PAYMENT).get("/Claim")) == set()
    assert _ids(insured.client(stranger, **PAYMENT).get("/Coverage")) == set()
    assert walked == []
    assert _ids(insured.client(insured.world.insurer, **PAYMENT).get("/Claim")) == {insured.alice_claim}
    assert set(walked) == {insured.world.insurer.address}


def test_a_payment_read_by_anyone_but_an_insurer_asks_no_one_who_pays(
    insured: Insured, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may send `X-Purpose-Of-Use: HPAYMT`: an existing claim id costs such a caller no more than an
    unknown one (no payer worked out, no chain asked), and both are told alike."""
    node = insured.world.node
    asked: list[str] = []
    payer = node.claims.payers.payer
    monkeypatch.setattr(node.claims.payers, "payer", lambda record: asked.append(record.record_id) or payer(record))
    stranger = node.wallets.create("stranger", Role.PRACTITIONER, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        stranger.address, stranger.role, stranger.encryption_key
    )
    outsider = insured.client(stranger, **PAYMENT)
    known = f"{insured.alice_claim}-response"
    told = _unknown_id_words(outsider.get(f"/ClaimResponse/{known}"), known)
    assert told == _unknown_id_words(outsider.get("/ClaimResponse/claim-nothing-response"), "claim-nothing-response")
    assert asked == []
    assert insured.client(insured.world.insurer, **PAYMENT).get(f"/ClaimResponse/{known}").status_code == 200
    assert asked == [known]


def test_an_insurer_no_longer_sees_a_member_once_her_only_claim_here_is_deleted(insured: Insured) -> None:
    """The serving node's background loop follows the Claims here: within a round of it, a deleted Claim's
    patient is no longer one its insurer pays for, so her coverage is no longer its to see."""
    served = insured.world
    insurer = insured.client(served.insurer, **PAYMENT)
    alice_coverage = coverage_id(insured.alice_patient, served.plan_id)
    assert _ids(insurer.get("/Coverage")) == {alice_coverage}
    staff = insured.client(served.node.wallets.get(NODE_WALLET))
    assert staff.delete(f"/Claim/{insured.alice_claim}").status_code in (200, 204)
    deadline = time.monotonic() + 10 * ROUND
    while _ids(insurer.get("/Coverage")) and time.monotonic() < deadline:
        time.sleep(ROUND / 10)  # polling for the background loop's round, bounded
    assert _ids(insurer.get("/Coverage")) == set()
    assert insurer.get(f"/Coverage/{alice_coverage}").status_code == 404
