"""A patient's accounting gathered from another node at her signed request: sealed, hers alone, single-use."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from eth_account import Account

from careledger.config import NODE_WALLET
from careledger.crypto import sign_typed_data
from careledger.errors import Unauthenticated, ValidationError
from careledger.exchange import AccountingRequest, SignedAccounting
from careledger.records import Category
from tests.exchange.conftest import Network

pytestmark = pytest.mark.anvil


def _signed(network: Network, signer: object, *, patient: str | None = None) -> SignedAccounting:
    typed = network.clinic.accounting_desk.prepare(patient or network.alice.address)
    request = AccountingRequest.from_typed_data(typed)
    return SignedAccounting(request, sign_typed_data(signer, typed))  # type: ignore[arg-type]


def test_her_accounting_at_another_node_is_gathered_only_at_her_request(network: Network) -> None:
    network.grant_labs()
    network.fetch([Category.LABS])  # the hospital shares her labs with the clinic: audited there
    alice = network.hospital.unlock("alice").account
    signed = _signed(network, alice)
    (hospital,) = [n for n in network.clinic.accounting_desk.gather(signed) if n.custodian == network.hospital.address]
    assert hospital.problem is None
    shared = [e for e in hospital.entries if e["interaction"] == "share" and e["agent"] == network.clinic.address]
    assert shared
    assert shared[0]["allowed"]
    assert shared[0]["records"] == len(network.labs)
    assert "resource" not in str(hospital.entries)  # who, what, why: never the records themselves

    url = f"{network.url}/exchange/accounting"
    replayed = httpx.post(url, json=signed.to_json())
    assert replayed.status_code == 401  # each node answers a request once
    assert "already answered" in replayed.text

    stranger = Account.create()
    forged = _signed(network, stranger)
    assert httpx.post(url, json=forged.to_json()).status_code == 401
    with pytest.raises(Unauthenticated, match="not by the patient"):
        network.clinic.accounting_desk.gather(forged)
    by_the_clinic = _signed(network, network.clinic.unlock(NODE_WALLET).account)  # a node may not ask for her
    assert httpx.post(url, json=by_the_clinic.to_json()).status_code == 401

    stale = _signed(network, alice)
    stale = SignedAccounting(dataclasses.replace(stale.request, expiry=stale.request.expiry - 3600), stale.signature)
    assert httpx.post(url, json=stale.to_json()).status_code == 401  # the signature no longer matches either
    assert httpx.post(url, json={"request": {}, "signature": "zz"}).status_code == 400

    answered = httpx.post(url, json=_signed(network, alice).to_json()).json()
    assert set(answered) == {"custodian", "ciphertext", "sealed_key"}  # sealed to the clinic: nothing in the clear
    asked = [
        e for e in network.hospital.audit.entries(patient=network.alice.address) if e.access.interaction == "accounting"
    ]
    assert {e.access.agent for e in asked} == {network.clinic.address}  # each answer is itself in her accounting


def test_a_gathering_names_this_node(network: Network) -> None:
    alice = network.hospital.unlock("alice").account
    typed = network.hospital.accounting_desk.prepare(network.alice.address)  # names the hospital, not the clinic
    signed = SignedAccounting(AccountingRequest.from_typed_data(typed), sign_typed_data(alice, typed))
    with pytest.raises(ValidationError, match="names another node"):
        network.clinic.accounting_desk.gather(signed)
    with pytest.raises(ValidationError, match="not an accounting request"):
        AccountingRequest.from_typed_data({**typed, "primaryType": "Fetch"})
