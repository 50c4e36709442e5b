"""Keys at rest: a copy of a node's home (every file) without the passphrase opens no custodial key and no record.

One home is built once: a walk-in patient (a custodial identity) and a note of hers with a phrase found
nowhere else. Its files are copied as a thief would; the copy is scanned and opened with a wrong
passphrase, with none, and with the right one. A home made before the vault (its secrets in the clear)
is sealed in place on its first open with the passphrase, and refused with a wrong one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from careledger.access import Accessor
from careledger.cli import run
from careledger.config import Home, Settings
from careledger.errors import AccessDenied, IntegrityError
from careledger.identity import load_keystore
from careledger.identity._vault import SEALED_PREFIX
from careledger.node import Node
from careledger.records import SearchQuery, TokenCondition
from careledger.testdata import PASSPHRASE, scratch_node

SETTINGS = Settings(chain="memory", light_kdf=True)
PHRASE = "hears the lighthouse keeper's parrot reciting Latin verbs"


@dataclass(frozen=True)
class Built:
    """The home as the node left it, and what a thief must not find in a copy of it."""

    home: Home
    patient: str  # the walk-in's custodial address
    note_id: str
    secrets: dict[Path, bytes]  # each of the home's secrets, by file
    keys: dict[str, bytes]  # the custodial key, the vault's key, the node wallet's key


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home_dir = tmp_path_factory.mktemp("vault") / "home"
    with scratch_node(home_dir, SETTINGS) as node:
        door = node.access.for_caller(Accessor(node.address))
        walk_in = door.write(
            {
                "resourceType": "Patient",
                "name": [{"family": "Quillfeather", "given": ["Odalys"]}],
                "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-4711"}],
            }
        )
        note = door.write(
            {
                "resourceType": "Condition",
                "subject": {"reference": f"Patient/{walk_in.record_id}"},
                "code": {"text": "auditory hallucinations"},
                "note": [{"text": PHRASE}],
            }
        )
        assert PHRASE in json.dumps(door.read(note.record_id))  # the phrase is in her record
        yield Built(
            home=node.home,
            patient=walk_in.patient_address,
            note_id=note.record_id,
            secrets=dict(node.vault.open()),
            keys={
                "custodial": bytes(node.custodial.account(walk_in.patient_address).key),
                "vault": bytes(load_keystore(node.home.vault_file, PASSPHRASE).key),
                "node wallet": bytes(node.unlock().account.key),
            },
        )


def _copy(built: Built, to: Path) -> Home:
    """Every file of the home, as a backup tool or a thief copies it."""
    shutil.copytree(built.home.path, to)
    return Home(to)


def _found(home: Home, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which needles (raw, or as hex either case) each file of `home` holds."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in home.path.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for name, needle in needles.items():
            if any(form in data for form in (needle, needle.hex().encode(), needle.hex().upper().encode())):
                found.setdefault(name, []).append(str(path.relative_to(home.path)))
    return found


def _read(node: Node, record_id: str) -> dict[str, object]:
    """A record as the node itself opens it (its own upkeep, audited)."""
    return node.maintenance.open(node.maintenance.get(record_id))


def _needles(built: Built) -> dict[str, bytes]:
    return {
        "phrase": PHRASE.encode(),
        "parrot": b"lighthouse keeper",
        **built.keys,
        **{path.name: secret for path, secret in built.secrets.items()},
    }


def test_a_copy_holds_no_secret_and_no_plaintext_and_each_secret_is_sealed(built: Built, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path / "copy")
    assert {path.name for path in built.secrets} == {path.name for path in copy.secret_files}
    assert _found(copy, _needles(built)) == {}
    for path in copy.secret_files:
        assert path.read_bytes().startswith(SEALED_PREFIX), path.name
        assert path.stat().st_mode & 0o077 == 0
    vault = json.loads(copy.vault_file.read_text())
    assert (vault["version"], vault["crypto"]["kdf"]) == (3, "scrypt")  # a keystore v3, as the wallets are
    assert len(list(copy.custodial_dir.glob("*.key"))) == 1  # hers, sealed under the sealed custodial.kek


def test_a_wrong_passphrase_or_none_opens_nothing(
    built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(built, tmp_path / "copy")
    with Node(copy, SETTINGS, lambda _wallet: "not the passphrase", lazy=True) as node:
        with pytest.raises(AccessDenied, match="wrong passphrase: this node's secrets"):
            node.custodial.account(built.patient)
        with pytest.raises(AccessDenied, match="wrong passphrase"):
            _read(node, built.note_id)
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "not the passphrase")
    capsys.readouterr()
    assert run(["--home", str(copy.path), "record", "get", f"Condition/{built.note_id}"]) == 5
    err = capsys.readouterr().err
    assert "wrong passphrase: this node's secrets (vault.json) open with the node wallet's passphrase" in err
    assert "Traceback" not in err
    assert PHRASE not in err
    monkeypatch.delenv("CARELEDGER_PASSPHRASE")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert run(["--home", str(copy.path), "record", "get", f"Condition/{built.note_id}"]) == 5
    assert "set CARELEDGER_PASSPHRASE_FILE" in capsys.readouterr().err
    assert _found(copy, _needles(built)) == {}  # a failed open wrote nothing in the clear


def test_the_right_passphrase_opens_everything_asking_once(built: Built, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path / "copy")
    asked: list[str] = []

    def passphrase(wallet: str) -> str:
        asked.append(wallet)
        return PASSPHRASE

    with Node(copy, SETTINGS, passphrase, lazy=True) as node:
        assert asked == []  # nothing needed a secret yet
        assert PHRASE in json.dumps(_read(node, built.note_id))
        assert bytes(node.custodial.account(built.patient).key) == built.keys["custodial"]
        found = node.maintenance.search(SearchQuery(tokens=(TokenCondition("identifier", ("MRN-4711",)),)))
        assert [s.patient_address for s in found] == [built.patient]  # the same index key
        assert node.audit.verify(None).ok
        assert dict(node.vault.open()) == {copy.path / p.name: s for p, s in built.secrets.items()}
    assert asked == ["node"]  # the vault and the node wallet: one passphrase, asked once


def test_a_home_with_clear_secrets_is_sealed_on_its_first_open_with_the_passphrase(
    built: Built, tmp_path: Path
) -> None:
    old = _copy(built, tmp_path / "old")
    old.vault_file.unlink()
    for path in old.secret_files:  # as homes were written before the vault: hex, in the clear
        path.write_text(built.secrets[built.home.path / path.name].hex())
    assert set(_found(old, _needles(built))) == {path.name for path in old.secret_files}  # the scan sees them

    with (
        Node(old, SETTINGS, lambda _wallet: "mistyped", lazy=True) as node,
        pytest.raises(AccessDenied, match="wrong passphrase"),
    ):
        node.vault.open()
    assert not old.vault_file.exists()  # refused before anything was sealed under a mistyped passphrase
    assert set(_found(old, _needles(built))) == {path.name for path in old.secret_files}

    with Node(old, SETTINGS, lambda _wallet: PASSPHRASE, lazy=True) as node:
        assert PHRASE in json.dumps(_read(node, built.note_id))
    assert _found(old, _needles(built)) == {}
    assert all(path.read_bytes().startswith(SEALED_PREFIX) for path in old.secret_files)

    # A crash half way through leaves some files clear: the next open seals them, the same secrets.
    old.audit_key_file.write_text(built.secrets[built.home.audit_key_file].hex())
    old.oidc_key_file.unlink()  # and one never made: made now
    with Node(old, SETTINGS, lambda _wallet: PASSPHRASE, lazy=True) as node:
        opened = node.vault.open()
        assert opened[old.audit_key_file] == built.secrets[built.home.audit_key_file]
        assert len(opened[old.oidc_key_file]) == 32
        assert node.audit.verify(None).ok
    assert all(path.read_bytes().startswith(SEALED_PREFIX) for path in old.secret_files)


def test_a_lost_vault_or_a_damaged_secret_is_refused_by_name(built: Built, tmp_path: Path) -> None:
    lost = _copy(built, tmp_path / "lost")
    lost.vault_file.unlink()  # sealed secrets, and no vault: never a new vault that would not open them
    with (
        Node(lost, SETTINGS, lambda _wallet: PASSPHRASE, lazy=True) as node,
        pytest.raises(IntegrityError, match=r"vault.json is missing: restore it from a backup"),
    ):
        node.vault.open()
    assert not lost.vault_file.exists()

    damaged = _copy(built, tmp_path / "damaged")
    sealed = bytearray(damaged.index_key_file.read_bytes())
    at = len(SEALED_PREFIX) + 40
    sealed[at] = ord("1") if sealed[at] == ord("0") else ord("0")  # one hex digit of the ciphertext
    damaged.index_key_file.write_bytes(bytes(sealed))
    damaged.api_key_file.write_bytes(built.home.audit_key_file.read_bytes())  # another secret's sealed file
    with (
        Node(damaged, SETTINGS, lambda _wallet: PASSPHRASE, lazy=True) as node,
        pytest.raises(IntegrityError, match=r"index.key does not open under vault.json"),
    ):
        node.vault.open()
    damaged.index_key_file.write_bytes(built.home.index_key_file.read_bytes())
    with (
        Node(damaged, SETTINGS, lambda _wallet: PASSPHRASE, lazy=True) as node,
        pytest.raises(IntegrityError, match=r"api.key does not open"),
    ):
        node.vault.open()
