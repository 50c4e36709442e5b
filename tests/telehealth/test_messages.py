"""Messages: threads of sealed Communications between a patient and her care team (`careledger.telehealth`)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from careledger.access import AFFILIATION, Accessor, Repository, wallet_reference
from careledger.access._policy import NOT_MESSAGEABLE, NOT_THE_SENDER
from careledger.config import NODE_WALLET
from careledger.errors import AccessDenied, NotFound, TooLarge, TooMany, ValidationError, Withheld
from careledger.fhir import fhir_instant
from careledger.records import Resource
from careledger.telehealth import (
    MAX_ATTACHMENT_BYTES,
    MAX_STREAMS,
    Attachment,
    Event,
    Events,
    LocalBus,
    Messages,
    Readers,
    Receipts,
    stream,
    text_of,
)
from tests.access.conftest import World, built_world

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16 + b"a-very-private-rash-photo" * 4
PDF = b"%PDF-1.7\n" + b"lab letter"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Alice, drbob in the node's care team, mallory related to no one (so far), one node for the module."""
    with built_world(tmp_path_factory.mktemp("messages") / "home") as world:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        yield world


@pytest.fixture(scope="module")
def alice_patient(world: World) -> str:
    return world.node._records.list(resource_type="Patient", patient_address=world.alice.address)[0].record_id


def door(world: World, who: str) -> Repository:
    return world.node.access.for_caller(Accessor(who))


def messages(world: World) -> Messages:
    return world.node.messages


def test_a_thread_keeps_its_order_and_counts_unread_and_receipts(world: World, alice_patient: str) -> None:
    alice, drbob = world.alice.address, world.drbob.address
    before = messages(world).unread(drbob).total
    head = messages(world).send(door(world, alice), "My rash is worse", patient=alice_patient, to=[drbob])
    assert head["sender"] == {"reference": f"Patient/{alice_patient}"}
    assert head["recipient"] == [wallet_reference("Practitioner", drbob, world.node.chain_id)]
    assert messages(world).unread(drbob).threads[head["id"]] == 1
    assert messages(world).unread(drbob).total == before + 1

    reply = messages(world).send(door(world, drbob), "Send me a photo", thread=head["id"])
    assert reply["partOf"] == [{"reference": f"Communication/{head['id']}"}]
    assert reply["recipient"][0] == {"reference": f"Patient/{alice_patient}"}
    again = messages(world).send(
        door(world, alice), "Here", thread=reply["id"], attachments=[Attachment("image/png", PNG)]
    )
    assert again["recipient"] == head["recipient"]  # a reply goes to the thread's practitioners
    assert messages(world).unread(alice).threads == {head["id"]: 1}

    thread = messages(world).read_thread(door(world, drbob), head["id"])
    assert [text_of(m) for m in thread] == ["My rash is worse", "Send me a photo", "Here"]
    assert messages(world).unread(drbob).threads.get(head["id"]) is None
    receipts = {r.reader: r.read_at for r in messages(world).receipts(door(world, alice), again["id"])}
    assert set(receipts) == {alice, drbob}
    assert all(at is not None for at in receipts.values())
    unread_reply = {r.reader: r.read_at for r in messages(world).receipts(door(world, alice), reply["id"])}
    assert unread_reply[alice] is None
    assert unread_reply[drbob] is not None

    receipt = messages(world).mark_read(door(world, alice), reply["id"])
    assert receipt.read_at is not None
    assert messages(world).mark_read(door(world, alice), reply["id"]).read_at == receipt.read_at  # read once
    assert messages(world).unread(alice).threads == {}
    threads = messages(world).threads(door(world, alice))
    assert next((t.thread, t.preview, t.unread) for t in threads) == (head["id"], "My rash is worse", 0)


def test_a_message_to_an_unrelated_practitioner_is_refused_and_audited(world: World, alice_patient: str) -> None:
    alice, mallory = world.alice.address, world.mallory.address
    unknown = "0x" + "12" * 20
    refusals = []
    for to in (mallory, unknown):
        with pytest.raises(AccessDenied) as refused:
            messages(world).send(door(world, alice), "hello?", patient=alice_patient, to=[to])
        refusals.append(str(refused.value))
        entry = world.node.audit.entries()[-1]
        assert (entry.access.agent, entry.access.allowed) == (alice, False)
        assert NOT_MESSAGEABLE in str(entry.access.detail)
    assert refusals[0] == refusals[1]  # an unrelated practitioner is told as an unknown one
    assert messages(world).unread(mallory).total == 0
    # The plain FHIR create through the door is refused alike.
    plain = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{alice_patient}"},
        "recipient": [wallet_reference("Practitioner", mallory, world.node.chain_id)],
        "payload": [{"contentString": "psst"}],
    }
    with pytest.raises(AccessDenied, match=NOT_MESSAGEABLE):
        door(world, alice).write(plain)
    named_otherwise = {**plain, "recipient": [{"reference": "Practitioner/someone"}]}
    with pytest.raises(AccessDenied, match=NOT_MESSAGEABLE):
        door(world, alice).write(named_otherwise)
    # No one writes a message as someone else: not the patient as her doctor, not the doctor as the patient.
    drbob = world.drbob.address
    as_her_doctor = {
        **plain,
        "sender": wallet_reference("Practitioner", drbob, world.node.chain_id),
        "recipient": [wallet_reference("Practitioner", drbob, world.node.chain_id)],
    }
    with pytest.raises(AccessDenied, match=NOT_THE_SENDER):
        door(world, alice).write(as_her_doctor)
    as_the_patient = {**plain, "sender": {"reference": f"Patient/{alice_patient}"}, "recipient": []}
    with pytest.raises(AccessDenied, match=NOT_THE_SENDER):
        door(world, drbob).write(as_the_patient)
    assert door(world, drbob).write({**as_the_patient, "sender": as_her_doctor["sender"]}).version == 1


def test_a_visit_lets_her_message_the_practitioner(world: World, alice_patient: str) -> None:
    alice, mallory = world.alice.address, world.mallory.address
    node = door(world, world.node.address)
    node.write(
        {
            "resourceType": "Practitioner",
            "id": "mallory",
            "identifier": [wallet_reference("Practitioner", mallory, world.node.chain_id)["identifier"]],
        }
    )

    def appointment(record_id: str, status: str) -> None:
        node.write(
            {
                "resourceType": "Appointment",
                "id": record_id,
                "status": status,
                "participant": [
                    {"actor": {"reference": f"Patient/{alice_patient}"}, "status": "accepted"},
                    {"actor": {"reference": "Practitioner/mallory"}, "status": "accepted"},
                ],
            }
        )

    appointment("visit-cancelled", "cancelled")
    with pytest.raises(AccessDenied, match=NOT_MESSAGEABLE):
        messages(world).send(door(world, alice), "about my visit", patient=alice_patient, to=[mallory])
    appointment("visit-booked", "booked")
    sent = messages(world).send(door(world, alice), "about my visit", patient=alice_patient, to=[mallory])
    assert messages(world).unread(mallory).threads == {sent["id"]: 1}
    # She reads it under the visit's consent (careledger.telehealth's Visits), as any record of the patient's.


def test_an_attachment_is_sealed_at_rest(world: World, alice_patient: str) -> None:
    marker = b"a-very-private-rash-photo"
    sent = messages(world).send(
        door(world, world.alice.address),
        "photo",
        patient=alice_patient,
        to=[world.drbob.address],
        attachments=[Attachment("image/png", PNG, "rash.png"), Attachment("application/pdf", PDF)],
    )
    read = messages(world).thread(door(world, world.drbob.address), sent["id"])[0]
    attachment = read["payload"][1]["contentAttachment"]
    assert base64.b64decode(attachment["data"]) == PNG
    assert attachment["contentType"] == "image/png"
    world.node.audit.flush()
    home: Path = world.node.home.path
    clear = (marker, base64.b64encode(PNG)[12:40], b'photo"', b"lab letter")
    for path in home.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(c in content for c in clear), path


@pytest.mark.parametrize(
    ("content_type", "data", "error"),
    [
        ("text/html", b"<script>alert(1)</script>", ValidationError),
        ("image/png", PDF, ValidationError),  # bytes that are not what their type says
        ("application/pdf", b"%PDF-" + b"x" * MAX_ATTACHMENT_BYTES, TooLarge),
    ],
)
def test_a_bad_attachment_is_refused(content_type: str, data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        Attachment(content_type, data)


def test_too_many_bytes_in_all_and_empty_messages_are_refused(world: World, alice_patient: str) -> None:
    half = Attachment("application/pdf", b"%PDF-" + b"x" * (MAX_ATTACHMENT_BYTES // 2))
    with pytest.raises(TooLarge):
        messages(world).send(
            door(world, world.alice.address),
            "",
            patient=alice_patient,
            to=[world.drbob.address],
            attachments=[half] * 3,
        )
    with pytest.raises(ValidationError, match="text or an attachment"):
        messages(world).send(door(world, world.alice.address), "  ", patient=alice_patient, to=[world.drbob.address])


def test_a_stranger_neither_reads_nor_marks_a_thread(world: World, alice_patient: str) -> None:
    sent = messages(world).send(
        door(world, world.alice.address), "private", patient=alice_patient, to=[world.drbob.address]
    )
    stranger = door(world, world.mallory.address)
    with pytest.raises(Withheld):  # told as an unknown id is (404)
        messages(world).thread(stranger, sent["id"])
    with pytest.raises(Withheld):
        messages(world).mark_read(stranger, sent["id"])
    with pytest.raises(NotFound, match="not sent to you"):  # the node reads it, but it was not sent to the node
        messages(world).mark_read(door(world, world.node.address), sent["id"])


def test_a_stream_hears_a_message_without_its_text(world: World, alice_patient: str) -> None:
    async def heard() -> Event:
        subscription = messages(world).events.subscribe(world.drbob.address, asyncio.get_running_loop())
        try:
            await asyncio.to_thread(
                messages(world).send,
                door(world, world.alice.address),
                "secret words",
                patient=alice_patient,
                to=[world.drbob.address],
            )
            return await asyncio.wait_for(subscription.queue.get(), 5)
        finally:
            subscription.close()

    event = asyncio.run(heard())
    assert event.kind == "message"
    assert set(event.data) == {"thread", "communication", "unread"}
    assert event.data["unread"] >= 1
    assert "secret" not in event.sse()


CLINIC = "0x" + "c1" * 20
HOSPITAL = "0x" + "a1" * 20


@dataclass
class Carried:
    """The exchange's courier as `Messages` sees it, keeping what it was handed (the courier itself is tested
    between two real nodes in tests/exchange/test_delivery.py)."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, communication: Resource, to_node: str, *, patient: str) -> None:
        self.sent.append((str(communication["id"]), to_node, patient))

    def custodian_of(self, patient: str) -> str:
        return HOSPITAL


def test_only_a_visit_booked_for_her_opens_messaging(world: World, alice_patient: str) -> None:
    """Not an Appointment she wrote herself, nor a hold left pending, nor one only proposed."""
    alice, zed = world.alice.address, str(to_checksum_address("0x" + "7e" * 20))
    participants = [
        {"actor": {"reference": f"Patient/{alice_patient}"}, "status": "accepted"},
        {"actor": wallet_reference("Practitioner", zed, world.node.chain_id), "status": "accepted"},
    ]
    door(world, alice).write(
        {"resourceType": "Appointment", "id": "self-booked", "status": "booked", "participant": participants}
    )
    for status in ("pending", "proposed"):
        door(world, world.node.address).write(
            {"resourceType": "Appointment", "id": f"visit-{status}", "status": status, "participant": participants}
        )
    with pytest.raises(AccessDenied, match=NOT_MESSAGEABLE):
        messages(world).send(door(world, alice), "you never saw me", patient=alice_patient, to=[zed])
    assert messages(world).unread(zed).total == 0


def test_a_practitioner_of_another_node_gets_it_through_the_courier(world: World, alice_patient: str) -> None:
    carol = str(to_checksum_address("0x" + "ca" * 20))
    carried = Carried()
    readers = Readers(b"k" * 32)
    elsewhere = Messages(
        Receipts(world.node.db, readers),
        Events(LocalBus(), readers),
        custodian=world.node.address,
        chain_id=world.node.chain_id,
        node_of=lambda wallet: CLINIC if wallet == carol else None,
        courier=lambda: carried,
    )
    node = door(world, world.node.address)
    node.write(
        {
            "resourceType": "Appointment",
            "id": "visit-carol",
            "status": "booked",
            "participant": [
                {"actor": {"reference": f"Patient/{alice_patient}"}, "status": "accepted"},
                {"actor": wallet_reference("Practitioner", carol, world.node.chain_id), "status": "accepted"},
            ],
        }
    )
    sent = elsewhere.send(door(world, world.alice.address), "to the clinic", patient=alice_patient, to=[carol])
    assert carried.sent == [(sent["id"], CLINIC, world.alice.address)]
    # Her care team's message to her names Carol too: it stays here, as she has not consented to Carol.
    elsewhere.send(door(world, world.drbob.address), "for Carol to see", patient=alice_patient, to=[carol])
    assert carried.sent == [(sent["id"], CLINIC, world.alice.address)]
    # A reply written here by the care team to a thread of a patient kept elsewhere goes to her custodian.
    delivered = {
        "resourceType": "Communication",
        "id": "from-afar",
        "status": "completed",
        "subject": {"reference": "Patient/kept-at-the-hospital"},
        "sender": {"reference": "Patient/kept-at-the-hospital"},
        "recipient": [wallet_reference("Practitioner", world.drbob.address, world.node.chain_id)],
        "payload": [{"contentString": "from afar"}],
    }
    node.write(delivered, patient_address=world.guardian.address)
    reply = elsewhere.send(door(world, world.drbob.address), "answered", thread="from-afar")
    assert reply["subject"] == {"reference": "Patient/kept-at-the-hospital"}
    assert carried.sent[-1] == (reply["id"], HOSPITAL, world.guardian.address)


def test_a_stream_ends_with_its_session_and_a_reader_holds_few(world: World) -> None:
    events = messages(world).events

    async def ended() -> list[str]:
        loop = asyncio.get_running_loop()
        held = [events.subscribe(world.mallory.address, loop) for _ in range(MAX_STREAMS)]
        with pytest.raises(TooMany):
            events.subscribe(world.mallory.address, loop)
        for subscription in held[1:]:
            subscription.close()

        async def signed_out() -> bool:
            return False

        said = [line async for line in stream(held[0], [], signed_out, heartbeat=0.05)]
        events.subscribe(world.mallory.address, loop).close()  # the ended stream's place is free again
        return said

    said = asyncio.run(ended())
    assert said[0] == ": connected\n\n"
    assert said[-1].startswith("event: end\n")


def test_a_stream_opens_with_the_visits_soon_to_come(world: World, alice_patient: str) -> None:
    node = door(world, world.node.address)
    identifier = wallet_reference("Practitioner", world.drbob.address, world.node.chain_id)["identifier"]
    node.write({"resourceType": "Practitioner", "id": "drbob-record", "identifier": [identifier]})
    now = datetime.now(UTC)

    def visit(record_id: str, hours: float) -> None:
        start = now + timedelta(hours=hours)
        node.write(
            {
                "resourceType": "Appointment",
                "id": record_id,
                "status": "booked",
                "start": fhir_instant(start),
                "end": fhir_instant(start + timedelta(minutes=30)),
                "participant": [
                    {"actor": {"reference": f"Patient/{alice_patient}"}, "status": "accepted"},
                    {"actor": {"reference": "Practitioner/drbob-record"}, "status": "accepted"},
                ],
            }
        )

    visit("soon", 2)
    visit("next-week", 24 * 7)

    async def opening(wallet: str) -> list[str]:
        async def still() -> bool:
            return True

        lines = messages(world).notifications(wallet, asyncio.get_running_loop(), still)
        said = [await anext(lines) for _ in range(3)]
        await lines.aclose()  # type: ignore[attr-defined]
        return said

    for wallet in (world.alice.address, world.drbob.address):
        said = asyncio.run(opening(wallet))
        assert said[1].startswith("event: message\n")
        assert said[2].startswith("event: reminder\n")
        assert '"appointment":"soon"' in said[2]
        assert "next-week" not in "".join(said)
