"""`$verify` and `$everything?_proofs=true` over HTTP: proofs through the caller's door, checked as a stranger would.

One world (py-evm chain) and one real server for the module. Every answer is checked by the standalone
verifier's code against the same chain, read through the JSON-RPC calls `careledger verify` makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import update
from web3.middleware import Web3Middleware

from careledger.proofs import AnchorReader, verify_document
from careledger.records import RecordEraser
from careledger.store import AnchorBatch
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving


@pytest.fixture(scope="module")
def proofs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("proofs")) / "home") as world, serving(world) as api:
        yield api


def _checked(api: Api, document: dict[str, Any]) -> list[tuple[str, bool, str | None]]:
    """What the standalone verifier says of `document`, reading the world's chain and its RecordAnchor."""
    node = api.world.node
    reader = AnchorReader(node.chain.w3, node.contracts.record_anchor().address)
    return [(o.record, o.ok, o.problem) for o in verify_document(document, reader)]


def _parameter(answer: dict[str, Any], name: str) -> Any:
    (found,) = (p for p in answer["parameter"] if p["name"] == name)
    return found


def test_verify_answers_the_verdict_and_a_proof_anyone_can_check(proofs: Api) -> None:
    world = proofs.world
    alice = proofs.client(world.alice)
    labs = world.labs_id
    pending = alice.get(f"/Observation/{labs}/$verify")
    assert pending.status_code == 200, pending.text
    assert _parameter(pending.json(), "verdict")["valueCode"] == "pending"
    assert _checked(proofs, pending.json()) == [(f"Observation/{labs}/_history/1", False, "not yet anchored")]

    world.node.anchorer.anchor_pending()
    for path in (f"/Observation/{labs}/$verify", f"/Observation/{labs}/_history/1/$verify"):
        answer = alice.get(path).json()
        get_fhir_model_class("Parameters").model_validate(answer)
        assert _parameter(answer, "verdict")["valueCode"] == "anchored"
        assert _parameter(answer, "record")["resource"]["id"] == labs
        assert _checked(proofs, answer) == [(f"Observation/{labs}/_history/1", True, None)]
    # The answer changed by one byte of its record fails, naming it.
    answer = alice.get(f"/Observation/{labs}/$verify").json()
    _parameter(answer, "record")["resource"]["status"] = "finaL"
    assert _checked(proofs, answer) == [(f"Observation/{labs}/_history/1", False, "commitment mismatch")]
    assert alice.get(f"/Observation/{labs}/_history/2/$verify").status_code == 404


def test_a_caller_who_may_not_read_gets_the_unknown_ids_answer(proofs: Api) -> None:
    world = proofs.world
    mallory = proofs.client(world.mallory)
    refused = mallory.get(f"/Observation/{world.labs_id}/$verify")
    unknown = mallory.get("/Observation/no-such-record/$verify")
    assert (refused.status_code, unknown.status_code) == (404, 404)
    assert json.dumps(refused.json()).replace(world.labs_id, "ID") == json.dumps(unknown.json()).replace(
        "no-such-record", "ID"
    )
    refusal = world.node.audit.entries(agent=world.mallory.address)[-1]
    assert (refusal.access.allowed, refusal.access.interaction) == (False, "read")
    alice = proofs.client(world.alice)
    assert alice.get(f"/Patient/{world.labs_id}/$verify").status_code == 404  # an Observation is no Patient
    assert alice.get(f"/NoSuchType/{world.labs_id}/$verify").status_code == 404
    assert alice.get(f"/Observation/{world.labs_id}/_history/0/$verify").status_code == 400


def test_a_tampered_blob_is_told_tampered(proofs: Api) -> None:
    world = proofs.world
    world.node.anchorer.anchor_pending()
    stored = world.node._records.get(world.general_id)
    (blob,) = (world.node.home.path / "blobs").rglob(stored.cid or "")
    kept = blob.read_bytes()
    blob.write_bytes(bytes([kept[0] ^ 0xFF]) + kept[1:])
    try:
        answer = proofs.client(world.alice).get(f"/{stored.resource_type}/{stored.record_id}/$verify")
    finally:
        blob.write_bytes(kept)
    assert answer.status_code == 200, answer.text
    assert _parameter(answer.json(), "verdict")["valueCode"] == "tampered"
    assert _parameter(answer.json(), "detail")["valueString"].startswith("content id:")
    assert [p["name"] for p in answer.json()["parameter"]] == ["verdict", "detail", "proof"]


def test_everything_with_proofs_verifies_entry_by_entry(proofs: Api) -> None:
    world = proofs.world
    world.node.anchorer.anchor_pending()
    alice = proofs.client(world.alice)
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    plain = alice.get(f"/Patient/{patient.record_id}/$everything").json()
    assert all("extension" not in entry for entry in plain["entry"])
    bundle = alice.get(f"/Patient/{patient.record_id}/$everything", params={"_proofs": "true", "_count": 5}).json()
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert len(bundle["entry"]) == 5
    assert all("_proofs=true" in link["url"] for link in bundle["link"])
    checked = _checked(proofs, bundle)
    assert [ok for _, ok, _ in checked] == [True] * 5
    proofs_audited = [e for e in world.node.audit.entries(agent=world.alice.address) if e.access.interaction == "proof"]
    assert proofs_audited
    assert proofs_audited[-1].access.allowed
    bad = alice.get(f"/Patient/{patient.record_id}/$everything", params={"_proofs": "yes"})
    assert bad.status_code == 400
    assert "_proofs is true or false" in bad.text


def _parts(answer: dict[str, Any]) -> dict[str, Any]:
    """The `$verify` answer's proof, its parts' values by name (the last of a repeated one)."""
    return {p["name"]: next(v for k, v in p.items() if k != "name") for p in _parameter(answer, "proof")["part"]}


def _kept_block(api: Api, root: str, block: int | None) -> None:
    """Set the block the node keeps for the batch of `root` (None: as a batch anchored before it kept blocks)."""
    with api.world.node._records.db.session() as session:
        session.execute(update(AnchorBatch).where(AnchorBatch.root == bytes.fromhex(root[2:])).values(block=block))


def test_a_proof_names_its_block_from_that_blocks_logs_alone(proofs: Api) -> None:
    world = proofs.world
    world.node.anchorer.anchor_pending()
    alice = proofs.client(world.alice)
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    asked: list[dict[str, Any]] = []

    class Recorded(Web3Middleware):
        """Every eth_getLogs the node sends, as sent."""

        def request_processor(self, method: Any, params: Any) -> Any:
            if method == "eth_getLogs":
                asked.append(dict(params[0]))
            return method, params

    def searched(root: str) -> list[tuple[Any, Any]]:
        """The block ranges of the node's searches for `root`'s Anchored event (the server's background rounds
        read other logs meanwhile, some by address alone: the supply chain's recalls)."""
        return [(a["fromBlock"], a["toBlock"]) for a in asked if a.get("topics", [None, None])[1:2] == [root]]

    w3 = world.node.chain.w3
    w3.middleware_onion.add(Recorded, "recorded")
    try:
        proof = _parts(alice.get(f"/Observation/{world.labs_id}/$verify").json())
        alice.get(f"/Patient/{patient.record_id}/$everything", params={"_proofs": "true"})
        block = hex(proof["block"])
        assert searched(proof["root"])
        assert set(searched(proof["root"])) == {(block, block)}  # that block's logs, never the whole chain's
        assert proof["transaction"].startswith("0x")
        # A batch anchored before the node kept blocks: no search at all, and the proof names no block.
        _kept_block(proofs, proof["root"], None)
        asked.clear()
        older = alice.get(f"/Observation/{world.labs_id}/$verify").json()
    finally:
        w3.middleware_onion.remove("recorded")
        _kept_block(proofs, proof["root"], proof["block"])
    assert searched(proof["root"]) == []
    assert not {"block", "transaction"} & set(_parts(older))
    assert _checked(proofs, older) == [(f"Observation/{world.labs_id}/_history/1", True, None)]  # it looks itself


def test_an_erased_record_is_told_erased_with_what_stays_on_chain(proofs: Api) -> None:
    world = proofs.world
    world.node.anchorer.anchor_pending()
    records = world.node._records
    RecordEraser(records, [records.blobs]).erase(world.alice.address, [world.mental_health_id], request="test-1")
    answer = proofs.client(world.alice).get(f"/Condition/{world.mental_health_id}/$verify")
    assert answer.status_code == 200, answer.text
    assert _parameter(answer.json(), "verdict")["valueCode"] == "erased"
    assert [p["name"] for p in answer.json()["parameter"]] == ["verdict", "detail", "proof"]  # no record
    told = {part["name"] for part in _parameter(answer.json(), "proof")["part"]}
    assert {"commitment", "sibling", "root", "block"} <= told
    assert not told & {"salt", "cid", "dataKey", "nonce"}  # destroyed: the commitment links to nothing
