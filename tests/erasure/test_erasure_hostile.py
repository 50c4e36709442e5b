"""Erasure's routes against a hostile network, over real HTTP: `GET`/`POST /Patient/{id}/$erase` and
`POST /exchange/erasure` answer malformed, huge, mistyped, forged and replayed bodies with a 4xx, never a 500;
an unknown patient is answered as a forbidden one; and a notice nobody authenticated writes no audit entry
naming anyone (a stranger cannot fill her accounting with refusals)."""

from __future__ import annotations

import httpx

from careledger.audit import Access
from careledger.config import NODE_WALLET
from careledger.erasure import ErasureNotice, SignedNotice
from careledger.node import Node
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
