"""Messages between two real nodes on anvil, each a `careledger serve` process: a patient's message to a
practitioner of the other node, his reply, sealed on the wire and on both disks; every refusal stores nothing."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from careledger.access import AFFILIATION, Accessor
from careledger.access._policy import NOT_MESSAGEABLE
from careledger.api import NodeProcess, free_port
from careledger.audit import Outcome
from careledger.chain import Role, open_chain
from careledger.client import FhirClient
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.errors import AccessDenied, TooLarge, Unauthenticated, ValidationError
from careledger.exchange import (
    MAX_DELIVERY_BYTES,
    Courier,
    Delivered,
    Delivery,
    Outbox,
    Queued,
    SignedDelivery,
    delivered_id,
)
from careledger.fhir import URI
from careledger.identity import Wallet, did_pkh
from careledger.node import Node
from careledger.records import Category, Resource
from careledger.telehealth import text_of
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients
from tests.exchange.hostile import PROPERTY, from_outside, refused_or_parsed

pytestmark = pytest.mark.anvil

ROOT = Path(__file__).resolve().parents[2]
SECRET = "my rash is back after the new cream"
REPLY = "stop the cream; a photo tomorrow please"


@dataclass
class Post:
    """Alice, a patient of the hospital, with a visit booked at the clinic with Carol, a practitioner of the clinic;
    Erin, of the clinic too, whom she has no visit with; Bob, of the hospital; Dave, of none.

    Both nodes serve (`careledger serve`); `hospital` and `clinic` are operators' handles on their homes.
    """

    hospital: Node
    clinic: Node
    alice: Wallet
    alice_id: str
    carol: str
    bob: str
    dave: str
    dead_node: str
    erin: str
    clinic_server: NodeProcess | None = None

    def account(self, kind: str, address: str) -> dict[str, Any]:
        """A Reference to `address` by its did:pkh, as a message names a practitioner of another node."""
        return {"type": kind, "identifier": {"system": URI, "value": did_pkh(self.hospital.chain_id, address)}}

    def from_alice(self, message_id: str, to: str, text: str = SECRET) -> Resource:
        """Alice's message to the practitioner `to`."""
        patient = {"reference": f"Patient/{self.alice_id}"}
        return {
            "resourceType": "Communication",
            "id": message_id,
            "status": "completed",
            "subject": patient,
            "sender": patient,
            "recipient": [self.account("Practitioner", to)],
            "payload": [{"contentString": text}],
        }

    def to_alice(self, message_id: str, author: str, answers: str | None = None) -> Resource:
        """The practitioner `author`'s message to Alice, answering `answers` if given."""
        message: Resource = {
            "resourceType": "Communication",
            "id": message_id,
            "status": "completed",
            "subject": {"reference": f"Patient/{self.alice_id}"},
            "sender": self.account("Practitioner", author),
            "recipient": [{"reference": f"Patient/{self.alice_id}"}],
            "payload": [{"contentString": REPLY}],
        }
        if answers:
            message["inResponseTo"] = [{"reference": f"Communication/{answers}"}]
        return message

    def at_clinic(self, message_id: str) -> str:
        """The id the clinic keeps a message of the hospital's under."""
        return delivered_id(self.hospital.address, message_id)

    def at_hospital(self, message_id: str) -> str:
        """The id the hospital keeps a message of the clinic's under."""
        return delivered_id(self.clinic.address, message_id)

    def kept(self, node: Node) -> set[str]:
        """The ids of Alice's records `node` keeps."""
        return {s.record_id for s in node._records.list(patient_address=self.alice.address)}

    def wire(self, message: Resource, to: Node | None = None) -> dict[str, Any]:
        """The body the hospital posts to deliver `message` to `to` (the clinic)."""
        courier = self.hospital.courier
        return courier.sign(courier.pack(message, (to or self.clinic).address, patient=self.alice.address)).to_json()


@pytest.fixture(scope="module")
def post(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Post]:
    root = tmp_path_factory.mktemp("post")
    ports = free_port(), free_port()
    with open_chain("anvil", chain_dir=root / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        hospital = founding_node(root / "hospital", settings, endpoint=f"http://127.0.0.1:{ports[0]}")
        clinic = joining_node(root / "clinic", settings, hospital, endpoint=f"http://127.0.0.1:{ports[1]}")
        try:
            post = _people(hospital, clinic)
            servers = [
                NodeProcess(node.home, port, passphrase=PASSPHRASE, cwd=ROOT)
                for node, port in zip((hospital, clinic), ports, strict=True)
            ]
            for server in servers:
                server.launch()
            try:
                for server in servers:
                    server.wait_ready()
                post.clinic_server = servers[1]
                yield post
            finally:
                for server in servers:
                    if server.running:
                        server.stop()
        finally:
            clinic.close()
            hospital.close()


def _people(hospital: Node, clinic: Node) -> Post:
    registry = hospital.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.grant_role("ISSUER_ROLE", clinic.address)
    alice = hospital.wallets.create("alice", Role.PATIENT, PASSPHRASE)
    registry.register_actor(alice.address, alice.role, alice.encryption_key)
    alice_id = hospital._records.write(synthetic_patients(1, seed=5)[0].patient, patient_address=alice.address)
    people = {}
    for name in ("carol", "bob", "dave", "dead", "erin"):
        wallet = Account.create()
        role = Role.ORG if name == "dead" else Role.PRACTITIONER
        endpoint = f"http://127.0.0.1:{free_port()}" if name == "dead" else ""  # nothing listens there
        registry.register_actor(wallet.address, role, alice.encryption_key, endpoint)
        people[name] = wallet.address
    until = int(time.time()) + 3600
    for practitioner in ("carol", "erin"):
        clinic.contracts.identity_registry(as_wallet=NODE_WALLET).attest(people[practitioner], AFFILIATION, until)
    registry.attest(people["bob"], AFFILIATION, until)
    post = Post(
        hospital,
        clinic,
        alice,
        alice_id.record_id,
        people["carol"],
        people["bob"],
        people["dave"],
        people["dead"],
        people["erin"],
    )
    # Her visit with Carol, booked by the clinic (her records are at the hospital: she is named by her wallet).
    clinic.access.for_caller(Accessor(clinic.address)).write(
        {
            "resourceType": "Appointment",
            "id": "visit-at-the-clinic",
            "status": "booked",
            "participant": [
                {"actor": post.account("Patient", alice.address), "status": "accepted"},
                {"actor": post.account("Practitioner", post.carol), "status": "accepted"},
            ],
        },
        patient_address=alice.address,
    )
    return post


def _post_raw(node: Node, body: dict[str, Any]) -> None:
    """Post `body` to `node`'s `/exchange/messages` as another node would."""
    with FhirClient(_endpoint(node)) as client:
        client.deliver(body)


def _nothing_in_clear(post: Post, text: str) -> None:
    """`text` is on neither node's disk: their databases, blobs and keys, the outbox's rows. Read by another
    process: closing a database file in this one would drop the SQLite locks of its handles."""
    homes = [str(node.home.path) for node in (post.hospital, post.clinic)]
    found = subprocess.run(["grep", "-rlF", text, *homes], capture_output=True, text=True, check=False)
    assert (found.returncode, found.stdout) == (1, ""), found.stdout


def _endpoint(node: Node) -> str:
    return node.contracts.identity_registry().require_actor(node.address).endpoint


def test_a_message_travels_sealed_to_the_other_node_and_the_reply_comes_back(post: Post) -> None:
    message = post.from_alice("msg-rash", post.carol)
    post.hospital._records.write(message)  # kept where she wrote it, as her Messages do
    body = post.wire(message)
    assert SECRET not in json.dumps(body)
    _post_raw(post.clinic, body)
    assert post.clinic._records.read(post.at_clinic("msg-rash"))["payload"] == [{"contentString": SECRET}]
    assert post.clinic.messages.unread(post.carol).total == 1  # her unread count, and her stream, told
    provenance = next(s for s in post.clinic._records.list(resource_type="Provenance"))
    source = post.clinic._records.read(provenance.record_id)
    assert source["agent"][0]["who"]["identifier"]["value"].endswith(post.hospital.address)
    assert source["target"] == [{"reference": f"Communication/{post.at_clinic('msg-rash')}"}]
    received = [e.access for e in post.clinic.audit.entries(patient=post.alice.address)]
    assert [(a.agent, a.interaction) for a in received if a.interaction == "receive"] == [
        (post.hospital.address, "receive")
    ]
    # The reply goes to her custodian, which keeps it beside her message.
    assert post.clinic.courier.custodian_of(post.alice.address) == post.hospital.address
    reply = post.to_alice("msg-reply", post.carol, answers=post.at_clinic("msg-rash"))
    receipt = post.clinic.courier.send(reply, post.hospital.address, patient=post.alice.address)
    assert (receipt.communication_id, receipt.duplicate) == (post.at_hospital("msg-reply"), False)
    kept = post.hospital._records.read(post.at_hospital("msg-reply"))
    assert kept["payload"] == [{"contentString": REPLY}]
    assert kept["inResponseTo"] == [{"reference": "Communication/msg-rash"}]  # her message, as the hospital names it
    # Delivered again (a receipt lost on the way): acknowledged, kept once.
    again = post.clinic.courier.send(reply, post.hospital.address, patient=post.alice.address)
    assert again.duplicate
    assert len([s for s in post.hospital._records.list(resource_type="Communication")]) == 2
    for text in (SECRET, REPLY):
        _nothing_in_clear(post, text)


def test_forged_misaddressed_replayed_expired_unregistered_tampered_and_huge_deliveries_are_refused(
    post: Post,
) -> None:
    before = post.kept(post.clinic)
    body = post.wire(post.from_alice("msg-refused", post.carol))
    stranger = Account.create()
    delivery = SignedDelivery.from_json(body).request
    registry = post.hospital.contracts.identity_registry().address
    chain_id = post.hospital.chain_id

    def signed(request: Delivery, account: Any = None) -> dict[str, Any]:
        key = account or post.hospital.unlock(NODE_WALLET).account
        return request.sign(key, chain_id, registry).to_json()

    forged = {**body, "signature": signed(delivery, stranger)["signature"]}
    with pytest.raises(Unauthenticated, match="signed by"):
        _post_raw(post.clinic, forged)
    with pytest.raises(ValidationError, match="not this node"):
        _post_raw(post.clinic, post.wire(post.from_alice("msg-elsewhere", post.carol), to=post.hospital))
    with pytest.raises(Unauthenticated, match="expired"):
        _post_raw(post.clinic, signed(dataclasses.replace(delivery, expiry=int(time.time()) - 1)))
    unregistered = signed(dataclasses.replace(delivery, sender=stranger.address), stranger)
    for _ in range(2):  # no nonce is spent for a sender no one registered: the second is no "replay"
        with pytest.raises(Unauthenticated, match="not an active registered node"):
            _post_raw(post.clinic, unregistered)
    ciphertext = base64.b64decode(body["request"]["content"]["ciphertext"])
    flipped = base64.b64encode(bytes([ciphertext[0] ^ 1]) + ciphertext[1:]).decode()
    tampered = {**body["request"], "content": {**body["request"]["content"], "ciphertext": flipped}}
    with pytest.raises(Unauthenticated, match="signed by"):
        _post_raw(post.clinic, {**body, "request": tampered})
    # Signed by the sender, but sealed to no key of this node's: it does not open.
    resealed = dataclasses.replace(delivery, content=tampered["content"], nonce=delivery.nonce ^ 1)
    with pytest.raises(ValidationError, match="does not open"):
        _post_raw(post.clinic, signed(resealed))
    huge = httpx.post(
        f"{_endpoint(post.clinic)}/exchange/messages",
        content=b'{"request": "' + b"A" * MAX_DELIVERY_BYTES + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert post.kept(post.clinic) == before
    _post_raw(post.clinic, body)
    with pytest.raises(Unauthenticated, match="replay"):
        _post_raw(post.clinic, body)
    added = post.kept(post.clinic) - before
    assert post.at_clinic("msg-refused") in added
    assert len(added) == 2  # and its Provenance, message-…


def test_a_sender_without_standing_is_refused_and_audited(post: Post) -> None:
    before_clinic, before_hospital = post.kept(post.clinic), post.kept(post.hospital)
    with pytest.raises(AccessDenied, match="care team"):
        _post_raw(post.clinic, post.wire(post.from_alice("msg-dave", post.dave)))
    # The clinic is not her custodian: it may not write to Bob as her.
    clinic = post.clinic.courier
    with pytest.raises(AccessDenied, match="sender node is not the patient's custodian"):
        clinic.send(post.from_alice("msg-as-her", post.bob), post.hospital.address, patient=post.alice.address)
    # Carol writes first, with no message of Alice's to answer and no consent of hers.
    with pytest.raises(AccessDenied, match="has not written"):
        clinic.send(post.to_alice("msg-cold", post.carol), post.hospital.address, patient=post.alice.address)
    # Dave is of no node's care team: the clinic cannot answer in his name.
    with pytest.raises(AccessDenied, match="sender node's care team"):
        clinic.send(post.to_alice("msg-dave-2", post.dave), post.hospital.address, patient=post.alice.address)
    assert (post.kept(post.clinic), post.kept(post.hospital)) == (before_clinic, before_hospital)
    for node, sender, refusals in ((post.clinic, post.hospital, 1), (post.hospital, post.clinic, 3)):
        denied = [e.access for e in node.audit.entries(patient=post.alice.address) if e.access.interaction == "message"]
        assert [(a.agent, a.outcome) for a in denied] == [(sender.address, Outcome.DENIED)] * refusals


def test_her_own_delivery_and_one_to_a_practitioner_she_has_no_visit_with_are_refused(post: Post) -> None:
    before = post.kept(post.clinic)
    hospital = post.hospital
    herself = Courier(
        hospital.contracts.identity_registry,
        address=post.alice.address,
        account=lambda: hospital.unlock("alice").account,
        chain_id=hospital.chain_id,
        outbox=Outbox(hospital.db),
    )
    parcel = herself.pack(post.from_alice("msg-direct", post.erin), post.clinic.address, patient=post.alice.address)
    with pytest.raises(AccessDenied, match="custodian"):
        _post_raw(post.clinic, herself.sign(parcel).to_json())
    # Her custodian delivers it, but Erin is no one she has a visit with or consents to: the clinic judges that.
    with pytest.raises(AccessDenied, match=NOT_MESSAGEABLE):
        hospital.courier.send(post.from_alice("msg-erin", post.erin), post.clinic.address, patient=post.alice.address)
    # Carol's address on another chain is no one of this deployment's.
    elsewhere = post.from_alice("msg-other-chain", post.carol)
    elsewhere["recipient"][0]["identifier"]["value"] = f"did:pkh:eip155:{hospital.chain_id + 1}:{post.carol}"
    with pytest.raises(AccessDenied, match="no practitioner of this node's care team"):
        hospital.courier.send(elsewhere, post.clinic.address, patient=post.alice.address)
    assert post.kept(post.clinic) == before
    denied = [e.access for e in post.clinic.audit.entries(patient=post.alice.address) if e.access.allowed is False]
    assert [a.agent for a in denied[-3:]] == [post.alice.address, hospital.address, hospital.address]


def test_a_sender_names_only_its_own_messages_here_and_a_retry_at_once_is_kept_once(post: Post) -> None:
    # An id the clinic uses (her Appointment there): no Conflict that would tell it is taken, and nothing taken.
    receipt = post.hospital.courier.send(
        post.from_alice("visit-at-the-clinic", post.carol), post.clinic.address, patient=post.alice.address
    )
    assert not isinstance(receipt, Queued)
    assert receipt.communication_id == post.at_clinic("visit-at-the-clinic") != "visit-at-the-clinic"
    assert post.clinic._records.read("visit-at-the-clinic")["resourceType"] == "Appointment"
    # Two deliveries of one message at the same moment (a retry racing the first): stored once, both acknowledged.
    parcel = post.hospital.courier.pack(
        post.from_alice("msg-twice", post.carol), post.clinic.address, patient=post.alice.address
    )
    bodies = [post.hospital.courier.sign(parcel).to_json() for _ in range(2)]

    def deliver(body: dict[str, Any]) -> Delivered:
        with FhirClient(_endpoint(post.clinic)) as client:
            return Delivered.from_json(client.deliver(body))

    with ThreadPoolExecutor(2) as pool:
        receipts = list(pool.map(deliver, bodies))
    assert sorted(r.duplicate for r in receipts) == [False, True]
    assert {r.communication_id for r in receipts} == {post.at_clinic("msg-twice")}


def test_a_visit_consent_lets_the_practitioner_write_first(post: Post) -> None:
    terms = post.hospital.consent.terms(post.alice.address, post.carol, [Category.GENERAL], [Purpose.TREAT], days=1)
    post.hospital.consent.grant("alice", terms)
    receipt = post.clinic.courier.send(
        post.to_alice("msg-visit", post.carol), post.hospital.address, patient=post.alice.address
    )
    assert not receipt.duplicate
    assert post.hospital._records.read(post.at_hospital("msg-visit"))["sender"] == post.account(
        "Practitioner", post.carol
    )


def test_a_node_that_does_not_answer_is_tried_again_then_the_message_waits_sealed(post: Post) -> None:
    waits: list[float] = []
    hospital, now = post.hospital, [time.time()]
    courier = Courier(
        hospital.contracts.identity_registry,
        address=hospital.address,
        account=lambda: hospital.unlock(NODE_WALLET).account,
        chain_id=hospital.chain_id,
        outbox=Outbox(hospital.db, clock=lambda: now[0]),
        sleep=waits.append,
    )
    queued = courier.send(post.from_alice("msg-lost", post.carol), post.dead_node, patient=post.alice.address)
    assert isinstance(queued, Queued)
    assert (queued.receiver, waits) == (post.dead_node, [0.5, 1.0, 2.0])
    assert "cannot reach" in queued.reason
    assert all(w.parcel_id != queued.parcel_id for w in courier.outbox.due(100))  # not due yet
    now[0] += 60
    (waiting,) = [w for w in courier.outbox.due(100) if w.parcel_id == queued.parcel_id]
    assert SECRET not in json.dumps(waiting.content)
    _nothing_in_clear(post, SECRET)  # the outbox's row included
    assert courier.flush() == 0  # still down: it waits twice as long
    (again,) = [
        w for w in Outbox(hospital.db, clock=lambda: time.time() + 7200).due(100) if w.receiver == post.dead_node
    ]
    assert again.attempts == waiting.attempts + 1
    courier.outbox.done(queued.parcel_id)


def test_a_photo_travels_with_its_message_past_the_small_open_bodies(post: Post) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1024  # 256 KiB: sixteen times an open body's limit
    message = post.from_alice("msg-photo", post.carol, "a photo of the rash")
    message["payload"].append(
        {"contentAttachment": {"contentType": "image/png", "data": base64.b64encode(photo).decode()}}
    )
    receipt = post.hospital.courier.send(message, post.clinic.address, patient=post.alice.address)
    assert not isinstance(receipt, Queued)
    kept = post.clinic._records.read(post.at_clinic("msg-photo"))["payload"][1]["contentAttachment"]
    assert base64.b64decode(kept["data"]) == photo


def test_what_is_not_a_message_or_too_big_is_not_sent(post: Post) -> None:
    courier = post.hospital.courier
    with pytest.raises(ValidationError, match="only a Communication"):
        courier.pack({"resourceType": "Observation"}, post.clinic.address, patient=post.alice.address)
    with pytest.raises(TooLarge):
        courier.pack(
            post.from_alice("msg-big", post.carol, "x" * MAX_DELIVERY_BYTES),
            post.clinic.address,
            patient=post.alice.address,
        )


def test_no_body_from_outside_makes_the_postbox_fail(post: Post) -> None:
    good = post.wire(post.from_alice("msg-fuzz", post.carol))

    @PROPERTY
    @given(body=from_outside(good) | st.just(good))
    def refused_or_kept(body: Any) -> None:
        refused_or_parsed(lambda: post.clinic.postbox.receive(SignedDelivery.from_json(body)))

    refused_or_kept()


def test_messages_between_her_and_a_practitioner_of_another_node_appear_on_both_sides(post: Post) -> None:
    """The whole way, as the portal and the API use it: her Messages at the hospital, his at the clinic."""
    hospital, clinic = post.hospital, post.clinic
    hospital.access.for_caller(Accessor(hospital.address)).write(
        {
            "resourceType": "Appointment",
            "id": "visit-carol",
            "status": "booked",
            "participant": [
                {"actor": {"reference": f"Patient/{post.alice_id}"}, "status": "accepted"},
                {"actor": post.account("Practitioner", post.carol), "status": "accepted"},
            ],
        }
    )
    hers = hospital.access.for_caller(Accessor(post.alice.address))
    head = hospital.messages.send(hers, "the itch keeps me awake", patient=post.alice_id, to=[post.carol])
    his = clinic.access.for_caller(Accessor(post.carol, Purpose.TREAT))
    there = post.at_clinic(head["id"])
    assert [text_of(m) for m in clinic.messages.thread(his, there)] == ["the itch keeps me awake"]
    assert clinic.messages.unread(post.carol).threads[there] == 1
    reply = clinic.messages.send(his, "an antihistamine at night, then we see", thread=there)
    thread = hospital.messages.read_thread(hers, head["id"])
    assert [m["id"] for m in thread] == [head["id"], post.at_hospital(reply["id"])]
    assert text_of(thread[1]) == "an antihistamine at night, then we see"
    for text in ("the itch keeps me awake", "an antihistamine at night"):
        _nothing_in_clear(post, text)


def test_a_message_queued_while_the_node_was_down_arrives_when_it_is_back(post: Post) -> None:
    assert post.clinic_server is not None
    post.clinic_server.stop()
    courier = post.hospital.courier
    queued = courier.send(post.from_alice("msg-later", post.carol), post.clinic.address, patient=post.alice.address)
    assert isinstance(queued, Queued)
    post.clinic_server.start()
    # The hospital's server (another process than the one that queued it) tries it again in its rounds.
    deadline = time.monotonic() + 90
    while post.at_clinic("msg-later") not in post.kept(post.clinic) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert post.clinic._records.read(post.at_clinic("msg-later"))["payload"] == [{"contentString": SECRET}]
    assert all(w.parcel_id != queued.parcel_id for w in Outbox(post.hospital.db, clock=lambda: 2e9).due(100))
