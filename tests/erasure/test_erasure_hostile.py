"""Erasure's routes against a hostile network, over real HTTP: `GET`/`POST /Patient/{id}/$erase` and
`POST /exchange/erasure` answer malformed, huge, mistyped, forged and replayed bodies with a 4xx, never a 500;
an unknown patient is answered as a forbidden one; and a notice nobody authenticated writes no audit entry
naming anyone (a stranger cannot fill her accounting with refusals)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from careledger.audit import Access
from careledger.client import FhirClient
from careledger.config import NODE_WALLET
from careledger.erasure import ANSWERED, ErasureNotice, ErasurePeers, ErasureRequest, SignedNotice
from careledger.node import Node
from careledger.store import ErasureRequestRow
from tests.erasure.conftest import Pair


def _erase_entries(node: Node) -> list[Access]:
    return [e.access for e in node.audit.entries() if e.access.interaction == "erase"]


def _notice(pair: Pair, records: list[str], *, by: str = NODE_WALLET, receiver: str | None = None) -> SignedNotice:
    """The hospital's notice to the clinic passing on Alice's request to erase `records`, signed by wallet `by`
    of the hospital's (its node wallet: genuine; any other: forged)."""
    registry = pair.hospital.contracts.identity_registry().address
    notice = ErasureNotice.new(pair.hospital.address, receiver or pair.clinic.address, pair.signed(records))
    return notice.sign(pair.hospital.unlock(by).account, pair.hospital.chain_id, registry)


def test_a_notice_that_fails_authentication_is_401_and_writes_no_entry_naming_anyone(pair: Pair) -> None:
    url = f"{pair.clinic_url}/exchange/erasure"
    before = len(_erase_entries(pair.clinic))
    forged = httpx.post(url, json=_notice(pair, [pair.labs[0]], by="bob").to_json())
    assert forged.status_code == 401, forged.text
    elsewhere = httpx.post(url, json=_notice(pair, [pair.labs[0]], receiver=pair.hospital.address).to_json())
    assert elsewhere.status_code == 400, elsewhere.text  # genuine, but another node's: anyone may replay it here
    assert len(_erase_entries(pair.clinic)) == before

    genuine = _notice(pair, ["nothing-of-hers-here"]).to_json()
    answered = httpx.post(url, json=genuine)
    assert answered.status_code == 200, answered.text
    assert answered.json()["request"]["outcome"] == {"erased": [], "kept": []}
    (entry,) = _erase_entries(pair.clinic)[before:]  # its sender signed it: that it asked is audited
    assert (entry.agent, entry.patient) == (pair.alice.address, pair.alice.address)
    replayed = httpx.post(url, json=genuine)
    assert replayed.status_code == 401, replayed.text
    assert "replay" in replayed.text
    assert len(_erase_entries(pair.clinic)) == before + 1


def test_one_request_passed_on_twice_at_once_is_answered_the_same_twice(pair: Pair) -> None:
    registry = pair.hospital.contracts.identity_registry().address
    signed = pair.signed(["nothing-of-hers-at-the-clinic"])
    account = pair.hospital.unlock(NODE_WALLET).account
    notices = [
        ErasureNotice.new(pair.hospital.address, pair.clinic.address, signed).sign(
            account, pair.hospital.chain_id, registry
        )
        for _ in range(2)
    ]  # the first attempt, and a round's retry while it is under way
    both_checked = threading.Barrier(2, timeout=20)
    held = []

    def hold(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        """Each notice waits, once it found the request not carried out yet, until the other has too."""
        if "audit_events.agent =" in statement and len(held) < 2:
            held.append(statement)
            both_checked.wait()

    event.listen(pair.clinic.db.engine, "before_cursor_execute", hold)
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda n: httpx.post(f"{pair.clinic_url}/exchange/erasure", json=n.to_json(), timeout=60), notices
                )
            )
    finally:
        event.remove(pair.clinic.db.engine, "before_cursor_execute", hold)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["request"] == answers[1].json()["request"]


def test_a_node_being_asked_is_not_asked_again_by_a_round_meanwhile(pair: Pair) -> None:
    hospital, clinic = pair.hospital, pair.clinic
    signed = pair.signed(["nothing-of-hers-at-the-clinic-either"])
    posted: list[dict[str, Any]] = []

    def post(_endpoint: str, body: dict[str, Any]) -> Any:
        """The clinic, asked without HTTP; the leader's round comes while the first notice is under way."""
        posted.append(body)
        if len(posted) == 1:
            peers.retry_due()
        return clinic.erasure.answer(SignedNotice.from_json(body))

    node = {"address": hospital.address, "account": lambda: hospital.unlock(NODE_WALLET).account}
    peers = ErasurePeers(
        hospital.db, hospital.contracts.identity_registry, chain_id=hospital.chain_id, post=post, **node
    )
    with hospital.db.session() as session:  # what the hospital's erasure keeps before it passes the request on
        row = {"request_id": signed.request.request_id, "patient": pair.alice.address, "origin": hospital.address}
        session.add(
            ErasureRequestRow(**row, signed=json.dumps(signed.to_json()), outcome="{}", received_at=time.time())
        )
    (status,) = peers.forward(signed, [clinic.address])
    assert (status.status, status.attempts, len(posted)) == (ANSWERED, 1, 1)


@pytest.fixture(scope="module")
def signed_in(pair: Pair) -> dict[str, dict[str, str]]:
    """Alice's and Bob's bearer headers at the hospital."""
    headers = {}
    for name in ("alice", "bob"):
        with FhirClient(pair.url) as client:
            client.login(pair.hospital.unlock(name).account)
            headers[name] = {"Authorization": client._http.headers["Authorization"]}
    return headers


def _parameters(request: object, signature: object = "0x" + "11" * 65) -> dict[str, Any]:
    """`$erase`'s body: her request (its JSON, as a string) and a signature."""
    text = request if isinstance(request, str) else json.dumps(request)
    return {"resourceType": "Parameters", "parameter": [
        {"name": "request", "valueString": text}, {"name": "signature", "valueString": signature},
    ]}  # fmt: skip


def _hers(pair: Pair, **changed: object) -> dict[str, Any]:
    """A well-formed request of Alice's to erase one lab at the hospital, as JSON, with fields `changed`."""
    return {**ErasureRequest.new(pair.alice.address, pair.hospital.address, [pair.labs[0]]).to_json(), **changed}


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_BAD_SIGNATURES = [
    "0x" + "00" * 65,
    "0x" + "ff" * 65,
    "0x",
    "0x" + "11" * 64,
    "0x" + f"{1:064x}{_SECP256K1_N:064x}1b",
    "0x" + "zz" * 65,
    7,
    None,
]


def _bodies(pair: Pair) -> list[tuple[str, object]]:
    """What a stranger may send `$erase`: not JSON, not Parameters, mistyped, malformed or forged; each with the
    name a failure shows."""
    bobs = pair.signed([pair.labs[0]], by="bob")
    return [
        ("not JSON", b'{"resourceType": "Parameters", "parameter": ['),
        ("an array", b"[]"),
        ("deep", b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        ("no parameters", {"resourceType": "Parameters"}),
        ("one parameter", {"resourceType": "Parameters", "parameter": [{"name": "request", "valueString": "{}"}]}),
        (
            "an integer request",
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "request", "valueInteger": 5}, {"name": "signature", "valueString": "0x"}],
            },
        ),
        ("request not JSON", _parameters("{not json")),
        ("request an array", _parameters([1, 2])),
        ("patient a number", _parameters(_hers(pair, patient=5))),
        ("custodian not hex", _parameters(_hers(pair, custodian="0x" + "zz" * 20))),
        ("scope a string", _parameters(_hers(pair, scope="all"))),
        ("scope all false", _parameters(_hers(pair, scope={"all": False}))),
        ("records not ids", _parameters(_hers(pair, scope={"records": [{"$gt": ""}]}))),
        ("too many records", _parameters(_hers(pair, scope={"records": [f"r{n}" for n in range(1001)]}))),
        ("nonce a string", _parameters(_hers(pair, nonce="abc"))),
        ("nonce negative", _parameters(_hers(pair, nonce=-1))),
        ("expiry huge", _parameters(_hers(pair, expiry=2**300))),
        ("expiry a float", _parameters(_hers(pair, expiry=1.5))),
        ("an extra field", _parameters(_hers(pair, extra=1))),
        ("another patient", _parameters(_hers(pair, patient=pair.bob.address))),
        *((f"signature {n}", _parameters(_hers(pair), signature)) for n, signature in enumerate(_BAD_SIGNATURES)),
        ("Bob's signature", _parameters(bobs.request.to_json(), "0x" + bobs.signature.hex())),
    ]


def test_mistyped_malformed_and_forged_erase_bodies_are_4xx_never_500(
    pair: Pair, signed_in: dict[str, dict[str, str]]
) -> None:
    url = f"{pair.url}/Patient/{pair.alice_id}/$erase"
    erased = len([e for e in _erase_entries(pair.hospital) if e.outcome.name == "SUCCESS"])
    for name, body in _bodies(pair):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {**signed_in["alice"], "Content-Type": "application/fhir+json"}
        answer = httpx.post(url, content=content, headers=headers, timeout=30)
        assert 400 <= answer.status_code < 500, f"{name}: {answer.status_code} {answer.text[:300]}"
        assert answer.json()["resourceType"] == "OperationOutcome", name
    huge = _parameters(_hers(pair, scope={"records": ["r" * 64] * 1000}), "0x" + "11" * 65)
    big = httpx.post(url, json={**huge, "padding": "x" * 8_000_000}, headers=signed_in["alice"], timeout=30)
    assert big.status_code == 413, big.text[:300]
    assert len([e for e in _erase_entries(pair.hospital) if e.outcome.name == "SUCCESS"]) == erased
    assert pair.hospital._records.read(pair.labs[0])["id"] == pair.labs[0]


def test_mistyped_malformed_forged_and_huge_notices_are_4xx_never_500(pair: Pair) -> None:
    url = f"{pair.clinic_url}/exchange/erasure"
    genuine = _notice(pair, [pair.labs[0]]).to_json()
    notice = genuine["request"]
    bodies: list[tuple[str, object]] = [
        ("not JSON", b'{"request": {'),
        ("null", b"null"),
        ("deep", b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        ("no signature", {"request": notice}),
        ("request a string", {"request": "x", "signature": genuine["signature"]}),
        ("sender a number", {**genuine, "request": {**notice, "sender": 5}}),
        ("nonce a string", {**genuine, "request": {**notice, "nonce": "x"}}),
        ("expiry huge", {**genuine, "request": {**notice, "expiry": 2**300}}),
        ("her request garbled", {**genuine, "request": {**notice, "request": {"a": [1]}}}),
        ("a field changed", {**genuine, "request": {**notice, "patient": pair.bob.address}}),
        *((f"signature {n}", {**genuine, "signature": signature}) for n, signature in enumerate(_BAD_SIGNATURES)),
        ("huge", {**genuine, "padding": "x" * 200_000}),
    ]
    for name, body in bodies:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        answer = httpx.post(url, content=content, headers={"Content-Type": "application/json"}, timeout=30)
        assert 400 <= answer.status_code < 500, f"{name}: {answer.status_code} {answer.text[:300]}"
        assert answer.json()["resourceType"] == "OperationOutcome", name
    assert pair.clinic._records.read(pair.labs[0])["id"] == pair.labs[0]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_patient_is_answered_exactly_as_one_the_caller_may_not_see(
    pair: Pair, signed_in: dict[str, dict[str, str]], method: str
) -> None:
    body = json.dumps(_parameters(_hers(pair))).encode()
    headers = {**signed_in["bob"], "Content-Type": "application/fhir+json"}
    answers = {}
    for patient_id in (pair.alice_id, "no-such-patient-id"):
        url = f"{pair.url}/Patient/{patient_id}/$erase"
        answer = httpx.request(method, url, content=body if method == "POST" else None, headers=headers)
        answers[patient_id] = (answer.status_code, answer.text.replace(patient_id, "{id}"))
    assert answers[pair.alice_id] == answers["no-such-patient-id"]
    assert answers[pair.alice_id][0] == 404
