"""One slot, twenty patients' clients, two `serve` workers on PostgreSQL: one booking commits, nineteen are 409."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from careledger.api import NodeProcess, free_port
from careledger.cli import run
from careledger.config import Home, load_settings
from careledger.fhir import fhir_instant
from careledger.services import open_operations
from careledger.testdata import synthetic_patients
from tests.api.test_workers import _token
from tests.conftest import PG_URL, _postgres_schema

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]

PASSPHRASE = "test passphrase"


def _cli(home: Path, *args: str) -> None:
    assert run(["--home", str(home), *args]) == 0, args


def _added(home: Path, tmp: Path, resource: dict[str, object], *flags: str) -> str:
    """`resource` added with `record add` (under its own id); its id."""
    path = tmp / f"{resource['resourceType']}.json"
    path.write_text(json.dumps(resource))
    _cli(home, "record", "add", str(path), *flags)
    return str(resource["id"])


def _ids(home: Path, resource_type: str) -> list[str]:
    with open_operations(Home(home), load_settings(Home(home)), lambda _wallet: PASSPHRASE) as node:
        return [s.record_id for s in node.maintenance.listing(resource_type=resource_type)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, str, str, list[str]]]:
    """Two workers serving a node with alice's Patient and a practitioner's open slots: (server, token, patient id,
    slot ids)."""
    tmp = tmp_path_factory.mktemp("booking-workers")
    home = tmp / "home"
    for schema in _postgres_schema():
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
            _cli(home, "--db", f"{PG_URL}?options=-csearch_path%3D{schema}", "init", "--light-kdf")
            _cli(home, "chain", "deploy")
            _cli(home, "wallet", "new", "alice", "--role", "patient")
            _cli(home, "identity", "register", "alice")
            patient = _added(home, tmp, synthetic_patients(1, seed=3)[0].patient, "--patient", "alice")
            doctor = _added(home, tmp, {"resourceType": "Practitioner", "id": "dr-ng", "name": [{"family": "Ng"}]})
            _cli(home, "schedule", "publish", doctor, "--service", "office-visit")
            (schedule,) = _ids(home, "Schedule")
            start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
            end = fhir_instant(start + timedelta(hours=2))
            _cli(home, "schedule", "slots", schedule, "--start", fhir_instant(start), "--end", end)
            slots = _ids(home, "Slot")
            with open_operations(Home(home), load_settings(Home(home)), lambda _wallet: PASSPHRASE) as node:
                account = node.unlock("alice").account
            server = NodeProcess(Home(home), free_port(), passphrase=PASSPHRASE, workers=2)
            try:
                server.start(timeout=180)
                yield server, _token(server.url, account), patient, slots
            finally:
                code = server.stop()
            assert code == 0, server.log_tail()


def _race(server: NodeProcess, token: str, patient: str, slot: str) -> list[tuple[int, str]]:
    """Twenty clients booking `slot` at once, each on its own connection: (status, the worker that answered)."""
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "slot", "valueReference": {"reference": f"Slot/{slot}"}},
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}},
        ],
    }
    start = threading.Barrier(20)
    answers: list[tuple[int, str]] = []

    def book() -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            start.wait()
            answer = http.post("/Appointment/$book", json=body)
            answers.append((answer.status_code, answer.headers.get("x-worker", "")))

    threads = [threading.Thread(target=book) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_twenty_books_of_one_slot_across_two_workers_one_201_the_rest_409(
    served: tuple[NodeProcess, str, str, list[str]],
) -> None:
    server, token, patient, slots = served
    races = [_race(server, token, patient, slot) for slot in slots]
    for answers in races:
        assert sorted(status for status, _ in answers) == [201] + [409] * 19, server.log_tail()
    # The workers shared the races (which one accepts a connection is the kernel's to decide).
    assert len({worker for answers in races for _, worker in answers}) == 2
