"""A stored note's text, read through the caller's own door: a DocumentReference's inline plain-text attachment, or
a Composition's section narratives.

The note is read as any record is (judged for the caller, audited as hers; one she may not read is told as an
unknown id is), and must be about the patient the suggestions are for.
"""

from __future__ import annotations

import base64
import binascii
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from careledger.errors import UnknownRecord, ValidationError

if TYPE_CHECKING:
    from careledger.access import Repository

NOTE_TYPES = ("DocumentReference", "Composition")
_REFERENCE = re.compile(r"(DocumentReference|Composition)/([A-Za-z0-9\-.]{1,64})")
_BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})


def read_note(door: Repository, reference: str, patient: str) -> str:
    """The text of the note `reference` names (``DocumentReference/<id>`` or ``Composition/<id>``), read through
    `door`; `ValidationError` for another reference, a note about someone else or one without text here."""
    matched = _REFERENCE.fullmatch(reference.strip())
    if matched is None:
        raise ValidationError(f"note must be a DocumentReference or Composition reference, not {reference[:80]!r}")
    kind, record_id = matched.groups()
    note = door.read(record_id)
    if note.get("resourceType") != kind:
        raise UnknownRecord(record_id)  # an id of another type is told as one that is not there
    subject = note.get("subject")
    if not isinstance(subject, dict) or subject.get("reference") != f"Patient/{patient}":
        raise ValidationError(f"{kind}/{record_id} is not a note about Patient/{patient}")
    return note_text(note)


def note_text(note: dict[str, Any]) -> str:
    """The plain text of a DocumentReference (its inline `text/plain` attachments) or a Composition (its title and
    section narratives, tags dropped, blocks on lines of their own)."""
    if note.get("resourceType") == "DocumentReference":
        texts = [_attachment_text(c.get("attachment")) for c in note.get("content", []) if isinstance(c, dict)]
        found = [text for text in texts if text is not None]
        if not found:
            raise ValidationError("the DocumentReference has no inline text/plain attachment to read")
        return "\n\n".join(found)
    lines = [str(note.get("title", ""))]
    lines.extend(_narrative(section) for section in note.get("section", []) if isinstance(section, dict))
    return "\n\n".join(line for line in lines if line.strip())


def _attachment_text(attachment: object) -> str | None:
    """An attachment's inline data as text, if it is plain text (None for any other kind)."""
    if not isinstance(attachment, dict) or not str(attachment.get("contentType", "")).startswith("text/plain"):
        return None
    data = attachment.get("data")
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as bad:
        raise ValidationError("the note's attachment is not base64 UTF-8 text") from bad


def _narrative(section: dict[str, Any]) -> str:
    """A section's title, narrative and sub-sections, as text."""
    parts = [str(section.get("title", ""))]
    text = section.get("text")
    if isinstance(text, dict) and isinstance(text.get("div"), str):
        parser = _Text()
        parser.feed(text["div"])
        parser.close()
        parts.append("".join(parser.parts))
    parts.extend(_narrative(sub) for sub in section.get("section", []) if isinstance(sub, dict))
    return "\n".join(part.strip() for part in parts if part.strip())


class _Text(HTMLParser):
    """XHTML narrative to text: the character data, a line break at each block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002 - HTMLParser's
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
