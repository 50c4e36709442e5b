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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def _medicines_and_labs(patient: str, chain_id: int) -> dict[str, Any]:
    """A transaction an EHR might send: a patient (named by her wallet), her prescriber, a Medication and its
    prescription, a lab report whose results carry ranges and interpretations, and a blood pressure panel."""
    loinc, ucum = "http://loinc.org", "http://unitsofmeasure.org"
    interpretation = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    subject = {"reference": "urn:uuid:patient"}

    def lab(url: str, code: str, display: str, value: float, unit: str, low: float, high: float, flag: str) -> Any:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"code": "laboratory"}]}],
            "code": {"coding": [{"system": loinc, "code": code, "display": display}]},
            "subject": subject,
            "effectiveDateTime": "2026-11-30T08:15:00Z",
            "valueQuantity": {"value": value, "unit": unit, "system": ucum, "code": unit},
            "referenceRange": [
                {
                    "low": {"value": low, "unit": unit, "system": ucum, "code": unit},
                    "high": {"value": high, "unit": unit, "system": ucum, "code": unit},
                }
            ],
        }
        if flag:
            resource["interpretation"] = [{"coding": [{"system": interpretation, "code": flag}]}]
        return url, resource

    entries = [
        (
            "urn:uuid:patient",
            {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"did:pkh:eip155:{chain_id}:{patient}"}],
                "name": [{"given": ["Dora"], "family": "Marsh"}],
                "birthDate": "1972-02-03",
            },
        ),
        (
            "urn:uuid:prescriber",
            {"resourceType": "Practitioner", "name": [{"prefix": ["Dr"], "given": ["Bob"], "family": "Jones"}]},
        ),
        (
            "urn:uuid:metformin",
            {
                "resourceType": "Medication",
                "code": {
                    "coding": [
                        {
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": "860975",
                            "display": "metformin 500 MG Extended Release Oral Tablet",
                        }
                    ]
                },
            },
        ),
        (
            "urn:uuid:prescription",
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationReference": {"reference": "urn:uuid:metformin"},
                "subject": subject,
                "requester": {"reference": "urn:uuid:prescriber"},
                "authoredOn": "2026-11-30T09:00:00Z",
                "reasonCode": [{"text": "Diabetes mellitus type 2"}],
                "dosageInstruction": [
                    {
                        "doseAndRate": [{"doseQuantity": {"value": 1, "system": ucum, "code": "{tbl}"}}],
                        "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                        "route": {
                            "coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral"}]
                        },
                    }
                ],
            },
        ),
        lab("urn:uuid:wbc", "6690-2", "Leukocytes [#/volume] in Blood", 11.8, "10*9/L", 4, 11, "H"),
        lab("urn:uuid:glucose", "2339-0", "Glucose [Mass/volume] in Blood", 61, "mg/dL", 70, 180, ""),
        (
            "urn:uuid:report",
            {
                "resourceType": "DiagnosticReport",
                "status": "final",
                "code": {"coding": [{"system": loinc, "code": "58410-2", "display": "CBC panel - Blood"}]},
                "subject": subject,
                "effectiveDateTime": "2026-11-30T08:15:00Z",
                "issued": "2026-11-30T13:40:00Z",
                "result": [{"reference": "urn:uuid:wbc"}, {"reference": "urn:uuid:glucose"}],
            },
        ),
        (
            "urn:uuid:pressure",
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"code": "vital-signs"}]}],
                "code": {"coding": [{"system": loinc, "code": "85354-9", "display": "Blood pressure panel"}]},
                "subject": subject,
                "effectiveDateTime": "2026-11-29T17:05:00Z",
                "component": [
                    {
                        "code": {"coding": [{"system": loinc, "code": "8480-6", "display": "Systolic blood pressure"}]},
                        "valueQuantity": {"value": 182, "unit": "mm[Hg]", "system": ucum, "code": "mm[Hg]"},
                        "interpretation": [{"coding": [{"system": interpretation, "code": "HH"}]}],
                    }
                ],
            },
        ),
    ]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
            for url, resource in entries
        ],
    }


def test_her_medications_and_results_read_as_people_write_them_for_her_and_her_clinician(
    clinic: Clinic, browser: Browser
) -> None:
    clinic.cli("wallet", "new", "dora", "--role", "patient")
    clinic.cli("identity", "register", "dora")
    sent = httpx.post(
        f"{clinic.url}/",
        json=_medicines_and_labs(clinic.address("dora"), 31337),
        headers={"Authorization": f"Bearer {_api_token(clinic, 'drbob')}"},
    )
    assert sent.status_code == 200, sent.text
    dora_id = sent.json()["entry"][0]["response"]["location"].split("/")[1]

    dora = wallet_context(browser, clinic.account("dora")).new_page()
    _sign_in_with_browser_wallet(dora, clinic)
    dora.get_by_role("navigation", name="Main").get_by_role("link", name="Medications").click()
    current = dora.get_by_role("region", name="Current medications")
    expect(current.get_by_role("heading", name="metformin 500 MG Extended Release Oral Tablet")).to_be_visible()
    expect(current).to_contain_text("1 tablet, twice a day, oral")
    expect(current).to_contain_text("Prescribed by Dr Bob Jones")
    expect(current).to_contain_text("30 Nov 2026, 09:00")
    expect(current).to_contain_text("for Diabetes mellitus type 2")
    _no_raw_references_or_instants(dora)
    check_page(dora, "medications")

    dora.get_by_role("navigation", name="Main").get_by_role("link", name="Results").click()
    report = dora.get_by_role("region", name="CBC panel - Blood")
    expect(report).to_contain_text("Taken 30 Nov 2026, 08:15 · reported 30 Nov 2026, 13:40")
    leukocytes = report.get_by_role("row", name=re.compile("Leukocytes"))
    expect(leukocytes).to_contain_text("11.8 \N{MULTIPLICATION SIGN}10⁹/L")
    expect(leukocytes).to_contain_text("4\N{EN DASH}11 \N{MULTIPLICATION SIGN}10⁹/L")
    expect(leukocytes).to_contain_text("High")  # the lab's interpretation, in words
    glucose = report.get_by_role("row", name=re.compile("Glucose"))
    expect(glucose).to_contain_text("61 mg/dL")
    expect(glucose).to_contain_text("Outside range (low)")  # no interpretation: worked out from the range
    systolic = dora.get_by_role("row", name=re.compile("Systolic blood pressure"))
    expect(systolic).to_contain_text("182 mmHg")
    expect(systolic).to_contain_text("Critically high")
    _no_raw_references_or_instants(dora)
    check_page(dora, "results")

    # Her clinician opens the same views from her chart.
    staff = wallet_context(browser, clinic.account("drbob")).new_page()
    _sign_in_with_browser_wallet(staff, clinic)
    staff.goto(f"{clinic.url}/portal/staff/patients/{dora_id}")
    staff.get_by_role("navigation", name="Chart").get_by_role("link", name="Results").click()
    expect(staff.get_by_role("heading", name="Results: Dora Marsh")).to_be_visible()
    expect(staff.get_by_role("row", name=re.compile("Leukocytes"))).to_contain_text("High")
    check_page(staff, "chart-results")
    staff.get_by_role("navigation", name="Chart").get_by_role("link", name="Medications").click()
    expect(staff.get_by_text("Prescribed by Dr Bob Jones")).to_be_visible()
    _no_raw_references_or_instants(staff)
    check_page(staff, "chart-medications")
    refused = dora.goto(f"{clinic.url}/portal/staff/patients/{dora_id}/results")
    assert refused is not None
    assert refused.status == 403  # a patient never opens a chart, not even her own

    # She asks her care team about the result; drbob finds it unread, answers, and she reads his answer.
    dora.goto(f"{clinic.url}/portal/messages")
    dora.get_by_label("To").select_option(label="drbob")
    dora.get_by_label("Message").fill("Is my white cell count something to worry about?")
    dora.get_by_role("button", name="Send").click()
    expect(dora.locator("ol.thread")).to_contain_text("Is my white cell count something to worry about?")
    expect(dora.locator("ol.thread")).to_contain_text("You")
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    expect(staff.get_by_role("status")).to_have_text("1 unread message.")
    expect(staff.locator("ul.threads")).to_contain_text("Dora Marsh")
    check_page(staff, "messages")
    staff.get_by_role("link", name="Is my white cell count something to worry about?").click()
    expect(staff.get_by_role("heading", name="Messages with Dora Marsh")).to_be_visible()
    staff.get_by_label("Reply").fill("Slightly high; we will repeat it at your visit.")
    staff.get_by_role("button", name="Send the reply").click()
    expect(staff.locator("ol.thread li")).to_have_count(2)
    staff.get_by_role("link", name="All messages").click()
    expect(staff.get_by_role("status")).to_have_text("Nothing unread.")
    dora.goto(f"{clinic.url}/portal/messages")
    expect(dora.get_by_role("status")).to_have_text("1 unread message.")
    expect(dora.locator("[data-unread]")).to_contain_text("1 unread")  # the nav's count, from the event stream
    expect(dora.locator("[data-unread]")).to_be_visible()
    dora.locator("ul.threads a").first.click()
    expect(dora.locator("ol.thread li").last).to_contain_text("drbob")
    expect(dora.locator("ol.thread li").last).to_contain_text("Slightly high; we will repeat it at your visit.")
    _no_raw_references_or_instants(dora)
    check_page(dora, "thread")


def _no_raw_references_or_instants(page: Page) -> None:
    """What the page says names things and dates them as people do: no `Type/id`, no ISO instant."""
    said = page.locator("main").inner_text()
    assert not re.search(r"\b(Medication|Practitioner|Observation|Patient)/\w", said), said
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d", said), said


def test_a_patient_finds_pays_for_and_books_a_visit_that_her_practitioner_sees_today(
    clinic: Clinic, browser: Browser
) -> None:
    clinic.cli("wallet", "new", "erin", "--role", "patient")
    clinic.cli("identity", "register", "erin")
    clinic.cli("token", "mint", "erin", "100", json_out=False)
    did = "did:pkh:eip155:31337:"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": resource_type,
                    "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"{did}{clinic.address(wallet)}"}],
                    "name": [name],
                },
                "request": {"method": "POST", "url": resource_type},
            }
            for resource_type, wallet, name in (
                ("Patient", "erin", {"given": ["Erin"], "family": "Holt"}),
                ("Practitioner", "drbob", {"prefix": ["Dr"], "given": ["Robert"], "family": "Vance"}),
            )
        ],
    }
    sent = httpx.post(f"{clinic.url}/", json=bundle, headers={"Authorization": f"Bearer {_api_token(clinic, 'drbob')}"})
    assert sent.status_code == 200, sent.text
    practitioner_id = sent.json()["entry"][1]["response"]["location"].split("/")[1]
    schedule = clinic.cli("schedule", "publish", practitioner_id, "--service", "office-visit", "--fee", "40")
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
    later = soon + timedelta(minutes=60)
    clinic.cli("schedule", "slots", schedule["id"], "--start", soon.isoformat(), "--end", later.isoformat())

    erin = wallet_context(browser, clinic.account("erin")).new_page()
    _sign_in_with_browser_wallet(erin, clinic)
    erin.get_by_role("navigation", name="Main").get_by_role("link", name="Visits").click()
    erin.get_by_role("link", name="Book a visit").click()
    erin.get_by_label("Practitioner").select_option(label="Dr Robert Vance")
    erin.get_by_role("button", name="Find open times").click()
    expect(erin.locator("ul.openings li")).to_have_count(2)
    expect(erin.locator("ul.openings li").first).to_contain_text("Dr Robert Vance · office visit · video · fee 40 CARE")
    check_page(erin, "visit-find")
    erin.locator("ul.openings a").first.click()
    expect(erin.locator("#you-pay")).to_have_text("40 CARE")  # no plan: the whole fee, said before she pays
    expect(erin.get_by_text("Does not cover it")).to_be_visible()
    check_page(erin, "visit-book")
    erin.get_by_role("button", name="Sign and book (40 CARE)").click()  # her wallet signs consent, terms, permit
    erin.wait_for_url(re.compile(r"/portal/visits\?booked="), timeout=60_000)
    expect(erin.get_by_text("Your visit is booked")).to_be_visible()
    booked = erin.locator("ul.visits li")
    expect(booked).to_have_count(1)
    expect(booked).to_contain_text("Office visit (video) with Dr Robert Vance · booked")
    expect(booked.get_by_role("link", name="Join the visit")).to_be_visible()  # its room opens 15 minutes early
    reminder = erin.locator("[data-reminder]")  # the node's reminder of a visit within the day, from /portal/events
    expect(reminder).to_contain_text(re.compile(r"A visit of yours starts \w+day \d{1,2}:\d{2}"))
    expect(reminder.get_by_role("link", name="see your visits")).to_have_attribute("href", "/portal/visits")
    _no_raw_references_or_instants(erin)
    check_page(erin, "visits")
    assert clinic.cli("token", "balance", "erin")["balance"] == "60"  # 40 CARE held in escrow

    staff = wallet_context(browser, clinic.account("drbob")).new_page()
    _sign_in_with_browser_wallet(staff, clinic)
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Today's visits").click()
    row = staff.get_by_role("row", name=re.compile("Erin Holt"))
    expect(row).to_contain_text("Dr Robert Vance")
    expect(row.get_by_role("link", name=re.compile("Open the room"))).to_be_visible()
    check_page(staff, "staff-visits")
    row.get_by_role("link", name="Erin Holt", exact=True).click()  # her chart, during the visit
    today = staff.get_by_role("region", name="Her visits today")
    expect(today).to_contain_text("office visit (video) with Dr Robert Vance")
    expect(today.get_by_role("link", name="Open the room")).to_be_visible()
    check_page(staff, "chart-visit")
