"""The token side of SMART App Launch 2 with clients nobody here wrote: fhirclient's refresh, authlib's
httpx client for Backend Services, and plain HTTP for refresh, introspection, revocation, `aud` and CORS.

One world and one server for the module. The test plays the browser at the authorization
page, as tests/api/test_smart.py does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from eth_account.signers.local import LocalAccount
from fhirclient import client as smart_client
from joserfc.jwk import ECKey, KeySet

from careledger.identity import Wallet
from careledger.store import RefreshToken
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.api.test_smart import REDIRECT, _Form
from tests.outside_wallet import signed_in_message

ORIGIN = "http://127.0.0.1:9"  # the registered app's origin (its redirect URI's)


@pytest.fixture(scope="module")
def smart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("tokens")) / "home") as world, serving(world) as api:
        yield api


def _account(api: Api, wallet: Wallet) -> LocalAccount:
    return api.world.node.unlock(wallet.name).account


def _signed_in(api: Api, authorize_url: str, account: LocalAccount) -> str:
    """Where the browser goes after she signs in at the authorization page (the app's redirect URI)."""
    page = httpx.get(authorize_url)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    message, signature = signed_in_message(api.url, account)
    answer = httpx.post(f"{api.url}/auth/authorize", data={**form.fields, "message": message, "signature": signature})
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def _app_token(api: Api, wallet: Wallet, scope: str) -> tuple[str, dict[str, str]]:
    """A new app's client id and the token response it got for `wallet`'s user (authlib's session, PKCE)."""
    client_id = api.world.node.clients.register_app("Diary", [REDIRECT], []).client_id
    session = OAuth2Session(client_id, redirect_uri=REDIRECT, scope=scope, code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = session.create_authorization_url(f"{api.url}/auth/authorize", code_verifier=verifier, aud=api.url)
    location = _signed_in(api, url, _account(api, wallet))
    token = session.fetch_token(f"{api.url}/auth/token", authorization_response=location, code_verifier=verifier)
    return client_id, dict(token)


def _refresh(api: Api, client_id: str, refresh_token: str, **more: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **more}
    return httpx.post(f"{api.url}/auth/token", data=form)


def _reads(api: Api, access_token: str) -> int:
    """The status of a read with `access_token`."""
    headers = {"Authorization": f"Bearer {access_token}"}
    return httpx.get(f"{api.url}/Observation/{api.world.labs_id}", headers=headers).status_code


def test_fhirclient_refreshes_twice_and_a_replayed_refresh_token_ends_the_family(smart: Api) -> None:
    client_id = smart.world.node.clients.register_app("Heart app", [REDIRECT], []).client_id
    settings = {
        "app_id": client_id,
        "api_base": smart.url,
        "redirect_uri": REDIRECT,
        "scope": "offline_access patient/Observation.rs",
    }
    fhir = smart_client.FHIRClient(settings=settings)
    fhir.handle_callback(_signed_in(smart, fhir.authorize_url, _account(smart, smart.world.alice)))
    auth = fhir.server.auth
    first, access = auth.refresh_token, auth.access_token
    (patient,) = smart.world.node._records.list(patient_address=smart.world.alice.address, resource_type="Patient")
    assert first
    assert fhir.patient_id == patient.record_id
    assert _reads(smart, access) == 200

    assert fhir.reauthorize()  # fhirclient's own refresh
    second = auth.refresh_token
    assert fhir.reauthorize()  # with the rotated token
    third = auth.refresh_token
    assert len({first, second, third}) == 3
    assert _reads(smart, auth.access_token) == 200

    replayed = _refresh(smart, client_id, first)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    # One of the two holders of the first token is a thief: the family is over, its access tokens too.
    assert _refresh(smart, client_id, third).json()["error"] == "invalid_grant"
    assert _reads(smart, auth.access_token) == 401


def test_revoking_a_refresh_token_ends_it_and_the_access_tokens_issued_with_it(smart: Api) -> None:
    client_id, token = _app_token(smart, smart.world.alice, "launch/patient online_access patient/Observation.rs")
    assert token["refresh_token"]
    assert _reads(smart, token["access_token"]) == 200
    stranger = smart.world.node.clients.register_app("Other", [REDIRECT], []).client_id
    refused = httpx.post(f"{smart.url}/auth/revoke", data={"token": token["refresh_token"], "client_id": stranger})
    assert refused.status_code == 400  # not its token to revoke
    assert _reads(smart, token["access_token"]) == 200

    revoked = httpx.post(
        f"{smart.url}/auth/revoke",
        data={"token": token["refresh_token"], "token_type_hint": "refresh_token", "client_id": client_id},
    )
    assert revoked.status_code == 200, revoked.text
    assert _refresh(smart, client_id, token["refresh_token"]).json()["error"] == "invalid_grant"
    assert _reads(smart, token["access_token"]) == 401
    again = httpx.post(f"{smart.url}/auth/revoke", data={"token": token["refresh_token"], "client_id": client_id})
    assert again.status_code == 200  # RFC 7009: an unknown token is no error


def test_revoking_an_access_token_leaves_its_refresh_token(smart: Api) -> None:
    client_id, token = _app_token(smart, smart.world.alice, "launch/patient offline_access patient/Observation.rs")
    revoked = httpx.post(f"{smart.url}/auth/revoke", data={"token": token["access_token"], "client_id": client_id})
    assert revoked.status_code == 200, revoked.text
    assert _reads(smart, token["access_token"]) == 401
    fresh = _refresh(smart, client_id, token["refresh_token"])
    assert fresh.status_code == 200, fresh.text
    assert _reads(smart, fresh.json()["access_token"]) == 200


def test_a_refresh_token_is_its_clients_and_only_narrows(smart: Api) -> None:
    client_id, token = _app_token(smart, smart.world.alice, "launch/patient offline_access patient/Observation.rs")
    other = smart.world.node.clients.register_app("Other", [REDIRECT], []).client_id
    stolen = _refresh(smart, other, token["refresh_token"])
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    wider = _refresh(smart, client_id, token["refresh_token"], scope="offline_access patient/*.rs")
    assert wider.json()["error"] == "invalid_scope"
    narrower = _refresh(smart, client_id, token["refresh_token"], scope="patient/Observation.rs")
    assert narrower.status_code == 200, narrower.text
    assert narrower.json()["scope"] == "patient/Observation.rs"
    assert "refresh_token" not in narrower.json()  # it gave up offline_access: the authorization ends here
    assert _refresh(smart, client_id, token["refresh_token"]).json()["error"] == "invalid_grant"


def test_no_refresh_token_unless_asked_and_none_for_a_user_who_may_no_longer_sign_in(smart: Api) -> None:
    _, plain = _app_token(smart, smart.world.alice, "launch/patient patient/Observation.rs")
    assert "refresh_token" not in plain
    world = smart.world
    client_id, token = _app_token(smart, world.mallory, "offline_access user/Observation.rs")
    assert token["refresh_token"]
    world.node.contracts.identity_registry(as_wallet="node").deactivate(world.mallory.address)
    refused = _refresh(smart, client_id, token["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_removing_a_client_ends_its_authorizations(smart: Api) -> None:
    client_id, token = _app_token(smart, smart.world.alice, "launch/patient offline_access patient/Observation.rs")
    smart.world.node.clients.remove(client_id)
    assert _refresh(smart, client_id, token["refresh_token"]).json()["error"] == "invalid_client"
    assert _reads(smart, token["access_token"]) == 401


def test_refresh_tokens_are_kept_hashed_in_the_database(smart: Api) -> None:
    client_id, token = _app_token(smart, smart.world.alice, "launch/patient offline_access patient/Observation.rs")
    with smart.world.node.db.session() as session:
        rows = session.query(RefreshToken).filter(RefreshToken.client_id == client_id).all()
    assert len(rows) == 1
    assert token["refresh_token"] not in {rows[0].token_hash, rows[0].family}
    assert rows[0].expires_at - rows[0].issued_at == 90 * 86400


def _system(api: Api, *, resource_server: bool = False) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-384")
    jwks = KeySet([key]).as_dict(private=False)
    clients = api.world.node.clients
    registered = clients.register_system(
        "Lab sync", api.world.clinic.address, jwks, ["system/*.rs"], resource_server=resource_server
    )
    return registered.client_id, key


def _signing(client: OAuth2Client, token_url: str) -> OAuth2Client:
    """`client` with a fresh assertion signer (SMART's five minutes; authlib writes the `jti` it draws into the
    claims it was given, so one signer signs one request)."""
    client.register_client_auth_method(PrivateKeyJWT(token_url, claims={"exp": int(time.time()) + 240}, alg="ES384"))
    return client


def _backend(api: Api, *, resource_server: bool = False) -> OAuth2Client:
    """authlib's httpx client as a Backend Services client (private_key_jwt, ES384) with a token."""
    client_id, key = _system(api, resource_server=resource_server)
    token_url = f"{api.url}/auth/token"
    client = OAuth2Client(
        client_id,
        key,
        token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",  # introspection too, in authlib
        timeout=30,
    )
    _signing(client, token_url).fetch_token(token_url, grant_type="client_credentials", scope="system/Observation.rs")
    return client


def test_introspection_tells_active_and_inactive_to_those_who_may_ask(smart: Api) -> None:
    backend = _backend(smart)
    introspect, token_url = f"{smart.url}/auth/introspect", f"{smart.url}/auth/token"
    mine = _signing(backend, token_url).introspect_token(introspect, token=backend.token["access_token"])
    assert mine.status_code == 200, mine.text
    assert mine.json()["active"] is True
    assert mine.json()["scope"] == "system/Observation.rs"
    assert mine.json()["client_id"] == backend.client_id

    client_id, app = _app_token(smart, smart.world.alice, "launch/patient offline_access patient/Observation.rs")
    for token, hint in ((app["refresh_token"], "refresh_token"), (app["access_token"], "access_token")):
        theirs = _signing(backend, token_url).introspect_token(introspect, token=token, token_type_hint=hint)
        assert theirs.json() == {"active": False}  # another client's: a mere system learns nothing of it
        resource_server = _backend(smart, resource_server=True)
        told = _signing(resource_server, token_url).introspect_token(introspect, token=token, token_type_hint=hint)
        assert told.json()["active"] is True  # a resource server may ask about any token
        assert told.json()["sub"] == smart.world.alice.address
    own = httpx.post(introspect, data={"token": app["access_token"], "client_id": client_id}).json()
    assert own["active"] is True
    assert own["sub"] == smart.world.alice.address
    other = smart.world.node.clients.register_app("Other", [REDIRECT], []).client_id
    assert httpx.post(introspect, data={"token": app["access_token"], "client_id": other}).json() == {"active": False}
    assert httpx.post(introspect, data={"token": app["access_token"]}).json()["error"] == "invalid_client"  # no client

    revoked = _signing(backend, token_url).revoke_token(f"{smart.url}/auth/revoke", token=backend.token["access_token"])
    assert revoked.status_code == 200, revoked.text
    assert _signing(backend, token_url).introspect_token(introspect, token=backend.token["access_token"]).json() == {
        "active": False
    }
    assert backend.get(f"{smart.url}/Observation/{smart.world.labs_id}").status_code == 401
    forged = backend.token["access_token"][:-4] + "AAAA"
    assert _signing(backend, token_url).introspect_token(introspect, token=forged).json() == {"active": False}
    used = _refresh(smart, client_id, app["refresh_token"])
    assert used.status_code == 200
    assert httpx.post(introspect, data={"token": app["refresh_token"], "client_id": client_id}).json() == {
        "active": False
    }  # rotated


def test_discovery_lists_the_token_endpoints_and_capabilities(smart: Api) -> None:
    config = httpx.get(f"{smart.url}/.well-known/smart-configuration").json()
    assert config["introspection_endpoint"] == f"{smart.url}/auth/introspect"
    assert config["revocation_endpoint"] == f"{smart.url}/auth/revoke"
    assert "refresh_token" in config["grant_types_supported"]
    assert {"permission-offline", "permission-online"} <= set(config["capabilities"])


def _authorize_url(api: Api, **aud: str) -> tuple[str, str]:
    client_id = api.world.node.clients.register_app("Diary", [REDIRECT], []).client_id
    session = OAuth2Session(
        client_id, redirect_uri=REDIRECT, scope="launch/patient patient/*.rs", code_challenge_method="S256"
    )
    return session.create_authorization_url(f"{api.url}/auth/authorize", code_verifier=generate_token(48), **aud)


@pytest.mark.parametrize("aud", ["https://other.example/fhir", "{url}/fhir", "{url}:1", "not a url", ""])
def test_an_authorization_request_for_another_server_goes_back_as_invalid_request(smart: Api, aud: str) -> None:
    url, state = _authorize_url(smart, **({"aud": aud.format(url=smart.url)} if aud else {}))
    refused = httpx.get(url)
    assert refused.status_code == 302, refused.text
    answer = parse_qs(urlsplit(refused.headers["location"]).query)
    assert refused.headers["location"].startswith(REDIRECT)
    assert answer["error"] == ["invalid_request"]
    assert answer["state"] == [state]
    assert "aud" in answer["error_description"][0]


def test_aud_is_compared_as_a_url(smart: Api) -> None:
    parts = urlsplit(smart.url)
    for aud in (smart.url + "/", f"HTTP://{parts.hostname.upper()}:{parts.port}"):  # type: ignore[union-attr]
        url, _ = _authorize_url(smart, aud=aud)
        assert httpx.get(url).status_code == 200, aud


def test_introspection_tells_a_standalone_tokens_patient_and_user(smart: Api) -> None:
    world = smart.world
    client_id, token = _app_token(smart, world.alice, "launch/patient openid fhirUser patient/Observation.rs")
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    told = httpx.post(f"{smart.url}/auth/introspect", data={"token": token["access_token"], "client_id": client_id})
    assert told.status_code == 200, told.text
    found = told.json()
    assert found["patient"] == token["patient"] == patient.record_id
    assert found["fhirUser"] == f"{smart.url}/Patient/{patient.record_id}"
    assert (found["iss"], found["sub"]) == (smart.url, world.alice.address)  # the ID token's
    assert "encounter" not in found
    plain_id, plain = _app_token(smart, world.alice, "patient/Observation.rs")
    bare = httpx.post(f"{smart.url}/auth/introspect", data={"token": plain["access_token"], "client_id": plain_id})
    assert bare.json()["active"] is True
    assert not {"patient", "encounter", "fhirUser"} & set(bare.json())  # no context asked, none carried
    assert bare.json()["iss"] != smart.url  # no openid: the access token's own issuer
