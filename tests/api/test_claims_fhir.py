"""Claims over FHIR: a provider's system POSTs a stock FHIR Claim and gets the insurer's ClaimResponse.

The hospital node of the claims tests (memory chain, alice enrolled in the worked
example's plan) behind a real server; the hospital's system signs in as the node's
wallet. A pended claim's ClaimResponse follows the insurer's later decision by itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from careledger.chain import Role
from careledger.claims import CPT
from careledger.config import NODE_WALLET
from tests.api.conftest import Api, serving
from tests.claims.conftest import World, world  # noqa: F401 - the claims world fixture


def _claim(world: World, encounter: str, amount: float, code: str = "99213") -> dict[str, object]:  # noqa: F811
    return {
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": world.patient_reference},
        "created": "2026-11-28",
        "provider": {"display": "the hospital"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "the plan"}}],
        "item": [
            {
                "sequence": 1,
                "productOrService": {"coding": [{"system": CPT, "code": code}]},
                "net": {"value": amount},
                "encounter": [{"reference": f"Encounter/{encounter}"}],
            }
        ],
    }


def _hospital(api: Api) -> httpx.Client:
    return api.client(api.world.node.wallets.get(NODE_WALLET))


def test_submit_answers_with_the_claim_response_and_it_is_searchable(world: World, tmp_path: Path) -> None:  # noqa: F811
    encounter = world.encounter("visit-1")
    with serving(world) as api:  # type: ignore[arg-type]
        hospital = _hospital(api)
        answer = hospital.post("/Claim/$submit", json=_claim(world, encounter, 200))
        assert answer.status_code == 200, answer.text
        response = answer.json()
        assert (response["resourceType"], response["outcome"], response["disposition"]) == (
            "ClaimResponse",
            "complete",
            "Paid",
        )
        claim_id = response["request"]["reference"]
        found = hospital.get("/ClaimResponse", params={"request": claim_id}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [response["id"]]
        eob = hospital.get("/ExplanationOfBenefit", params={"claim": claim_id}).json()
        assert eob["total"] == 1

        created = hospital.post("/Claim", json=_claim(world, world.encounter("visit-2"), 150))
        assert created.status_code == 201, created.text
        assert created.headers["location"].startswith(f"{api.url}/Claim/")
        assert hospital.get("/ClaimResponse", params={"request": f"Claim/{created.json()['id']}"}).json()["total"] == 1


def test_a_pended_claim_is_decided_later_and_a_stranger_cannot_bill(world: World) -> None:  # noqa: F811
    encounter = world.encounter("visit-big")
    node = world.node
    stranger = node.wallets.create("stranger", Role.PRACTITIONER, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        stranger.address, stranger.role, stranger.encryption_key
    )
    with serving(world) as api:  # type: ignore[arg-type]
        refused = api.client(stranger).post("/Claim/$submit", json=_claim(world, encounter, 200))
        assert refused.status_code == 404  # an Encounter it may not read is one it may not know of
        assert node.audit.entries(agent=stranger.address)[-1].access.allowed is False

        hospital = _hospital(api)
        surgery = _claim(world, encounter, 10_000, "29881")  # knee arthroscopy: over the review threshold
        pended = hospital.post("/Claim/$submit", json=surgery).json()
        assert pended["outcome"] == "queued", pended["disposition"]
        assert pended["disposition"].startswith("Pended")
        outcome = node.claims.resolve(pended["request"]["reference"])
        world.claims(world.insurer.name).approve(outcome.claim_id)
        for _ in range(100):  # the server's background loop follows pended claims every few seconds
            now = hospital.get(f"/ClaimResponse/{pended['id']}").json()
            if now["outcome"] == "complete":
                break
            time.sleep(0.2)
        assert now["outcome"] == "complete"
        assert now["meta"]["versionId"] == "2"

        bad = {**_claim(world, encounter, 10), "item": []}
        assert hospital.post("/Claim/$submit", json=bad).status_code in (400, 422)


@pytest.fixture(autouse=True)
def _fast_claim_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Follow pended claims every round, so the test waits a second, not five."""
    monkeypatch.setattr("careledger.api._server.CLAIM_ROUNDS", 1)
