from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from careledger.errors import NotFound, Unauthenticated, ValidationError
from careledger.insight.cds import CdsClients, Verified
from careledger.shared import Tickets
from careledger.store import Database
from tests.insight.cds.ehr import Ehr, serving_jwks

AUD = "http://127.0.0.1:8000/cds-services/careledger-patient-view"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One migrated database for the module: each test registers clients of its own (their iss differ)."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('cds') / 'test.db'}")
    db.migrate()
    yield db
    db.close()


@pytest.fixture
def clients(database: Database) -> CdsClients:
    return CdsClients(database, Tickets(database))


@pytest.fixture
def ehr(clients: CdsClients) -> Ehr:
    ehr = Ehr()
    clients.add(ehr.iss, jwks=ehr.jwks)
    return ehr


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_registered_clients_signed_jwt_is_its(clients: CdsClients, ehr: Ehr) -> None:
    assert clients.verify(_bearer(ehr.token(AUD, tenant="hospital-a")), AUD) == Verified(ehr.iss, "hospital-a")


def test_rs384_keys_are_taken_too(clients: CdsClients) -> None:
    ehr = Ehr(alg="RS384")
    clients.add(ehr.iss, jwks=ehr.jwks)
    assert clients.verify(_bearer(ehr.token(AUD)), AUD).iss == ehr.iss


def test_a_client_with_inline_keys_names_no_jku(clients: CdsClients, ehr: Ehr) -> None:
    """Only a registered jku is ever named (an allowlist): one the JWT names for a client registered inline is 401,
    though its key would verify, so that an EHR sending the wrong URL is told rather than served."""
    with pytest.raises(Unauthenticated, match=r"^the JWT's jku is not the one registered for this client$"):
        clients.verify(_bearer(ehr.token(AUD, jku="http://127.0.0.1:9/jwks.json")), AUD)


def test_keys_are_fetched_from_the_registered_jku(clients: CdsClients) -> None:
    ehr = Ehr()
    with serving_jwks(ehr.jwks) as url:
        clients.add(ehr.iss, jku=url)
        assert clients.verify(_bearer(ehr.token(AUD, jku=url)), AUD).iss == ehr.iss
        assert clients.verify(_bearer(ehr.token(AUD)), AUD).iss == ehr.iss  # the header's jku is optional


def test_a_jku_other_than_the_registered_one_is_never_fetched(database: Database) -> None:
    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json={"keys": []})

    clients = CdsClients(database, Tickets(database), transport=httpx.MockTransport(handler))
    ehr = Ehr()
    clients.add(ehr.iss, jku="https://jku.example.org/jwks.json")
    with pytest.raises(Unauthenticated, match="jku is not the one registered"):
        clients.verify(_bearer(ehr.token(AUD, jku="https://evil.example.org/jwks.json")), AUD)
    assert fetched == []


def test_an_oversized_jwks_is_refused(database: Database) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{" + b" " * 70_000 + b"}")

    clients = CdsClients(database, Tickets(database), transport=httpx.MockTransport(handler))
    ehr = Ehr()
    clients.add(ehr.iss, jku="https://big.example.org/jwks.json")
    with pytest.raises(Unauthenticated, match="larger than"):
        clients.verify(_bearer(ehr.token(AUD)), AUD)


def test_the_fetched_jwks_is_cached(database: Database) -> None:
    ehr = Ehr()
    fetches: list[int] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        fetches.append(1)
        return httpx.Response(200, json=ehr.jwks)

    clients = CdsClients(database, Tickets(database), transport=httpx.MockTransport(handler))
    clients.add(ehr.iss, jku="https://cached.example.org/jwks.json")
    for _ in range(3):
        clients.verify(_bearer(ehr.token(AUD)), AUD)
    assert len(fetches) == 1


def _part(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(claims: dict[str, object]) -> str:
    return f"{_part({'alg': 'none', 'typ': 'JWT', 'kid': 'x'})}.{_part(claims)}."


def _refused(clients: CdsClients, token: str | None, match: str, aud: str = AUD) -> None:
    with pytest.raises(Unauthenticated, match=match):
        clients.verify(None if token is None else _bearer(token), aud)


def test_no_token_is_refused(clients: CdsClients) -> None:
    _refused(clients, None, "signs each request")


def test_an_unsigned_jwt_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    claims = jwt.decode(ehr.token(AUD), options={"verify_signature": False})
    _refused(clients, _unsigned(claims), "alg must be one of")


def test_hs256_with_the_public_key_as_secret_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    public = ehr.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"iss": ehr.iss, "aud": AUD, "exp": now + 60, "iat": now, "jti": "hs"}
    signed = f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': ehr.kid})}.{_part(claims)}"
    mac = hmac.new(public, signed.encode(), hashlib.sha256).digest()
    forged = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    _refused(clients, forged, "alg must be one of")


def test_another_key_with_the_same_kid_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    impostor = Ehr(iss=ehr.iss, kid=ehr.kid)
    _refused(clients, impostor.token(AUD), "does not verify")


def test_a_jwt_for_another_service_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    _refused(clients, ehr.token(AUD + "-other"), "aud must be")


def test_an_aud_list_holding_the_services_url_is_taken(clients: CdsClients, ehr: Ehr) -> None:
    # RFC 7519 §4.1.3: aud is a string or an array of strings; CDS Hooks 2.0 follows it
    assert clients.verify(_bearer(ehr.token(AUD, aud=["https://other.example", AUD])), AUD).iss == ehr.iss


@pytest.mark.parametrize(
    "aud",
    [["https://other.example", AUD + "-other"], [], [AUD, 7], {"url": AUD}],
    ids=["without", "empty", "int", "obj"],
)
def test_an_aud_list_without_the_services_url_is_refused(clients: CdsClients, ehr: Ehr, aud: object) -> None:
    with pytest.raises(Unauthenticated):
        clients.verify(_bearer(ehr.token(AUD, aud=aud)), AUD)


def test_an_expired_jwt_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    now = int(time.time())
    _refused(clients, ehr.token(AUD, exp=now - 60, iat=now - 120), "expired")


def test_a_long_lived_jwt_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    _refused(clients, ehr.token(AUD, exp=int(time.time()) + 3600), "lives too long")


@pytest.mark.parametrize("missing", ["jti", "iat", "exp", "aud"])
def test_a_jwt_without_a_required_claim_is_refused(clients: CdsClients, ehr: Ehr, missing: str) -> None:
    _refused(clients, ehr.token(AUD, **{missing: None}), f'missing the "{missing}" claim')


def test_a_replayed_jti_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    token = ehr.token(AUD)
    clients.verify(_bearer(token), AUD)
    _refused(clients, token, "used before")


def test_a_replay_is_refused_by_another_worker_too(database: Database, ehr: Ehr) -> None:
    first, second = CdsClients(database, Tickets(database)), CdsClients(database, Tickets(database))
    first.add(ehr.iss, jwks=ehr.jwks)
    token = ehr.token(AUD)
    first.verify(_bearer(token), AUD)
    _refused(second, token, "used before")


def test_an_unknown_issuer_is_refused(clients: CdsClients) -> None:
    _refused(clients, Ehr(iss="https://stranger.example.org").token(AUD), "not a CDS client registered")


def test_a_removed_client_is_refused(clients: CdsClients, ehr: Ehr) -> None:
    clients.remove(ehr.iss)
    _refused(clients, ehr.token(AUD), "not a CDS client registered")
    with pytest.raises(NotFound):
        clients.remove(ehr.iss)


def test_clients_are_listed(clients: CdsClients, ehr: Ehr) -> None:
    clients.add("https://other.example.org", jku="https://other.example.org/jwks.json")
    listed = [(c.iss, c.jku) for c in clients.list()]
    assert listed.index((ehr.iss, None)) < listed.index(
        ("https://other.example.org", "https://other.example.org/jwks.json")
    )


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ({"keys": []}, "at least one key"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "a"}]}, "RSA or EC"),
        ("private", "private key"),
    ],
)
def test_a_bad_jwks_is_not_registered(clients: CdsClients, keys: object, match: str) -> None:
    if keys == "private":
        ehr = Ehr()
        keys = {"keys": [ehr.jwks["keys"][0] | {"d": "secret"}]}
    with pytest.raises(ValidationError, match=match):
        clients.add("https://x.example.org", jwks=keys)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["http://ehr.example.org/jwks", "file:///etc/passwd", "not a url"])
def test_a_jku_must_be_https(clients: CdsClients, url: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        clients.add("https://x.example.org", jku=url)


def test_one_of_jwks_and_jku_is_given(clients: CdsClients) -> None:
    with pytest.raises(ValidationError, match="one of the two"):
        clients.add("https://x.example.org")
