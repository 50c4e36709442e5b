"""Two workers of one node: what one hands out, the other accepts, once.

Each worker is a `Node` of its own (its own engine, pool and services) on the same home and database, behind a
`NodeServer` of its own, both serving the domain the node is known by, as `serve --workers 2` runs them; the
second shares the first's chain, as every worker reaches the node's one chain. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from eth_account.signers.local import LocalAccount

from careledger.api import NodeServer
from careledger.api._picker import Picker
from careledger.config import NODE_WALLET, Home, Settings
from careledger.errors import AccessDenied, Unauthenticated
from careledger.identity import Role
from careledger.node import Node
from careledger.testdata import PASSPHRASE, insure, scratch_node
from tests.api.test_smart import _Form
from tests.conftest import PG_URL, _postgres_schema
from tests.outside_wallet import signed_in_message

DOMAIN = "node.test"
ORIGIN = f"http://{DOMAIN}"
REDIRECT = "http://127.0.0.1:9/callback"
OPEN_PER_MINUTE = 120  # a flood is refused after sixty; the other tests send fewer in all
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@dataclass
class Workers:
    """Two workers of one node, and a patient and a practitioner it knows."""

    nodes: tuple[Node, Node]
    servers: tuple[NodeServer, NodeServer]
    alice: LocalAccount
    drbob: LocalAccount

    @property
    def urls(self) -> tuple[str, str]:
        return self.servers[0].url, self.servers[1].url


def _settings(database: str) -> Settings:
    return Settings(
        chain="memory",
        light_kdf=True,
        db=database or None,
        anchor_in_background=False,  # the leader's work, not this test's
        open_requests_per_minute=OPEN_PER_MINUTE,
        forwarded_allow_ips=["127.0.0.1"],  # so a test picks the client address its flood is counted by
    )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    schemas = _postgres_schema() if request.param == "postgresql" else iter([""])
    schema = next(schemas)
    database = f"{PG_URL}?options=-csearch_path%3D{schema}" if schema else ""
    home = Path(tmp_path_factory.mktemp("workers")) / "home"
    settings = _settings(database)
    with scratch_node(home, settings) as first:
        people = {}
        registry = first.contracts.identity_registry(as_wallet=NODE_WALLET)
        for name, role in (("alice", Role.PATIENT), ("drbob", Role.PRACTITIONER)):
            wallet = first.wallets.create(name, role, PASSPHRASE)
            registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
            people[name] = first.unlock(name).account
        second = Node(Home(home), settings, lambda _wallet: PASSPHRASE, lazy=True)
        second.chain = first.chain  # type: ignore[misc] - the node's one chain, which every worker reaches
        servers = (NodeServer(first, port=0, domain=DOMAIN), NodeServer(second, port=0, domain=DOMAIN))
        for server in servers:
            server.start()
        try:
            yield Workers((first, second), servers, people["alice"], people["drbob"])
        finally:
            for server in servers:
                server.stop()
            second.__dict__.pop("chain")  # the first worker's, closed by it
            second.close()
    next(schemas, None)


def test_a_nonce_from_one_worker_signs_in_once_at_the_other(workers: Workers) -> None:
    a, b = workers.urls
    message, signature = signed_in_message(a, workers.alice)
    body = {"message": message, "signature": signature}
    assert httpx.post(f"{b}/auth/login", json=body).status_code == 200
    for url in (a, b):
        replayed = httpx.post(f"{url}/auth/login", json=body)
        assert replayed.status_code == 401
        assert "unknown, used or expired nonce" in replayed.text


def _authorized(workers: Workers, scope: str) -> tuple[OAuth2Session, str, str, str]:
    """An app's authorization at the first worker, signed for by alice: its session, location, verifier, id."""
    a, _ = workers.urls
    client_id = workers.nodes[0].clients.register_app("Heart app", [REDIRECT], []).client_id
    session = OAuth2Session(
        client_id, redirect_uri=REDIRECT, scope=scope, code_challenge_method="S256", token_endpoint_auth_method="none"
    )
    verifier = generate_token(48)
    url, _ = session.create_authorization_url(f"{a}/auth/authorize", code_verifier=verifier, aud=a)
    form = _Form()
    form.feed(httpx.get(url).text)
    message, signature = signed_in_message(a, workers.alice)
    answer = httpx.post(f"{a}/auth/authorize", data={**form.fields, "message": message, "signature": signature})
    assert answer.status_code == 302, answer.text
    return session, answer.headers["location"], verifier, client_id


def test_a_code_from_one_worker_is_redeemed_once_and_its_token_revoked_everywhere(workers: Workers) -> None:
    a, b = workers.urls
    session, location, verifier, client_id = _authorized(workers, "launch/patient patient/Patient.rs")
    token = session.fetch_token(f"{b}/auth/token", authorization_response=location, code_verifier=verifier)
    code = parse_qs(urlsplit(location).query)["code"][0]
    for url in (a, b):
        again = httpx.post(
            f"{url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id},
        )
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(f"{b}/Patient", headers=bearer).status_code == 200
    revoked = httpx.post(f"{a}/auth/revoke", data={"token": token["access_token"], "client_id": client_id})
    assert revoked.status_code == 200
    answer = once_revocations_are_read(b, bearer)
    assert answer.status_code == 401
    assert "revoked" in answer.text


def test_a_launch_and_a_picker_ticket_made_at_one_worker_are_used_once_at_the_other(workers: Workers) -> None:
    first, second = workers.nodes
    drbob = workers.drbob.address
    launch = first.clients.launches.mint("app-1", drbob, "patient-1", "encounter-1")
    assert second.clients.launches.check(launch, "app-1").patient == "patient-1"
    with pytest.raises(AccessDenied, match="unknown, used or expired"):
        second.clients.launches.check(launch, "app-2")  # another app's request names it
    assert second.clients.launches.take(launch, "app-1", drbob.lower()).encounter == "encounter-1"
    with pytest.raises(AccessDenied, match="unknown, used or expired"):
        first.clients.launches.take(launch, "app-1", drbob)

    pickers = [Picker(node.access, node.consent.represented, node.shared.tickets) for node in workers.nodes]
    request = {"client_id": "app-1", "scope": "launch/patient", "state": "s"}
    ticket = pickers[0].hold(drbob, Role.PRACTITIONER, request)
    with pytest.raises(Unauthenticated, match="expired or was used"):
        pickers[1].take({**request, "state": "another", "ticket": ticket})  # held for another request: spent
    ticket = pickers[0].hold(drbob, Role.PRACTITIONER, request)
    assert pickers[1].take({"ticket": ticket, "patient": "p", **dict(reversed(request.items()))}) == (
        drbob,
        Role.PRACTITIONER,
    )
    with pytest.raises(Unauthenticated, match="expired or was used"):
        pickers[0].take({**request, "ticket": ticket})


def _portal(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Origin": ORIGIN})


def test_a_portal_session_begun_at_one_worker_is_valid_at_the_other_until_signed_out(workers: Workers) -> None:
    a, b = workers.urls
    with _portal(a) as at_a, _portal(b) as at_b:
        csrf = _CSRF.findall(at_a.get("/portal/signin").text)[0]
        message, signature = signed_in_message(a, workers.alice)
        signed_in = at_a.post("/portal/signin", data={"csrf": csrf, "message": message, "signature": signature})
        assert signed_in.status_code == 303
        at_b.cookies = at_a.cookies  # the same browser, its next request sent to the other worker
        page = at_b.get("/portal/records")
        assert page.status_code == 200
        csrf = _CSRF.findall(page.text)[0]  # made at B, good at A: both derive the key from the node's secret
        assert at_a.post("/portal/signout", data={"csrf": csrf}).status_code == 303
        stale = _portal(b)
        stale.cookies = at_b.cookies  # a copy of the cookie from before the sign-out
        with stale:
            refused = stale.get("/portal/records")
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/portal/signin")


def test_a_flood_is_counted_once_across_both_workers(workers: Workers) -> None:
    client = {"X-Forwarded-For": "203.0.113.77"}
    burst, per_second = OPEN_PER_MINUTE // 2, OPEN_PER_MINUTE / 60
    with httpx.Client(headers=client) as at_a, httpx.Client(headers=client) as at_b:
        started = time.monotonic()
        answers = [
            (worker, http.get(f"{url}/auth/nonce").status_code)
            for _ in range(burst)  # twice the burst in all: each worker alone would allow all of it
            for worker, (http, url) in enumerate(zip((at_a, at_b), workers.urls, strict=True))
        ]
        refilled = (time.monotonic() - started) * per_second
    allowed = sum(status == 200 for _, status in answers)
    assert burst <= allowed <= burst + refilled + 1
    assert {worker for worker, status in answers if status == 429} == {0, 1}  # both refused her
    assert httpx.get(f"{workers.urls[1]}/auth/nonce", headers={"X-Forwarded-For": "203.0.113.78"}).status_code == 200


def test_a_member_s_new_insurer_is_followed_by_every_worker_not_only_the_leader(workers: Workers) -> None:
    """Each worker decides coverage from its own memory of who insures whom: the one that does not lead follows
    the enrolments too, or her old insurer would go on seeing her coverage there."""
    first = workers.nodes[0]
    old, new = (first.wallets.create(name, Role.INSURER, PASSPHRASE) for name in ("old-insurer", "new-insurer"))
    carol = first.wallets.create("carol", Role.PATIENT, PASSPHRASE)
    first.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        carol.address, carol.role, carol.encryption_key
    )
    old_plan, new_plan = insure(first, old, []), insure(first, new, [])
    now, day = int(time.time()), 86_400
    first.contracts.claims(as_wallet=old.name).enroll(carol.address, old_plan, now - 20 * day, now - 2 * day)
    assert {node.claims.payers.insurer(carol.address) for node in workers.nodes} == {old.address}
    first.contracts.claims(as_wallet=new.name).enroll(carol.address, new_plan, now - day, now + 30 * day)
    deadline = time.monotonic() + 6  # each worker follows the chain once a second (and a loaded CI's slack)
    while time.monotonic() < deadline and {node.claims.payers.insurer(carol.address) for node in workers.nodes} != {
        new.address
    }:
        time.sleep(0.1)
    assert [node.claims.payers.insurer(carol.address) for node in workers.nodes] == [new.address] * 2


def once_revocations_are_read(url: str, bearer: dict[str, str]) -> httpx.Response:
    """`GET /Patient` at `url` with `bearer`, asked again while it is answered, for 2.5 s at most: each worker
    re-reads the revocations once a second (and a loaded CI's slack)."""
    deadline = time.monotonic() + 2.5
    while (answer := httpx.get(f"{url}/Patient", headers=bearer)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    return answer
