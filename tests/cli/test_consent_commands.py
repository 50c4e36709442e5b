"""`careledger consent|access|audit ...` end to end on the home's anvil chain."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from eth_account import Account

from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


@pytest.fixture
def home(cli: Cli, tmp_path: Path) -> tuple[Cli, str]:
    """A node with alice's Patient and a lab result; wallets for a clinic and two practitioners."""
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("alice", "patient"), ("clinic", "org"), ("drbob", "practitioner"), ("eve", "practitioner")):
        assert cli("wallet", "new", name, "--role", role).code == 0
        assert cli("identity", "register", name).code == 0, name
    assert cli("identity", "attest", "node", "drbob", "--type", "medical-licence", "--days", "365").code == 0
    patient = synthetic_patients(1, seed=12)[0]
    lab = next(
        r for r in patient.records if r.get("category", [{}])[0].get("coding", [{}])[0].get("code") == "laboratory"
    )
    for name, resource, owner in (("p.json", patient.patient, ["--patient", "alice"]), ("lab.json", lab, [])):
        path = tmp_path / name
        path.write_text(json.dumps(resource))
        assert cli("record", "add", str(path), *owner).code == 0
    return cli, str(lab["id"])


def test_grant_check_read_revoke_and_the_accounting_of_disclosures(home: tuple[Cli, str]) -> None:
    cli, lab_id = home
    assert cli("record", "get", lab_id, "--as", "clinic").code == 5  # no consent yet
    granted = cli(
        "consent",
        "grant",
        "--patient",
        "alice",
        "--to",
        "clinic",
        "--categories",
        "labs,vitals",
        "--days",
        "30",
        "--json",
    )
    assert granted.code == 0, granted.err
    grant = granted.json()
    assert grant["categories"] == ["labs", "vitals"]
    assert grant["purposes"] == ["TREAT"]
    check = cli("consent", "check", "--patient", "alice", "--grantee", "clinic", "--category", "labs", "--json")
    assert check.json() == {"allowed": True, "consent": grant["id"]}
    assert cli("consent", "check", "--patient", "alice", "--grantee", "clinic", "--category", "mental-health").code == 5
    read = cli("record", "get", lab_id, "--as", "clinic")
    assert read.code == 0, read.err
    assert read.json()["id"] == lab_id
    listed = cli("consent", "list", "--patient", "alice", "--json").json()
    assert "clinic" in cli("consent", "list", "--patient", "alice").out  # the grantee by its wallet's name
    assert [g["id"] for g in listed] == [grant["id"]]
    assert cli("consent", "revoke", grant["id"]).code == 0
    denied = cli("record", "get", lab_id, "--as", "clinic")
    assert denied.code == 5
    assert "revoked" in denied.err
    accounting = cli("audit", "list", "--patient", "alice", "--json").json()
    reads = [(e["agent"][:6], e["outcome"]) for e in accounting if e["interaction"] == "read"]
    clinic = listed[0]["grantee"][:6]
    assert reads == [(clinic, "denied"), (clinic, "allowed"), (clinic, "denied")]
    assert {(e["agent_name"], e["patient_name"]) for e in accounting if e["interaction"] == "read"} == {
        ("clinic", "alice")
    }
    table = cli("audit", "list", "--patient", "alice").out
    assert "clinic" in table
    assert listed[0]["grantee"] not in table  # named, not shown as an address
    assert cli("audit", "anchor").code == 0
    verified = cli("audit", "verify", "--json")
    assert verified.code == 0, verified.out
    assert verified.json()["ok"]


def test_a_signed_consent_is_submitted_once(home: tuple[Cli, str], tmp_path: Path) -> None:
    cli, lab_id = home
    signed = tmp_path / "consent.json"
    made = cli("consent", "sign", "--patient", "alice", "--to", "clinic", "--categories", "labs", "--out", str(signed))
    assert made.code == 0, made.err
    assert cli("consent", "submit", str(signed), "--as", "clinic").code == 0
    assert cli("record", "get", lab_id, "--as", "clinic").code == 0
    again = cli("consent", "submit", str(signed), "--as", "clinic")
    assert again.code == 6
    assert "already submitted" in again.err


def test_a_consent_signed_by_a_wallet_outside_the_project_is_accepted(home: tuple[Cli, str], tmp_path: Path) -> None:
    """The file is standard EIP-712 typed data: eth-account signs it as MetaMask's eth_signTypedData_v4 would."""
    cli, lab_id = home
    typed_file = tmp_path / "consent.json"
    prepared = cli(
        "consent",
        "sign",
        "--patient",
        "alice",
        "--to",
        "clinic",
        "--categories",
        "labs",
        "--unsigned",
        "--out",
        str(typed_file),
    )
    assert prepared.code == 0, prepared.err
    assert not (tmp_path / "consent.json.sig").exists()
    typed = json.loads(typed_file.read_text())
    assert set(typed) == {"types", "domain", "primaryType", "message"}
    # Her key as her own wallet app holds it: the keystore file, opened by eth-account alone.
    keystore = json.loads((cli.home / "keystore" / "alice.json").read_text())
    alice = Account.from_key(Account.decrypt(keystore, "test passphrase"))
    signature = alice.sign_typed_data(full_message=typed).signature.to_0x_hex()
    mallory = Account.create().sign_typed_data(full_message=typed).signature.to_0x_hex()
    forged = cli("consent", "submit", str(typed_file), "--signature", mallory, "--as", "clinic")
    assert forged.code == 10, forged.err  # refused by the chain's own check, before any gas is spent
    assert "not the patient or a live delegate" in forged.err
    assert cli("record", "get", lab_id, "--as", "clinic").code == 5
    submitted = cli("consent", "submit", str(typed_file), "--signature", signature, "--as", "clinic", "--json")
    assert submitted.code == 0, submitted.err
    assert submitted.json()["categories"] == ["labs"]
    assert cli("record", "get", lab_id, "--as", "clinic").code == 0
    assert cli("consent", "submit", str(typed_file), "--signature", signature, "--as", "clinic").code == 6


def test_break_glass_is_for_licensed_practitioners_and_is_flagged(home: tuple[Cli, str]) -> None:
    cli, lab_id = home
    refused = cli("access", "emergency", "--patient", "alice", "--reason", "collapsed", "--as", "eve")
    assert refused.code == 5
    assert "medical-licence" in refused.err
    opened = cli("access", "emergency", "--patient", "alice", "--reason", "collapsed in A&E", "--as", "drbob")
    assert opened.code == 0, opened.err
    assert cli("record", "get", lab_id, "--as", "drbob", "--purpose", "ETREAT").code == 0
    assert cli("record", "get", lab_id, "--as", "drbob").code == 5  # TREAT is not covered
    flagged = [e for e in cli("audit", "list", "--patient", "alice", "--json").json() if e["break_glass"]]
    assert [(e["interaction"], e["outcome"]) for e in flagged] == [
        ("break-glass", "denied"),
        ("break-glass", "allowed"),
        ("read", "allowed"),
    ]


def test_audit_verify_finds_an_edited_entry(home: tuple[Cli, str]) -> None:
    cli, lab_id = home
    assert cli("record", "get", lab_id).code == 0
    with sqlite3.connect(cli.home / "careledger.db") as db:  # the text is sealed: swap two entries' instead
        _, second = (row[0] for row in db.execute("SELECT event FROM audit_events WHERE seq IN (1, 2) ORDER BY seq"))
        db.execute("UPDATE audit_events SET event = ? WHERE seq = 1", (second,))
    result = cli("audit", "verify")
    assert result.code == 7
    assert "entry 1's sealed text does not open" in result.out


def test_the_care_team_reads_until_the_patient_keeps_a_category_from_it(home: tuple[Cli, str]) -> None:
    cli, lab_id = home
    assert cli("record", "get", lab_id, "--as", "drbob").code == 5  # not on the care team yet
    assert cli("identity", "attest", "node", "drbob", "--type", "affiliation", "--days", "365").code == 0
    assert cli("record", "get", lab_id, "--as", "drbob").code == 0
    kept = cli("consent", "restrict-care-team", "--patient", "alice", "--categories", "labs", "--json")
    assert kept.code == 0, kept.err
    assert kept.json()["restricted"] == ["labs"]
    refused = cli("record", "get", lab_id, "--as", "drbob")
    assert refused.code == 5
    assert "keeps labs records from the care team" in refused.err
    assert cli("consent", "restrict-care-team", "--patient", "alice", "--categories", "none").code == 0
    assert cli("record", "get", lab_id, "--as", "drbob").code == 0


def test_a_walk_in_is_consented_for_by_the_node_then_claims_and_consents_herself(
    home: tuple[Cli, str], tmp_path: Path
) -> None:
    cli, _ = home
    walk_in = synthetic_patients(1, seed=31)[0].patient
    path = tmp_path / "walk-in.json"
    path.write_text(json.dumps({key: value for key, value in walk_in.items() if key != "identifier"}))
    added = cli("record", "add", str(path), "--json")
    assert added.code == 0, added.err
    record_id, identity = added.json()["id"], added.json()["patient"]

    # On her documented instruction, the node records her consent: the chain shows who made it.
    by_node = cli("consent", "grant", "--patient", identity, "--to", "clinic", "--categories", "labs", "--json")
    assert by_node.code == 0, by_node.err
    node_address = cli("wallet", "show", "node", "--json").json()["address"]
    assert by_node.json()["granted_by"] == node_address

    code = cli("identity", "claim-code", f"Patient/{record_id}", "--json")
    assert code.code == 0, code.err
    assert cli("wallet", "new", "dana", "--role", "patient").code == 0
    wrong = cli("identity", "claim", record_id, "--code", "0000-0000-0000", "--wallet", "dana")
    assert (wrong.code, "wrong claim code" in wrong.err) == (5, True)
    claimed = cli("identity", "claim", record_id, "--code", code.json()["code"], "--wallet", "dana", "--json")
    assert claimed.code == 0, claimed.err
    assert claimed.json()["patient"] == identity
    reused = cli("identity", "claim", record_id, "--code", code.json()["code"], "--wallet", "dana")
    assert (reused.code, "used already" in reused.err) == (5, True)

    # Now she reads her chart as herself, and only she grants.
    assert cli("record", "get", record_id, "--as", "dana").code == 0
    refused = cli(
        "consent", "grant", "--patient", identity, "--to", "clinic", "--categories", "general", "--as", "node"
    )
    assert refused.code != 0
    mine = cli("consent", "grant", "--patient", "dana", "--to", "clinic", "--categories", "general", "--json")
    assert mine.code == 0, mine.err
    assert (mine.json()["patient"], mine.json()["granted_by"]) == (identity, claimed.json()["wallet"])
