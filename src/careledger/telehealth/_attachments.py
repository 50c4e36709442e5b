"""A message's attachments (images, PDFs): checked at the edge, then carried inside the sealed Communication.

An attachment is the Communication's `payload.contentAttachment` with its bytes inline (`data`), so it is sealed
with the message, in one ciphertext blob, to the patient and the custodian, judged by the same policy and
anchored with it. A Binary of its own would be outside the Patient compartment (the node's own resource, which
every signed-in actor reads) and a DocumentReference a second record to keep in step with the message. The
bytes must be what their type says (a PNG that starts as one), so a message cannot carry a script as an image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from careledger.errors import TooLarge, ValidationError

# Raw bytes, in all of one message's attachments: base64 makes it 2.7 MB, within a record's 4 MB.
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
MAX_ATTACHMENTS = 4
# What each accepted type's bytes start with.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
CONTENT_TYPES = tuple(_MAGIC)


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file of a message: its type, bytes and title."""

    content_type: str
    data: bytes
    title: str | None = None

    def __post_init__(self) -> None:
        if self.content_type not in _MAGIC:
            raise ValidationError(f"attachments may be {', '.join(CONTENT_TYPES)}; not {self.content_type[:60]!r}")
        if not self.data.startswith(_MAGIC[self.content_type]):
            raise ValidationError(f"the attachment's bytes are not a {self.content_type} file")
        if len(self.data) > MAX_ATTACHMENT_BYTES:
            raise TooLarge(f"an attachment is {len(self.data):,} bytes; the limit is {MAX_ATTACHMENT_BYTES:,}")

    @classmethod
    def of(cls, value: dict[str, Any]) -> Attachment:
        """From a FHIR Attachment with inline `data` (base64), as a client sends one."""
        try:
            data = base64.b64decode(str(value.get("data", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("an attachment's data is not base64") from exc
        title = value.get("title")
        return cls(str(value.get("contentType", "")), data, str(title) if title else None)

    def fhir(self) -> dict[str, Any]:
        """As a FHIR Attachment: bytes inline, with their size and SHA-1 (as FHIR's `hash` is)."""
        attachment: dict[str, Any] = {
            "contentType": self.content_type,
            "data": base64.b64encode(self.data).decode(),
            "size": len(self.data),
            "hash": base64.b64encode(hashlib.sha1(self.data, usedforsecurity=False).digest()).decode(),
        }
        if self.title:
            attachment["title"] = self.title
        return attachment


def checked(attachments: list[Attachment] | tuple[Attachment, ...]) -> tuple[Attachment, ...]:
    """`attachments` if one message may carry them all (how many, how large in all)."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationError(f"a message carries at most {MAX_ATTACHMENTS} attachments")
    total = sum(len(a.data) for a in attachments)
    if total > MAX_ATTACHMENT_BYTES:
        raise TooLarge(f"the attachments are {total:,} bytes in all; the limit is {MAX_ATTACHMENT_BYTES:,}")
    return tuple(attachments)
