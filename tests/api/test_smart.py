"""SMART on FHIR with clients nobody here wrote: authlib's OAuth2Session for an app's standalone launch (PKCE)
and for a backend system (private_key_jwt), and a Bulk Data export by that system.

One world and one server for the module. The patient's wallet is an eth-account key
outside the project's own code paths: the test plays the browser, reading the sign-in
page's form and posting back a SIWE message that key signed.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fhir.resources.R4B import get_fhir_model_class
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from siwe import SiweMessage

from careledger.consent import Purpose
from careledger.errors import ValidationError
from careledger.identity import Scope
from careledger.records import Category
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.outside_wallet import signed_in_message

REDIRECT = "http://127.0.0.1:9/callback"  # the app's; never fetched: the test reads the redirect itself


@pytest.fixture(scope="module")
def smart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("smart")) / "home") as world, serving(world) as api:
        yield api


class _Form(HTMLParser):
    """The hidden fields of the sign-in page's form, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields[str(found["name"])] = str(found.get("value") or "")


def _siwe(api: Api, account: LocalAccount) -> tuple[str, str]:
    return signed_in_message(api.url, account)


def _app(api: Api, scope: str) -> tuple[OAuth2Session, str]:
    client = api.world.node.clients.register_app("Heart app", [REDIRECT], [])
    session = OAuth2Session(
        client.client_id,
        redirect_uri=REDIRECT,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    return session, client.client_id


def _launch(api: Api, session: OAuth2Session, account: LocalAccount) -> tuple[dict[str, object], str]:
    """Authorize as the wallet's owner; the token, and the code the app got."""
    verifier = generate_token(48)
    url, state = session.create_authorization_url(f"{api.url}/auth/authorize", code_verifier=verifier, aud=api.url)
    page = httpx.get(url)
    assert page.status_code == 200, page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "form-action 'self' http://127.0.0.1:9" in page.headers["content-security-policy"]  # the app, after
    form = _Form()
    form.feed(page.text)
    message, signature = _siwe(api, account)
    answer = httpx.post(f"{api.url}/auth/authorize", data={**form.fields, "message": message, "signature": signature})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    assert parse_qs(urlsplit(location).query)["state"] == [state]
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = session.fetch_token(f"{api.url}/auth/token", authorization_response=location, code_verifier=verifier)
    return dict(token), code


def test_discovery_needs_no_sign_in(smart: Api) -> None:
    found = httpx.get(f"{smart.url}/.well-known/smart-configuration")
    assert found.status_code == 200
    config = found.json()
    assert config["token_endpoint"] == f"{smart.url}/auth/token"
    assert {"launch-standalone", "client-public", "client-confidential-asymmetric", "permission-v2"} <= set(
        config["capabilities"]
    )
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert {"launch", "launch/patient", "launch/encounter", "openid", "fhirUser"} <= set(config["scopes_supported"])


def test_a_standalone_launch_with_pkce_and_the_patients_wallet(smart: Api) -> None:
    world = smart.world
    session, client_id = _app(smart, "launch/patient openid fhirUser patient/Observation.rs")
    token, code = _launch(smart, session, world.node.unlock(world.alice.name).account)
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    assert token["patient"] == patient.record_id
    assert token["scope"] == "launch/patient openid fhirUser patient/Observation.rs"
    keys = KeySet.import_key_set(httpx.get(f"{smart.url}/.well-known/jwks.json").json())
    identity = jwt.decode(str(token["id_token"]), keys).claims
    assert (identity["sub"], identity["aud"]) == (world.alice.address, client_id)
    assert identity["fhirUser"].endswith(f"/Patient/{patient.record_id}")

    fhir = httpx.Client(base_url=smart.url, headers={"Authorization": f"Bearer {token['access_token']}"})
    assert fhir.get(f"/Observation/{world.labs_id}").status_code == 200
    assert fhir.get("/Condition").status_code == 403  # not in the scopes she granted the app
    assert fhir.post("/Observation", json={"resourceType": "Observation"}).status_code == 403  # .rs: no create

    again = session.post(
        f"{smart.url}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id},
    )
    assert again.status_code == 400  # a code works once
    assert again.json()["error"] == "invalid_grant"


def test_a_headless_client_posts_the_request_back_with_its_signed_message(smart: Api) -> None:
    world = smart.world
    session, _ = _app(smart, "launch/patient patient/Observation.rs")
    verifier = generate_token(48)
    url, state = session.create_authorization_url(f"{smart.url}/auth/authorize", code_verifier=verifier, aud=smart.url)
    found = httpx.get(f"{smart.url}/auth/nonce").json()
    assert isinstance(found["chain_id"], int)  # EIP-4361's Chain ID is a number, as siwe's SiweMessage takes it
    account = world.node.unlock(world.alice.name).account
    message = SiweMessage(
        domain=found["domain"],
        address=account.address,
        statement="Any words the wallet shows, or none",
        uri=smart.url,
        version="1",
        chain_id=found["chain_id"],
        nonce=found["nonce"],
        issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    ).prepare_message()
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
    params = dict(parse_qsl(urlsplit(url).query))  # no page read: the request's own parameters, as documented
    answer = httpx.post(f"{smart.url}/auth/authorize", data={**params, "message": message, "signature": signature})
    assert answer.status_code == 302, answer.text
    assert parse_qs(urlsplit(answer.headers["location"]).query)["state"] == [state]
    token = session.fetch_token(
        f"{smart.url}/auth/token", authorization_response=answer.headers["location"], code_verifier=verifier
    )
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    assert token["patient"] == patient.record_id


def test_a_narrowed_scope_reads_only_what_its_query_names(smart: Api) -> None:
    world = smart.world
    session, _ = _app(smart, "launch/patient patient/Observation.rs?category=laboratory")
    token, _ = _launch(smart, session, world.node.unlock(world.alice.name).account)
    assert token["scope"] == "launch/patient patient/Observation.rs?category=laboratory"
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    vitals = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"text": "pulse"},
        "subject": {"reference": f"Patient/{patient.record_id}"},
    }
    pulse = smart.client(world.alice).post("/Observation", json=vitals).json()["id"]
    fhir = httpx.Client(base_url=smart.url, headers={"Authorization": f"Bearer {token['access_token']}"})
    assert fhir.get(f"/Observation/{world.labs_id}").status_code == 200
    refused = fhir.get(f"/Observation/{pulse}")
    assert refused.status_code == 404  # outside what the app may see: told as unknown
    assert world.node.audit.entries(agent=world.alice.address)[-1].access.allowed is False
    found = {e["resource"]["id"] for e in fhir.get("/Observation", params={"_count": "500"}).json()["entry"]}
    assert world.labs_id in found
    assert pulse not in found
    assert fhir.get(f"/Observation/{pulse}/_history").status_code == 404
    with pytest.raises(ValidationError, match="token parameters"):
        Scope.parse("patient/Observation.rs?value-quantity=5")


def test_launches_that_must_fail(smart: Api) -> None:
    world = smart.world
    session, client_id = _app(smart, "launch/patient patient/*.rs")
    url, _ = session.create_authorization_url(
        f"{smart.url}/auth/authorize", code_verifier=generate_token(48), aud=smart.url
    )
    no_pkce = re.sub(r"&code_challenge(_method)?=[^&]*", "", url)
    told_the_app = httpx.get(no_pkce).headers["location"]  # a known client's own redirect URI (RFC 6749, 4.1.2.1)
    assert parse_qs(urlsplit(told_the_app).query)["error"] == ["invalid_request"]
    elsewhere = url.replace("127.0.0.1%3A9", "evil.example")
    refused = httpx.get(elsewhere)
    assert refused.status_code == 400  # told here, not redirected to an unregistered URI
    assert "location" not in refused.headers

    page = _Form()
    page.feed(httpx.get(url).text)
    message, _ = _siwe(smart, world.node.unlock(world.alice.name).account)
    _, forged = _siwe(smart, world.node.unlock(world.mallory.name).account)
    answer = httpx.post(f"{smart.url}/auth/authorize", data={**page.fields, "message": message, "signature": forged})
    assert answer.status_code == 401

    token, _ = _launch(smart, session, world.node.unlock(world.alice.name).account)
    wrong = OAuth2Session(client_id, redirect_uri=REDIRECT, code_challenge_method="S256")
    url, _ = wrong.create_authorization_url(
        f"{smart.url}/auth/authorize", code_verifier=generate_token(48), aud=smart.url
    )
    form = _Form()
    form.feed(httpx.get(url).text)
    message, signature = _siwe(smart, world.node.unlock(world.alice.name).account)
    answer = httpx.post(f"{smart.url}/auth/authorize", data={**form.fields, "message": message, "signature": signature})
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    bad_verifier = httpx.post(
        f"{smart.url}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": generate_token(48),
        },
    )
    assert bad_verifier.json()["error"] == "invalid_grant"
    assert token["access_token"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("redirect_uri", 'http://127.0.0.1:9/"cb'),
        ("redirect_uri", "http://127.0.0.1:9\\cb"),
        ("redirect_uri", "http://127.0.0.1:9/\u00e9"),
        ("response_type", 'code"'),
        ("response_type", "\\"),
    ],
)
def test_an_authorize_request_with_characters_no_parameter_has_is_400_and_not_echoed(
    smart: Api, name: str, value: str
) -> None:
    session, _ = _app(smart, "launch/patient patient/*.rs")
    url, _ = session.create_authorization_url(
        f"{smart.url}/auth/authorize", code_verifier=generate_token(48), aud=smart.url
    )
    params = {**dict(parse_qsl(urlsplit(url).query)), name: value}
    for answer in (
        httpx.get(f"{smart.url}/auth/authorize", params=params),
        httpx.post(f"{smart.url}/auth/authorize", data=params),
    ):
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("text/html")  # malformed: told on a page, sent nowhere
        assert value not in answer.text
        assert "location" not in answer.headers
    token = httpx.post(f"{smart.url}/auth/token", data={"grant_type": "authorization_code", name: value})
    assert token.status_code == 400, token.text


def _system(api: Api, key: ECKey | RSAKey, scopes: list[str]) -> str:
    world = api.world
    jwks = KeySet([key]).as_dict(private=False)
    return world.node.clients.register_system("Lab sync", world.clinic.address, jwks, scopes).client_id


def _backend_token(api: Api, client_id: str, key: ECKey | RSAKey, alg: str, scope: str) -> dict[str, object]:
    token_url = f"{api.url}/auth/token"
    session = OAuth2Session(client_id, key, token_endpoint_auth_method="private_key_jwt")
    # SMART Backend Services: an assertion expires within five minutes (authlib's default is an hour).
    session.register_client_auth_method(PrivateKeyJWT(token_url, claims={"exp": int(time.time()) + 240}, alg=alg))
    return dict(session.fetch_token(token_url, grant_type="client_credentials", scope=scope))


def test_a_backend_system_signs_its_token_request_and_replays_fail(smart: Api) -> None:
    key = ECKey.generate_key("P-384")
    client_id = _system(smart, key, ["system/*.rs"])
    token = _backend_token(smart, client_id, key, "ES384", "system/Observation.rs system/Patient.rs")
    assert token["scope"] == "system/Observation.rs system/Patient.rs"
    rsa = RSAKey.generate_key(2048)
    rsa_client = _system(smart, rsa, ["system/Observation.rs"])
    assert _backend_token(smart, rsa_client, rsa, "RS384", "system/Observation.rs")["access_token"]

    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": f"{smart.url}/auth/token", "exp": now + 60, "jti": "once"}
    assertion = jwt.encode({"alg": "ES384"}, claims, key, algorithms=["ES384"])
    form = {
        "grant_type": "client_credentials",
        "scope": "system/Observation.rs",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    assert httpx.post(f"{smart.url}/auth/token", data=form).status_code == 200
    replayed = httpx.post(f"{smart.url}/auth/token", data=form)
    assert replayed.json()["error"] == "invalid_client"
    other = ECKey.generate_key("P-384")
    forged = jwt.encode({"alg": "ES384"}, {**claims, "jti": "forged"}, other, algorithms=["ES384"])
    assert httpx.post(f"{smart.url}/auth/token", data={**form, "client_assertion": forged}).status_code in (400, 401)
    weak = ECKey.generate_key("P-256")
    weak_id = _system(smart, weak, ["system/*.rs"])
    es256 = jwt.encode({"alg": "ES256"}, {**claims, "iss": weak_id, "sub": weak_id, "jti": "es256"}, weak)
    assert httpx.post(f"{smart.url}/auth/token", data={**form, "client_assertion": es256}).status_code in (400, 401)
    wider = _backend_token(smart, rsa_client, rsa, "RS384", "system/*.cruds")
    assert wider["scope"] == ""  # never more than registered


def test_a_client_assertion_is_for_the_token_url_alone(smart: Api) -> None:
    key = ECKey.generate_key("P-384")
    client_id = _system(smart, key, ["system/*.rs"])
    token_url = f"{smart.url}/auth/token"

    def post(audience: object, jti: str) -> httpx.Response:
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "exp": int(time.time()) + 60, "jti": jti}
        form = {
            "grant_type": "client_credentials",
            "scope": "system/Observation.rs",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode({"alg": "ES384"}, claims, key, algorithms=["ES384"]),
        }
        return httpx.post(token_url, data=form)

    for jti, audience in enumerate(
        ([token_url, "https://other.example/token"], ["https://other.example/token", token_url], [], "https://other")
    ):
        refused = post(audience, f"foreign-{jti}")
        assert refused.status_code in (400, 401), refused.text
        assert refused.json()["error"] == "invalid_client"
    assert post([token_url], "alone-in-a-list").status_code == 200
    assert post(token_url, "a-string").status_code == 200


def _wait(client: httpx.Client, status_url: str) -> dict[str, object]:
    for _ in range(600):
        status = client.get(status_url)
        if status.status_code == 200:
            return dict(status.json())
        assert status.status_code == 202, status.text
        assert "X-Progress" in status.headers
        time.sleep(0.1)
    raise AssertionError("the export did not finish")


def test_a_backend_bulk_export_holds_only_what_consent_and_scopes_allow(smart: Api) -> None:
    world = smart.world
    terms = world.node.consent.terms(
        world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=1
    )
    world.node.consent.grant(world.alice.name, terms)
    key = ECKey.generate_key("P-384")
    client_id = _system(smart, key, ["system/*.rs"])
    token = _backend_token(smart, client_id, key, "ES384", "system/Observation.rs system/Condition.rs")
    client = httpx.Client(base_url=smart.url, headers={"Authorization": f"Bearer {token['access_token']}"})

    refused = client.get("/$export", params={"_type": "Patient"}, headers={"Prefer": "respond-async"})
    assert refused.status_code == 403  # Patient is not in the token's scopes
    kick = client.get("/$export", params={"_type": "Observation,Condition"}, headers={"Prefer": "respond-async"})
    assert kick.status_code == 202, kick.text
    done = _wait(client, kick.headers["content-location"])
    lines = []
    for output in done["output"]:  # type: ignore[attr-defined]
        data = client.get(output["url"])
        assert data.headers["content-type"].startswith("application/fhir+ndjson")
        for line in data.text.splitlines():
            resource = json.loads(line)
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            lines.append(resource)
    assert lines
    assert {r["resourceType"] for r in lines} == {"Observation"}  # conditions are not labs: no consent
    assert world.labs_id in {r["id"] for r in lines}
    exported = [e for e in world.node.audit.entries() if e.access.interaction == "export"]
    assert exported
    assert client.delete(kick.headers["content-location"]).status_code == 202
    assert client.get(kick.headers["content-location"]).status_code == 404
    stranger = smart.client(world.mallory)
    assert stranger.get(kick.headers["content-location"]).status_code == 404


def _unsigned(claims: dict[str, object]) -> str:
    """A JWT with `alg: none` (no signature), as anyone can write one."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"{header.decode()}.{body.decode()}."


@pytest.mark.parametrize("path", ["/auth/token", "/auth/introspect", "/auth/revoke"])
def test_a_client_assertion_naming_an_app_or_no_jwt_at_all_is_invalid_client(smart: Api, path: str) -> None:
    _, app_id = _app(smart, "launch/patient patient/*.rs")  # a public app: it has no keys to sign with
    claims = {"iss": app_id, "sub": app_id, "aud": f"{smart.url}/auth/token", "exp": int(time.time()) + 60}
    signed = jwt.encode({"alg": "ES384"}, {**claims, "jti": "x"}, ECKey.generate_key("P-384"), algorithms=["ES384"])
    assertions = [
        signed,
        _unsigned({**claims, "jti": "y"}),
        _unsigned({**claims, "sub": 7}),
        _unsigned({"sub": "no-such-client"}),
        "garbage",
        "a.b.c",
        "e30.W10.",  # {} . []
        "e30.bm90IGpzb24.",  # {} . not json
    ]
    for assertion in assertions:
        form = {
            "grant_type": "client_credentials",
            "token": "anything",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
        refused = httpx.post(f"{smart.url}{path}", data=form)
        assert refused.status_code == 401, (assertion, refused.text)
        assert refused.json()["error"] == "invalid_client"
