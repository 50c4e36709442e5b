"""The pharmacy's page over real HTTP, and its keyboard-wedge scan in a real Chromium.

One node is manufacturer and pharmacy at once (admitted by a regulator's wallet it also holds, since a regulator
may not admit itself; it commissions packs it then holds): the page's verdicts come from the dispensary, whose rules
`tests/supplychain/` try one by one; here each way a scan reaches it and each answer it gives back is what a
pharmacist sees. Dr Bob (on the node's care team) works the counter; carol, a patient, may not, and is told of a
recall of a pack he dispensed to her.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import unescape
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from biip.checksums import gs1_standard_check_digit
from playwright.sync_api import Browser, expect

from careledger.audit import Outcome
from careledger.config import NODE_WALLET, Home, load_settings
from careledger.crypto import keccak
from careledger.identity import Role
from careledger.node import Node
from careledger.portal._clinical import medications
from careledger.portal._views import line
from careledger.supplychain import Pack
from tests.portal.browser import check_page
from tests.portal.conftest import PASSPHRASE, Clinic, Commands, in_process, served, signed_in

pytestmark = pytest.mark.anvil

PREFIX = "0614141"
GTIN = f"0{PREFIX}12345" + str(gs1_standard_check_digit(f"0{PREFIX}12345"))
EXPIRY = date(2031, 1, 31)
GS = "\x1d"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
_RECALL_SECONDS = 60


@dataclass
class Pharmacy:
    """The node (`clinic`), its CLI in this process, carol's Patient id, and fresh serials to commission."""

    clinic: Clinic
    cli: Commands
    carol_id: str
    serials: Iterator[int]

    def commission(self, packs: int, *, lot: str = "L1") -> list[Pack]:
        """`packs` fresh packs of `lot`, commissioned here (so held here)."""
        made = [Pack(GTIN, f"P{next(self.serials):05d}", lot, EXPIRY) for _ in range(packs)]
        serials = [arg for pack in made for arg in ("--serial", pack.serial)]
        self.cli("drug", "commission", "--gtin", GTIN, "--lot", lot, "--expiry", EXPIRY.isoformat(), *serials)
        return made


@pytest.fixture(scope="module")
def pharmacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pharmacy]:
    """The portal's node (`served`, set up in this process) as a manufacturer, admitted by an `agency` wallet of its
    own that the node made a regulator, and carol's Patient record on it."""
    root = tmp_path_factory.mktemp("pharmacy")
    home = root / "home"
    cli = in_process(home)
    with served(home, cli) as clinic:
        with _node(home) as node:
            agency = node.wallets.create("agency", Role.REGULATOR, PASSPHRASE)
            node.contracts.supply_chain(as_wallet=NODE_WALLET).grant_regulator(agency.address)
            until = int(datetime(2035, 12, 31, tzinfo=UTC).timestamp())
            node.contracts.supply_chain(as_wallet="agency").admit(node.address, PREFIX, keccak(b"MIA-2026-7"), until)
        patient = {
            "resourceType": "Patient",
            "name": [{"family": "Quennell", "given": ["Carol"]}],
            "birthDate": "1984-03-09",
        }
        path = root / "carol.json"
        path.write_text(json.dumps(patient))
        carol_id = cli("record", "add", str(path), "--patient", "carol")["id"]
        yield Pharmacy(clinic, cli, carol_id, count(1))


@contextmanager
def _session(clinic: Clinic, wallet: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the portal as `wallet`, through the sign-in form."""
    with httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url}, timeout=60) as client:
        message, signature = clinic.signed_in_message(wallet)
        form = {"csrf": _csrf(client.get("/portal/signin").text), "message": message, "signature": signature}
        assert client.post("/portal/signin", data=form).status_code == 303
        yield client


@pytest.fixture
def drbob(pharmacy: Pharmacy) -> Iterator[httpx.Client]:
    with _session(pharmacy.clinic, "drbob") as client:
        yield client


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no form token on the page"
    return found.group(1)


def _post(client: httpx.Client, path: str, **form: str) -> httpx.Response:
    """A form of the pharmacy's page posted as the browser posts it (its token, from a page it just read)."""
    csrf = _csrf(client.get("/portal/pharmacy").text)
    return client.post(path, data={"csrf": csrf, **form})


def element_string(pack: Pack, separator: str = GS) -> str:
    """What a scanner types for the pack's GS1 DataMatrix: GTIN, expiry, lot (variable: a separator), serial."""
    assert pack.expiry is not None
    return f"01{pack.gtin}17{pack.expiry:%y%m%d}10{pack.lot}{separator}21{pack.serial}"


def _text(response: httpx.Response) -> str:
    """The page's words, tags and runs of white space squeezed out, entities read."""
    return _words(response.text)


def _words(html: str) -> str:
    """A piece of a page's words (as `_text`)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_pack_is_verified_dispensed_to_her_and_refused_when_scanned_again(
    pharmacy: Pharmacy, drbob: httpx.Client
) -> None:
    (pack,) = pharmacy.commission(1)
    page = drbob.get("/portal/pharmacy")
    assert page.status_code == 200
    assert re.search(r'<input id="scan" name="scan"[^>]*autofocus', page.text)
    assert 'href="/portal/pharmacy" aria-current="page"' in page.text

    verdict = _post(drbob, "/portal/pharmacy/verify", scan=element_string(pack))
    assert verdict.status_code == 200, verdict.text
    said = _text(verdict)
    assert "May be dispensed" in said
    for shown in (f"GTIN {pack.gtin}", f"Serial {pack.serial}", "Lot L1", "Expiry 2031-01-31", "Held by this node"):
        assert shown in said
    assert 'aria-live="assertive"' in verdict.text

    found = _post(drbob, "/portal/pharmacy/patients", scan=element_string(pack), q="Quennell")
    assert f'value="{pharmacy.carol_id}"' in found.text
    assert "Carol Quennell" in _text(found)
    by_id = _post(drbob, "/portal/pharmacy/patients", scan=element_string(pack), q=pharmacy.carol_id)
    assert f'value="{pharmacy.carol_id}"' in by_id.text
    csrf = _csrf(page.text)
    as_typed = drbob.post(  # htmx, as she types: the list alone
        "/portal/pharmacy/patients",
        data={"scan": element_string(pack), "q": "Quenn"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert as_typed.text.lstrip().startswith("<fieldset>")
    assert f'value="{pharmacy.carol_id}"' in as_typed.text

    unpicked = _post(drbob, "/portal/pharmacy/dispense", scan=element_string(pack))
    assert unpicked.status_code == 400
    assert "find her, then pick her" in _text(unpicked)
    done = _post(drbob, "/portal/pharmacy/dispense", scan=element_string(pack), patient=pharmacy.carol_id)
    assert done.status_code == 200, done.text
    record_id = re.search(r"MedicationDispense <code>([0-9a-f-]{36})</code>", done.text)
    assert record_id, done.text
    assert f'href="/portal/staff/patients/{pharmacy.carol_id}"' in done.text
    assert re.search(r"decommissioned on chain \(transaction 0x[0-9a-f]{64} ?\)", _text(done))
    chart = drbob.get(f"/portal/staff/patients/{pharmacy.carol_id}")
    assert f"GTIN {pack.gtin}" in _text(chart)

    again = _post(drbob, "/portal/pharmacy/verify", scan=element_string(pack))
    assert "Do not dispense it" in _text(again)
    assert "already-dispensed" in again.text
    assert "Cloned serial: this pack was dispensed here" in _text(again)
    twice = _post(drbob, "/portal/pharmacy/dispense", scan=element_string(pack), patient=pharmacy.carol_id)
    assert twice.status_code == 409
    assert "Not dispensed" in _text(twice)


def test_a_malformed_scan_names_the_wrong_field_and_keeps_what_was_scanned(
    pharmacy: Pharmacy, drbob: httpx.Client
) -> None:
    (pack,) = pharmacy.commission(1)
    good = element_string(pack)
    wrong_digit = good[:15] + str((int(good[15]) + 1) % 10) + good[16:]  # the GTIN's check digit
    refused = _post(drbob, "/portal/pharmacy/verify", scan=wrong_digit)
    assert refused.status_code == 400
    said = _text(refused)
    assert "This scan cannot be read: the GTIN is wrong" in said
    assert "check digit" in said
    kept = wrong_digit.replace(GS, "&lt;GS&gt;")
    assert re.search(rf'<input id="scan"[^>]*value="{re.escape(kept)}"[^>]*aria-invalid="true"', refused.text)

    bad_date = _post(drbob, "/portal/pharmacy/verify", scan=good.replace("17310131", "17311340"))
    assert bad_date.status_code == 400
    assert "the expiry is wrong" in _text(bad_date)
    too_long = _post(drbob, "/portal/pharmacy/verify", scan=good + "9" * 400)
    assert too_long.status_code == 400
    assert "at most 300 characters" in _text(too_long)
    case = _post(drbob, "/portal/pharmacy/verify", scan="00106141410000000019")  # a case's SSCC, not a pack
    assert case.status_code == 400
    assert "the scan is wrong" in _text(case)

    for spelled in ("<GS>", "<gs>", "^]", "{GS}", "[GS]"):  # scanners set to spell the separator out
        verdict = _post(drbob, "/portal/pharmacy/verify", scan=element_string(pack, spelled))
        assert "May be dispensed" in _text(verdict), spelled
    dl = _post(drbob, "/portal/pharmacy/verify", scan=f"https://example.com/01/{pack.gtin}/21/{pack.serial}?10=L1")
    assert "May be dispensed" in _text(dl)


def test_a_quarantined_pack_is_flagged_and_refused_until_released(pharmacy: Pharmacy, drbob: httpx.Client) -> None:
    (pack,) = pharmacy.commission(1)
    no_reason = _post(drbob, "/portal/pharmacy/quarantine", scan=element_string(pack), reason=" ")
    assert no_reason.status_code == 400
    assert re.search(r'<input id="quarantine-reason"[^>]*aria-invalid="true"', no_reason.text)

    reason = "seal broken on arrival"
    set_aside = _post(drbob, "/portal/pharmacy/quarantine", scan=element_string(pack, "<GS>"), reason=reason)
    assert set_aside.status_code == 303
    flagged = drbob.get("/portal/pharmacy").text
    row = re.search(rf"<tr>\s*<td>GTIN {pack.gtin}, serial {pack.serial}(, lot L1)?</td>.*?</tr>", flagged, re.S)
    assert row
    assert f"Quarantined</strong>: {reason}" in row.group(0)
    refused = _post(drbob, "/portal/pharmacy/verify", scan=element_string(pack))
    assert f"Quarantined here: {reason}" in _text(refused)

    released = _post(drbob, "/portal/pharmacy/release", scan=pack.epc)
    assert released.status_code == 303
    assert f"serial {pack.serial}" not in drbob.get("/portal/pharmacy").text
    assert "May be dispensed" in _text(_post(drbob, "/portal/pharmacy/verify", scan=element_string(pack)))


def test_only_the_nodes_staff_work_the_counter_and_each_refusal_is_audited(pharmacy: Pharmacy) -> None:
    (pack,) = pharmacy.commission(1)
    with _session(pharmacy.clinic, "carol") as carol:
        page = carol.get("/portal/pharmacy")
        assert page.status_code == 403
        assert "not of this node's staff" in _text(page)
        csrf = _csrf(carol.get("/portal/records").text)
        for path, form in (
            ("/portal/pharmacy/verify", {"scan": element_string(pack)}),
            ("/portal/pharmacy/verify", {"scan": "not a barcode"}),  # refused before the scan is read
            ("/portal/pharmacy/quarantine", {"scan": element_string(pack), "reason": "mine now"}),
            ("/portal/pharmacy/dispense", {"scan": element_string(pack), "patient": pharmacy.carol_id}),
        ):
            answer = carol.post(path, data={"csrf": csrf, **form})
            assert answer.status_code == 403, path
            assert "May be dispensed" not in answer.text
            assert "Flagged stock" not in answer.text
    with httpx.Client(base_url=pharmacy.clinic.url) as stranger:  # no session: the sign-in page, nothing else
        assert stranger.get("/portal/pharmacy").headers["location"].startswith("/portal/signin")
    carol_address = pharmacy.clinic.address("carol")
    with _node(pharmacy.clinic.home) as node:
        entries = node.audit.entries(agent=carol_address)
    tried = {e.access.interaction for e in entries if e.access.outcome == Outcome.DENIED}
    assert {"supply.stock", "supply.verify", "supply.quarantine", "supply.dispense"} <= tried


def _node(home: Path) -> Node:
    """The served node's home opened in this process too, as its operator's CLI opens it beside the server."""
    return Node(Home(home), load_settings(Home(home)), lambda _wallet: PASSPHRASE, lazy=True)


def test_a_recall_flags_the_stock_and_tells_her_on_her_timeline_and_stream(
    pharmacy: Pharmacy, drbob: httpx.Client
) -> None:
    dispensed, held = pharmacy.commission(2, lot="R7")
    done = _post(drbob, "/portal/pharmacy/dispense", scan=element_string(dispensed), patient=pharmacy.carol_id)
    assert done.status_code == 200, done.text
    with _session(pharmacy.clinic, "carol") as carol:
        heard: list[str] = []
        listening = threading.Thread(target=_listen, args=(carol, heard), daemon=True)
        listening.start()
        time.sleep(1)
        pharmacy.cli("drug", "recall", "--gtin", GTIN, "--lot", "R7", "--yes")
        deadline = time.monotonic() + _RECALL_SECONDS
        while "Drug recall" not in (timeline := _text(carol.get("/portal/records"))) and time.monotonic() < deadline:
            time.sleep(1)
        assert "Drug recall" in timeline
        assert f"GTIN {GTIN} (lot R7)" in timeline
        assert "Do not take it; bring it back" in timeline
        listening.join(_RECALL_SECONDS)
        assert any('"unread":1' in event for event in heard), heard
        _recalled_on_her_list(carol, "R7")
    flagged = drbob.get("/portal/pharmacy").text
    row = re.search(rf"<tr>\s*<td>GTIN {GTIN}, serial {held.serial}(, lot R7)?</td>.*?</tr>", flagged, re.S)
    assert row
    assert "Recalled</strong>" in row.group(0)
    refused = _post(drbob, "/portal/pharmacy/verify", scan=element_string(held))
    assert "Do not dispense it Lot R7 recalled" in _text(refused)


def _recalled_on_her_list(carol: httpx.Client, lot: str) -> None:
    """What she is told to bring back is on her medications page, among the current ones, marked, with its lot,
    its expiry, who handed it over and a link to the notice."""
    medicines = carol.get("/portal/medications")
    assert medicines.status_code == 200
    current, _, _ = _text(medicines).partition("Past medications")
    card = re.search(rf'<li class="card">(?:(?!</li>).)*Lot {lot}(?:(?!</li>).)*</li>', medicines.text, re.S)
    assert card, medicines.text
    said = _words(card.group(0))
    assert said in current
    assert said.startswith(f"GTIN {GTIN} Recalled — bring it back. Do not take it; read the recall notice")
    assert f"Lot {lot} · Expires 31 Jan 2031" in said
    assert "Dispensed by drbob" in said
    notice = re.search(r'href="/portal/records/([0-9a-f-]{36})">read the recall notice', card.group(0))
    assert notice
    assert "Drug recall" in _text(carol.get(f"/portal/records/{notice.group(1)}"))


def test_her_medications_page_lists_packs_dispensed_to_her_current_then_past(
    pharmacy: Pharmacy, drbob: httpx.Client, tmp_path: Path
) -> None:
    (pack,) = pharmacy.commission(1, lot="C3")
    assert _post(drbob, "/portal/pharmacy/dispense", scan=element_string(pack), patient=pharmacy.carol_id).is_success
    old = {  # a pack handed over long ago (a GTIN with its product's name): past, by when it was handed over
        "resourceType": "MedicationDispense",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": "https://www.gs1.org/gtin", "code": GTIN, "display": "Amoxicillin 500 mg"}],
            "text": f"GTIN {GTIN}",
        },
        "subject": {"reference": f"Patient/{pharmacy.carol_id}"},
        "whenHandedOver": "2025-02-03T10:00:00Z",
        "extension": [{"url": "https://careledger.org/fhir/StructureDefinition/pack-lot", "valueString": "OLD1"}],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    pharmacy.cli("record", "add", str(path), "--patient", "carol")
    with _session(pharmacy.clinic, "carol") as carol:
        page = carol.get("/portal/medications")
    assert page.status_code == 200
    current, _, past = _text(page).partition("Past medications")
    assert "No current medications" not in current
    assert re.search(f"GTIN {GTIN} Lot C3 · Expires 31 Jan 2031 Dispensed by drbob · .*? · dispensed", current)
    assert "Amoxicillin 500 mg Lot OLD1 Dispensed · 3 Feb 2025" in past
    assert "Amoxicillin" not in current
    assert "Lot C3" not in past
    chart = _text(drbob.get(f"/portal/staff/patients/{pharmacy.carol_id}/medications"))  # her chart: the same list
    assert "Lot C3" in chart.partition("Past medications")[0]
    assert "Lot OLD1" in chart.partition("Past medications")[2]


def test_a_dispense_is_current_for_its_supply_and_while_a_recall_asks_for_it_back() -> None:
    def dispense(record_id: str, handed: str | None, status: str = "completed", **more: Any) -> dict[str, Any]:
        found = {"resourceType": "MedicationDispense", "id": record_id, "status": status, **more}
        return found | ({"whenHandedOver": handed} if handed else {})

    def notice(record_id: str, about: str, category: str) -> dict[str, Any]:
        kind = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/communication-category", "code": category}]
        }
        return {"resourceType": "Communication", "id": record_id, "category": [kind], "about": [{"reference": about}]}

    month = {"value": 30, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"}
    listed = medications(
        [
            dispense("month-ago", "2026-04-20T09:00:00Z", daysSupply=month),  # 30 days' supply, 41 days ago
            dispense("this-week", "2026-05-28T09:00:00Z", daysSupply=month),
            dispense("spring", "2026-03-15"),  # no days' supply: 90 days
            dispense("preparing", None, "preparation"),
            dispense("cancelled", "2026-05-30T09:00:00Z", "cancelled"),
            dispense("old-recalled", "2024-01-02"),
            dispense("mistake", "2026-05-30", "entered-in-error"),
            notice("n1", "MedicationDispense/old-recalled", "alert"),
            notice("n2", "MedicationDispense/this-week", "notification"),  # a message about it, not a recall
        ],
        lambda _reference: "",
        now=datetime(2026, 5, 31, 12, tzinfo=UTC),
    )
    assert [(m.record_id, m.current, bool(m.recall)) for m in listed] == [
        ("old-recalled", True, True),
        ("this-week", True, False),
        ("spring", True, False),
        ("preparing", True, False),
        ("cancelled", False, False),
        ("month-ago", False, False),
    ]
    assert (listed[0].recall, listed[0].status, listed[0].source) == ("n1", "dispensed", "Dispensed")


def _listen(client: httpx.Client, heard: list[str]) -> None:
    """Collect her stream's `message` events until one says she has an unread message (or a minute passes)."""
    deadline = time.monotonic() + _RECALL_SECONDS
    with client.stream("GET", "/portal/events", timeout=_RECALL_SECONDS) as events:
        kind = ""
        for text in events.iter_lines():
            if text.startswith("event: "):
                kind = text.removeprefix("event: ")
            elif text.startswith("data: ") and kind == "message":
                heard.append(text)
                if '"unread":1' in text:
                    return
            if time.monotonic() > deadline:
                return


def test_a_recall_notice_reads_on_a_timeline_as_what_it_says() -> None:
    notice = {
        "resourceType": "Communication",
        "id": "n1",
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                        "code": "alert",
                        "display": "Alert",
                    }
                ]
            }
        ],
        "sent": "2026-05-01T10:00:00Z",
        "payload": [{"contentString": "Drug recall: lot R7. Do not take it; bring it back."}],
    }
    shown = line(notice)
    assert (shown.title, shown.when) == ("Alert", "2026-05-01T10:00:00Z")
    assert shown.detail == "Drug recall: lot R7. Do not take it; bring it back."


def test_a_keyboard_wedge_scan_in_chromium(pharmacy: Pharmacy, browser: Browser) -> None:
    (pack,) = pharmacy.commission(1)
    page = signed_in(browser, pharmacy.clinic, "drbob")
    page.goto(f"{pharmacy.clinic.url}/portal/pharmacy")
    assert page.evaluate("document.activeElement.id") == "scan"  # the scanner types where the cursor is
    check_page(page, "pharmacy")
    page.keyboard.type(element_string(pack))  # the scanner: its characters, GS as the character, then Enter
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="✓ May be dispensed")).to_be_visible()
    expect(page.locator("#verdict")).to_contain_text(pack.serial)
    assert page.url == f"{pharmacy.clinic.url}/portal/pharmacy/verify"  # the scan was posted, never in a URL
    check_page(page, "pharmacy-verdict")
    misread = element_string(pack).replace(pack.gtin, pack.gtin[:-1] + str((int(pack.gtin[-1]) + 1) % 10))
    page.keyboard.type(misread)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="This scan cannot be read: the GTIN is wrong")).to_be_visible()
    assert page.input_value("#scan") == misread.replace(GS, "<GS>")  # kept, to correct
    check_page(page, "pharmacy-misread")
    page.keyboard.type(element_string(pack))  # scanned again: it replaces what was kept
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="✓ May be dispensed")).to_be_visible()
    page.context.close()
