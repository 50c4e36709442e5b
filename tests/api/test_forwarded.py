"""Forwarded headers: believed only from the proxies an operator names, so nobody picks a fresh rate limit; behind
a TLS proxy, the SMART issuer is the https one the proxy forwards, in discovery and in every ID token alike."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from eth_account.signers.local import LocalAccount
from joserfc import jwt
from joserfc.jwk import KeySet

from careledger.api import NodeServer
from careledger.config import NODE_WALLET, Settings
from careledger.identity import Role
from careledger.testdata import PASSPHRASE, scratch_node
from tests.outside_wallet import signed_in_message


@contextmanager
def served_behind(home: Path, proxies: list[str]) -> Iterator[str]:
    """A node whose open routes take one request at once, then one a minute, behind a real server."""
    settings = Settings(chain="memory", light_kdf=True, open_requests_per_minute=1, forwarded_allow_ips=proxies)
    with scratch_node(home, settings) as node:
        server = NodeServer(node, port=0)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def _nonces(url: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client() as client:
        return [client.get(f"{url}/auth/nonce", headers={"X-Forwarded-For": ip}).status_code for ip in forwarded_for]


def test_a_forwarded_address_from_anyone_buys_no_fresh_limit(tmp_path: Path) -> None:
    with served_behind(tmp_path / "home", proxies=[]) as url:
        answers = _nonces(url, [f"203.0.113.{i}" for i in range(1, 31)])
    assert answers[0] == 200
    assert answers[1:].count(429) == 29


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    with served_behind(tmp_path / "home", proxies=["127.0.0.1"]) as url:
        answers = _nonces(url, ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.1"])
    assert answers == [200, 200, 200, 429]


REDIRECT = "http://127.0.0.1:9/callback"  # the app's; never fetched: the test reads the redirect itself
BEHIND_TLS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}  # as nginx sends them


def test_an_id_token_names_the_issuer_discovery_advertises_behind_a_tls_proxy(tmp_path: Path) -> None:
    settings = Settings(chain="memory", light_kdf=True, forwarded_allow_ips=["127.0.0.1"])
    with scratch_node(tmp_path / "home", settings) as node:
        alice = node.wallets.create("alice", Role.PATIENT, PASSPHRASE)
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.register_actor(alice.address, alice.role, alice.encryption_key)
        client_id = node.clients.register_app("Heart app", [REDIRECT], []).client_id
        server = NodeServer(node, port=0)
        server.start()
        try:
            with httpx.Client(base_url=server.url, headers=BEHIND_TLS) as proxied:
                smart = proxied.get("/.well-known/smart-configuration").json()
                openid = proxied.get("/.well-known/openid-configuration").json()
                token = _code_flow(proxied, client_id, smart["issuer"], node.unlock("alice").account)
                keys = KeySet.import_key_set(proxied.get("/.well-known/jwks.json").json())
        finally:
            server.stop()
    assert smart["issuer"] == openid["issuer"] == server.url.replace("http://", "https://")
    assert openid["id_token_signing_alg_values_supported"] == ["ES256"]
    identity = jwt.decode(str(token["id_token"]), keys).claims
    assert identity["iss"] == smart["issuer"]  # where an OpenID library looks for the keys: as advertised
    assert (identity["sub"], identity["aud"]) == (alice.address, client_id)


def _code_flow(http: httpx.Client, client_id: str, issuer: str, account: LocalAccount) -> dict[str, object]:
    """An app's authorization code flow (PKCE) as the wallet's owner, through `http`: the token response."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    asked = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s1",
        "aud": issuer,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = http.get("/auth/authorize", params=asked)
    assert page.status_code == 200, page.text
    message, signature = signed_in_message(str(http.base_url).rstrip("/"), account)
    answer = http.post("/auth/authorize", data={**asked, "message": message, "signature": signature})
    assert answer.status_code == 302, answer.text
    (code,) = parse_qs(urlsplit(answer.headers["location"]).query)["code"]
    token = http.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    return dict(token.json())
