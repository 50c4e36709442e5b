"""`careledger access break-glass ...` end to end on the home's anvil chain: her switch, and the staff's review."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


@pytest.fixture
def home(cli: Cli) -> Cli:
    """A node with a patient, a licensed practitioner and an unlicensed one (no records: break-glass needs none)."""
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("alice", "patient"), ("drbob", "practitioner"), ("eve", "practitioner")):
        assert cli("wallet", "new", name, "--role", role).code == 0
        assert cli("identity", "register", name).code == 0, name
    assert cli("identity", "attest", "node", "drbob", "--type", "medical-licence", "--days", "365").code == 0
    return cli


def _emergency(cli: Cli) -> int:
    return cli("access", "emergency", "--patient", "alice", "--reason", "collapsed in A&E", "--as", "drbob").code


def test_her_switch_turns_break_glass_off_and_on_and_is_hers_alone(home: Cli) -> None:
    cli = home
    assert cli("access", "break-glass", "status", "--patient", "alice", "--json").json()["break_glass"] == "on"
    off = cli("access", "break-glass", "off", "--as", "alice")
    assert off.code == 0, off.err
    assert "no one can open her records in an emergency without consent" in off.said
    assert cli("access", "break-glass", "status", "--as", "alice", "--json").json()["break_glass"] == "off"
    refused = cli("access", "emergency", "--patient", "alice", "--reason", "collapsed", "--as", "drbob")
    assert refused.code == 5
    assert "turned emergency access off" in refused.err
    forged = cli("access", "break-glass", "on", "--patient", "alice", "--as", "eve")  # not hers to flip
    assert forged.code == 5
    assert "not the patient or a live delegate" in forged.err
    assert cli("access", "break-glass", "status", "--patient", "alice", "--json").json()["break_glass"] == "off"
    assert cli("access", "break-glass", "on", "--as", "alice", "--json").json()["break_glass"] == "on"
    assert _emergency(cli) == 0
    audited = [
        (e["interaction"], e["agent_name"], e["outcome"])
        for e in cli("audit", "list", "--patient", "alice", "--json").json()
    ]
    assert audited == [
        ("break-glass-setting", "alice", "allowed"),
        ("break-glass", "drbob", "denied"),
        ("break-glass-setting", "eve", "denied"),
        ("break-glass-setting", "alice", "allowed"),
        ("break-glass", "drbob", "allowed"),
    ]
    assert cli("access", "break-glass", "off").code == 2  # whose switch?


def test_each_use_is_reviewed_once_by_the_node_or_its_privacy_officer(home: Cli) -> None:
    cli = home
    assert cli("access", "break-glass", "reviews", "--pending").out.strip() == "No break-glass use awaits."
    assert _emergency(cli) == 0
    (use,) = cli("access", "break-glass", "reviews", "--pending", "--json").json()
    assert (use["practitioner_name"], use["patient_name"], use["reason"]) == ("drbob", "alice", "collapsed in A&E")
    entry = use["entry"]
    assert "collapsed in A&E" in cli("access", "break-glass", "reviews", "--pending").said

    wrong = cli("access", "break-glass", "review", entry, "--verdict", "fine", "--note", "ok")
    assert (wrong.code, "justified or unjustified" in wrong.err) == (2, True)
    assert cli("access", "break-glass", "review", "x1", "--verdict", "justified", "--note", "ok").code == 2
    assert cli("access", "break-glass", "review", "999", "--verdict", "justified", "--note", "ok").code == 4
    not_officer = cli("access", "break-glass", "review", entry, "--verdict", "justified", "--note", "ok", "--as", "eve")
    assert (not_officer.code, "privacy-officer" in not_officer.err) == (5, True)
    assert cli("identity", "attest", "node", "drbob", "--type", "privacy-officer", "--days", "30").code == 0
    own = cli("access", "break-glass", "review", entry, "--verdict", "justified", "--note", "ok", "--as", "drbob")
    assert (own.code, "their own" in own.err) == (5, True)

    done = cli("access", "break-glass", "review", entry, "--verdict", "justified", "--note", "arrested; no consent")
    assert done.code == 0, done.err
    assert "reviewed: justified" in done.said
    again = cli("access", "break-glass", "review", entry, "--verdict", "unjustified", "--note", "no", "--json")
    assert again.code == 6
    (review,) = cli("access", "break-glass", "reviews", "--json").json()
    assert (review["entry"], review["verdict"], review["reviewer_name"], review["note"]) == (
        entry,
        "justified",
        "node",
        "arrested; no consent",
    )
    assert cli("access", "break-glass", "reviews", "--pending", "--json").json() == []
    assert cli("access", "break-glass", "reviews", "--to", "2000-01-01", "--json").json() == []
    reviews = [
        (e["interaction"], e["agent_name"], e["outcome"])
        for e in cli("audit", "list", "--patient", "alice", "--json").json()
        if e["interaction"] == "break-glass-review"
    ]
    assert reviews == [
        ("break-glass-review", "eve", "denied"),
        ("break-glass-review", "drbob", "denied"),
        ("break-glass-review", "node", "allowed"),
        ("break-glass-review", "node", "denied"),
    ]
