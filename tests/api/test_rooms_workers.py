"""A visit room across two `serve` workers on PostgreSQL: the patient's socket held by one, the practitioner's by the
other, the waiting room and the signalling between them carried by LISTEN/NOTIFY."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from careledger.api import NodeProcess, free_port
from careledger.cli import run
from careledger.config import Home, load_settings
from careledger.identity import did_pkh
from careledger.services import open_operations
from careledger.testdata import synthetic_patients
from tests.api.test_rooms import ANSWER, OFFER, _relayed, _state, book_by_hand
from tests.api.test_workers import _token
from tests.conftest import PG_URL, _postgres_schema

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]

PASSPHRASE = "test passphrase"


def _cli(home: Path, *args: str) -> None:
    assert run(["--home", str(home), *args]) == 0, args


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, dict[str, str], str]]:
    """Two workers serving alice's node, Dr Bob on its care team: (server, tokens, alice's Appointment with him)."""
    tmp = tmp_path_factory.mktemp("rooms-workers")
    home = tmp / "home"
    for schema in _postgres_schema():
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
            _cli(home, "--db", f"{PG_URL}?options=-csearch_path%3D{schema}", "init", "--light-kdf")
            _cli(home, "chain", "deploy")
            for name, role in (("alice", "patient"), ("drbob", "practitioner")):
                _cli(home, "wallet", "new", name, "--role", role)
                _cli(home, "identity", "register", name)
            _cli(home, "identity", "attest", "node", "drbob", "--type", "affiliation", "--days", "30")
            patient = synthetic_patients(1, seed=4)[0].patient
            (tmp / "patient.json").write_text(json.dumps(patient))
            _cli(home, "record", "add", str(tmp / "patient.json"), "--patient", "alice")
            with open_operations(Home(home), load_settings(Home(home)), lambda _wallet: PASSPHRASE) as node:
                accounts = {name: node.unlock(name).account for name in ("alice", "drbob")}
                drbob = did_pkh(node.chain_id, accounts["drbob"].address)
            server = NodeProcess(Home(home), free_port(), passphrase=PASSPHRASE, workers=2)
            try:
                server.start(timeout=180)
                tokens = {name: _token(server.url, account) for name, account in accounts.items()}
                booked = book_by_hand(server.url, tokens["drbob"], str(patient["id"]), drbob, datetime.now(UTC))
                yield server, tokens, booked
            finally:
                code = server.stop()
            assert code == 0, server.log_tail()


def _worker(socket: Connection) -> str:
    """The worker holding the socket, as its handshake answer names it."""
    assert socket.response is not None
    return str(socket.response.headers["x-worker"])


def test_the_two_sockets_of_a_visit_meet_across_workers(served: tuple[NodeProcess, dict[str, str], str]) -> None:
    server, tokens, appointment = served
    url = f"{server.url.replace('http://', 'ws://')}/telehealth/rooms/{appointment}"
    with ExitStack() as sockets:
        alice = sockets.enter_context(connect(url, additional_headers={"Authorization": f"Bearer {tokens['alice']}"}))
        _state(alice, patient="waiting", practitioner="away")
        for _ in range(40):  # which worker accepts a connection is the kernel's to decide: until the other one does
            drbob = connect(url, additional_headers={"Authorization": f"Bearer {tokens['drbob']}"})
            if _worker(drbob) != _worker(alice):
                break
            drbob.close()
        else:
            pytest.fail("every connection went to the same worker")
        sockets.enter_context(drbob)
        _state(drbob, patient="waiting")
        drbob.send(json.dumps({"type": "admit"}))
        call = _state(alice, patient="in", practitioner="in")["call"]
        _state(drbob, call=call)
        drbob.send(json.dumps(OFFER))
        assert _relayed(alice) == OFFER
        alice.send(json.dumps(ANSWER))
        assert _relayed(drbob) == ANSWER
