"""SMART App Launch, the launch side: an EHR launch's id (bound, single use, short-lived) and the context its
token carries, and where an authorization request's errors go (RFC 6749, 4.1.2.1): to the app, or on a page.

The launch ids are the ones the portal mints when a staff member opens an app from a chart
(`node.clients.launches`, the browser test drives the portal itself); the app is authlib's
OAuth2Session and the staff member's wallet an eth-account key outside the project's code.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from eth_account import Account

from careledger.errors import CareLedgerError
from careledger.identity import LAUNCH_SECONDS, Wallet
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.api.test_smart import _Form
from tests.outside_wallet import signed_in_message

REDIRECT = "http://127.0.0.1:9/callback"  # never fetched: the test reads the redirect itself
LAUNCH_SCOPE = "launch openid fhirUser user/Patient.rs user/Observation.rs"


@pytest.fixture(scope="module")
def smart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("launch")) / "home") as world, serving(world) as api:
        yield api


def _app(api: Api, scope: str = LAUNCH_SCOPE) -> OAuth2Session:
    client = api.world.node.clients.register_app("Chart app", [REDIRECT], [], launch_uri="http://127.0.0.1:9/launch")
    return OAuth2Session(
        client.client_id,
        redirect_uri=REDIRECT,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )


def _authorize_url(api: Api, app: OAuth2Session, verifier: str, **extra: str) -> str:
    url, _ = app.create_authorization_url(f"{api.url}/auth/authorize", code_verifier=verifier, aud=api.url, **extra)
    return str(url)


def _sign(api: Api, url: str, wallet: Wallet) -> httpx.Response:
    """The authorization page at `url`, signed by `wallet` as its owner's browser would post it."""
    page = httpx.get(url)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    message, signature = signed_in_message(api.url, api.world.node.unlock(wallet.name).account)
    return httpx.post(f"{api.url}/auth/authorize", data={**form.fields, "message": message, "signature": signature})


def _error(response: httpx.Response) -> dict[str, str]:
    """The OAuth error a refusal redirected to the app with (error, error_description, state)."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _patient_of(api: Api, wallet: Wallet) -> str:
    (patient,) = api.world.node._records.list(patient_address=wallet.address, resource_type="Patient")
    return patient.record_id


def test_an_ehr_launch_gives_the_charts_patient_and_encounter(smart: Api) -> None:
    world = smart.world
    app = _app(smart)
    patient = _patient_of(smart, world.alice)
    launch = world.node.clients.launches.mint(app.client_id, world.drbob.address, patient, "enc-1")
    verifier = generate_token(48)
    url = _authorize_url(smart, app, verifier, launch=launch)
    answer = _sign(smart, url, world.drbob)
    assert answer.status_code == 302, answer.text
    token = app.fetch_token(
        f"{smart.url}/auth/token", authorization_response=answer.headers["location"], code_verifier=verifier
    )
    assert (token["patient"], token["encounter"], token["need_patient_banner"]) == (patient, "enc-1", True)
    assert token["scope"].split()[:3] == ["launch", "openid", "fhirUser"]

    again = _error(httpx.get(_authorize_url(smart, app, generate_token(48), launch=launch, state="s2")))
    assert (again["error"], again["state"]) == ("invalid_request", "s2")  # a launch id works once
    assert "unknown, used or expired" in again["error_description"]


def test_a_launch_id_is_its_apps_its_launchers_and_short_lived(smart: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    world = smart.world
    launches = world.node.clients.launches
    app, other = _app(smart), _app(smart)
    patient = _patient_of(smart, world.alice)

    theirs = launches.mint(app.client_id, world.drbob.address, patient)
    refused = _error(httpx.get(_authorize_url(smart, other, generate_token(48), launch=theirs, state="x")))
    assert (refused["error"], refused["state"]) == ("invalid_request", "x")  # another app's launch
    unknown = _error(httpx.get(_authorize_url(smart, app, generate_token(48), launch="no-such-launch", state="y")))
    assert (unknown["error"], unknown["error_description"]) == (refused["error"], refused["error_description"])
    missing = _error(httpx.get(_authorize_url(smart, app, generate_token(48), state="z")))
    assert missing["error"] == "invalid_request"  # scope launch and no launch id

    signed_by_another = _error(
        _sign(smart, _authorize_url(smart, app, generate_token(48), launch=theirs), world.mallory)
    )
    assert "someone else" in signed_by_another["error_description"]  # only who launched it may use it
    assert (
        _error(httpx.get(_authorize_url(smart, app, generate_token(48), launch=theirs)))["error"] == "invalid_request"
    )

    late = launches.mint(app.client_id, world.drbob.address, patient)
    later = time.time() + LAUNCH_SECONDS + 1
    monkeypatch.setattr(launches, "_clock", lambda: later)  # the node's clock, minutes on
    expired = _error(httpx.get(_authorize_url(smart, app, generate_token(48), launch=late, state="late")))
    assert (expired["error"], expired["state"]) == ("invalid_request", "late")


def test_authorize_errors_go_to_the_app_unless_its_client_or_redirect_is_unknown(smart: Api) -> None:
    app = _app(smart, "launch/patient patient/*.rs")
    url = _authorize_url(smart, app, generate_token(48), state="st")
    for wrong in (url.replace(app.client_id, "no-such-client"), url.replace("127.0.0.1%3A9", "evil.example")):
        page = httpx.get(wrong)
        assert page.status_code == 400
        assert "location" not in page.headers  # never sent to a URI nobody registered
        assert page.headers["content-type"].startswith("text/html")
        assert '<link rel="stylesheet" href="/portal/assets/portal.css">' in page.text  # the portal's look
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    no_pkce = _error(httpx.get(url.replace("code_challenge_method=S256", "code_challenge_method=plain")))
    assert (no_pkce["error"], no_pkce["state"]) == ("invalid_request", "st")
    assert no_pkce["error_description"].startswith("PKCE is required")
    bad_scope = _error(httpx.get(url.replace("launch%2Fpatient", "launch%2Fnothing")))
    assert (bad_scope["error"], bad_scope["state"]) == ("invalid_scope", "st")
    token_type = _error(httpx.get(url.replace("response_type=code", "response_type=token")))
    assert token_type["error"] == "unsupported_response_type"


def test_a_refresh_gives_the_launchs_context_again_and_introspection_tells_it(smart: Api) -> None:
    world = smart.world
    app = _app(smart, f"{LAUNCH_SCOPE} online_access")
    patient = _patient_of(smart, world.alice)
    launch = world.node.clients.launches.mint(app.client_id, world.drbob.address, patient, "enc-2")
    verifier = generate_token(48)
    answer = _sign(smart, _authorize_url(smart, app, verifier, launch=launch), world.drbob)
    token = app.fetch_token(
        f"{smart.url}/auth/token", authorization_response=answer.headers["location"], code_verifier=verifier
    )
    form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": app.client_id}
    refreshed = httpx.post(f"{smart.url}/auth/token", data=form)
    assert refreshed.status_code == 200, refreshed.text
    again = refreshed.json()
    assert (again["patient"], again["encounter"], again["need_patient_banner"]) == (patient, "enc-2", True)

    told = httpx.post(
        f"{smart.url}/auth/introspect", data={"token": again["access_token"], "client_id": app.client_id}
    ).json()
    assert told["active"] is True
    assert (told["patient"], told["encounter"]) == (patient, "enc-2")  # SMART 2's launch context
    assert (told["iss"], told["sub"]) == (smart.url, world.drbob.address)  # the ID token's, as openid was granted


def test_a_sign_in_past_its_rate_limit_is_told_on_a_page_with_retry_after(
    smart: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The node's own limiter, one sign-in a minute per wallet, so that the test does not race its refill.
    once_a_minute = smart.world.node.shared.buckets.limit("sign-in-test", 1, burst=1)
    monkeypatch.setattr(smart.server.auth, "_logins", once_a_minute)
    app = _app(smart, "launch/patient patient/*.rs")
    page = httpx.get(_authorize_url(smart, app, generate_token(48), state="busy"))
    form = _Form()
    form.feed(page.text)
    hurried = Account.create()
    with contextlib.suppress(CareLedgerError):  # her sign-in of a moment ago, whatever became of it
        smart.server.auth.signed_in(hurried.address)
    message, signature = signed_in_message(smart.url, hurried)
    answer = httpx.post(f"{smart.url}/auth/authorize", data={**form.fields, "message": message, "signature": signature})
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"].startswith("text/html")  # the page she is on, not JSON
    assert int(answer.headers["retry-after"]) >= 1
    assert "try again" in answer.text
    assert "location" not in answer.headers


def test_the_authorization_page_has_the_portals_headers_and_the_apps_origin_alone(smart: Api) -> None:
    callback = "http://someone@127.0.0.1:9/callback"  # a redirect URI may name a user; an origin never does
    client = smart.world.node.clients.register_app("Odd app", [callback], [])
    app = OAuth2Session(client.client_id, redirect_uri=callback, scope="launch/patient", code_challenge_method="S256")
    page = httpx.get(_authorize_url(smart, app, generate_token(48)))
    assert page.status_code == 200, page.text
    policy = page.headers["content-security-policy"]
    assert "form-action 'self' http://127.0.0.1:9;" in policy
    assert "someone" not in policy
    assert "default-src 'none'" in policy
    assert (page.headers["referrer-policy"], page.headers["x-content-type-options"]) == ("same-origin", "nosniff")
