"""docs/proofs.md's `cast` recipe, run as written against the code's own content ids, commitments and roots.

The recipe's shell blocks are taken from the page and run with bash, jq and Python; `cast` is Foundry's
if `node_modules/.bin/cast` is installed, else a stand-in that does what its two hashing commands do
(`cast keccak`: keccak256 of 0x-hex bytes or of UTF-8 text; `cast concat-hex`), so the page's own jq
preimage, sorted-pair loop and AES-GCM lines are what is checked. The chain block's signatures are held
to RecordAnchor's ABI.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from careledger.access import Accessor
from careledger.chain import Role
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.contracts import shipped_artifact
from careledger.proofs import ANCHORED_EVENT, BATCH, BATCH_RETURNS, PROOF_URL, VERIFY
from careledger.testdata import scratch_node, synthetic_patients

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "proofs.md").read_text()
BLOCKS = dict(re.findall(r"<!-- recipe:(\w+) -->\n```sh\n(.*?)```", DOC, re.S))

_STAND_IN = """#!{python}
import sys
from eth_hash.auto import keccak
command, *args = sys.argv[1:]
if command == "keccak":
    (text,) = args
    data = bytes.fromhex(text[2:]) if text.startswith("0x") else text.encode()
    print("0x" + keccak(data).hex())
elif command == "concat-hex":
    print("0x" + "".join(arg.removeprefix("0x") for arg in args))
else:
    sys.exit(f"the stand-in does only keccak and concat-hex, not {{command}}")
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A Bundle of Alice's seven records with their proofs (a batch of seven: paths of two and three siblings)."""
    root = tmp_path_factory.mktemp("recipe")
    with scratch_node(root / "home", Settings(chain="memory", light_kdf=True)) as node:
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
    return path, bundle


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with `cast` (Foundry's, or the stand-in), jq, and this interpreter as `python3`."""
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    bin_dir = tmp_path_factory.mktemp("bin")
    real = ROOT / "node_modules" / ".bin" / "cast"
    cast = bin_dir / "cast"
    if real.exists():
        cast.symlink_to(real)
    else:
        cast.write_text(_STAND_IN.format(python=sys.executable))
        cast.chmod(0o755)
    python = bin_dir / "python3"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # a link would lose the virtualenv
    python.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def _recipe(path: Path, record_id: str, tools: str) -> dict[str, str]:
    """Steps 1 and 2 of the page, as written, for one record: the CID, leaf and root they print."""
    script = "\n".join(
        [
            "set -euo pipefail",
            BLOCKS["fields"],
            f"FILE={path} ID={record_id}",
            'entry=$(jq --arg id "$ID" \'.entry[] | select(.resource.id == $id)\' "$FILE")',
            'TYPE=$(jq -r .resource.resourceType <<<"$entry")',
            'VERSION=$(jq -r .resource.meta.versionId <<<"$entry")',
            'echo "cid $(source content.sh)"',
            BLOCKS["commitment"],
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
    words = done.stdout.split()
    return dict(zip(words[::2], words[1::2], strict=True))


def _field(entry: dict[str, Any], name: str) -> Any:
    (extension,) = (e for e in entry["extension"] if e["url"] == PROOF_URL)
    return next(v for item in extension["extension"] if item["url"] == name for k, v in item.items() if k != "url")


def test_the_recipe_recomputes_what_the_code_commits_to(exported: tuple[Path, dict[str, Any]], tools: str) -> None:
    path, bundle = exported
    siblings = set()
    for entry in [*bundle["entry"][:2], bundle["entry"][-1]]:  # the last one's node is carried up a level
        printed = _recipe(path, entry["resource"]["id"], tools)
        assert printed["cid"] == _field(entry, "cid")
        assert printed["leaf"] == _field(entry, "commitment")
        assert printed["root"] == _field(entry, "root")
        siblings.add(sum(1 for item in entry["extension"][0]["extension"] if item["url"] == "sibling"))
    assert siblings == {2, 3}  # paths of both lengths: the odd node carried up, and a full path


def test_the_recipe_tells_a_changed_byte(exported: tuple[Path, dict[str, Any]], tools: str, tmp_path: Path) -> None:
    _, bundle = exported
    changed = copy.deepcopy(bundle)
    resource = changed["entry"][1]["resource"]
    resource["meta"]["lastUpdated"] = "3" + resource["meta"]["lastUpdated"][1:]  # one byte: 2026 -> 3026
    tampered = tmp_path / "alice.json"
    tampered.write_text(json.dumps(changed))
    printed = _recipe(tampered, resource["id"], tools)
    assert printed["cid"] != _field(bundle["entry"][1], "cid")


def test_the_chain_calls_match_record_anchors_abi() -> None:
    chain = BLOCKS["chain"]
    assert f'"{BATCH}({BATCH_RETURNS})"' in chain  # cast's returns in parentheses: one tuple
    assert f'"{VERIFY}(bool)"' in chain
    (event,) = re.findall(r'"(Anchored\([^"]*\))"', chain)
    assert re.sub(r" indexed| \w+(?=[,)])", "", event).replace(", ", ",") == ANCHORED_EVENT
    artifact = shipped_artifact("RecordAnchor")
    assert artifact is not None
    abi = {(item["type"], item.get("name")): item for item in artifact.abi}
    batch = abi["function", "batch"]
    assert [i["type"] for i in batch["inputs"]] == ["bytes32"]
    assert "(" + ",".join(c["type"] for c in batch["outputs"][0]["components"]) + ")" == BATCH_RETURNS
    assert [i["type"] for i in abi["function", "verify"]["inputs"]] == ["bytes32", "bytes32[]", "bytes32"]
    anchored = abi["event", "Anchored"]["inputs"]
    assert [(i["name"], i["type"], i["indexed"]) for i in anchored] == [
        ("root", "bytes32", True),
        ("anchorer", "address", True),
        ("leaf_count", "uint32", False),
        ("kind", "uint8", False),
    ]
    declared = ", ".join(f"{i['type']}{' indexed' if i['indexed'] else ''} {i['name']}" for i in anchored)
    assert event == f"Anchored({declared})"
