"""`careledger verify`: an exported Bundle checked against the chain with no node, no home, no database.

One anvil chain for the module. A node (the CLI against that chain) stores Alice's chart, amends one
record, exports it with proofs, and then its home is deleted: from there on only the file, the
JSON-RPC URL and the network's RecordAnchor address (as its deployments file names it) exist. Each test
checks a copy of the file, intact or changed as an attacker would.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from fhir.resources.R4B import get_fhir_model_class

from careledger.api import free_port
from careledger.chain import AnchorKind, Chain, Deployer, RecordAnchor, Signer, TxRequest, open_chain
from careledger.cli import run
from careledger.proofs import PROOF_URL, RecordProof, selector
from careledger.proofs._recompute import ciphertext_id, commitment_of, named
from careledger.proofs._rpc import ANCHORER_ROLE
from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli, Result

pytestmark = pytest.mark.anvil


@dataclass
class Exported:
    bundle: dict[str, Any]
    rpc: str
    observation: str  # the amended Observation's id
    anchor: str  # the network's RecordAnchor, as the node's deployments file names it
    deployments: Path  # a copy of that file, kept when the home is deleted
    chain: Chain


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    root = tmp_path_factory.mktemp("proofs")
    home = root / "home"
    with open_chain("anvil", chain_dir=root / "chain", keep=True) as chain, pytest.MonkeyPatch.context() as env:
        env.setenv("CARELEDGER_PASSPHRASE", "test passphrase")
        env.setenv("HOME", str(root))
        rpc = chain.url or ""

        def cli(*args: str) -> None:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                code = run(["--home", str(home), "--chain", rpc, *args])
            assert code == 0, (args, err.getvalue())

        def add(resource: dict[str, Any], *options: str) -> None:
            path = root / "resource.json"
            path.write_text(json.dumps(resource))
            cli("record", "add", str(path), *options)

        cli("init", "--light-kdf")
        cli("chain", "deploy")
        cli("wallet", "new", "alice", "--role", "patient")
        patient = synthetic_patients(1, seed=40)[0]
        add(patient.patient, "--patient", "alice")
        records = patient.records[:6]
        for record in records:
            add(record)
        observation = next(r for r in records if r["resourceType"] == "Observation")
        add({**observation, "status": "amended"})  # version 2 of it: the export carries the current one
        out = root / "alice.json"
        cli("record", "export", "--patient", "alice", "--out", str(out), "--proofs")
        deployments = root / "deployments.json"
        shutil.copy(home / "deployments" / f"{chain.chain_id}.json", deployments)
        shutil.rmtree(home)  # no node, no home, no database: the file and the chain alone
        anchor = json.loads(deployments.read_text())["RecordAnchor"]["address"]
        yield Exported(json.loads(out.read_text()), rpc, observation["id"], anchor, deployments, chain)


def _verify(
    cli: Cli, tmp_path: Path, document: Any, exported: Exported, *options: str, rpc: str | None = None
) -> Result:
    """`careledger verify` of `document` against the module's chain (or `rpc`), pinned to the network's
    RecordAnchor unless `options` pin it otherwise."""
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document) if not isinstance(document, bytes) else document.decode())
    pinned = () if {"--anchor", "--deployments"} & set(options) else ("--anchor", exported.anchor)
    return cli("verify", str(path), "--rpc", rpc or exported.rpc, *pinned, *options, home=False)


def _entry(bundle: dict[str, Any], record_id: str) -> dict[str, Any]:
    return next(e for e in bundle["entry"] if e["resource"]["id"] == record_id)


def _proof(entry: dict[str, Any]) -> dict[str, list[Any]]:
    """The proof extension's values by name (lists, so a test can change one in place)."""
    (extension,) = (e for e in entry["extension"] if e["url"] == PROOF_URL)
    values: dict[str, list[Any]] = {}
    for item in extension["extension"]:
        values.setdefault(item["url"], []).append(item)
    return values


def test_an_export_verifies_against_the_chain_alone(exported: Exported, cli: Cli, tmp_path: Path) -> None:
    bundle = exported.bundle
    get_fhir_model_class("Bundle").model_validate(bundle)  # still valid FHIR, proofs and all
    assert len(bundle["entry"]) == 7
    assert all(len(e["extension"]) == 1 for e in bundle["entry"])
    result = _verify(cli, tmp_path, bundle, exported, "--json")
    assert result.code == 0, result.err
    outcomes = result.json()
    assert [o["ok"] for o in outcomes] == [True] * 7
    amended = next(o for o in outcomes if o["record"].startswith(f"Observation/{exported.observation}/"))
    assert amended["record"].endswith("/_history/2")
    for outcome in outcomes:
        assert outcome["block"] > 0
        assert outcome["transaction"].startswith("0x")
        assert outcome["anchoredAt"]
        assert outcome["root"] == _proof(_entry(bundle, outcome["record"].split("/")[1]))["root"][0]["valueString"]
        assert outcome["anchorerHoldsRole"] is True
    (anchorer,) = {o["anchorer"] for o in outcomes}  # the node, which deployed RecordAnchor and anchors on it
    by_file = _verify(cli, tmp_path, bundle, exported, "--deployments", str(exported.deployments), "--json")
    assert by_file.code == 0, by_file.err
    assert by_file.json() == outcomes
    said = _verify(cli, tmp_path, bundle, exported)
    assert said.code == 0
    assert said.out.count("✓") == 7
    assert " ".join(said.out.split()).count(f"by {anchorer}") == 7  # the console wraps long lines
    assert "all 7 records check out against the chain" in said.out


def test_one_changed_byte_fails_naming_that_record(exported: Exported, cli: Cli, tmp_path: Path) -> None:
    text = json.dumps(exported.bundle).encode()
    marker = b'"status": "amended"'
    at = text.index(marker) + len(b'"status": "a')
    changed = text[:at] + b"M" + text[at + 1 :]  # amended -> aMended: one byte
    result = _verify(cli, tmp_path, changed, exported, "--json")
    assert result.code == 7
    failed = [o for o in result.json() if not o["ok"]]
    assert [(o["record"], o["problem"]) for o in failed] == [
        (f"Observation/{exported.observation}/_history/2", "commitment mismatch")
    ]
    assert "content id" in failed[0]["detail"]
    assert result.err.strip() == (
        f"error: 1 of 7 records failed: Observation/{exported.observation}/_history/2 (commitment mismatch)"
    )


def test_a_forged_proof_fails_at_its_step(exported: Exported, cli: Cli, tmp_path: Path) -> None:
    cases: list[tuple[str, Any]] = []
    # A sibling changed: the path no longer leads to the root.
    bundle = copy.deepcopy(exported.bundle)
    sibling = _proof(bundle["entry"][0])["sibling"][0]
    sibling["valueString"] = "0x" + "ab" * 32
    cases.append(("path mismatch", bundle))
    # A root of one's own (the commitment alone, a tree of one leaf): the path checks, the chain has no such root.
    bundle = copy.deepcopy(exported.bundle)
    proof = bundle["entry"][0]["extension"][0]
    values = _proof(bundle["entry"][0])
    values["root"][0]["valueString"] = values["commitment"][0]["valueString"]
    proof["extension"] = [item for item in proof["extension"] if item["url"] not in ("sibling", "leafIndex")]
    cases.append(("root not on chain", bundle))
    # Another chain's proof.
    bundle = copy.deepcopy(exported.bundle)
    _proof(bundle["entry"][0])["chainId"][0]["valueString"] = "1"
    cases.append(("wrong chain", bundle))
    # Another contract than the network's RecordAnchor.
    bundle = copy.deepcopy(exported.bundle)
    _proof(bundle["entry"][0])["contract"][0]["valueString"] = "0x" + "5a" * 20
    cases.append(("wrong contract", bundle))
    # No anchor at all: exported before it was anchored.
    bundle = copy.deepcopy(exported.bundle)
    proof = bundle["entry"][0]["extension"][0]
    kept = ("patient", "category", "cid", "salt", "commitment", "dataKey", "nonce")
    proof["extension"] = [item for item in proof["extension"] if item["url"] in kept]
    cases.append(("not yet anchored", bundle))
    name = f"{bundle['entry'][0]['resource']['resourceType']}/{bundle['entry'][0]['resource']['id']}/_history/1"
    for problem, document in cases:
        result = _verify(cli, tmp_path, document, exported, "--json")
        assert result.code == 7, problem
        failed = [(o["record"], o["problem"]) for o in result.json() if not o["ok"]]
        assert failed == [(name, problem)], problem


def _forged_on_a_contract_of_ones_own(exported: Exported) -> tuple[dict[str, Any], RecordAnchor, Signer, str]:
    """The export with its first record changed, as an attacker forges it: the proof recomputed for the new bytes
    (the data key and nonce are in the file), its root (a tree of that one leaf) anchored on a RecordAnchor the
    attacker deployed on the same chain, and that contract's address written into the proof. The forged
    record's name, the attacker's contract and signer."""
    bundle = copy.deepcopy(exported.bundle)
    entry = bundle["entry"][0]
    resource = entry["resource"]
    resource["meta"]["lastUpdated"] = "1999" + resource["meta"]["lastUpdated"][4:]
    proof = RecordProof.from_extension(entry["extension"][0])
    record = named(resource)
    cid = ciphertext_id(resource, record, proof)
    leaf = commitment_of(record, proof, cid)
    attacker = exported.chain.signer(Account.create())
    theirs = Deployer(exported.chain, None).deploy(attacker, "RecordAnchor").deployment.address
    contract = RecordAnchor(exported.chain, theirs, attacker)
    contract.anchor(leaf, 1, AnchorKind.RECORDS)
    values = _proof(entry)
    values["cid"][0]["valueString"] = cid
    values["commitment"][0]["valueString"] = values["root"][0]["valueString"] = "0x" + leaf.hex()
    values["contract"][0]["valueString"] = theirs
    values["block"][0]["valueUnsignedInt"] = exported.chain.block_number()
    dropped = ("sibling", "leafIndex", "transaction")
    entry["extension"][0]["extension"] = [i for i in entry["extension"][0]["extension"] if i["url"] not in dropped]
    return bundle, contract, attacker, str(record)


def test_a_proof_anchored_on_a_contract_of_ones_own_fails(exported: Exported, cli: Cli, tmp_path: Path) -> None:
    forged, theirs, attacker, name = _forged_on_a_contract_of_ones_own(exported)
    for pin in (("--anchor", exported.anchor), ("--deployments", str(exported.deployments))):
        result = _verify(cli, tmp_path, forged, exported, *pin, "--json")
        assert result.code == 7, result.err
        failed = [(o["record"], o["problem"]) for o in result.json() if not o["ok"]]
        assert failed == [(name, "wrong contract")]
        assert theirs.address in next(o["detail"] for o in result.json() if not o["ok"])
    # The forgery is otherwise whole: pinned to the attacker's contract, it checks out (and the genuine ones not),
    # so it is the pin, not some other step, that refuses it.
    result = _verify(cli, tmp_path, forged, exported, "--anchor", theirs.address, "--json")
    by_record = {o["record"]: o for o in result.json()}
    assert by_record[name]["ok"]
    assert {o["problem"] for r, o in by_record.items() if r != name} == {"wrong contract"}
    # The batch's anchorer is told, and whether it still holds ANCHORER_ROLE: revoked, its anchor is flagged.
    assert by_record[name]["anchorer"] == attacker.address
    assert by_record[name]["anchorerHoldsRole"] is True
    revoke = selector("revokeRole(bytes32,address)") + encode(["bytes32", "address"], [ANCHORER_ROLE, attacker.address])
    attacker.transact(TxRequest(to=theirs.address, data=revoke))
    alone = {"resourceType": "Bundle", "type": "collection", "entry": forged["entry"][:1]}
    said = _verify(cli, tmp_path, alone, exported, "--anchor", theirs.address)
    assert said.code == 0, said.err
    assert f"! {name}: " in said.out
    told = " ".join(said.out.split())  # the console wraps long lines
    assert f"by {attacker.address}, which no longer holds ANCHORER_ROLE" in told
    assert "(1 anchored by an account that no longer holds ANCHORER_ROLE)" in told


def test_malformed_input_is_a_clear_error(exported: Exported, cli: Cli, tmp_path: Path) -> None:
    for document, told in [
        (b"{not json", "is not JSON"),
        (b"[" * 100_000, "nested deeper than"),  # past the C stack, were it parsed
        ({"resourceType": "Patient", "id": "p"}, "not a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, "carries no records"),
    ]:
        result = _verify(cli, tmp_path, document, exported)
        assert result.code == 2, result.err
        assert told in result.err
        assert result.err.count("\n") == 1
    unpinned = cli("verify", str(tmp_path / "export.json"), "--rpc", exported.rpc, home=False)
    assert unpinned.code == 2
    assert "pin the network's RecordAnchor" in unpinned.err
    both = _verify(cli, tmp_path, exported.bundle, exported, "--anchor", exported.anchor, "--deployments", "x.json")
    assert both.code == 2
    assert _verify(cli, tmp_path, exported.bundle, exported, "--anchor", "0x1234").code == 2
    assert _verify(cli, tmp_path, exported.bundle, exported, "--deployments", str(tmp_path / "export.json")).code == 2
    nothing_there = _verify(cli, tmp_path, exported.bundle, exported, "--anchor", "0x" + "5a" * 20)
    assert nothing_there.code == 4
    assert "no contract at" in nothing_there.err
    missing = cli(
        "verify", str(tmp_path / "nowhere.json"), "--rpc", exported.rpc, "--anchor", exported.anchor, home=False
    )
    assert missing.code == 2
    assert "cannot read" in missing.err
    assert _verify(cli, tmp_path, exported.bundle, exported, rpc="ftp://127.0.0.1/").code == 2
    unreachable = _verify(cli, tmp_path, exported.bundle, exported, rpc=f"http://127.0.0.1:{free_port()}")
    assert unreachable.code == 9
    assert "did not answer" in unreachable.err
    # A proof with a malformed value fails its own record, by name; the rest still verify.
    bundle = copy.deepcopy(exported.bundle)
    _proof(bundle["entry"][1])["salt"][0]["valueString"] = "0x1234"
    bundle["entry"][2]["extension"] = []
    result = _verify(cli, tmp_path, bundle, exported, "--json")
    assert result.code == 7
    failed = {o["record"].split("/")[1]: (o["problem"], o["detail"]) for o in result.json() if not o["ok"]}
    assert failed == {
        bundle["entry"][1]["resource"]["id"]: (
            "malformed proof",
            "the proof's salt is not 32 bytes of 0x-prefixed hex: '0x1234'",
        ),
        bundle["entry"][2]["resource"]["id"]: ("no proof", "the file carries no proof of this record"),
    }
