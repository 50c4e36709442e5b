"""The portal's doors: forms without their token or from another site, one patient at another's pages, hostile
bodies, a stranger hammering claim codes.

Carol, a patient with her own wallet, signs in in a real Chromium and tries Alice's URLs;
an HTTP client with no page plays the forger of cross-site posts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser

from careledger.access import MAX_FAILURES
from careledger.crypto import PrivateKey
from careledger.testdata import synthetic_patients
from tests.outside_wallet import signed_in_message
from tests.portal.browser import check_page, wallet_context
from tests.portal.conftest import PASSPHRASE, Clinic

pytestmark = pytest.mark.anvil

# Alice's lab value, as no address, token or id can spell it (they are hex, without a dot).
LAB_VALUE = 431.0071
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


class Alice:
    """Alice's records on the clinic's node: her Patient id, a lab result's id, a grant she made."""

    def __init__(self, clinic: Clinic, tmp: Path) -> None:
        clinic.cli("wallet", "new", "alice", "--role", "patient")
        clinic.cli("identity", "register", "alice")
        patient = synthetic_patients(1, seed=31)[0]
        self.family = patient.patient["name"][0]["family"]
        path = tmp / "alice.json"
        path.write_text(json.dumps(patient.patient))
        self.patient_id = clinic.cli("record", "add", str(path), "--patient", "alice")["id"]
        lab = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
            "subject": {"reference": f"Patient/{self.patient_id}"},
            "valueQuantity": {"value": LAB_VALUE, "unit": "mg/dL"},
        }
        path.write_text(json.dumps(lab))
        self.lab_id = clinic.cli("record", "add", str(path), "--patient", "alice")["id"]
        granted = clinic.cli(
            "consent", "grant", "--patient", "alice", "--to", "clinic", "--categories", "labs", "--days", "9"
        )
        self.grant_id = granted["id"]


@pytest.fixture(scope="module")
def alice(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> Alice:
    return Alice(clinic, tmp_path_factory.mktemp("alice"))


@pytest.fixture
def carol_session(clinic: Clinic) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the portal as carol, through the sign-in form (posting, as a browser does,
    with the origin of the page it posts from)."""
    with httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url}) as client:
        csrf = _csrf(client.get("/portal/signin").text)
        message, signature = clinic.signed_in_message("carol")
        form = {"csrf": csrf, "message": message, "signature": signature, "next": "https://evil.example/steal"}
        signed_in = client.post("/portal/signin", data=form)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/portal"  # never another site
        yield client


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def test_a_form_without_its_token_is_refused(clinic: Clinic, carol_session: httpx.Client) -> None:
    page = carol_session.get("/portal/consents")
    assert page.status_code == 200
    token = _csrf(page.text)
    form = {"grantee": clinic.address("clinic"), "categories": "labs", "purposes": "TREAT", "days": "30"}
    for forged in ({}, {"csrf": "0" * 64}, {"csrf": token[::-1]}):
        refused = carol_session.post("/portal/consents/prepare", data={**form, **forged})
        assert refused.status_code == 403, refused.text
        assert "security token" in refused.text
    stranger = httpx.post(
        f"{clinic.url}/portal/consents/prepare", data={**form, "csrf": token}, headers={"Origin": clinic.url}
    )
    assert stranger.status_code == 401  # the token without this browser's cookies is worth nothing
    prepared = carol_session.post("/portal/consents/prepare", data={**form, "csrf": token})
    assert prepared.status_code == 200, prepared.text
    assert prepared.json()["primaryType"] == "Consent"
    assert carol_session.post("/portal/signout", data={"then": "/portal"}).status_code == 403
    assert carol_session.get("/portal/records").status_code == 200  # still signed in


def test_a_post_from_another_site_is_refused_whatever_it_carries(clinic: Clinic, carol_session: httpx.Client) -> None:
    page = carol_session.get("/portal/consents")
    token = _csrf(page.text)
    form = {"grantee": clinic.address("clinic"), "categories": "labs", "purposes": "TREAT", "days": "30", "csrf": token}
    for origin in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Origin": "", "Referer": ""}):
        # her own cookies and a valid form token: what a browser tricked into posting from elsewhere would carry
        refused = carol_session.post("/portal/consents/prepare", data=form, headers=origin)
        assert refused.status_code == 403, refused.text
        assert "not posted from a page of this node" in refused.text
        signout = carol_session.post("/portal/signout", data={"csrf": token}, headers=origin)
        assert signout.status_code == 403
    referred = carol_session.post(
        "/portal/consents/prepare", data=form, headers={"Origin": "", "Referer": f"{clinic.url}/portal/consents"}
    )
    assert referred.status_code == 200, referred.text  # no Origin: the Referer says where it came from
    assert carol_session.get("/portal/records").status_code == 200  # still signed in


def test_carol_never_sees_alices_pages(clinic: Clinic, alice: Alice, browser: Browser) -> None:
    page = wallet_context(browser, clinic.account("carol")).new_page()
    page.goto(f"{clinic.url}/portal/signin")
    page.get_by_role("button", name="Sign in with the browser's wallet").click()
    page.wait_for_url(re.compile(r"/portal/records"))
    for url, status in (
        (f"/portal/records/{alice.lab_id}", 404),  # hers: told as an unknown record
        (f"/portal/records/{alice.patient_id}", 404),
        (f"/portal/staff/patients/{alice.patient_id}", 403),  # staff pages: not hers to open at all
        (f"/portal/staff/patients/{alice.patient_id}/results", 403),
        ("/portal/staff/visits", 403),
        (f"/portal/messages/{alice.lab_id}", 404),  # not a thread of hers: told as an unknown record
        (f"/portal/visits/book?slot={alice.lab_id}", 404),
        ("/portal/visits/find?start=someday", 400),
        ("/portal/visits/find?start=9999-12-31", 400),  # two weeks on would be past any calendar
        ("/portal/visits/find?start=2027-01-01&end=2027-06-01", 400),  # more days than a search looks through
        ("/portal/staff?q=" + alice.family, 403),
    ):
        response = page.goto(f"{clinic.url}{url}")
        assert response is not None, url
        assert response.status == status, url
        text = page.content()
        assert not re.search(rf"\b{alice.family}\b", text), url
        assert str(LAB_VALUE) not in text, url
    check_page(page, "refused")
    for url in ("/portal/records", "/portal/trends", "/portal/results", "/portal/accounting", "/portal/consents"):
        response = page.goto(f"{clinic.url}{url}")
        assert response is not None, url
        assert response.status == 200, url
        assert not re.search(rf"\b{alice.family}\b", page.content()), url
        assert str(LAB_VALUE) not in page.content(), url
    csrf = _csrf(page.content())
    revoke = page.request.post(
        f"{clinic.url}/portal/consents/{alice.grant_id}/prepare-revoke",
        form={"csrf": csrf},
        headers={"Origin": clinic.url},
    )
    assert revoke.status == 403
    refused = [e for e in clinic.cli("audit", "list", "--patient", "alice") if e["agent_name"] == "carol"]
    assert refused
    assert all(e["outcome"] == "denied" for e in refused)


def test_hostile_bodies_and_no_session(clinic: Clinic) -> None:
    with httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url}) as client:
        assert client.get("/portal/records").status_code == 303  # to the sign-in page
        assert client.get("/portal/records").headers["location"].startswith("/portal/signin?next=")
        client.cookies.set("careledger_session", "forged.jwt.value")
        assert client.get("/portal/accounting").status_code == 303
        huge = client.post(
            "/portal/signin",
            content=b"a=" + b"x" * 20_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert huge.status_code == 413
        assert client.post("/portal/signin", json={"message": "x"}).status_code == 415
        many = "&".join(f"f{i}=1" for i in range(100))
        too_many = client.post(
            "/portal/signin", content=many, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert too_many.status_code == 400
        missing = client.get("/portal/no-such-page")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        page = httpx.get(f"{clinic.url}/portal/signin")  # a new browser: its anchor cookie is set
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "same-origin"  # `no-referrer` makes a form's Origin "null"
        assert "HttpOnly" in page.headers["set-cookie"]
        assert "SameSite=strict" in page.headers["set-cookie"]


def _staff_session(clinic: Clinic, wallet: str) -> httpx.Client:
    client = httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url})
    message, signature = clinic.signed_in_message(wallet)
    form = {"csrf": _csrf(client.get("/portal/signin").text), "message": message, "signature": signature}
    assert client.post("/portal/signin", data=form).status_code == 303
    return client


def _claim_from(clinic: Clinic, source: str, record_id: str, code: str, wallet: LocalAccount) -> httpx.Response:
    """The claim form posted from the loopback address `source`, by a browser with no session."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url}, transport=transport) as client:
        message, signature = signed_in_message(clinic.url, wallet)
        form = {
            "csrf": _csrf(client.get(f"/portal/claim?patient={record_id}").text),
            "message": message,
            "signature": signature,
            "encryption_key": PrivateKey.derive(wallet.key).public_key.to_bytes().hex(),
            "patient": record_id,
            "code": code,
        }
        return client.post("/portal/claim", data=form)


def _code_page(page: httpx.Response) -> tuple[str, str]:
    assert page.status_code == 200, page.text
    found = re.search(r'id="patient-number">([^<]+)<.*id="claim-code"><code>([^<]+)<', page.text, re.S)
    assert found is not None, page.text
    return found.group(1), found.group(2)


def test_claim_codes_stand_a_strangers_hammering_and_the_desk_sees_and_replaces_a_burnt_one(clinic: Clinic) -> None:
    desk = _staff_session(clinic, "drbob")
    token = _csrf(desk.get("/portal/frontdesk").text)
    walk_in = {"csrf": token, "given": "Ada", "family": "Okafor", "birth_date": "1990-02-03"}
    record_id, code = _code_page(desk.post("/portal/frontdesk", data=walk_in))
    stranger, ada = Account.create(), Account.create()

    tries = [_claim_from(clinic, "127.0.0.2", record_id, "0000-0000-0000", stranger) for _ in range(4)]
    assert [t.status_code for t in tries] == [403, 403, 403, 429], [t.text for t in tries]
    assert "wrong claim code for this Patient" in tries[0].text
    unknown = _claim_from(clinic, "127.0.0.4", "no-such-patient", "0000-0000-0000", stranger)
    assert unknown.status_code == 403  # told as a wrong code is: whether a patient number exists is not said
    assert "wrong claim code for this Patient" in unknown.text
    assert "from your network address" in tries[3].text
    chart = desk.get(f"/portal/staff/patients/{record_id}").text
    assert "3 wrong tries so far" in chart

    for _ in range(MAX_FAILURES - 3):  # more wrong tries, slowly enough (one `careledger` process each)
        burning = _cli_claim(clinic, record_id)
    assert "wrong claim code for this Patient" in burning.stderr  # the burning try is told as any wrong one is
    chart = desk.get(f"/portal/staff/patients/{record_id}").text
    assert f"burnt by {MAX_FAILURES} wrong tries" in chart
    told = _claim_from(clinic, "127.0.0.3", record_id, code, ada)  # her right code, too late
    assert told.status_code == 403
    assert "no longer valid" in told.text
    assert "ask the front desk for a new one" in told.text

    token = _csrf(chart)
    _, fresh = _code_page(desk.post(f"/portal/frontdesk/patients/{record_id}/claim-code", data={"csrf": token}))
    assert fresh != code
    assert "0 wrong tries so far" in desk.get(f"/portal/staff/patients/{record_id}").text
    claimed = _claim_from(clinic, "127.0.0.3", record_id, fresh, ada)
    assert claimed.status_code == 303, claimed.text
    assert claimed.headers["location"] == "/portal/records?claimed=1"
    assert ada.address in desk.get(f"/portal/staff/patients/{record_id}").text
    desk.close()


def _cli_claim(clinic: Clinic, record_id: str) -> subprocess.CompletedProcess[str]:
    """A wrong claim code at the node's CLI (exit 5: refused)."""
    command = ["identity", "claim", f"Patient/{record_id}", "--code", "0000-0000-0000", "--wallet", "carol"]
    done = subprocess.run(
        [sys.executable, "-m", "careledger", "--home", str(clinic.home), *command],
        env={**os.environ, "CARELEDGER_PASSPHRASE": PASSPHRASE},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 5, done.stderr
    return done
