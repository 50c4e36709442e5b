"""`careledger wallet ...` and `careledger identity ...` end to end.

Steps that touch the chain use the home's anvil chain, whose state carries from one
command to the next as it does for a user.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from careledger.access import MAX_FAILURES
from tests.cli.conftest import Cli


@pytest.fixture
def home(cli: Cli) -> Cli:
    assert cli("init", "--light-kdf").code == 0
    return cli


def test_wallet_new_list_show_offline(home: Cli) -> None:
    created = home("wallet", "new", "alice", "--role", "patient", "--json")
    assert created.code == 0, created.err
    alice = created.json()
    assert (alice["role"], alice["suite"], alice["key_version"]) == ("patient", "x25519", 1)
    pq = home("wallet", "new", "drbob", "--role", "practitioner", "--suite", "mlkem768-x25519", "--json").json()
    assert len(bytes.fromhex(pq["encryption_key"][2:])) == 1 + 1216
    listed = home("wallet", "list", "--json").json()
    assert [w["name"] for w in listed] == ["alice", "drbob", "node"]
    assert home("wallet", "list").out.count("\n") > 3


def test_wallet_refusals(home: Cli) -> None:
    assert home("wallet", "new", "alice", "--role", "patient").code == 0
    taken = home("wallet", "new", "alice", "--role", "patient")
    assert (taken.code, taken.err.count("\n")) == (6, 1)
    assert home("wallet", "new", "x", "--role", "surgeon").code == 2
    assert home("wallet", "new", "x", "--role", "patient", "--suite", "rsa").code == 2
    assert home("wallet", "new", "Bad Name", "--role", "patient").code == 2
    missing = home("wallet", "show", "carol")
    assert missing.code == 4
    assert "wallets: alice, node" in missing.err


@pytest.mark.anvil
def test_register_attest_and_show(home: Cli) -> None:
    assert home("chain", "deploy").code == 0
    home("wallet", "new", "drbob", "--role", "practitioner")
    home("wallet", "new", "alice", "--role", "patient")
    unregistered = home("wallet", "show", "drbob", "--json").json()
    assert unregistered["registration"] is None
    assert unregistered["did"] == f"did:pkh:eip155:31337:{unregistered['address']}"

    registered = home("identity", "register", "drbob", "--endpoint", "https://clinic.example/fhir", "--json")
    assert registered.code == 0, registered.err
    assert registered.json()["role"] == "practitioner"
    again = home("identity", "register", "drbob")
    assert again.code == 6
    assert "already registered" in again.err

    attested = home("identity", "attest", "node", "drbob", "--type", "medical-licence", "--days", "30", "--json")
    assert attested.code == 0, attested.err
    assert attested.json()["status"] == "valid"

    shown = home("identity", "show", "drbob", "--json").json()
    assert shown["endpoint"] == "https://clinic.example/fhir"
    assert [c["status"] for c in shown["credentials"]] == ["valid"]
    (credential,) = shown["credentials"]
    assert (credential["type"], credential["issuer_name"]) == ("medical-licence", "node")
    people = home("identity", "show", "drbob").out
    assert "medical-licence" in people
    assert "node" in people
    by_address = home("identity", "show", shown["address"], "--json").json()
    assert by_address == shown
    assert "valid" in home("identity", "show", "drbob").out

    not_issuer = home("identity", "attest", "alice", "drbob", "--type", "medical-licence", "--days", "3")
    assert not_issuer.code == 5
    assert "does not hold ISSUER_ROLE" in not_issuer.err
    unknown = home("identity", "show", "alice")
    assert unknown.code == 4
    assert "is not registered" in unknown.err
    stranger = "0x" + "5a" * 20  # a valid address this node holds no wallet for
    elsewhere = home("identity", "show", stranger)
    assert elsewhere.code == 4
    assert "is not registered" in elsewhere.err
    assert home("identity", "show", "nobody").code == 4
    assert json.loads(home("wallet", "show", "drbob", "--json").out)["registration"]["role"] == "practitioner"


@pytest.mark.anvil
def test_wrong_passphrase_for_a_wallet_is_one_line(home: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    home("wallet", "new", "alice", "--role", "patient")
    assert home("chain", "deploy").code == 0
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "wrong")
    result = home("identity", "register", "alice")
    assert result.code == 5
    assert result.err.strip().startswith("error: wrong passphrase for")
    assert result.err.count("\n") == 1


@pytest.mark.anvil
def test_claim_status_tells_the_front_desk_a_code_was_burnt(home: Cli, tmp_path: Path) -> None:
    assert home("chain", "deploy").code == 0
    assert home("wallet", "new", "eve", "--role", "patient").code == 0
    walk_in = tmp_path / "walk-in.json"
    walk_in.write_text(json.dumps({"resourceType": "Patient", "name": [{"family": "Okafor", "given": ["Ada"]}]}))
    added = home("record", "add", str(walk_in), "--json")
    assert added.code == 0, added.err
    record = f"Patient/{added.json()['id']}"
    assert home("identity", "claim-status", record, "--json").json()["state"] == "none"
    assert home("identity", "claim-code", record).code == 0
    assert home("identity", "claim-status", record, "--json").json()["state"] == "live"
    for _ in range(MAX_FAILURES):
        wrong = home("identity", "claim", record, "--code", "0000-0000-0000", "--wallet", "eve")
        assert wrong.code == 5
    assert "wrong claim code for this Patient" in wrong.err  # the try that burns it is told as any wrong code is
    burnt = home("identity", "claim-status", record, "--json").json()
    assert (burnt["state"], burnt["failures"]) == ("burnt", MAX_FAILURES)
    told = " ".join(home("identity", "claim-status", record).out.split())  # as read, whatever the terminal's width
    assert f"burnt by {MAX_FAILURES} wrong tries; issue a new one" in told
    assert home("identity", "claim-code", record).code == 0
    fresh = home("identity", "claim-status", record, "--json").json()
    assert (fresh["state"], fresh["failures"]) == ("live", 0)
