"""`careledger schedule ...` end to end on the home's anvil chain: publish, open slots, find, book (a slot of no
fee: one she would pay for is booked by `careledger visit book`), move, cancel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careledger.fhir import fhir_instant
from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


def _file(tmp_path: Path, name: str, resource: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(resource))
    return str(path)


def test_publish_open_find_book_move_and_cancel(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "alice", "--role", "patient").code == 0
    patient = cli(
        "record",
        "add",
        _file(tmp_path, "p.json", synthetic_patients(1, seed=5)[0].patient),
        "--patient",
        "alice",
        "--json",
    )
    doctor = cli(
        "record",
        "add",
        _file(tmp_path, "d.json", {"resourceType": "Practitioner", "name": [{"family": "Ng"}]}),
        "--json",
    )
    patient_id, doctor_id = patient.json()["id"], doctor.json()["id"]

    offered = ("--service", "office-visit", "--mode", "in-person")
    published = cli("schedule", "publish", f"Practitioner/{doctor_id}", *offered, "--fee", "25", "--json")
    assert published.code == 0, published.err  # a reference, as `record add` prints it, or the bare id
    assert published.json()["actor"] == [{"reference": f"Practitioner/{doctor_id}"}]
    not_hers = cli("schedule", "publish", f"Patient/{patient_id}", *offered)
    assert (not_hers.code, "not a Practitioner" in not_hers.err) == (2, True)
    schedule = published.json()["id"]
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    opened = cli(
        "schedule",
        "slots",
        schedule,
        "--start",
        fhir_instant(start),
        "--end",
        fhir_instant(start + timedelta(hours=1)),
        "--minutes",
        "20",
        "--json",
    )
    assert len(opened.json()) == 3, opened.err
    found = cli(
        "schedule", "find", "--practitioner", f"Practitioner/{doctor_id}", "--mode", "in-person", "--json"
    ).json()
    assert [f["fee"] for f in found] == [25, 25, 25]
    unpaid = cli("schedule", "book", found[0]["slot"]["id"], "--patient", patient_id)
    assert unpaid.code == 2  # she would pay the fee: `careledger visit book` has her sign for it
    assert "careledger visit book" in unpaid.err
    free = cli("schedule", "publish", doctor_id, "--service", "office-visit", "--mode", "in-person", "--json")
    span = ("--start", fhir_instant(start), "--end", fhir_instant(start + timedelta(hours=1)), "--minutes", "20")
    first, second, _ = (slot["id"] for slot in cli("schedule", "slots", free.json()["id"], *span, "--json").json())

    booked = cli(
        "schedule", "book", f"Slot/{first}", "--patient", f"Patient/{patient_id}", "--reason", "cough", "--json"
    )
    assert booked.json()["status"] == "booked", booked.err
    taken = cli("schedule", "book", first, "--patient", patient_id)
    assert taken.code == 6
    assert "taken" in taken.err
    assert cli("schedule", "book", first, "--patient", patient_id, "--as", "alice").code == 6
    appointment = booked.json()["id"]
    soon = cli("schedule", "upcoming", f"Patient/{patient_id}", "--hours", "48", "--json").json()
    assert [a["id"] for a in soon] == [appointment]
    moved = cli("schedule", "reschedule", appointment, second, "--json").json()
    assert moved["slot"] == [{"reference": f"Slot/{second}"}]
    cancelled = cli("schedule", "cancel", appointment, "--reason", "better", "--as", "alice", "--json").json()
    assert cancelled["cancelationReason"]["coding"][0]["code"] == "pat"
    assert len(cli("schedule", "find", "--practitioner", doctor_id, "--json").json()) == 6  # both Schedules' slots
    assert cli("schedule", "slots", schedule, "--start", "tomorrow", "--end", "later").code == 2
