"""Messages: a patient's threads with her care team, and the care team's with its patients.

Each page goes through the caller's own door (the patient for herself, a staff member for treatment) and
`node.messages`, which store, seal, count and notify; who may write to whom is the door's to decide, so a
refusal here is the one the API gives. Opening a thread marks what it holds for the reader read.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.access import Accessor, Repository, referenced_wallet
from careledger.portal._names import name_of, reference_names
from careledger.portal._pages import Pages, field
from careledger.portal._patient_routes import as_herself, own_patient_id
from careledger.portal._session import Visit
from careledger.portal._staff_routes import staff_member, treating
from careledger.records import Resource
from careledger.services import Services
from careledger.telehealth import MAX_TEXT, Thread, text_of


@dataclass(frozen=True, slots=True)
class Said:
    """One message of a thread as the page shows it."""

    record_id: str
    sender: str
    mine: bool
    sent: str
    text: str
    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Listed:
    """One thread in the list: its id, whose it is (named), when it began, its first words, unread count."""

    thread: str
    patient: str
    started: str
    preview: str
    unread: int


def message_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The message pages on `router`: `/portal/messages` and a thread's page, for patients and staff alike."""
    sessions = pages.sessions

    async def _reader(visit: Visit) -> Accessor:
        """The caller reading her messages: the patient as herself, a staff member for treatment."""
        caller = visit.signed_in
        return as_herself(caller) if visit.is_patient else treating(await staff_member(node, visit))

    @router.get("/portal/messages")
    async def threads(request: Request) -> Response:
        """Her threads, newest first, with what is unread; a patient may start one with a practitioner."""
        visit = await sessions.visit(request)
        door = node.access.for_caller(await _reader(visit))
        listed = await call(_threads, node, door)
        to = await call(_practitioners, node) if visit.is_patient else []
        unread = sum(t.unread for t in listed)
        return pages.render(request, visit, "messages.html", threads=listed, unread=unread, to=to, limit=MAX_TEXT)

    @router.post("/portal/messages")
    async def start(request: Request) -> Response:
        """A new thread: a patient's to a practitioner, or a staff member's to the patient of a chart."""
        visit = await sessions.visit(request)
        door = node.access.for_caller(await _reader(visit))
        form = await pages.form(request, visit)
        text = field(form, "text", "The message", max_chars=MAX_TEXT)
        if visit.is_patient:
            patient_id = await call(own_patient_id, door)
            to = [field(form, "to", "Whom to write to", max_chars=42)]
        else:
            patient_id, to = field(form, "patient", "The patient", max_chars=64), []
        sent = await call(node.messages.send, door, text, patient=patient_id, to=to)
        return pages.redirect(request, visit, f"/portal/messages/{sent['id']}")

    @router.get("/portal/messages/{thread_id}")
    async def thread(request: Request, thread_id: str) -> Response:
        """A thread, oldest message first, and a form to reply; what was unread in it is read now."""
        visit = await sessions.visit(request)
        door = node.access.for_caller(await _reader(visit))
        said, patient = await call(_thread, node, door, thread_id[:64], visit.is_patient)
        return pages.render(request, visit, "thread.html", thread=thread_id, said=said, patient=patient, limit=MAX_TEXT)

    @router.post("/portal/messages/{thread_id}")
    async def reply(request: Request, thread_id: str) -> Response:
        """A reply in the thread, to its participants."""
        visit = await sessions.visit(request)
        door = node.access.for_caller(await _reader(visit))
        form = await pages.form(request, visit)
        text = field(form, "text", "The reply", max_chars=MAX_TEXT)
        await call(node.messages.send, door, text, thread=thread_id[:64])
        return pages.redirect(request, visit, f"/portal/messages/{thread_id[:64]}")


def _threads(node: Services, door: Repository) -> list[Listed]:
    """The caller's threads, their patients named through her door."""
    found: list[Thread] = node.messages.threads(door)
    name = reference_names(node, door, [{"subject": {"reference": t.patient}} for t in found])
    return [Listed(t.thread, name({"reference": t.patient}), t.started, t.preview, t.unread) for t in found]


def _thread(node: Services, door: Repository, thread_id: str, patient: bool) -> tuple[list[Said], str]:
    """A thread's messages as said to the caller (the patient herself when `patient`), marked read for her, and
    its patient's name."""
    messages = node.messages.read_thread(door, thread_id)
    name = reference_names(node, door, messages)
    said = [_said(m, name(m.get("sender")), door.accessor.address, patient) for m in messages]
    return said, name(messages[0].get("subject"))


def _said(message: Resource, sender: str, me: str, patient: bool) -> Said:
    """One message: its sender named ('You' for the reader), its text and its files' names. A patient's own
    messages name her Patient record, not her wallet: in her own thread, that Patient is she."""
    wallet = referenced_wallet(message.get("sender"))
    mine = wallet == me if wallet is not None else patient
    files = tuple(
        str(p["contentAttachment"].get("title") or p["contentAttachment"].get("contentType") or "a file")
        for p in message.get("payload", [])
        if isinstance(p.get("contentAttachment"), dict)
    )
    sent = str(message.get("sent", ""))
    return Said(str(message["id"]), "You" if mine else sender, mine, sent, text_of(message), files)


def _practitioners(node: Services) -> list[tuple[str, str]]:
    """The practitioners of this node's care team a patient may write to: (wallet, name)."""
    team = [a.address for a in node.identity.practitioners() if node.access.care_team(a.address)]
    return [(address, name_of(node, address)) for address in team]
