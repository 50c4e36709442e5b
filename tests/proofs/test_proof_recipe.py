"""docs/proofs.md's `cast` recipe, run as written against the code's own content ids, commitments and roots.

The recipe's shell blocks are taken from the page and run with bash, jq, Python and Foundry's `cast` (the one
package.json pins, at `node_modules/.bin/cast`), its chain step against the anvil chain the node anchored on,
pinned to the node's RecordAnchor. The chain block's signatures are also held to RecordAnchor's ABI.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from careledger.access import Accessor
from careledger.chain import Role
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.contracts import shipped_artifact
from careledger.proofs import ANCHORED_EVENT, BATCH, BATCH_RETURNS, PROOF_URL, VERIFY
from careledger.proofs._rpc import HAS_ROLE
from careledger.testdata import scratch_node, synthetic_patients

pytestmark = pytest.mark.anvil

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "proofs.md").read_text()
BLOCKS = dict(re.findall(r"<!-- recipe:(\w+) -->\n```sh\n(.*?)```", DOC, re.S))


@dataclass
class Exported:
    """The exported file, the Bundle it holds, and the chain it was anchored on with its RecordAnchor."""

    path: Path
    bundle: dict[str, Any]
    rpc: str
    anchor: str
    node: str  # the node's address: RecordAnchor's deployer, and the anchorer of the batch


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    """A Bundle of Alice's seven records with their proofs (a batch of seven: paths of two and three siblings),
    its node serving the anvil chain until the module ends."""
    root = tmp_path_factory.mktemp("recipe")
    with scratch_node(root / "home", Settings(chain="anvil", light_kdf=True)) as node:
        alice = node.wallets.create("alice", Role.PATIENT, "pw")
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.register_actor(alice.address, alice.role, alice.encryption_key)
        patient = synthetic_patients(1, seed=41)[0]
        node.maintenance.write(patient.patient, patient_address=alice.address)
        for record in patient.records[:6]:
            node.maintenance.write(record)
        node.anchorer.anchor_pending()
        key = node.unlock("alice").encryption_key()
        accessor = Accessor(alice.address, Purpose.PATRQT)
        _, resources = node.access.for_caller(accessor).export(key)
        exported = list(resources)
        proofs = node.proofs.of(accessor, exported, key)
        entries = [
            {"resource": r, "extension": [proofs[r["id"], int(r["meta"]["versionId"])].extension()]} for r in exported
        ]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        path = root / "alice.json"
        path.write_text(json.dumps(bundle, indent=1))
        yield Exported(path, bundle, node.chain.url or "", node.contracts.record_anchor().address, node.address)


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with Foundry's `cast` (package.json pins it; `make setup` installs it), jq, and this interpreter
    as `python3`."""
    cast = ROOT / "node_modules" / ".bin" / "cast"
    assert cast.exists(), "Foundry's cast is not installed: run `make setup` (npm ci)"
    assert shutil.which("jq") is not None, "jq is not installed: run `make setup`"
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "cast").symlink_to(cast)
    python = bin_dir / "python3"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # a link would lose the virtualenv
    python.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def _recipe(
    exported: Exported, path: Path, record_id: str, tools: str, *, chain: bool = False
) -> tuple[dict[str, str], str]:
    """The page's steps as written, for one record of the file at `path`: the CID, leaf and root steps 1 and 2
    print, and (`chain`) what step 3 prints, asked of the module's anvil chain pinned to the node's RecordAnchor."""
    script = "\n".join(
        [
            "set -euo pipefail",
            BLOCKS["fields"],
            f"FILE={path} ID={record_id} RPC={exported.rpc} RA={exported.anchor}",
            'entry=$(jq --arg id "$ID" \'.entry[] | select(.resource.id == $id)\' "$FILE")',
            'TYPE=$(jq -r .resource.resourceType <<<"$entry")',
            'VERSION=$(jq -r .resource.meta.versionId <<<"$entry")',
            'echo "cid $(source content.sh)"',
            BLOCKS["commitment"],
            "echo ---",
            BLOCKS["chain"] if chain else "",
        ]
    )
    (path.parent / "content.sh").write_text(BLOCKS["content"])
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": tools},
        cwd=path.parent,  # where the page's own FILE=alice.json is
        check=False,
    )
    assert done.returncode == 0, done.stderr
    hashed, asked = done.stdout.split("---\n")
    words = hashed.split()
    return dict(zip(words[::2], words[1::2], strict=True)), asked


def _field(entry: dict[str, Any], name: str) -> Any:
    (extension,) = (e for e in entry["extension"] if e["url"] == PROOF_URL)
    return next(v for item in extension["extension"] if item["url"] == name for k, v in item.items() if k != "url")


def test_the_recipe_recomputes_what_the_code_commits_to(exported: Exported, tools: str) -> None:
    siblings = set()
    for entry in [*exported.bundle["entry"][:2], exported.bundle["entry"][-1]]:  # the last one's is carried up
        printed, _ = _recipe(exported, exported.path, entry["resource"]["id"], tools)
        assert printed["cid"] == _field(entry, "cid")
        assert printed["leaf"] == _field(entry, "commitment")
        assert printed["root"] == _field(entry, "root")
        siblings.add(sum(1 for item in entry["extension"][0]["extension"] if item["url"] == "sibling"))
    assert siblings == {2, 3}  # paths of both lengths: the odd node carried up, and a full path


def test_the_recipe_tells_a_changed_byte(exported: Exported, tools: str, tmp_path: Path) -> None:
    changed = copy.deepcopy(exported.bundle)
    resource = changed["entry"][1]["resource"]
    resource["meta"]["lastUpdated"] = "3" + resource["meta"]["lastUpdated"][1:]  # one byte: 2026 -> 3026
    tampered = tmp_path / "alice.json"
    tampered.write_text(json.dumps(changed))
    printed, _ = _recipe(exported, tampered, resource["id"], tools)
    assert printed["cid"] != _field(exported.bundle["entry"][1], "cid")


def test_the_recipe_asks_the_chain_of_the_pinned_contract(exported: Exported, tools: str, tmp_path: Path) -> None:
    entry = exported.bundle["entry"][-1]
    _, asked = _recipe(exported, exported.path, entry["resource"]["id"], tools, chain=True)
    lines = asked.splitlines()
    root, block = _field(entry, "root"), _field(entry, "block")
    assert lines[0] == _field(entry, "chainId")  # no "wrong contract" before it
    assert lines[1].startswith(f"batch ({root}, 7, 1, {exported.node}, ")  # seven records, kind 1, the node's
    assert lines[2:4] == ["true", "true"]  # the anchorer holds ANCHORER_ROLE; the contract's verify agrees
    assert f"blockNumber: {block}" in asked
    assert _field(entry, "transaction") in asked
    assert root in asked  # the event's indexed root
    assert int(lines[-1]) == int(datetime.fromisoformat(_field(entry, "anchoredAt")).timestamp())
    # A proof naming a contract of someone else's: the recipe says so first, and asks only the pinned one.
    elsewhere = copy.deepcopy(exported.bundle)
    (proof,) = (e for e in elsewhere["entry"][-1]["extension"] if e["url"] == PROOF_URL)
    next(item for item in proof["extension"] if item["url"] == "contract")["valueString"] = "0x" + "5a" * 20
    moved = tmp_path / "alice.json"
    moved.write_text(json.dumps(elsewhere))
    _, asked = _recipe(exported, moved, entry["resource"]["id"], tools, chain=True)
    assert asked.splitlines()[0] == f"wrong contract: the proof names 0x{'5a' * 20}, not {exported.anchor}"


def test_the_chain_calls_match_record_anchors_abi() -> None:
    chain = BLOCKS["chain"]
    assert f'"{BATCH}({BATCH_RETURNS})"' in chain  # cast's returns in parentheses: one tuple
    assert f'"{VERIFY}(bool)"' in chain
    assert f'"{HAS_ROLE}(bool)" "$(cast keccak ANCHORER_ROLE)"' in chain
    (event,) = re.findall(r'"(Anchored\([^"]*\))"', chain)
    assert re.sub(r" indexed| \w+(?=[,)])", "", event).replace(", ", ",") == ANCHORED_EVENT
    artifact = shipped_artifact("RecordAnchor")
    assert artifact is not None
    abi = {(item["type"], item.get("name")): item for item in artifact.abi}
    batch = abi["function", "batch"]
    assert [i["type"] for i in batch["inputs"]] == ["bytes32"]
    assert "(" + ",".join(c["type"] for c in batch["outputs"][0]["components"]) + ")" == BATCH_RETURNS
    assert [i["type"] for i in abi["function", "verify"]["inputs"]] == ["bytes32", "bytes32[]", "bytes32"]
    assert [i["type"] for i in abi["function", "hasRole"]["inputs"]] == ["bytes32", "address"]
    anchored = abi["event", "Anchored"]["inputs"]
    assert [(i["name"], i["type"], i["indexed"]) for i in anchored] == [
        ("root", "bytes32", True),
        ("anchorer", "address", True),
        ("leaf_count", "uint32", False),
        ("kind", "uint8", False),
    ]
    declared = ", ".join(f"{i['type']}{' indexed' if i['indexed'] else ''} {i['name']}" for i in anchored)
    assert event == f"Anchored({declared})"
