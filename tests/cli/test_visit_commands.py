"""`careledger visit ...` end to end on the home's anvil chain: quote, book in one flow (her consent and the fee
signed by her wallet kept here), join as the practitioner, finish and record a no-show before the slot (refused),
cancel with a refund."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careledger.fhir import URI, fhir_instant
from careledger.testdata import CARE, synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


def _file(tmp_path: Path, name: str, resource: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(resource))
    return str(path)


def test_quote_book_join_and_cancel_a_visit(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("alice", "patient"), ("drbob", "practitioner")):
        assert cli("wallet", "new", name, "--role", role).code == 0
        assert cli("identity", "register", name).code == 0
    assert cli("identity", "attest", "node", "drbob", "--type", "affiliation", "--days", "30").code == 0
    assert cli("token", "mint", "alice", "100").code == 0
    did = cli("wallet", "show", "drbob", "--json").json()["did"]
    patient = cli(
        "record",
        "add",
        _file(tmp_path, "p.json", synthetic_patients(1, seed=5)[0].patient),
        "--patient",
        "alice",
        "--json",
    ).json()["id"]
    doctor = {"resourceType": "Practitioner", "name": [{"family": "Ng"}], "identifier": [{"system": URI, "value": did}]}
    doctor_id = cli("record", "add", _file(tmp_path, "d.json", doctor), "--json").json()["id"]
    schedule = cli("schedule", "publish", doctor_id, "--service", "telehealth", "--fee", "20", "--json").json()["id"]
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    span = ("--start", fhir_instant(start), "--end", fhir_instant(start + timedelta(hours=1)))
    first, second = (slot["id"] for slot in cli("schedule", "slots", schedule, *span, "--json").json())

    quote = cli("visit", "quote", f"Slot/{first}", "--patient", f"Patient/{patient}", "--json")  # or the bare ids
    assert quote.code == 0, quote.err
    assert (quote.json()["covered"], quote.json()["patient_pays"]) == (False, 20 * CARE)
    booked = cli("visit", "book", first, "--patient", patient, "--categories", "labs,medications", "--json")
    assert booked.code == 0, booked.err
    assert booked.json()["appointment"]["status"] == "booked"
    assert (booked.json()["payment"]["state"], booked.json()["payment"]["amount"]) == ("held", 20 * CARE)
    appointment = booked.json()["appointment"]["id"]
    assert cli("visit", "book", first, "--patient", patient, "--categories", "labs").code == 6  # the slot is taken

    assert cli("visit", "join", appointment, "--as", "alice").code == 5  # only the practitioner
    shut = cli("visit", "join", appointment, "--as", "drbob")
    assert shut.code == 6  # a day early: joined only while the visit's room is open
    assert "room is open" in shut.err
    soon = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    near = ("--start", fhir_instant(soon), "--end", fhir_instant(soon + timedelta(minutes=30)))
    (now_slot,) = (slot["id"] for slot in cli("schedule", "slots", schedule, *near, "--json").json())
    today = cli("visit", "book", now_slot, "--patient", patient, "--categories", "labs", "--json")
    assert today.code == 0, today.err
    appointment = today.json()["appointment"]["id"]
    joined = cli("visit", "join", f"Appointment/{appointment}", "--as", "drbob", "--json")
    assert joined.code == 0, joined.err
    assert (joined.json()["class"]["code"], joined.json()["status"]) == ("VR", "in-progress")
    assert cli("visit", "no-show", appointment, "--as", "alice").code == 5  # only the practitioner
    missed = cli("visit", "no-show", appointment, "--as", "drbob")
    assert missed.code == 6  # recorded after the slot's end
    assert "has not ended" in missed.err
    early = cli("visit", "finish", appointment, "--as", "drbob")
    assert early.code == 6  # the Encounter is finished; the fee is released once the slot has started
    assert "has not started" in early.err
    had = cli("visit", "no-show", appointment, "--as", "drbob")
    assert (had.code, "is fulfilled" in had.err) == (6, True)  # the visit took place: not missed

    other = cli("visit", "book", second, "--patient", patient, "--categories", "labs", "--json").json()
    cancelled = cli("visit", "cancel", other["appointment"]["id"], "--as", "drbob", "--reason", "ill", "--json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["appointment"]["status"] == "cancelled"
    assert (cancelled.json()["payment"]["state"], cancelled.json()["payment"]["to_patient"]) == ("refunded", 20 * CARE)
    assert cli("visit", "quote", first, "--patient", "no-such-patient").code == 4
