"""Both journeys in a real Chromium against `careledger serve` and its anvil chain.

The front desk registers a patient and prints her code; she makes a wallet in the page,
claims her records, sees them and a chart, grants the clinic her labs, sees the clinic's
read in her accounting, and revokes. The staff adds an observation she then sees, and
breaks the glass, which she sees too. Every page is photographed at desktop and phone
width and checked with axe-core on the way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from playwright.sync_api import Browser, Page, expect

from tests.portal.browser import check_page, wallet_context
from tests.portal.conftest import Clinic

pytestmark = pytest.mark.anvil

ALICE_PASSPHRASE = "alice's long passphrase"


def _sign_in_with_browser_wallet(page: Page, clinic: Clinic) -> None:
    page.goto(f"{clinic.url}/portal/signin")
    check_page(page, "signin")
    page.get_by_role("button", name="Sign in with the browser's wallet").click()
    page.wait_for_url(re.compile(r"/portal/(staff|records)"))


def _api_token(clinic: Clinic, wallet: str) -> str:
    """A token for a held wallet through the API's own SIWE login."""
    message, signature = clinic.signed_in_message(wallet)
    login = httpx.post(f"{clinic.url}/auth/login", json={"message": message, "signature": signature})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def test_front_desk_to_patient_to_break_glass(clinic: Clinic, browser: Browser) -> None:
    staff = wallet_context(browser, clinic.account("drbob")).new_page()
    _sign_in_with_browser_wallet(staff, clinic)

    # The front desk registers Alice and prints her code.
    staff.goto(f"{clinic.url}/portal/frontdesk")
    check_page(staff, "frontdesk")
    staff.get_by_label("Given name").fill("Alice")
    staff.get_by_label("Family name").fill("Example")
    staff.get_by_label("Birth date").fill("1980-04-02")
    staff.get_by_role("button", name="Register and print her code").click()
    expect(staff.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    check_page(staff, "claim-code")
    alice_id = staff.locator("#patient-number").inner_text().strip()
    code = staff.locator("#claim-code").inner_text().strip()

    # The staff finds her and records three glucose results on her chart.
    staff.goto(f"{clinic.url}/portal/staff")
    staff.get_by_label("Name or identifier").fill("Example")
    staff.get_by_role("link", name="Alice Example").click()
    for value in ("92", "118", "104"):
        staff.get_by_label("Measurement").select_option(label="Glucose (mg/dL)")
        staff.get_by_label("Value").fill(value)
        staff.get_by_role("button", name="Add the measurement").click()
        expect(staff.get_by_text(f"{value} mg/dL")).to_be_visible()
    check_page(staff, "chart")

    # Alice, in her own browser with no wallet, claims her records with a wallet made in the page.
    alice = wallet_context(browser).new_page()
    alice.goto(f"{clinic.url}/portal/claim?patient={alice_id}#code={code}")
    check_page(alice, "claim")
    expect(alice.get_by_label("Claim code")).to_have_value(code)
    alice.get_by_label("Choose a passphrase").fill(ALICE_PASSPHRASE)
    alice.get_by_label("The passphrase again").fill(ALICE_PASSPHRASE)
    alice.get_by_role("button", name="Make my wallet and claim my records").click()
    alice.wait_for_url(re.compile(r"/portal/records"), timeout=60_000)
    expect(alice.get_by_text("Your records are yours now")).to_be_visible()
    expect(alice.get_by_role("link", name="Glucose").first).to_be_visible()
    check_page(alice, "timeline")
    alice.get_by_role("link", name="Glucose").first.click()
    expect(alice.get_by_role("heading", name="Glucose")).to_be_visible()
    check_page(alice, "record")
    alice.goto(f"{clinic.url}/portal/trends")
    expect(alice.locator("canvas[data-chart]")).to_have_count(1)
    assert alice.locator("canvas[data-chart]").evaluate("c => c.width > 0 && !!Chart.getChart(c)")
    check_page(alice, "trends")

    # Her records leave as one FHIR Bundle; her wallet leaves as a keystore v3 file any wallet opens.
    alice.goto(f"{clinic.url}/portal/records")
    with alice.expect_download() as download:
        alice.get_by_role("link", name="Download all my records (FHIR)").click()
    bundle = json.loads(Path(download.value.path()).read_text())
    assert bundle["resourceType"] == "Bundle"
    assert sorted(e["resource"]["resourceType"] for e in bundle["entry"]) == ["Observation"] * 3 + ["Patient"]
    alice.get_by_role("button", name="Sign out").click()
    alice.wait_for_url(re.compile(r"/portal/signin"))
    with alice.expect_download() as download:
        alice.get_by_role("button", name="Download it (keystore file)").click()
    keystore = json.loads(Path(download.value.path()).read_text())
    wallet = Account.from_key(Account.decrypt(keystore, ALICE_PASSPHRASE))
    assert alice.locator("[data-wallet-address]").inner_text() == wallet.address
    alice.get_by_label("Passphrase").fill(ALICE_PASSPHRASE)
    alice.get_by_role("button", name="Sign in with this wallet").click()
    alice.wait_for_url(re.compile(r"/portal/records"), timeout=60_000)
    alice.keyboard.press("Tab")
    assert alice.evaluate("document.activeElement.textContent") == "Skip to content"

    # She lets the clinic see her labs, signing the consent in the page; the node pays the gas.
    alice.goto(f"{clinic.url}/portal/consents")
    alice.get_by_label("Organization").select_option(label="clinic (org)")
    alice.locator("#grant").get_by_label("labs").check()
    alice.get_by_label("Your wallet's passphrase").fill(ALICE_PASSPHRASE)
    alice.get_by_role("button", name="Sign and grant").click()
    expect(alice.get_by_role("cell", name="active")).to_be_visible(timeout=60_000)
    check_page(alice, "consents")

    # The clinic reads her labs through the FHIR API; she sees that read in her accounting.
    token = _api_token(clinic, "clinic")
    found = httpx.get(
        f"{clinic.url}/Observation",
        params={"subject": f"Patient/{alice_id}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert found.status_code == 200, found.text
    assert found.json()["total"] == 3
    alice.goto(f"{clinic.url}/portal/accounting")
    clinic_read = alice.locator("li", has_text="clinic").filter(has_text="allowed").first
    expect(clinic_read).to_contain_text("searched and saw 3 records")
    check_page(alice, "accounting")
    alice.get_by_label("Your wallet's passphrase").fill(ALICE_PASSPHRASE)
    alice.get_by_role("button", name="Sign and ask every other node").click()  # her signed request, gathered here
    expect(alice.get_by_role("heading", name="At other nodes")).to_be_visible(timeout=60_000)
    expect(alice.get_by_text("No other node with an endpoint is registered")).to_be_visible()
    expect(alice.locator("li", has_text="clinic").filter(has_text="searched and saw 3 records").first).to_be_visible()

    # She revokes; the clinic's next read finds nothing.
    alice.goto(f"{clinic.url}/portal/consents")
    alice.get_by_label("Your wallet's passphrase").fill(ALICE_PASSPHRASE)
    alice.get_by_role("button", name="Revoke").click()
    expect(alice.get_by_role("cell", name="revoked")).to_be_visible(timeout=60_000)
    again = httpx.get(
        f"{clinic.url}/Observation",
        params={"subject": f"Patient/{alice_id}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert again.json()["total"] == 0

    # She keeps her labs from this node's care team too, signing again; the staff's chart loses them.
    alice.goto(f"{clinic.url}/portal/consents")
    alice.get_by_label("Your wallet's passphrase").fill(ALICE_PASSPHRASE)
    alice.locator("#restrict").get_by_label("labs").check()
    alice.get_by_role("button", name="Sign and save").click()
    expect(alice.get_by_text("You keep these records from the care team here: labs")).to_be_visible(timeout=60_000)

    # A staff member adds an observation: it appears on her timeline.
    staff.goto(f"{clinic.url}/portal/staff/patients/{alice_id}")
    staff.get_by_label("Measurement").select_option(label="Heart rate (/min)")
    staff.get_by_label("Value").fill("72")
    staff.get_by_role("button", name="Add the measurement").click()
    expect(staff.get_by_text("72 /min")).to_be_visible()
    expect(staff.locator("ol.timeline").get_by_text("mg/dL")).to_have_count(0)  # her labs are kept from staff now
    staff.get_by_label("Note").fill("Feels better; no fever since Tuesday")
    staff.get_by_role("button", name="Add the note").click()
    expect(staff.get_by_text("Feels better; no fever since Tuesday")).to_be_visible()
    alice.goto(f"{clinic.url}/portal/records")
    expect(alice.get_by_text("72 /min")).to_be_visible()
    alice.get_by_role("link", name="Progress note").click()
    expect(alice.get_by_text("Feels better; no fever since Tuesday")).to_be_visible()  # read as text, not base64

    # Break-glass, with a reason: she sees it on her timeline.
    staff.goto(f"{clinic.url}/portal/staff/patients/{alice_id}")
    staff.get_by_label("Reason").fill("Unconscious in the emergency room")
    staff.get_by_role("button", name="Break the glass").click()
    expect(staff.get_by_text("emergency access (break-glass)")).to_be_visible()
    alice.goto(f"{clinic.url}/portal/records")
    emergency = alice.get_by_role("region", name="Emergency access to your records")
    expect(emergency).to_contain_text("Unconscious in the emergency room")
    check_page(alice, "timeline-break-glass")
    alice.goto(f"{clinic.url}/portal/claims")
    check_page(alice, "claims")
    staff.goto(f"{clinic.url}/portal/staff")
    check_page(staff, "staff-find")
