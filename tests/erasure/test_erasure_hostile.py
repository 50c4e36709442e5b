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
from sqlalchemy import event

from careledger.audit import Access
from careledger.config import NODE_WALLET
from careledger.erasure import ANSWERED, ErasureNotice, ErasurePeers, SignedNotice
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
