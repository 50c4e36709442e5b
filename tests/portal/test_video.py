"""A visit over video in a real Chromium: the patient waits, the practitioner admits her, each sees the other.

Chromium's fake camera and microphone (`--use-fake-device-for-media-stream`, permission granted by
`--use-fake-ui-for-media-stream`) feed both browsers; the Appointment is created through the door (the FHIR API,
by the practitioner); each side's `getStats()` must show video frames decoded from the other.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, expect

from careledger.fhir import fhir_instant, systems
from careledger.identity import did_pkh
from tests.portal.browser import check_page, frames_decoded
from tests.portal.conftest import Clinic, signed_in

pytestmark = pytest.mark.anvil


def _appointment_now(clinic: Clinic) -> str:
    """Carol's Patient (written by herself) and her Appointment with Dr Bob, starting now (written by him)."""
    carol = httpx.post(
        f"{clinic.url}/Patient",
        json={"resourceType": "Patient", "name": [{"given": ["Carol"], "family": "Example"}]},
        headers=clinic.bearer("carol"),
    )
    assert carol.status_code == 201, carol.text
    start = datetime.now(UTC)
    drbob = did_pkh(int(httpx.get(f"{clinic.url}/auth/nonce").json()["chain_id"]), clinic.address("drbob"))
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": fhir_instant(start, precision="seconds"),
        "end": fhir_instant(start + timedelta(minutes=20), precision="seconds"),
        "participant": [
            {"actor": {"reference": f"Patient/{carol.json()['id']}"}, "status": "accepted"},
            {
                "actor": {"type": "Practitioner", "identifier": {"system": systems.URI, "value": drbob}},
                "status": "accepted",
            },
        ],
    }
    created = httpx.post(f"{clinic.url}/Appointment", json=appointment, headers=clinic.bearer("drbob"))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_patient_and_practitioner_see_each_other(clinic: Clinic, media_browser: Browser) -> None:
    appointment_id = _appointment_now(clinic)
    room = f"{clinic.url}/portal/visits/{appointment_id}/room"

    carol = signed_in(media_browser, clinic, "carol")
    carol.goto(room)
    expect(carol.locator("#room-status")).to_have_text(re.compile("Waiting for the practitioner"))
    check_page(carol, "room-waiting")

    drbob = signed_in(media_browser, clinic, "drbob")
    drbob.goto(room)
    admit = drbob.get_by_role("button", name="Admit Carol Example")
    expect(admit).to_be_visible()
    expect(drbob.get_by_text("Carol Example is waiting.").first).to_be_visible()
    check_page(drbob, "room-admit")
    admit.click()

    for page in (carol, drbob):
        expect(page.locator("#room-status")).to_have_text(re.compile("You are in the visit with"), timeout=60_000)
    assert frames_decoded(carol) > 0
    assert frames_decoded(drbob) > 0
    check_page(carol, "room-in-visit")

    drbob.get_by_role("button", name="Hang up").click()
    expect(carol.locator("#room-status")).to_have_text(re.compile("left the visit"))
