"""Issue 38's acceptance journey in a real Chromium, two browser profiles with a fake camera and microphone.

Carol, enrolled in a plan on chain, finds Dr Dee Park's next video visit, sees what her plan covers, signs the
visit's consent and the escrow's permit with the page's wallet, and books. Both join the room; each browser must
decode the other's video (`getStats`). Dr Park writes her note and prescription through the FHIR API with her
own token (the staff pages are the care team's, and they write no prescription), then finishes the Encounter,
which releases the fee held in escrow: balances are read on chain. Carol reads both in the portal, and her
accounting shows Dr Park's reads. Dr Park is no member of this node's care team (no affiliation): what she
reads of Carol's she reads under the visit's consent alone, so once its window is over (the node served again
with its clock two days on) she is refused. Every page visited passes axe-core.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from careledger.fhir import URI, fhir_instant
from careledger.testdata import CARE
from tests.portal.browser import check_page, frames_decoded
from tests.portal.conftest import Clinic, clock_ahead, signed_in

pytestmark = pytest.mark.anvil

FEE = 40  # CARE; the plan allows all of it for telehealth, after a deductible of 10 and 20 % coinsurance:
PAYS = 16  # 10 + 20 % of 30
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NOTE = "Sore throat for three days, no fever. Amoxicillin for a week; call if it is not better by Friday."


def _dr_park_offers_a_visit_carols_plan_covers(clinic: Clinic) -> tuple[str, datetime]:
    """Dr Park (a practitioner, registered, no affiliation here) offers a telehealth visit for `FEE` CARE that
    starts in two minutes; Carol holds 100 CARE and is enrolled in an insurer's plan. Carol's Patient id, and
    when the visit starts."""
    for wallet, role in (("drdee", "practitioner"), ("insurer", "insurer")):
        clinic.cli("wallet", "new", wallet, "--role", role)
        clinic.cli("identity", "register", wallet)
    plan = clinic.cli(
        "claim", "plan", "create", "--as", "insurer", "--allowed", f"telehealth={FEE}", "--deductible", "10",
        "--coinsurance", "20", "--oop-max", "100",
    )["plan"]  # fmt: skip
    clinic.cli("claim", "enroll", "carol", "--plan", str(plan), "--as", "insurer", json_out=False)
    clinic.cli("token", "mint", "carol", "100", json_out=False)
    carol = httpx.post(
        f"{clinic.url}/Patient",
        json={"resourceType": "Patient", "name": [{"given": ["Carol"], "family": "Example"}]},
        headers=clinic.bearer("carol"),
    )
    assert carol.status_code == 201, carol.text
    did = {"system": URI, "value": f"did:pkh:eip155:31337:{clinic.address('drdee')}"}
    park = {
        "resourceType": "Practitioner",
        "identifier": [did],
        "name": [{"prefix": ["Dr"], "given": ["Dee"], "family": "Park"}],
    }
    written = httpx.post(f"{clinic.url}/Practitioner", json=park, headers=clinic.bearer("drbob"))  # the care team's
    assert written.status_code == 201, written.text
    schedule = clinic.cli("schedule", "publish", written.json()["id"], "--service", "telehealth", "--fee", str(FEE))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    end = start + timedelta(minutes=30)
    clinic.cli("schedule", "slots", schedule["id"], "--start", start.isoformat(), "--end", end.isoformat())
    return str(carol.json()["id"]), start


def _books(carol: Page, clinic: Clinic) -> str:
    """Carol finds the slot, sees her plan's answer, signs and books; the Appointment's id."""
    carol.get_by_role("navigation", name="Main").get_by_role("link", name="Visits").click()
    check_page(carol, "journey-visits")
    carol.get_by_role("link", name="Book a visit").click()
    carol.get_by_label("Practitioner").select_option(label="Dr Dee Park")
    carol.get_by_role("button", name="Find open times").click()
    expect(carol.locator("ul.openings li")).to_have_count(1)
    expect(carol.locator("ul.openings li")).to_contain_text("Dr Dee Park · telehealth · video")
    check_page(carol, "journey-find")
    carol.locator("ul.openings a").first.click()
    expect(carol.get_by_text("Covers it")).to_be_visible()
    expect(carol.locator("#you-pay")).to_have_text(f"{PAYS} CARE")
    check_page(carol, "journey-book")
    carol.get_by_role("button", name=f"Sign and book ({PAYS} CARE)").click()  # consent, terms, permit: her wallet
    carol.wait_for_url(re.compile(r"/portal/visits\?booked="), timeout=60_000)
    expect(carol.get_by_text("Your visit is booked")).to_be_visible()
    check_page(carol, "journey-booked")
    booked = re.search(r"booked=([\w-]+)", carol.url)
    assert booked is not None
    return booked.group(1)


def _see_each_other(carol: Page, park: Page, room: str) -> None:
    """Carol waits in the room, Dr Park admits her, and each browser decodes the other's video."""
    carol.get_by_role("link", name="Join the visit").click()
    expect(carol.locator("#room-status")).to_have_text(re.compile("Waiting for the practitioner"))
    check_page(carol, "journey-room-waiting")
    park.goto(room)
    admit = park.get_by_role("button", name="Admit Carol Example")
    expect(admit).to_be_visible()
    check_page(park, "journey-room-admit")
    admit.click()
    for page in (carol, park):
        expect(page.locator("#room-status")).to_have_text(re.compile("You are in the visit with"), timeout=60_000)
    assert frames_decoded(carol) > 0
    assert frames_decoded(park) > 0
    check_page(park, "journey-room-in-visit")


def _writes_her_note_and_prescription(clinic: Clinic, appointment_id: str, carol_id: str) -> None:
    """Dr Park, with her own token: the visit's Encounter begun, Carol's Patient read, a note and a prescription
    written for the visit."""
    park = clinic.bearer("drdee")
    joined = httpx.post(f"{clinic.url}/Appointment/{appointment_id}/$join", headers=park)
    assert joined.status_code == 200, joined.text
    encounter = {"reference": f"Encounter/{joined.json()['id']}"}
    assert httpx.get(f"{clinic.url}/Patient/{carol_id}", headers=park).status_code == 200
    subject = {"reference": f"Patient/{carol_id}"}
    note = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
        "subject": subject,
        "date": fhir_instant(datetime.now(UTC), precision="seconds"),
        "context": {"encounter": [encounter]},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(NOTE.encode()).decode(),
                }
            }
        ],
    }
    amoxicillin = {"system": RXNORM, "code": "308182", "display": "amoxicillin 500 MG Oral Capsule"}
    prescription = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [amoxicillin]},
        "subject": subject,
        "encounter": encounter,
        "authoredOn": fhir_instant(datetime.now(UTC), precision="seconds"),
        "reasonCode": [{"text": "Sore throat"}],
        "dosageInstruction": [{"text": "1 capsule three times a day for 7 days"}],
    }
    for record in (note, prescription):
        written = httpx.post(f"{clinic.url}/{record['resourceType']}", json=record, headers=park)
        assert written.status_code == 201, written.text


def _balance(clinic: Clinic, wallet: str) -> str:
    """A wallet's CARE, read on chain."""
    return str(clinic.cli("token", "balance", wallet)["balance"])


def _finishes(clinic: Clinic, appointment_id: str, start: datetime) -> dict[str, Any]:
    """Dr Park finishes the visit (the chain's time at its start: the escrow releases from then); the payment."""
    clinic.mine_at(int(start.timestamp()) + 1)
    finished = httpx.post(f"{clinic.url}/Appointment/{appointment_id}/$finish", headers=clinic.bearer("drdee"))
    assert finished.status_code == 200, finished.text
    parts = {p["name"]: p for p in finished.json()["parameter"]}
    assert parts["encounter"]["resource"]["status"] == "finished"
    return {p["name"]: p["valueString"] for p in parts["payment"]["part"]}


def _reads_them(carol: Page, clinic: Clinic) -> None:
    """Carol reads the note and the prescription, and sees Dr Park's reads in her accounting."""
    carol.goto(f"{clinic.url}/portal/records")
    expect(carol.get_by_text(NOTE).first).to_be_visible()
    check_page(carol, "journey-timeline")
    carol.goto(f"{clinic.url}/portal/medications")
    expect(carol.get_by_text(re.compile("amoxicillin 500 MG Oral Capsule", re.I)).first).to_be_visible()
    expect(carol.get_by_text("1 capsule three times a day for 7 days").first).to_be_visible()
    check_page(carol, "journey-medications")
    carol.goto(f"{clinic.url}/portal/accounting")
    reads = carol.locator("ol.accounting li").filter(has_text="drdee")
    expect(reads.first).to_be_visible()
    for said in reads.all_inner_texts():  # each under the visit's consent: she is no member of the care team
        assert re.search(r"for treatment\s+allowed", said), said
        assert "care team" not in said, said
    check_page(carol, "journey-accounting")


def test_carol_books_sees_and_pays_dr_park_who_reads_her_records_only_for_the_visit(
    clinic: Clinic, media_browser: Browser
) -> None:
    carol_id, start = _dr_park_offers_a_visit_carols_plan_covers(clinic)
    provider = int(_balance(clinic, "node"))

    carol = signed_in(media_browser, clinic, "carol")
    appointment_id = _books(carol, clinic)
    assert _balance(clinic, "carol") == str(100 - PAYS)  # held in escrow

    park = signed_in(media_browser, clinic, "drdee")
    _see_each_other(carol, park, f"{clinic.url}/portal/visits/{appointment_id}/room")
    _writes_her_note_and_prescription(clinic, appointment_id, carol_id)
    park.get_by_role("button", name="Hang up").click()
    expect(carol.locator("#room-status")).to_have_text(re.compile("left the visit"))

    payment = _finishes(clinic, appointment_id, start)
    assert (payment["state"], payment["to-payee"]) == ("released", str(PAYS * CARE))
    assert _balance(clinic, "node") == str(provider + PAYS)  # the provider paid, on chain
    _reads_them(carol, clinic)
    for page in (carol, park):  # closed first: the server's shutdown waits for an open page's event stream
        page.context.close()

    # A day after the visit's end its consent ends by itself: Dr Park is refused what she read during it, and
    # Carol's accounting says why.
    clinic.restarted(*clock_ahead(2 * 86_400))
    later = clinic.bearer("drdee")
    assert httpx.get(f"{clinic.url}/Patient/{carol_id}", headers=later).status_code == 404  # told as unknown
    carol = signed_in(media_browser, clinic, "carol")
    carol.goto(f"{clinic.url}/portal/accounting")
    refused = carol.locator("ol.accounting li.denied").filter(has_text="drdee")
    expect(refused.first).to_contain_text("the consent to general records for TREAT has expired")
