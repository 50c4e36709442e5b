"""A record version's proof as it travels: a FHIR extension on a Bundle entry, or the parts of a parameter.

One list of named, typed values, written two ways: as the sub-extensions of the complex extension
`PROOF_URL` on the `Bundle.entry` that carries the resource (an export, `$everything?_proofs=true`),
or as the `part`s of the `proof` parameter of a `Parameters` (`$verify`). The resource itself is not
touched: its canonical bytes are what the proof commits to. Every value is read back into a checked
type, so a malformed file is told as such (`ValidationError`), never a traceback.

Hashes, keys and addresses are 0x-prefixed hex strings, as `cast` takes them; the chain id is a decimal
string (it can outgrow FHIR's 32-bit integer); docs/proofs.md lists the fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from careledger.errors import ValidationError

PROOF_URL = "https://careledger.org/fhir/StructureDefinition/record-proof"

_HEX = re.compile(r"^0x[0-9a-f]*$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_CID = re.compile(r"^bafkrei[a-z2-7]{52}$")
_CATEGORY = re.compile(r"^[a-z][a-z-]{0,31}$")
_MAX_SIBLINGS = 255  # RecordAnchor's proof bound


@dataclass(frozen=True, slots=True)
class AnchorPoint:
    """Where a batch's root was anchored: the contract on which chain, and (as the node saw it) when."""

    root: bytes
    contract: str
    chain_id: int
    block: int | None = None
    transaction: str | None = None
    anchored_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordProof:
    """What links one version's canonical bytes to a root on chain.

    `data_key`/`nonce` re-encrypt the resource to its ciphertext (whose content id is `cid`); the salted
    commitment is that of (salt, cid, patient, type, version); `siblings` lead from it to `anchor.root`.
    `anchor` is None while the version waits for its batch; `salt`, `data_key` and `nonce` are None where
    they were destroyed (an erased version: its commitment links to nothing any more).
    """

    patient: str
    category: str
    cid: str
    salt: bytes | None
    commitment: bytes
    data_key: bytes | None = None
    nonce: bytes | None = None
    leaf_index: int | None = None
    siblings: tuple[bytes, ...] = ()
    anchor: AnchorPoint | None = None

    def _values(self) -> Iterator[tuple[str, str, Any]]:
        """(name, FHIR value type, value) of each field, in the order they are written."""
        yield "patient", "String", self.patient
        yield "category", "Code", self.category
        if self.cid:
            yield "cid", "String", self.cid
        if self.salt is not None:
            yield "salt", "String", _hex(self.salt)
        yield "commitment", "String", _hex(self.commitment)
        if self.data_key is not None and self.nonce is not None:
            yield "dataKey", "String", _hex(self.data_key)
            yield "nonce", "String", _hex(self.nonce)
        if self.anchor is None:
            return
        if self.leaf_index is not None:
            yield "leafIndex", "UnsignedInt", self.leaf_index
        for sibling in self.siblings:
            yield "sibling", "String", _hex(sibling)
        anchor = self.anchor
        yield "root", "String", _hex(anchor.root)
        yield "contract", "String", anchor.contract
        yield "chainId", "String", str(anchor.chain_id)
        if anchor.block is not None:
            yield "block", "UnsignedInt", anchor.block
        if anchor.transaction is not None:
            yield "transaction", "String", anchor.transaction
        if anchor.anchored_at is not None:
            yield "anchoredAt", "Instant", anchor.anchored_at.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def extension(self) -> dict[str, Any]:
        """The proof as a complex FHIR extension (for a `Bundle.entry`)."""
        return {
            "url": PROOF_URL,
            "extension": [{"url": name, f"value{kind}": value} for name, kind, value in self._values()],
        }

    def parts(self) -> list[dict[str, Any]]:
        """The proof as the parts of a `Parameters.parameter` (for `$verify`)."""
        return [{"name": name, f"value{kind}": value} for name, kind, value in self._values()]

    @classmethod
    def from_extension(cls, extension: Mapping[str, Any]) -> RecordProof:
        """A proof from its complex extension; `ValidationError` naming what is missing or malformed."""
        return cls._read(_fields(extension.get("extension"), "url"))

    @classmethod
    def from_parts(cls, parts: Any) -> RecordProof:
        """A proof from the parts of a `proof` parameter; `ValidationError` as `from_extension`."""
        return cls._read(_fields(parts, "name"))

    @classmethod
    def _read(cls, fields: dict[str, list[Any]]) -> RecordProof:
        read = _Reader(fields)
        anchor = None
        if "root" in fields:
            anchor = AnchorPoint(
                root=read.hex("root", 32),
                contract=read.address("contract"),
                chain_id=read.integer("chainId"),
                block=read.integer("block") if "block" in fields else None,
                transaction=_hex(read.hex("transaction", 32)) if "transaction" in fields else None,
                anchored_at=read.instant("anchoredAt") if "anchoredAt" in fields else None,
            )
        keyed = "dataKey" in fields or "nonce" in fields
        return cls(
            patient=read.address("patient"),
            category=read.matching("category", _CATEGORY, "a record category"),
            cid=read.matching("cid", _CID, "a CIDv1 raw sha2-256 content id") if "cid" in fields else "",
            salt=read.hex("salt", 32) if "salt" in fields else None,
            commitment=read.hex("commitment", 32),
            data_key=read.hex("dataKey", 32) if keyed else None,
            nonce=read.hex("nonce", 12) if keyed else None,
            leaf_index=read.integer("leafIndex") if "leafIndex" in fields else None,
            siblings=tuple(read.hex_each("sibling", 32)),
            anchor=anchor,
        )


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _fields(items: Any, key: str) -> dict[str, list[Any]]:
    """The values of a list of `{key: name, value[x]: value}` by name, each name's in order."""
    if not isinstance(items, list):
        raise ValidationError("a proof is a list of named values")
    fields: dict[str, list[Any]] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(key), str):
            raise ValidationError(f"each value of a proof has a {key}")
        values = [value for name, value in item.items() if name.startswith("value")]
        if len(values) != 1:
            raise ValidationError(f"the proof's {item[key]!r} has {len(values)} values, not one")
        fields.setdefault(item[key], []).append(values[0])
    return fields


class _Reader:
    """Reads a proof's named values into checked types, naming the one at fault."""

    def __init__(self, fields: dict[str, list[Any]]) -> None:
        self._fields = fields

    def one(self, name: str) -> Any:
        values = self._fields.get(name)
        if not values:
            raise ValidationError(f"the proof has no {name}")
        if len(values) > 1:
            raise ValidationError(f"the proof has {len(values)} values of {name}, not one")
        return values[0]

    def text(self, name: str, value: Any = None) -> str:
        value = self.one(name) if value is None else value
        if not isinstance(value, str):
            raise ValidationError(f"the proof's {name} is not a string")
        return value

    def matching(self, name: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.text(name)
        if not pattern.fullmatch(value):
            raise ValidationError(f"the proof's {name} is not {what}: {value[:80]!r}")
        return value

    def address(self, name: str) -> str:
        return self.matching(name, _ADDRESS, "an address (0x and 40 hex digits)")

    def hex(self, name: str, size: int, value: Any = None) -> bytes:
        text = self.text(name, value).lower()
        if not _HEX.fullmatch(text) or len(text) != 2 + 2 * size:
            raise ValidationError(f"the proof's {name} is not {size} bytes of 0x-prefixed hex: {text[:80]!r}")
        return bytes.fromhex(text[2:])

    def hex_each(self, name: str, size: int) -> Sequence[bytes]:
        values = self._fields.get(name, [])
        if len(values) > _MAX_SIBLINGS:
            raise ValidationError(f"the proof has {len(values)} values of {name}, more than {_MAX_SIBLINGS}")
        return [self.hex(name, size, value) for value in values]

    def integer(self, name: str) -> int:
        value = self.one(name)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 78:
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValidationError(f"the proof's {name} is not a whole number: {str(value)[:80]!r}")

    def instant(self, name: str) -> datetime:
        text = self.text(name)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"the proof's {name} is not an instant: {text[:80]!r}") from None
        if when.tzinfo is None:
            raise ValidationError(f"the proof's {name} has no time zone: {text[:80]!r}")
        return when
