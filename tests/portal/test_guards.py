"""The portal's doors: forms without their token or from another site, one patient at another's pages, hostile
bodies.

Carol, a patient with her own wallet, signs in in a real Chromium and tries Alice's URLs;
an HTTP client with no page plays the forger of cross-site posts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from careledger.testdata import synthetic_patients
from tests.portal.browser import check_page, wallet_context
from tests.portal.conftest import Clinic

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
    for url in (
        f"/portal/records/{alice.lab_id}",
        f"/portal/records/{alice.patient_id}",
        f"/portal/staff/patients/{alice.patient_id}",
        "/portal/staff?q=" + alice.family,
    ):
        response = page.goto(f"{clinic.url}{url}")
        assert response is not None, url
        assert response.status == 403, url
        text = page.content()
        assert not re.search(rf"\b{alice.family}\b", text), url
        assert str(LAB_VALUE) not in text, url
    check_page(page, "refused")
    for url in ("/portal/records", "/portal/trends", "/portal/accounting", "/portal/consents"):
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
