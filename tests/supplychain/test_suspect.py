"""Suspect product: a verification request and the manufacturer's signed answer, believed only when the pack's
manufacturer (as the chain names it) signed it, about this pack and this request, lately."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_account import Account

from careledger.api import NodeServer
from careledger.audit import ANONYMOUS, Outcome
from careledger.chain import Role, lot_key, pack_key
from careledger.config import NODE_WALLET
from careledger.errors import (
    AccessDenied,
    IntegrityError,
    InvalidSignature,
    NodeUnreachable,
    NotFound,
    Unauthenticated,
    ValidationError,
)
from careledger.node import Node
from careledger.supplychain import Pack
from careledger.supplychain._suspect import (
    Commissioned,
    SignedVerificationAnswer,
    SignedVerificationRequest,
    VerificationAnswer,
    VerificationRequest,
    answer_for,
    believed,
)
from careledger.testdata import PASSPHRASE
from tests.supplychain.conftest import SupplyNetwork

CHAIN_ID = 31337
CONTRACT = "0x" + "22" * 20
GTIN = "09506000134352"
PACK = Pack(GTIN, "S1", "L123", date(2027, 1, 31))
MAKER = Account.create()
ASKER = Account.create()


def _request(pack: Pack = PACK) -> VerificationRequest:
    return VerificationRequest.new(ASKER.address, MAKER.address, pack)


def test_the_manufacturer_verifies_a_pack_it_commissioned_as_scanned() -> None:
    request = _request()
    answer = answer_for(request, Commissioned("L123", date(2027, 1, 31)), int(time.time()))
    assert answer.verified
    assert (answer.pack_key, answer.lot_key, answer.expiry) == (pack_key(GTIN, "S1"), lot_key(GTIN, "L123"), 20270131)
    assert answer.request == request.request_id


@pytest.mark.parametrize(
    ("commissioned", "said"),
    [
        (None, "not commissioned by this manufacturer: no serial S1"),
        (Commissioned("L777", date(2027, 1, 31)), "the lot is L777, not L123"),
        (Commissioned("L123", date(2026, 12, 31)), "the expiry is 2026-12-31, not 2027-01-31"),
    ],
)
def test_the_manufacturer_does_not_verify_what_it_did_not_commission_so(
    commissioned: Commissioned | None, said: str
) -> None:
    answer = answer_for(_request(), commissioned, int(time.time()))
    assert not answer.verified
    assert said in answer.reason


def test_a_request_travels_as_json_and_its_signer_is_recovered() -> None:
    request = _request()
    signed = request.sign(ASKER, CHAIN_ID, CONTRACT)
    back = SignedVerificationRequest.from_json(signed.to_json())
    assert back.request == request
    assert back.signer(CHAIN_ID, CONTRACT) == ASKER.address
    assert back.signer(CHAIN_ID, "0x" + "33" * 20) != ASKER.address  # another network's contract: another signer


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda r: {**r, "packKey": "0x" + "00" * 32}, "packKey is not its pack's"),
        (lambda r: {**r, "pack": {**r["pack"], "gtin": "09506000134353"}}, "gtin: check digit"),
        (lambda r: {**r, "pack": {**r["pack"], "expiry": "2027-02-30"}}, "expiry: '2027-02-30' is not a date"),
        (lambda r: {**r, "pack": {"gtin": GTIN}}, "pack is an object of gtin, serial, lot and expiry"),
        (lambda r: {**r, "asker": "nobody"}, "asker is an address"),
    ],
)
def test_a_malformed_request_is_refused_naming_what(change: object, said: str) -> None:
    body = _request().sign(ASKER, CHAIN_ID, CONTRACT).to_json()
    body["request"] = change(body["request"])  # type: ignore[operator]
    with pytest.raises(ValidationError, match=said):
        SignedVerificationRequest.from_json(body)


def _signed_answer(asked: VerificationRequest, by: object = MAKER, **changes: object) -> SignedVerificationAnswer:
    answer = answer_for(asked, Commissioned("L123", date(2027, 1, 31)), int(time.time()))
    return replace(answer, **changes).sign(by, CHAIN_ID, CONTRACT)  # type: ignore[arg-type]


def test_the_manufacturers_answer_is_believed() -> None:
    request = _request()
    body = _signed_answer(request).to_json()
    answer = believed(
        SignedVerificationAnswer.from_json(body),
        request,
        manufacturer=MAKER.address,
        chain_id=CHAIN_ID,
        contract=CONTRACT,
    )
    assert answer.verified
    assert body["request"]["reason"] == "commissioned by this manufacturer as scanned"


def test_a_forged_answer_is_refused() -> None:
    """Signed by anyone but the pack's manufacturer on chain (the asker's own wallet, say): not believed."""
    request = _request()
    with pytest.raises(IntegrityError, match=f"not by the pack's manufacturer {MAKER.address}"):
        believed(
            _signed_answer(request, by=ASKER), request, manufacturer=MAKER.address, chain_id=CHAIN_ID, contract=CONTRACT
        )


def test_an_answer_changed_after_signing_is_refused() -> None:
    request = _request()
    body = _signed_answer(request).to_json()
    body["request"]["verified"] = False
    body["request"]["reason"] = "counterfeit"
    tampered = SignedVerificationAnswer.from_json(body)
    with pytest.raises(IntegrityError, match="not by the pack's manufacturer"):
        believed(tampered, request, manufacturer=MAKER.address, chain_id=CHAIN_ID, contract=CONTRACT)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"request": b"\x07" * 32}, "another pack or another request"),
        ({"pack_key": pack_key(GTIN, "S2")}, "another pack or another request"),
        ({"at": 1_000_000}, "an old answer is not believed"),
    ],
)
def test_an_answer_to_another_request_or_an_old_one_is_refused(changes: dict[str, object], said: str) -> None:
    request = _request()
    with pytest.raises(IntegrityError, match=said):
        believed(
            _signed_answer(request, **changes),
            request,
            manufacturer=MAKER.address,
            chain_id=CHAIN_ID,
            contract=CONTRACT,
        )


def test_a_signature_that_is_not_one_is_refused() -> None:
    body = _signed_answer(_request()).to_json()
    body["signature"] = "0x1234"
    with pytest.raises(InvalidSignature):
        SignedVerificationAnswer.from_json(body)


def test_the_answers_type_is_the_designs() -> None:
    assert VerificationAnswer.eip712_type() == [
        {"name": "packKey", "type": "bytes32"},
        {"name": "lotKey", "type": "bytes32"},
        {"name": "expiry", "type": "uint32"},
        {"name": "verified", "type": "bool"},
        {"name": "reason", "type": "string"},
        {"name": "at", "type": "uint64"},
        {"name": "request", "type": "bytes32"},
    ]


# Across the network: pharmacy A asks the manufacturer's node over HTTP, as its endpoint on chain says.


@pytest.fixture(scope="module")
def served(supply_network: SupplyNetwork) -> Iterator[SupplyNetwork]:
    """The network, its manufacturer behind an HTTP server whose URL is its endpoint on chain."""
    maker = supply_network.manufacturer
    server = NodeServer(maker, port=0)
    server.start()
    try:
        maker.contracts.identity_registry(as_wallet=NODE_WALLET).update(server.url)
        yield supply_network
    finally:
        server.stop()


def _audited(node: Node) -> Any:
    """The newest verification request `node` audited (asked, or answered)."""
    return SupplyNetwork.audited(node, "supply.verification")


def test_the_manufacturer_answers_a_suspect_pack_signed(served: SupplyNetwork) -> None:
    net, a, maker = served, served.pharmacy_a, served.manufacturer
    (pack,) = net.at_pharmacy()
    a.dispensary.quarantine(pack.element_string, "the seal looks reglued", by=a.address)
    answer = a.dispensary.ask_manufacturer(pack.element_string, by=a.address)
    assert (answer.verified, answer.reason) == (True, "commissioned by this manufacturer as scanned")
    assert (answer.pack_key, answer.lot_key, answer.expiry) == (
        pack_key(pack.gtin, pack.serial),
        lot_key(pack.gtin, "L1"),
        int(pack.expiry.strftime("%Y%m%d")),  # type: ignore[union-attr]
    )
    asked = _audited(a)
    assert (asked.access.outcome, asked.access.agent) == (Outcome.SUCCESS, a.address)
    assert f"verified by {maker.address}" in asked.access.detail
    answered = _audited(maker)
    assert (answered.access.outcome, answered.access.agent) == (Outcome.SUCCESS, a.address)

    relabelled = replace(pack, lot="L9")
    answer = a.dispensary.ask_manufacturer(relabelled.element_string, by=a.address)
    assert (answer.verified, answer.reason) == (False, "the lot is L1, not L9")


def test_a_forged_answer_from_the_manufacturers_endpoint_is_refused(served: SupplyNetwork) -> None:
    """Someone answers at the manufacturer's endpoint (a DNS hijack, a proxy), signing with a key of its own."""
    net, a, maker = served, served.pharmacy_a, served.manufacturer
    (pack,) = net.at_pharmacy()
    registry = maker.contracts.identity_registry(as_wallet=NODE_WALLET)
    previous = registry.actor(maker.address).endpoint  # type: ignore[union-attr]
    with _impostor(a.chain_id, a.contracts.supply_chain().address) as url:
        registry.update(url)
        try:
            with pytest.raises(IntegrityError, match=f"not by the pack's manufacturer {maker.address}"):
                a.dispensary.ask_manufacturer(pack.element_string, by=a.address)
        finally:
            registry.update(previous)
    refused = _audited(a)
    assert refused.access.outcome == Outcome.DENIED
    assert "is refused" in refused.access.detail


def test_the_manufacturer_refuses_a_forged_replayed_or_misaddressed_request(served: SupplyNetwork) -> None:
    net, a, maker = served, served.pharmacy_a, served.manufacturer
    (pack,) = net.at_pharmacy()
    contract = maker.contracts.supply_chain().address
    request = VerificationRequest.new(a.address, maker.address, pack)
    signed = request.sign(a.unlock().account, a.chain_id, contract).to_json()
    assert maker.dispensary.answer_verification(signed)["request"]["verified"] is True
    with pytest.raises(Unauthenticated, match="replay"):
        maker.dispensary.answer_verification(signed)
    forged = VerificationRequest.new(a.address, maker.address, pack).sign(ASKER, a.chain_id, contract).to_json()
    with pytest.raises(InvalidSignature, match="not signed by its asker"):
        maker.dispensary.answer_verification(forged)
    refused = _audited(maker)  # under the key that signed it, not the pharmacy it names
    assert (refused.access.outcome, refused.access.agent) == (Outcome.DENIED, ASKER.address)
    nobody = Account.create()
    unregistered = VerificationRequest.new(nobody.address, maker.address, pack).sign(nobody, a.chain_id, contract)
    with pytest.raises(AccessDenied, match="no party registered on chain"):
        maker.dispensary.answer_verification(unregistered.to_json())
    elsewhere = VerificationRequest.new(a.address, net.wholesaler.address, pack)
    with pytest.raises(ValidationError, match="addressed to"):
        maker.dispensary.answer_verification(elsewhere.sign(a.unlock().account, a.chain_id, contract).to_json())
    assert _audited(maker).access.agent == a.address  # she signed it: hers, though misaddressed
    with pytest.raises(ValidationError):
        maker.dispensary.answer_verification({"request": {"asker": a.address}, "signature": "0x00"})
    malformed = _audited(maker)
    assert (malformed.access.outcome, malformed.access.agent) == (Outcome.DENIED, ANONYMOUS)


def test_only_a_trading_partner_or_a_regulator_may_ask(served: SupplyNetwork) -> None:
    """A party the chain shows holding the pack asks; an organisation that does not, and a patient, are refused,
    audited under who signed; a regulator asks about any pack."""
    net, maker = served, served.manufacturer
    (pack,) = net.at_pharmacy()
    contract = maker.contracts.supply_chain().address

    def ask(node: Node, wallet: str = NODE_WALLET) -> dict[str, Any]:
        account = node.unlock(wallet).account
        request = VerificationRequest.new(account.address, maker.address, pack)
        return maker.dispensary.answer_verification(request.sign(account, node.chain_id, contract).to_json())

    b = net.pharmacy_b
    with pytest.raises(AccessDenied, match="neither holds nor receives this pack"):
        ask(b)
    assert (_audited(maker).access.agent, _audited(maker).access.outcome) == (b.address, Outcome.DENIED)
    wallet = b.wallets.create("suspicious-patient", Role.PATIENT, PASSPHRASE)
    b.contracts.identity_registry(as_wallet="suspicious-patient").register(wallet.role, wallet.encryption_key)
    with pytest.raises(AccessDenied, match="registered as a patient, not an organisation's node"):
        ask(b, "suspicious-patient")
    assert _audited(maker).access.agent == wallet.address
    assert ask(net.regulator)["request"]["verified"] is True
    assert ask(net.pharmacy_a)["request"]["verified"] is True


def test_the_manufacturers_refusal_or_silence_is_told_as_such(served: SupplyNetwork) -> None:
    """Its node's 403 is not the asker's own 403, nor its silence a crash: both are said, and audited."""
    net, b, maker = served, served.pharmacy_b, served.manufacturer
    (pack,) = net.at_pharmacy()  # pharmacy B does not hold it: the manufacturer refuses B
    with pytest.raises(IntegrityError, match=r"^the manufacturer's node refused: .*neither holds nor receives"):
        b.dispensary.ask_manufacturer(pack.element_string, by=b.address)
    refused = _audited(b)
    assert (refused.access.outcome, refused.access.agent) == (Outcome.DENIED, b.address)
    assert "refused" in refused.access.detail
    registry = maker.contracts.identity_registry(as_wallet=NODE_WALLET)
    previous = registry.actor(maker.address).endpoint  # type: ignore[union-attr]
    registry.update("http://127.0.0.1:9")  # nothing listens there
    try:
        with pytest.raises(NodeUnreachable, match=r"^the manufacturer's node did not answer"):
            net.pharmacy_a.dispensary.ask_manufacturer(pack.element_string, by=net.pharmacy_a.address)
    finally:
        registry.update(previous)
    assert _audited(net.pharmacy_a).access.outcome == Outcome.DENIED


def test_a_pack_no_manufacturer_commissioned_cannot_be_asked_about(served: SupplyNetwork) -> None:
    (fake,) = served.packs(1)
    with pytest.raises(NotFound, match="treat it as counterfeit"):
        served.pharmacy_a.dispensary.ask_manufacturer(fake.element_string, by=served.pharmacy_a.address)


@contextmanager
def _impostor(chain_id: int, contract: str) -> Iterator[str]:
    """An HTTP endpoint that answers any verification request with an answer signed by a key of its own."""

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            request = SignedVerificationRequest.from_json(body).request
            answer = answer_for(request, Commissioned("L1", date(2031, 1, 31)), int(time.time()))
            payload = json.dumps(answer.sign(ASKER, chain_id, contract).to_json()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
