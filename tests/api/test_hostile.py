"""A hostile network against a real `careledger serve` process: every bad request gets its 4xx, the node stays up.

One server process for the module (a chain, a node, a signed-in patient); each test sends
what an attacker would, then checks the answer, the time it took, that the process is
alive with bounded memory, and that a normal read still succeeds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from siwe import SiweMessage

from careledger.api import NodeProcess, free_port
from careledger.api._limits import _holds_nul
from careledger.chain import Role
from careledger.config import NODE_WALLET, Home, Settings
from careledger.exchange import (
    AccountingRequest,
    Delivery,
    FetchRequest,
    SignedAccounting,
    SignedDelivery,
    SignedFetch,
)
from careledger.research import StudyRequest
from careledger.testdata import PASSPHRASE, scratch_node, synthetic_patients
from tests.api.conftest import served_on_postgres
from tests.api.test_http_head import exchange

pytestmark = pytest.mark.anvil

_RSS_LIMIT_MB = 600


@dataclass
class Target:
    server: NodeProcess
    account: LocalAccount
    chain_id: int
    patient_id: str
    token: str
    secret: bytes
    stranger: LocalAccount | None = None  # a patient of the same node, with no record and no consent of Alice's

    @property
    def url(self) -> str:
        return self.server.url

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/fhir+json", **extra}

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.server.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024

    def assert_healthy(self) -> None:
        """Alive, within its memory, and a normal read answers."""
        assert self.server.running, self.server.log_tail()
        assert self.rss_mb() < _RSS_LIMIT_MB
        response = httpx.get(f"{self.url}/Patient/{self.patient_id}", headers=self.headers(), timeout=10)
        assert response.status_code == 200, response.text

    def siwe(self, *, issued_at: datetime | None = None, statement: str = "Sign in to CareLedger") -> str:
        nonce = httpx.get(f"{self.url}/auth/nonce").json()["nonce"]
        return str(
            SiweMessage(
                domain=self.url.removeprefix("http://"),
                address=self.account.address,
                statement=statement,
                uri=self.url,
                version="1",
                chain_id=self.chain_id,
                nonce=nonce,
                issued_at=(issued_at or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z"),
            ).prepare_message()
        )

    def sign(self, message: str) -> str:
        return "0x" + self.account.sign_message(encode_defunct(text=message)).signature.hex()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("hostile") / "home"
    with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
        alice = node.wallets.create("alice", Role.PATIENT, PASSPHRASE)
        bob = node.wallets.create("bob", Role.PATIENT, PASSPHRASE)
        for wallet in (alice, bob):
            node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
                wallet.address, wallet.role, wallet.encryption_key
            )
        patient = synthetic_patients(1, seed=8)[0]
        node._records.write(patient.patient, patient_address=alice.address)
        account, stranger = node.unlock("alice").account, node.unlock("bob").account
        chain_id = node.chain.chain_id
        api_key = node.vault.secret(node.home.api_key_file)
    with NodeProcess(Home(home), free_port(), passphrase=PASSPHRASE).start() as server:
        target = Target(server, account, chain_id, patient.patient["id"], "", api_key, stranger)
        message = target.siwe()
        login = httpx.post(f"{server.url}/auth/login", json={"message": message, "signature": target.sign(message)})
        assert login.status_code == 200, login.text
        target.token = login.json()["access_token"]
        yield target


def _deep(levels: int) -> bytes:
    return b'{"a":' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(
    ("method", "path", "signed_in"),
    [
        ("POST", "/auth/login", False),
        ("POST", "/exchange/fetch", False),
        ("POST", "/Observation", True),
        ("POST", "/", True),
        ("PUT", "/Observation/x", True),
    ],
)
def test_deeply_nested_json_is_refused_and_the_node_stays_up(
    target: Target, method: str, path: str, signed_in: bool
) -> None:
    headers = target.headers() if signed_in else {"Content-Type": "application/json"}
    response = httpx.request(method, f"{target.url}{path}", content=_deep(100_000), headers=headers, timeout=10)
    assert response.status_code in (400, 413), response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    target.assert_healthy()


@pytest.mark.parametrize("size", [5_000, 100_000])
def test_a_huge_siwe_message_is_refused_in_well_under_a_second(target: Target, size: int) -> None:
    message = target.siwe(statement="a" * size)
    started = time.monotonic()
    response = httpx.post(f"{target.url}/auth/login", json={"message": message, "signature": target.sign(message)})
    elapsed = time.monotonic() - started
    assert response.status_code in (401, 413), response.text
    assert elapsed < 0.5
    target.assert_healthy()


def test_a_garbage_siwe_message_with_a_live_nonce_costs_little(target: Target) -> None:
    nonce = httpx.get(f"{target.url}/auth/nonce").json()["nonce"]
    lines = ["x" * 290 + ":/?#[]@!$&'()*+,;=" for _ in range(12)] + [f"Nonce: {nonce}"]
    started = time.monotonic()
    response = httpx.post(f"{target.url}/auth/login", json={"message": "\n".join(lines), "signature": "0x" + "1" * 130})
    assert response.status_code == 401
    assert time.monotonic() - started < 0.5


def test_a_body_declared_too_large_is_413_and_the_connection_ends(target: Target) -> None:
    """Its body is never read: the connection is closed after the answer, not left with the body's bytes to come."""
    host, port = target.url.removeprefix("http://").rsplit(":", 1)
    head = b"POST /exchange/fetch HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
    answer, _ = exchange((host, int(port)), head + b"Content-Length: 900000000\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer.lower()
    target.assert_healthy()


def test_a_300_mb_chunked_body_is_cut_off_at_the_limit(target: Target) -> None:
    def chunks() -> Iterator[bytes]:
        block = b"[" + b"0," * 500_000
        for _ in range(300):
            yield block

    try:
        response = httpx.post(
            f"{target.url}/exchange/fetch", content=chunks(), headers={"Content-Type": "application/json"}, timeout=30
        )
        assert response.status_code == 413
    except httpx.TransportError:
        pass  # the node may close the connection as soon as it has answered 413
    target.assert_healthy()


def test_a_header_line_of_10_mb_is_431_before_its_end_and_the_node_stays_up(target: Target) -> None:
    """The node's own port bounds a request's head (no proxy needed): refused once past the bound, not gathered."""
    host, port = target.url.removeprefix("http://").rsplit(":", 1)
    chunks = [b"GET /metadata HTTP/1.1\r\nHost: a\r\nX-Endless: "] + [b"a" * 65536] * 160
    answer, _ = exchange((host, int(port)), *chunks)
    assert answer.startswith(b"HTTP/1.1 431 ")
    target.assert_healthy()


@pytest.mark.parametrize(
    "query",
    [
        "date=9999-12-31",
        "date=9999-12-31T23:59:59",
        "_lastUpdated=9999-12-31",
        "_lastUpdated=9999",
        "_lastUpdated=9999-12",
        "_lastUpdated=0000",
        "_lastUpdated=-001",
        "date=2024-02-30",
        "date=ne2024",
        "date=gt0001-01-01T00:00:00+14:00",
    ],
)
def test_far_and_malformed_dates_are_answered_never_500(target: Target, query: str) -> None:
    response = httpx.get(f"{target.url}/Observation?{query}", headers=target.headers())
    assert response.status_code in (200, 400), response.text
    assert response.json()["resourceType"] in ("Bundle", "OperationOutcome")


def test_a_zero_signature_is_401(target: Target) -> None:
    message = target.siwe()
    response = httpx.post(f"{target.url}/auth/login", json={"message": message, "signature": "0x" + "00" * 65})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MALFORMED_SIGNATURES = {
    "65 zero bytes": "0x" + "00" * 65,
    "r = s = 0": "0x" + "00" * 64 + "1b",
    "all 0xff": "0x" + "ff" * 65,
    "empty": "0x",
    "64 bytes": "0x" + "11" * 64,
    "s = n": "0x" + f"{1:064x}{_SECP256K1_N:064x}1b",
    "r on no point": "0x" + f"{5:064x}{7:064x}1c",
    "not hex": "0x" + "zz" * 65,
}


def _signed_bodies(target: Target) -> dict[str, dict[str, object]]:
    """A well-formed request for each signed exchange route, each with room for a signature."""
    someone, other = "0x" + "11" * 20, "0x" + "22" * 20
    fetch = FetchRequest.new(someone, other, target.account.address, 1, 1)
    accounting = AccountingRequest.new(target.account.address, someone)
    study = StudyRequest.new(1, other, {"kind": "count", "epsilon": 0.1})
    return {
        "/exchange/fetch": SignedFetch(fetch, b"").to_json(),
        "/exchange/accounting": SignedAccounting(accounting, b"").to_json(),
        "/exchange/study": {k: v for k, v in study.to_json().items() if k != "signature"},
        "/exchange/messages": SignedDelivery(Delivery.new(someone, other, target.account.address, {}), b"").to_json(),
    }


@pytest.mark.parametrize("route", ["/exchange/fetch", "/exchange/accounting", "/exchange/study", "/exchange/messages"])
def test_a_malformed_signature_on_a_signed_route_is_401(target: Target, route: str) -> None:
    body = _signed_bodies(target)[route]
    for name, signature in _MALFORMED_SIGNATURES.items():
        response = httpx.post(f"{target.url}{route}", json={**body, "signature": signature})
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["code"] == "login"
    target.assert_healthy()


def test_a_future_siwe_message_is_refused(target: Target) -> None:
    message = target.siwe(issued_at=datetime.now(UTC) + timedelta(days=365 * 73))
    response = httpx.post(f"{target.url}/auth/login", json={"message": message, "signature": target.sign(message)})
    assert response.status_code == 401
    assert "future" in response.text


@pytest.mark.parametrize("drop", ["role", "scope", "sub"])
def test_a_token_missing_a_claim_is_401(target: Target, drop: str) -> None:
    claims = jwt.decode(target.token, options={"verify_signature": False})
    del claims[drop]
    forged = jwt.encode(claims, target.secret, algorithm="HS256")
    response = httpx.get(f"{target.url}/Patient/{target.patient_id}", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bearer_is_case_insensitive(target: Target) -> None:
    response = httpx.get(
        f"{target.url}/Patient/{target.patient_id}", headers={"Authorization": f"bearer {target.token}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/pdf", "application/x-www-form-urlencoded"])
def test_bodies_that_are_neither_json_nor_xml_are_415(target: Target, content_type: str) -> None:
    body = b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}}'
    headers = {**target.headers(), "Content-Type": content_type}
    response = httpx.post(f"{target.url}/Observation", content=body, headers=headers)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("method", "path"),
    [("PATCH", "/Patient/{id}"), ("POST", "/Coverage"), ("PUT", "/Consent/{id}"), ("DELETE", "/metadata")],
)
def test_a_wrong_method_is_405_with_the_allow_options_gives(target: Target, method: str, path: str) -> None:
    url = f"{target.url}{path.format(id=target.patient_id)}"
    response = httpx.request(method, url, headers=target.headers(), content=b"{}")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.headers["Allow"] == httpx.options(url).headers["Allow"]


def test_an_invalid_code_in_a_required_binding_is_refused(target: Target) -> None:
    body = {"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}}
    response = httpx.post(f"{target.url}/Observation", json=body, headers=target.headers())
    assert response.status_code == 422
    assert "Observation.status" in response.text


_FINITE = st.floats(allow_nan=False, allow_infinity=False)  # what JSON can carry
_SCALARS = st.none() | st.booleans() | st.integers() | _FINITE | st.text(max_size=20)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_FHIRISH = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Observation", "Patient", "Condition", "Foo", ""])},
    optional={
        "status": st.sampled_from(["final", "bogus", "", "active"]) | st.text(max_size=10),
        "code": st.fixed_dictionaries({}, optional={"text": st.text(max_size=10), "coding": _JSON}),
        "subject": st.fixed_dictionaries({"reference": st.text(max_size=20)}),
        "effectiveDateTime": st.sampled_from(["2024-03-01", "9999-12-31", "0000", "x"]) | st.text(max_size=12),
        "gender": st.text(max_size=8),
        "id": st.text(max_size=70),
        "extra": _JSON,
    },
)


def _stored(target: Target) -> int:
    response = httpx.get(f"{target.url}/Observation?_count=0", headers=target.headers())
    assert response.status_code == 200
    return int(response.json()["total"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=_JSON | _FHIRISH,
    query=st.lists(
        st.tuples(
            st.sampled_from(["date", "code", "_lastUpdated", "status", "_count", "identifier", "x"]),
            st.text(max_size=15),
        ),
        max_size=3,
    ),
)
def test_random_bodies_and_searches_never_get_a_500_nor_store_a_refusal(
    target: Target, body: object, query: list[tuple[str, str]]
) -> None:
    before = _stored(target)
    created = httpx.post(f"{target.url}/Observation", json=body, headers=target.headers())
    assert created.status_code < 500, created.text
    assert _stored(target) == before + (1 if created.status_code == 201 else 0)
    updated = httpx.put(f"{target.url}/Observation/hypothesis-1", json=body, headers=target.headers())
    assert updated.status_code < 500, updated.text
    found = httpx.get(f"{target.url}/Observation", params=query, headers=target.headers())
    assert found.status_code < 500, found.text


def test_a_flood_of_logins_from_one_address_is_throttled(target: Target) -> None:
    with httpx.Client() as client:
        answers = [client.get(f"{target.url}/auth/nonce") for _ in range(400)]
    throttled = [a for a in answers if a.status_code == 429]
    assert len(throttled) > 100  # 120 at once, then about 4 a second
    assert all(int(a.headers["Retry-After"]) >= 1 for a in throttled)
    for answer in throttled:  # the words say what the header says
        assert f"try again in {answer.headers['Retry-After']} s" in answer.json()["issue"][0]["diagnostics"]
    assert throttled[0].json()["issue"][0]["code"] == "throttled"
    target.assert_healthy()  # FHIR reads are not throttled by it


@pytest.mark.parametrize(
    "path",
    [
        "/NoSuchType/{id}/$verify",
        "/Observation/{id}/$verify",  # a Patient's id, asked as another type
        "/Patient/no-such-record/$verify",
        "/Patient/" + "a" * 5_000 + "/$verify",
        "/Patient/..%2F..%2Fetc%2Fpasswd/$verify",
        "/Patient/%00%FF%FE/$verify",
        "/Patient/{id}/_history/0/$verify",
        "/Patient/{id}/_history/-1/$verify",
        "/Patient/{id}/_history/99999999999999999999/$verify",
        "/Patient/{id}/_history/1e3/$verify",
        "/Patient/{id}/_history/9/$verify",
    ],
)
def test_verify_of_a_hostile_path_is_a_4xx(target: Target, path: str) -> None:
    response = httpx.get(f"{target.url}{path.replace('{id}', target.patient_id)}", headers=target.headers())
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "query",
    ["_format=json&" * 600, "x=" + "a" * 8_000, "_proofs=yes&_count=-1&_elements=%01&_id=%FF"],  # %00: below
)
def test_verify_ignores_odd_and_huge_query_parameters(target: Target, query: str) -> None:
    """`$verify` takes no parameter: others are ignored, as FHIR's lenient handling does, never a 500 (up to the
    URL's bound, 8 KiB, past which no request reaches the node: below)."""
    plain = httpx.get(f"{target.url}/Patient/{target.patient_id}/$verify", headers=target.headers())
    odd = httpx.get(f"{target.url}/Patient/{target.patient_id}/$verify?{query}", headers=target.headers())
    assert (plain.status_code, odd.status_code) == (200, 200), odd.text
    assert odd.json() == plain.json()
    target.assert_healthy()


def test_a_url_past_8_kib_is_414_before_it_reaches_the_node(target: Target) -> None:
    response = httpx.get(f"{target.url}/Patient/{target.patient_id}/$verify?x={'a' * 60_000}", headers=target.headers())
    assert response.status_code == 414
    target.assert_healthy()


def test_verify_of_a_record_one_may_not_read_is_the_unknown_ids_answer(target: Target) -> None:
    assert target.stranger is not None
    stranger = replace(target, account=target.stranger)
    message = stranger.siwe()
    login = httpx.post(f"{target.url}/auth/login", json={"message": message, "signature": stranger.sign(message)})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    refused = httpx.get(f"{target.url}/Patient/{target.patient_id}/$verify", headers=headers)
    unknown = httpx.get(f"{target.url}/Patient/no-such-record/$verify", headers=headers)
    assert (refused.status_code, unknown.status_code) == (404, 404)
    assert refused.text.replace(target.patient_id, "ID") == unknown.text.replace("no-such-record", "ID")


_NUL = "is refused anywhere in a request: no id, parameter or value holds one"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/Patient/%00", None),
        ("GET", "/Patient?_id=%00", None),
        ("GET", "/Patient/%00/_history/1", None),
        ("DELETE", "/Patient/a%00b", None),
        ("POST", "/Patient", b'{"resourceType": "Patient", "name": [{"family": "\\u0000"}]}'),
        ("POST", "/Patient", b'{"resourceType": "Patient", "name": [{"family": "a\\\\\\u0000"}]}'),
    ],
)
def test_a_nul_anywhere_in_a_request_is_400(target: Target, method: str, path: str, body: bytes | None) -> None:
    """PostgreSQL's text holds no NUL, so a lookup with one failed (500) rather than missed; FHIR's strings may not
    hold one either. Refused before any route, on either database."""
    response = httpx.request(method, f"{target.url}{path}", content=body, headers=target.headers())
    assert response.status_code == 400, response.text
    assert _NUL in response.text
    target.assert_healthy()


def test_the_text_backslash_u0000_is_no_nul_and_is_kept(target: Target) -> None:
    body = b'{"resourceType": "Patient", "name": [{"family": "C:\\\\u0000"}]}'  # the six characters \u0000, escaped
    response = httpx.post(f"{target.url}/Patient", content=body, headers=target.headers())
    assert response.status_code == 201, response.text
    assert response.json()["name"][0]["family"] == "C:\\u0000"


def test_a_stranger_s_nul_is_400_on_postgresql_not_500(tmp_path: Path) -> None:
    """The open OAuth routes looked a client id up before any sign-in: with a NUL in it, psycopg refused the
    statement and a stranger had a 500 each time, 240 a minute (an alert's worth)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with served_on_postgres(tmp_path / "home") as server:
        answers = [
            httpx.get(f"{server.url}/auth/authorize?response_type=code&client_id=%00"),
            httpx.post(f"{server.url}/auth/authorize", content=b"response_type=code&client_id=%00", headers=form),
            httpx.post(f"{server.url}/auth/revoke", content=b"token=x&client_id=%00", headers=form),
            httpx.post(f"{server.url}/auth/introspect", content=b"token=x&client_id=%00", headers=form),
        ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert _NUL in answer.text


@given(text=st.lists(st.sampled_from(["\\", "u0000", "\x00", '"', "\n", "x"]), max_size=12).map("".join))
@settings(max_examples=500, deadline=None)
def test_a_json_body_holds_a_nul_exactly_when_its_parsed_strings_do(text: str) -> None:
    """The limiter's byte-level reading of JSON escapes agrees with a JSON parser: `\\u0000` after any run of
    escaped backslashes, never the text an escaped backslash makes of it."""
    body = json.dumps({"family": text}).encode()
    assert _holds_nul(body, "application/fhir+json") == ("\x00" in json.loads(body)["family"])
