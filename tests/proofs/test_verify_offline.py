"""`careledger verify`: an exported Bundle checked against the chain with no node, no home, no database.

One anvil chain for the module. A node (the CLI against that chain) stores Alice's chart, amends one
record, exports it with proofs, and then its home is deleted: from there on only the file and the
JSON-RPC URL exist. Each test checks a copy of the file, intact or changed as an attacker would.
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
from fhir.resources.R4B import get_fhir_model_class

from careledger.api import free_port
from careledger.chain import open_chain
from careledger.cli import run
from careledger.proofs import PROOF_URL
from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli, Result

pytestmark = pytest.mark.anvil


@dataclass
class Exported:
    bundle: dict[str, Any]
    rpc: str
    observation: str  # the amended Observation's id


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
        shutil.rmtree(home)  # no node, no home, no database: the file and the chain alone
        yield Exported(json.loads(out.read_text()), rpc, observation["id"])


def _verify(cli: Cli, tmp_path: Path, document: Any, rpc: str, *options: str) -> Result:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document) if not isinstance(document, bytes) else document.decode())
    return cli("verify", str(path), "--rpc", rpc, *options, home=False)


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
    result = _verify(cli, tmp_path, bundle, exported.rpc, "--json")
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
    said = _verify(cli, tmp_path, bundle, exported.rpc)
    assert said.code == 0
    assert said.out.count("✓") == 7
    assert "all 7 records check out against the chain" in said.out


def test_one_changed_byte_fails_naming_that_record(exported: Exported, cli: Cli, tmp_path: Path) -> None:
    text = json.dumps(exported.bundle).encode()
    marker = b'"status": "amended"'
    at = text.index(marker) + len(b'"status": "a')
    changed = text[:at] + b"M" + text[at + 1 :]  # amended -> aMended: one byte
    result = _verify(cli, tmp_path, changed, exported.rpc, "--json")
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
    # Another contract than RecordAnchor's.
    bundle = copy.deepcopy(exported.bundle)
    _proof(bundle["entry"][0])["contract"][0]["valueString"] = "0x" + "5a" * 20
    cases.append(("root not on chain", bundle))
    # No anchor at all: exported before it was anchored.
    bundle = copy.deepcopy(exported.bundle)
    proof = bundle["entry"][0]["extension"][0]
    kept = ("patient", "category", "cid", "salt", "commitment", "dataKey", "nonce")
    proof["extension"] = [item for item in proof["extension"] if item["url"] in kept]
    cases.append(("not yet anchored", bundle))
    name = f"{bundle['entry'][0]['resource']['resourceType']}/{bundle['entry'][0]['resource']['id']}/_history/1"
    for problem, document in cases:
        result = _verify(cli, tmp_path, document, exported.rpc, "--json")
        assert result.code == 7, problem
        failed = [(o["record"], o["problem"]) for o in result.json() if not o["ok"]]
        assert failed == [(name, problem)], problem


def test_malformed_input_is_a_clear_error(exported: Exported, cli: Cli, tmp_path: Path) -> None:
    for document, told in [
        (b"{not json", "is not JSON"),
        (b"[" * 100_000, "nested deeper than"),  # past the C stack, were it parsed
        ({"resourceType": "Patient", "id": "p"}, "not a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, "carries no records"),
    ]:
        result = _verify(cli, tmp_path, document, exported.rpc)
        assert result.code == 2, result.err
        assert told in result.err
        assert result.err.count("\n") == 1
    missing = cli("verify", str(tmp_path / "nowhere.json"), "--rpc", exported.rpc, home=False)
    assert missing.code == 2
    assert "cannot read" in missing.err
    assert _verify(cli, tmp_path, exported.bundle, "ftp://127.0.0.1/").code == 2
    unreachable = _verify(cli, tmp_path, exported.bundle, f"http://127.0.0.1:{free_port()}")
    assert unreachable.code == 9
    assert "did not answer" in unreachable.err
    # A proof with a malformed value fails its own record, by name; the rest still verify.
    bundle = copy.deepcopy(exported.bundle)
    _proof(bundle["entry"][1])["salt"][0]["valueString"] = "0x1234"
    bundle["entry"][2]["extension"] = []
    result = _verify(cli, tmp_path, bundle, exported.rpc, "--json")
    assert result.code == 7
    failed = {o["record"].split("/")[1]: (o["problem"], o["detail"]) for o in result.json() if not o["ok"]}
    assert failed == {
        bundle["entry"][1]["resource"]["id"]: (
            "malformed proof",
            "the proof's salt is not 32 bytes of 0x-prefixed hex: '0x1234'",
        ),
        bundle["entry"][2]["resource"]["id"]: ("no proof", "the file carries no proof of this record"),
    }
