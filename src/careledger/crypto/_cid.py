"""Content ids: CIDv1, raw codec, sha2-256, base32, as IPFS names blocks.

Ciphertext blobs are stored and fetched under their CID, so a blob that was changed on
disk or in transit no longer matches its name; `check_content_id` is run on every read.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import TYPE_CHECKING

from careledger.errors import IntegrityError, ValidationError

if TYPE_CHECKING:
    from multiformats import CID

# CIDv1 binary prefix: version 1, codec raw (0x55), multihash sha2-256 (0x12) of 32 bytes.
_RAW_SHA256_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])


def content_id(data: bytes) -> str:
    """The CIDv1 (raw, sha2-256) of `data`, in its base32 string form.

    Spelled out rather than built through multiformats' objects, which validate their
    arguments at run time and cost more than the hash itself on the write path; the
    tests hold it equal to `multiformats.CID` for any input.
    """
    digest = hashlib.sha256(data).digest()
    return "b" + base64.b32encode(_RAW_SHA256_PREFIX + digest).decode().lower().rstrip("=")


# Every CIDv1 raw sha2-256 in base32 reads `bafkrei` and 52 more base32 characters.
_CANONICAL = re.compile(r"^bafkrei[a-z2-7]{52}$")


def is_content_id(text: str) -> bool:
    """A cheap exact check that `text` is a CID of the one kind CareLedger makes."""
    return _CANONICAL.fullmatch(text) is not None


def parse_content_id(text: str) -> CID:
    """A CID string we accept: version 1, raw codec, sha2-256."""
    from multiformats import CID  # ~50 ms to import; the hot paths use `is_content_id`

    try:
        cid = CID.decode(text)
    except (ValueError, KeyError) as exc:
        raise ValidationError(f"not a content id: {text!r} ({exc})") from None
    if cid.version != 1 or cid.codec.name != "raw" or cid.hashfun.name != "sha2-256":
        raise ValidationError(f"content id {text} is not CIDv1 raw sha2-256")
    return cid


def check_content_id(cid: str, data: bytes) -> None:
    """Raise `IntegrityError` unless `data` is what `cid` names."""
    actual = content_id(data)
    if actual != cid:
        raise IntegrityError(f"content does not match its id: expected {cid}, got {actual}")
