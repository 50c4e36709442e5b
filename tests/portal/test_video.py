"""A visit over video in a real Chromium: the patient waits, the practitioner admits her, each sees the other.

Chromium's fake camera and microphone (`--use-fake-device-for-media-stream`, permission granted by
`--use-fake-ui-for-media-stream`) feed both browsers; the Appointment is created through the door (the FHIR API,
by the practitioner); each side's `getStats()` must show video frames decoded from the other.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from careledger.fhir import fhir_instant, systems
from careledger.identity import did_pkh
from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS, check_page, wallet_context
from tests.portal.conftest import Clinic

pytestmark = pytest.mark.anvil

FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
FRAMES_DECODED = """async () => {
  const peer = window.careledgerRoom && window.careledgerRoom.peer();
  if (!peer) return 0;
  let frames = 0;
  (await peer.getStats()).forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "video") frames = Math.max(frames, report.framesDecoded || 0);
  });
  return frames;
}"""


@pytest.fixture(scope="module")
def media_browser() -> Iterator[Browser]:
    """Debian's Chromium with a fake camera and microphone it may use without asking."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *FAKE_MEDIA])
        yield launched
        launched.close()


def _token(clinic: Clinic, wallet: str) -> dict[str, str]:
    message, signature = clinic.signed_in_message(wallet)
    login = httpx.post(f"{clinic.url}/auth/login", json={"message": message, "signature": signature})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _appointment_now(clinic: Clinic) -> str:
    """Carol's Patient (written by herself) and her Appointment with Dr Bob, starting now (written by him)."""
    carol = httpx.post(
        f"{clinic.url}/Patient",
        json={"resourceType": "Patient", "name": [{"given": ["Carol"], "family": "Example"}]},
        headers=_token(clinic, "carol"),
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
    created = httpx.post(f"{clinic.url}/Appointment", json=appointment, headers=_token(clinic, "drbob"))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _signed_in(browser: Browser, clinic: Clinic, wallet: str) -> Page:
    context = wallet_context(browser, clinic.account(wallet))
    context.grant_permissions(["camera", "microphone"], origin=clinic.url)
    page = context.new_page()
    page.goto(f"{clinic.url}/portal/signin")
    page.get_by_role("button", name="Sign in with the browser's wallet").click()
    page.wait_for_url(re.compile(r"/portal/(staff|records)"))
    return page


def _frames_decoded(page: Page) -> int:
    """The video frames the page has decoded from the other side, once there are some (at most a minute)."""
    deadline = time.monotonic() + 60
    while (frames := int(page.evaluate(FRAMES_DECODED))) == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    return frames


def test_patient_and_practitioner_see_each_other(clinic: Clinic, media_browser: Browser) -> None:
    appointment_id = _appointment_now(clinic)
    room = f"{clinic.url}/portal/visits/{appointment_id}/room"

    carol = _signed_in(media_browser, clinic, "carol")
    carol.goto(room)
    expect(carol.get_by_role("status")).to_have_text(re.compile("Waiting for the practitioner"))
    check_page(carol, "room-waiting")

    drbob = _signed_in(media_browser, clinic, "drbob")
    drbob.goto(room)
    admit = drbob.get_by_role("button", name="Admit Carol Example")
    expect(admit).to_be_visible()
    expect(drbob.get_by_text("Carol Example is waiting.").first).to_be_visible()
    check_page(drbob, "room-admit")
    admit.click()

    for page in (carol, drbob):
        expect(page.get_by_role("status")).to_have_text(re.compile("You are in the visit with"), timeout=60_000)
    assert _frames_decoded(carol) > 0
    assert _frames_decoded(drbob) > 0
    check_page(carol, "room-in-visit")

    drbob.get_by_role("button", name="Hang up").click()
    expect(carol.get_by_role("status")).to_have_text(re.compile("left the visit"))
