"""Content ids: CIDv1, raw codec, sha2-256, base32, as IPFS names blocks.

Ciphertext blobs are stored and fetched under their CID, so a blob that was changed on
disk or in transit no longer matches its name; `check_content_id` is run on every read.
"""

from __future__ import annotations

from multiformats import CID, multihash

from careledger.errors import IntegrityError, ValidationError


def content_id(data: bytes) -> str:
    """The CIDv1 (raw, sha2-256) of `data`, in its base32 string form."""
    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


def parse_content_id(text: str) -> CID:
    """A CID string we accept: version 1, raw codec, sha2-256."""
    try:
        cid = CID.decode(text)
    except (ValueError, KeyError) as exc:
        raise ValidationError(f"not a content id: {text!r} ({exc})") from None
    if cid.version != 1 or cid.codec.name != "raw" or cid.hashfun.name != "sha2-256":
        raise ValidationError(f"content id {text} is not CIDv1 raw sha2-256")
    return cid


def check_content_id(cid: str, data: bytes) -> None:
    """Raise `IntegrityError` unless `data` is what `cid` names."""
    parse_content_id(cid)
    actual = content_id(data)
    if actual != cid:
        raise IntegrityError(f"content does not match its id: expected {cid}, got {actual}")
