"""`careledger message ...`: send, list, read and count messages between patients and their care team."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.access import Accessor, Repository
from careledger.cli._context import acts_as, address_of, open_node
from careledger.cli._options import JsonFlag, QuietFlag
from careledger.cli._output import console, print_id, print_json
from careledger.errors import ValidationError
from careledger.records import Resource
from careledger.services import Operations
from careledger.telehealth import Attachment, text_of

app = typer.Typer(help="Messages between patients and their care team: send, list, read, unread.", no_args_is_help=True)

AsOption = Annotated[str, typer.Option("--as", help="Who writes or reads: a wallet name (or address) kept here.")]


def _door(node: Operations, who: str) -> Repository:
    """The guarded repository of `who` (the identity she acts as): every message is judged and audited as hers."""
    return node.access.for_caller(Accessor(acts_as(node, who)))


def _attachment(path: Path) -> Attachment:
    kind, _ = mimetypes.guess_type(path.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    return Attachment(kind or "application/octet-stream", data, path.name)


def message_json(message: Resource) -> dict[str, Any]:
    """A message as the commands print it: ids, when, who, text, and its attachments' names (not their bytes)."""
    attachments = [p["contentAttachment"] for p in message.get("payload", []) if "contentAttachment" in p]
    return {
        "id": message["id"],
        "thread": next((str(r["reference"]).removeprefix("Communication/") for r in message.get("partOf", [])), None)
        or message["id"],
        "sent": message.get("sent"),
        "sender": message.get("sender"),
        "text": text_of(message),
        "attachments": [{"contentType": a.get("contentType"), "title": a.get("title")} for a in attachments],
    }


@app.command()
def send(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The message's text.")],
    as_wallet: AsOption,
    patient: Annotated[str | None, typer.Option("--patient", help="A new thread about this Patient (its id).")] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Reply in this thread (any message's id).")] = None,
    to: Annotated[
        list[str] | None, typer.Option("--to", help="A practitioner (wallet name or address); repeat for more.")
    ] = None,
    attach: Annotated[list[Path] | None, typer.Option("--attach", help="A PNG, JPEG, GIF or PDF; repeatable.")] = None,
    json: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Send a message as --as: a new thread (--patient, --to) or a reply (--thread); prints the message's id."""
    files = [_attachment(path) for path in attach or []]
    with open_node(ctx) as node:
        wallets = [address_of(node, who) for who in to or []]
        sent = node.messages.send(
            _door(node, as_wallet), text, patient=patient, to=wallets, thread=thread, attachments=files
        )
    if quiet:
        print_id(sent["id"])
    elif json:
        print_json(message_json(sent))
    else:
        console.print(f"sent Communication/{sent['id']} in thread {message_json(sent)['thread']}", markup=False)


@app.command(name="list")
def list_threads(ctx: typer.Context, as_wallet: AsOption, json: JsonFlag = False) -> None:
    """The threads --as takes part in, the newest first, with her unread count in each."""
    with open_node(ctx) as node:
        threads = node.messages.threads(_door(node, as_wallet))
    if json:
        print_json([t.as_json() for t in threads])
        return
    table = Table("thread", "patient", "started", "unread", "first words")
    for t in threads:
        table.add_row(t.thread, t.patient, t.started, str(t.unread), t.preview)
    console.print(table)


@app.command()
def read(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread (any message's id).")],
    as_wallet: AsOption,
    json: JsonFlag = False,
) -> None:
    """The messages of a thread, oldest first; those sent to --as are marked read (read receipts)."""
    with open_node(ctx) as node:
        messages = node.messages.read_thread(_door(node, as_wallet), thread)
    if json:
        print_json([message_json(m) for m in messages])
        return
    for message in messages:
        shown = message_json(message)
        files = "".join(f" [{a['title'] or a['contentType']}]" for a in shown["attachments"])
        console.print(f"{shown['sent']}  {message['id']}\n  {shown['text']}{files}", markup=False)


@app.command()
def unread(ctx: typer.Context, as_wallet: AsOption, json: JsonFlag = False) -> None:
    """How many messages --as has not read, in all and per thread."""
    with open_node(ctx) as node:
        found = node.messages.unread(acts_as(node, as_wallet))
    if json:
        print_json(found.as_json())
        return
    console.print(f"{found.total} unread", markup=False)
    for thread, count in found.threads.items():
        console.print(f"  {thread}: {count}", markup=False)
