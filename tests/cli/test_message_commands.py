"""`careledger message ...` on the home's anvil chain: a patient writes to her care team, who reads and answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


def test_send_list_read_and_unread(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("alice", "patient"), ("drbob", "practitioner"), ("eve", "practitioner")):
        assert cli("wallet", "new", name, "--role", role).code == 0
        assert cli("identity", "register", name).code == 0, name
    assert cli("identity", "attest", "node", "drbob", "--type", "affiliation", "--days", "365").code == 0
    path = tmp_path / "p.json"
    path.write_text(json.dumps(synthetic_patients(1, seed=12)[0].patient))
    patient = cli("record", "add", str(path), "--patient", "alice", "--json").json()["id"]
    photo = tmp_path / "rash.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)

    refused = cli("message", "send", "hello", "--as", "alice", "--patient", patient, "--to", "eve")
    assert refused.code == 5
    assert "care team" in refused.err
    sent = cli(
        "message", "send", "my rash", "--as", "alice", "--patient", patient, "--to", "drbob", "--attach", str(photo)
    )
    assert sent.code == 0, sent.err
    thread = sent.out.split()[-1]
    assert cli("message", "unread", "--as", "drbob", "--json").json() == {"unread": 1, "threads": {thread: 1}}
    listed = cli("message", "list", "--as", "drbob", "--json").json()
    assert [(t["thread"], t["unread"], t["preview"]) for t in listed] == [(thread, 1, "my rash")]
    read = cli("message", "read", thread, "--as", "drbob", "--json").json()
    assert [(m["text"], m["attachments"]) for m in read] == [
        ("my rash", [{"contentType": "image/png", "title": "rash.png"}])
    ]
    assert cli("message", "unread", "--as", "drbob", "--json").json() == {"unread": 0, "threads": {}}
    reply = cli("message", "send", "send another", "--as", "drbob", "--thread", thread, "--quiet")
    assert reply.code == 0, reply.err
    assert cli("message", "unread", "--as", "alice", "--json").json()["unread"] == 1
    bad = tmp_path / "notes.txt"
    bad.write_text("plain text")
    assert cli("message", "send", "x", "--as", "alice", "--thread", thread, "--attach", str(bad)).code == 2
