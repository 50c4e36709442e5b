"""A SMART app launched from a chart in a real Chromium (SMART App Launch, EHR launch), against `careledger serve`.

The app is the test itself: its launch page, served to the browser through Playwright's routing,
starts authlib's authorization request (PKCE) with the `iss` and `launch` the portal
gave it; the test reads the code off the redirect to the app and fetches the token as
the app's back end would and reads the chart's patient with it. Without a browser: what the
chart's launch refuses.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from playwright.sync_api import Browser, Route, expect

from tests.portal.browser import check_page, wallet_context
from tests.portal.conftest import Clinic
from tests.portal.test_guards import _csrf
from tests.portal.test_journeys import _api_token, _sign_in_with_browser_wallet

pytestmark = pytest.mark.anvil

APP = "https://chart-app.example"


def _chart_with_an_open_encounter(clinic: Clinic) -> tuple[str, str]:
    """A patient the front desk registered and her encounter in progress, made by drbob through the API."""
    fhir = httpx.Client(base_url=clinic.url, headers={"Authorization": f"Bearer {_api_token(clinic, 'drbob')}"})
    person = {"resourceType": "Patient", "name": [{"given": ["Dana"], "family": "Launch"}], "birthDate": "1975-01-02"}
    patient = fhir.post("/Patient", json=person)
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    visit = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": "2026-12-06T09:00:00Z"},
    }
    encounter = fhir.post("/Encounter", json=visit)
    assert encounter.status_code == 201, encounter.text
    return patient_id, encounter.json()["id"]


def test_a_staff_member_opens_an_app_from_a_chart_and_it_reads_that_patient(clinic: Clinic, browser: Browser) -> None:
    registered = clinic.cli(
        "client", "register", "Chart app", "--redirect-uri", f"{APP}/callback", "--launch-uri", f"{APP}/launch"
    )
    app = OAuth2Session(
        registered["client_id"],
        redirect_uri=f"{APP}/callback",
        scope="launch openid fhirUser user/Patient.rs user/Encounter.rs",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(48)
    seen: dict[str, str] = {}

    def launch_page(route: Route) -> None:
        """The app's launch page: on to the node's authorization, with the `iss` and `launch` it was given."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(route.request.url).query).items()}
        seen["iss"] = query["iss"]
        to, seen["state"] = app.create_authorization_url(
            f"{query['iss']}/auth/authorize", code_verifier=verifier, launch=query["launch"], aud=query["iss"]
        )
        route.fulfill(status=302, headers={"Location": to})

    patient_id, encounter_id = _chart_with_an_open_encounter(clinic)
    context = wallet_context(browser, clinic.account("drbob"))
    context.route(f"{APP}/launch?**", launch_page)
    staff = context.new_page()
    _sign_in_with_browser_wallet(staff, clinic)
    staff.goto(f"{clinic.url}/portal/staff/patients/{patient_id}")
    expect(staff.get_by_label("Encounter")).to_have_value(encounter_id)  # the open one, chosen
    staff.get_by_label("App").select_option(label="Chart app")
    staff.get_by_role("button", name="Open the app").click()

    staff.wait_for_url(re.compile(r"/auth/authorize\?"))
    expect(staff.get_by_role("heading", name=re.compile("Chart app"))).to_be_visible()
    check_page(staff, "authorize")
    with staff.expect_request(lambda request: request.url.startswith(f"{APP}/callback?")) as callback:
        staff.get_by_role("button", name="Sign in with the browser's wallet").click()  # the redirect, read here
    assert seen["iss"] == clinic.url

    token = app.fetch_token(
        f"{clinic.url}/auth/token", authorization_response=callback.value.url, code_verifier=verifier
    )
    assert parse_qs(urlsplit(callback.value.url).query)["state"] == [seen["state"]]
    assert (token["patient"], token["encounter"], token["need_patient_banner"]) == (patient_id, encounter_id, True)
    fhir = httpx.Client(base_url=clinic.url, headers={"Authorization": f"Bearer {token['access_token']}"})
    read = fhir.get(f"/Patient/{patient_id}")
    assert read.status_code == 200, read.text
    assert read.json()["name"][0]["family"] == "Launch"
    assert fhir.get("/Observation").status_code == 403  # only the scopes the app asked for


def _portal(clinic: Clinic, wallet: str) -> httpx.Client:
    """An HTTP client signed in to the portal as `wallet`, posting with the origin of the portal's pages."""
    client = httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url})
    message, signature = clinic.signed_in_message(wallet)
    form = {"csrf": _csrf(client.get("/portal/signin").text), "message": message, "signature": signature}
    assert client.post("/portal/signin", data=form).status_code == 303
    return client


def test_a_chart_launches_a_registered_app_with_its_own_encounter_for_staff_only(clinic: Clinic) -> None:
    launchable = clinic.cli(
        "client", "register", "Notes app", "--redirect-uri", f"{APP}/cb", "--launch-uri", f"{APP}/l?v=2"
    )
    plain = clinic.cli("client", "register", "Plain app", "--redirect-uri", f"{APP}/cb")
    named = APP.replace("https://", "https://nurse@")  # a launch URI naming a user: its origin does not
    clinic.cli("client", "register", "Named app", "--redirect-uri", f"{APP}/cb", "--launch-uri", f"{named}/l")
    patient_id, encounter_id = _chart_with_an_open_encounter(clinic)
    _, others_encounter = _chart_with_an_open_encounter(clinic)
    staff = _portal(clinic, "drbob")
    chart = staff.get(f"/portal/staff/patients/{patient_id}")
    assert f"form-action 'self' {APP};" in chart.headers["content-security-policy"]  # on to the apps, no further
    assert "Notes app" in chart.text
    assert "Plain app" not in chart.text  # no launch URI: nothing to open from a chart
    form = {"csrf": _csrf(chart.text), "app": launchable["client_id"], "encounter": encounter_id}

    launched = staff.post(f"/portal/staff/patients/{patient_id}/launch", data=form)
    assert launched.status_code == 303, launched.text
    to = urlsplit(launched.headers["location"])
    query = parse_qs(to.query)
    assert (f"{to.scheme}://{to.netloc}{to.path}", query["v"], query["iss"]) == (f"{APP}/l", ["2"], [clinic.url])
    assert len(query["launch"][0]) >= 32  # opaque and random

    refused = {
        "another patient's encounter": {**form, "encounter": others_encounter},
        "an app with no launch URI": {**form, "app": plain["client_id"]},
        "no app": {**form, "app": "no-such-app"},
    }
    for why, data in refused.items():
        answer = staff.post(f"/portal/staff/patients/{patient_id}/launch", data=data)
        assert answer.status_code in (400, 404), why
        assert "location" not in answer.headers, why
    no_chart = staff.post(f"/portal/staff/patients/{encounter_id}/launch", data={**form, "encounter": ""})
    assert no_chart.status_code == 404  # an Encounter is no patient: told as an unknown id
    assert "location" not in no_chart.headers
    assert f"no record {encounter_id}" in no_chart.text
    not_a_chart = staff.get(f"/portal/staff/patients/{encounter_id}")
    assert not_a_chart.status_code == 404  # nor is it a chart to open
    assert f"no record {encounter_id}" in not_a_chart.text
    carol = _portal(clinic, "carol")  # a patient, not the care team
    csrf = _csrf(carol.get("/portal/records").text)
    assert carol.post(f"/portal/staff/patients/{patient_id}/launch", data={**form, "csrf": csrf}).status_code == 403
