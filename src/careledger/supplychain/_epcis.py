"""EPCIS 2.0 events: checked against GS1's schema, hashed canonically, signed by the party that made them.

Every event a node captures, whoever built it, passes `validate_document` (GS1's EPCIS 2.0 JSON
Schema, vendored beside this module); its `digest` is the SHA-256 of its RFC 8785 form, and its
actor signs `EpcisEvent(eventId, bizStep, digest)` under EIP-712, the signature travelling inside
the event as two extension members. The node's own events are built here too, so that they have
the same shape whichever face asked for them.

```
body ──▶ validate_document (schema, Draft 7) ──▶ events ──▶ digest (RFC 8785, SHA-256)
                                                    └──▶ signer_of (EIP-712 EpcisEvent, careledger:signature)
```
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar, Unpack

from jsonschema import Draft7Validator, FormatChecker

from careledger.crypto import (
    Bytes32,
    String,
    Struct,
    canonical_json,
    check_signer,
    checksum_address,
    parse_signature,
    recover_typed_data_signer,
    sign_typed_data,
)
from careledger.errors import InvalidSignature, ValidationError
from careledger.supplychain._cbv import BizStep, Disposition, biz_step
from careledger.supplychain._gs1 import Container, Identifier, Pack

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
CARELEDGER_NS = "https://careledger.org/ns/epcis#"
SIGNER = "careledger:signer"
SIGNATURE = "careledger:signature"
PARTY = "careledger:party"  # the party an event's custody step is about, where no source or destination says it
# EPCIS 2.0's event types, in the standard's order.
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
# The times this node keeps and compares: an event's time, a query's bounds (a year 1 or 9999 in another zone is no
# time a database or `datetime` holds in UTC, and no drug pack's).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# Members an event's digest leaves out: its signature, and what a repository adds when it stores or serves
# it (the record time, and the context a lone event is served with), so that the signature holds anywhere.
UNSIGNED = frozenset({SIGNER, SIGNATURE, "recordTime", "@context"})

# Where a document of each kind holds its events.
_EVENT_LISTS = {
    "EPCISDocument": ("epcisBody", "eventList"),
    "EPCISQueryDocument": ("epcisBody", "queryResults", "resultsBody", "eventList"),
}
Item = TypeVar("Item", Pack, Container, Identifier)
_PARTY = re.compile(r"did:pkh:eip155:([1-9][0-9]{0,18}):(0x[0-9a-fA-F]{40})")
_MESSAGE_CHARS = 240


class Malformed(ValidationError):
    """A document refused at one place: `where` (its JSON pointer, or a member's name) and the `rule` it breaks; its
    message, for its sender, may quote the value, and `audited`, for the audit log, never does."""

    def __init__(self, where: str, rule: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.rule = rule

    @property
    def audited(self) -> str:
        """Where the document broke which rule, without its value."""
        return f"{self.where}: {self.rule}"


@functools.cache
def _validator() -> Draft7Validator:
    """GS1's schema, read once; formats `uri` and `date-time` checked (else any string passes as a CBV URI)."""
    text = files("careledger.supplychain").joinpath("schema/EPCIS-JSON-Schema.json").read_text("utf-8")
    return Draft7Validator(json.loads(text), format_checker=FormatChecker(formats=("uri", "date-time")))


def validate_document(body: object) -> list[dict[str, Any]]:
    """The events of an `EPCISDocument`, of an `EPCISQueryDocument` (a query's answer, captured as EPCIS's capture
    interface takes it) or of one event alone, that GS1's EPCIS 2.0 schema accepts; `ValidationError` naming the
    JSON pointer of what it refuses (`epcisBody/eventList/0/action: …`)."""
    if not isinstance(body, dict):
        raise Malformed("EPCIS document", "a JSON object", f"a JSON object, not {type(body).__name__}")
    kind = body.get("type")
    if not isinstance(kind, str) or (kind not in _EVENT_LISTS and kind not in EVENT_TYPES):  # {"type": {}} too
        shown = json.dumps(kind)[:60]
        wanted = f"an EPCISDocument, an EPCISQueryDocument or an EPCIS event ({', '.join(EVENT_TYPES)})"
        raise Malformed("type", "a document or event type", f"{wanted}, not {shown}")
    # The deepest error first: GS1's conditional schema also reports a wrong value as its event not matching.
    error = max(_validator().iter_errors(body), key=lambda error: len(error.absolute_path), default=None)
    if error is not None:
        pointer = "/".join(str(part) for part in error.absolute_path) or "(document)"
        message = error.message if len(error.message) <= _MESSAGE_CHARS else error.message[: _MESSAGE_CHARS - 3] + "..."
        raise Malformed(pointer, f"GS1's schema ({error.validator})", message)
    if kind not in _EVENT_LISTS:
        return [body]
    found: Any = body
    for member in _EVENT_LISTS[kind]:
        found = found.get(member, {} if member != "eventList" else [])
    events: list[dict[str, Any]] = found
    return events


def event_pointer(body: object, index: int) -> str:
    """The JSON pointer (as `validate_document` names one) of the `index`th event of `body`, ending in `/`; empty for
    a lone event."""
    kind = body.get("type") if isinstance(body, dict) else None
    members = _EVENT_LISTS.get(kind, ()) if isinstance(kind, str) else ()
    return "/".join((*members, str(index), "")) if members else ""


def instant(name: str, value: object) -> datetime:
    """An RFC 3339 time with its offset, in UTC, from 1900 up to 9000; `ValidationError` naming `name` otherwise."""
    shown = repr(value[:40]) if isinstance(value, str) else f"a {type(value).__name__}"
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise Malformed(name, "an ISO 8601 date-time", f"{shown} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        raise Malformed(name, "a time with its offset", f"{shown} has no time zone offset (add Z or ±hh:mm)")
    try:
        at = parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 at +01:00 is before year 1 in UTC
        at = EARLIEST - timedelta(days=1)
    if not EARLIEST <= at < LATEST:
        between = f"between {EARLIEST.year} and {LATEST.year}"
        raise Malformed(name, f"a time {between}", f"{shown} is not {between}")
    return at


def digest(event: dict[str, Any]) -> bytes:
    """SHA-256 of the event's RFC 8785 canonical JSON, without its signature (`UNSIGNED`): what its actor signs."""
    return hashlib.sha256(canonical_json({k: v for k, v in event.items() if k not in UNSIGNED})).digest()


@dataclass(frozen=True, slots=True)
class EpcisEvent(Struct):
    """What the actor of an EPCIS event signs (EIP-712, verified by the SupplyChain contract's domain)."""

    PRIMARY_TYPE: ClassVar[str] = "EpcisEvent"
    DOMAIN: ClassVar[tuple[str, str]] = ("CareLedger SupplyChain", "1")
    NOUN: ClassVar[str] = "an EPCIS event's signature"

    event_id: String
    biz_step: String
    digest: Bytes32

    @classmethod
    def of(cls, event: dict[str, Any]) -> EpcisEvent:
        """The struct for `event`: its eventID (which it must have to be signed), its bizStep as a bare CBV word
        (empty if it has none), its digest."""
        event_id = event.get("eventID")
        if not isinstance(event_id, str) or not event_id:
            raise ValidationError("eventID: an event is signed with its eventID, and this one has none")
        step = event.get("bizStep", "")
        if not isinstance(step, str):
            raise ValidationError("bizStep: a string")
        return cls(event_id=event_id, biz_step=biz_step(step), digest=digest(event))


def sign_event(event: dict[str, Any], account: LocalAccount, chain_id: int, contract: str) -> dict[str, Any]:
    """The event signed by `account` for the SupplyChain contract `contract` on chain `chain_id`: a copy with
    `careledger:signer` and `careledger:signature` (65 bytes, hex) set."""
    typed = EpcisEvent.of(event).typed_data(chain_id, contract)
    signature = sign_typed_data(account, typed)
    return {**event, SIGNER: str(account.address), SIGNATURE: "0x" + signature.hex()}


def signer_of(event: dict[str, Any], chain_id: int, contract: str) -> str:
    """Who signed the event (checksummed): `InvalidSignature` if it is unsigned, its signature malformed, or the
    key that made it is not the `careledger:signer` it names (a forged or altered event)."""
    claimed = event.get(SIGNER)
    if not isinstance(claimed, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", claimed):
        raise InvalidSignature(f"the event is not signed: {SIGNER} is not an address")
    signature = parse_signature(event.get(SIGNATURE))
    signer = recover_typed_data_signer(EpcisEvent.of(event).typed_data(chain_id, contract), signature)
    check_signer(claimed, signer)
    return signer


def party_uri(chain_id: int, address: str) -> str:
    """A party as EPCIS events name it: its account as a CAIP-10 DID, `did:pkh:eip155:<chainId>:<address>`."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise ValidationError(f"party: an address (0x and 40 hex digits), not {address!r}")
    return f"did:pkh:eip155:{chain_id}:{checksum_address(bytes.fromhex(address[2:]))}"


def party_address(uri: object) -> tuple[int, str]:
    """The chain id and checksummed address of a party's `did:pkh:eip155:…` URI; `ValidationError` otherwise."""
    match = _PARTY.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise ValidationError(f"party: did:pkh:eip155:<chain id>:<address>, not {json.dumps(uri)[:80]}")
    return int(match[1]), checksum_address(bytes.fromhex(match[2][2:]))


class Where(TypedDict, total=False):
    """When and where an event happened, for the builders: the time (now unless given, with its zone) and
    the read point and business location (GS1 SGLN or Digital Link URIs), omitted unless given."""

    at: datetime
    read_point: str
    biz_location: str


def commissioning(packs: Sequence[Pack], party: str, **where: Unpack[Where]) -> dict[str, Any]:
    """The manufacturer's commissioning of serialised packs of one GTIN, lot and expiry (ObjectEvent ADD, the
    lot and expiry in its ILMD)."""
    first = _one_of_each(packs, "packs")[0]
    if any((pack.gtin, pack.lot, pack.expiry) != (first.gtin, first.lot, first.expiry) for pack in packs):
        raise ValidationError("packs: one commissioning event holds packs of one GTIN, lot and expiry")
    ilmd: dict[str, str] = {}
    if first.lot is not None:
        ilmd["cbvmda:lotNumber"] = first.lot
    if first.expiry is not None:
        ilmd["cbvmda:itemExpirationDate"] = first.expiry.isoformat()
    event = _object_event(packs, "ADD", BizStep.COMMISSIONING, Disposition.ACTIVE, where, party=party)
    return {**event, "ilmd": ilmd} if ilmd else event


def packing(container: Container, children: Sequence[Identifier], party: str, **where: Unpack[Where]) -> dict[str, Any]:
    """Packs (or cases) put into a case or pallet (AggregationEvent ADD)."""
    return _aggregation(container, children, "ADD", BizStep.PACKING, where, party)


def unpacking(
    container: Container, children: Sequence[Identifier], party: str, **where: Unpack[Where]
) -> dict[str, Any]:
    """Packs (or cases) taken out of a case or pallet (AggregationEvent DELETE)."""
    return _aggregation(container, children, "DELETE", BizStep.UNPACKING, where, party)


def shipping(
    items: Sequence[Identifier], source: str, destination: str, shipment_id: str, **where: Unpack[Where]
) -> dict[str, Any]:
    """Items sent by the owning party `source` to `destination` in the shipment `shipment_id` (a UUID)."""
    return _transfer(items, BizStep.SHIPPING, Disposition.IN_TRANSIT, source, destination, shipment_id, where)


def receiving(
    items: Sequence[Identifier], source: str, destination: str, shipment_id: str, **where: Unpack[Where]
) -> dict[str, Any]:
    """Items of the shipment `shipment_id` taken in by `destination`, from `source`."""
    return _transfer(items, BizStep.RECEIVING, Disposition.IN_PROGRESS, source, destination, shipment_id, where)


def dispensing(pack: Pack, party: str, **where: Unpack[Where]) -> dict[str, Any]:
    """A pack handed to a patient by the pharmacy `party`: the event names the pack and the pharmacy only."""
    return _object_event([pack], "OBSERVE", BizStep.DISPENSING, Disposition.DISPENSED, where, party=party)


def decommissioning(packs: Sequence[Pack], party: str, **where: Unpack[Where]) -> dict[str, Any]:
    """Serials ended by their holder for another reason than dispensing or destruction (CBV: ObjectEvent DELETE)."""
    return _object_event(packs, "DELETE", BizStep.DECOMMISSIONING, Disposition.INACTIVE, where, party=party)


def destroying(packs: Sequence[Pack], party: str, **where: Unpack[Where]) -> dict[str, Any]:
    """Packs destroyed by their holder (CBV: ObjectEvent DELETE)."""
    return _object_event(packs, "DELETE", BizStep.DESTROYING, Disposition.DESTROYED, where, party=party)


def document(events: Sequence[dict[str, Any]], *, at: datetime | None = None) -> dict[str, Any]:
    """The events in an EPCISDocument whose context also names CareLedger's extension members."""
    return {
        "@context": [EPCIS_CONTEXT, {"careledger": CARELEDGER_NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(at or datetime.now(UTC)),
        "epcisBody": {"eventList": list(events)},
    }


def _object_event(
    items: Sequence[Identifier],
    action: str,
    step: BizStep,
    disposition: Disposition,
    where: Where,
    **members: Any,
) -> dict[str, Any]:
    epcs = [item.epc for item in _one_of_each(items, "items")]
    return _event("ObjectEvent", action, step, disposition, where, epcList=epcs, **members)


def _aggregation(
    container: Container, children: Sequence[Identifier], action: str, step: BizStep, where: Where, party: str
) -> dict[str, Any]:
    epcs = [child.epc for child in _one_of_each(children, "children")]
    if container.epc in epcs:
        raise ValidationError("children: a container does not hold itself")
    members = {"parentID": container.epc, "childEPCs": epcs, "party": party}
    return _event("AggregationEvent", action, step, Disposition.IN_PROGRESS, where, **members)


def _transfer(
    items: Sequence[Identifier],
    step: BizStep,
    disposition: Disposition,
    source: str,
    destination: str,
    shipment_id: str,
    where: Where,
) -> dict[str, Any]:
    party_address(source)
    party_address(destination)
    if source == destination:
        raise ValidationError("destination: a shipment goes to another party than its source")
    try:
        shipment = uuid.UUID(shipment_id)
    except (ValueError, TypeError, AttributeError):
        raise ValidationError(f"shipment: a UUID, not {shipment_id!r}") from None
    members = {
        "sourceList": [{"type": "owning_party", "source": source}],
        "destinationList": [{"type": "owning_party", "destination": destination}],
        "bizTransactionList": [{"type": "desadv", "bizTransaction": shipment.urn}],
    }
    return _object_event(items, "OBSERVE", step, disposition, where, **members)


def _event(
    kind: str, action: str, step: BizStep, disposition: Disposition, where: Where, **members: Any
) -> dict[str, Any]:
    """An event of the node's own: a fresh `urn:uuid:` eventID, the time with its zone, the step and
    disposition as bare CBV words, the party (if any) as CareLedger's extension member."""
    at = where.get("at") or datetime.now(UTC)
    offset = at.utcoffset()
    if offset is None:
        raise ValidationError("at: a time with its zone")
    party = members.pop("party", None)
    event: dict[str, Any] = {
        "type": kind,
        "eventID": uuid.uuid4().urn,
        "eventTime": _time(at),
        "eventTimeZoneOffset": _zone(offset),
        "action": action,
        **members,
        "bizStep": step.value,
        "disposition": disposition.value,
    }
    if "read_point" in where:
        event["readPoint"] = {"id": where["read_point"]}
    if "biz_location" in where:
        event["bizLocation"] = {"id": where["biz_location"]}
    if party is not None:
        party_address(party)
        event[PARTY] = party
    return event


def _one_of_each(items: Sequence[Item], what: str) -> Sequence[Item]:
    """`items`, unless there are none or one appears twice (EPCIS lists each EPC once)."""
    if not items:
        raise ValidationError(f"{what}: none given")
    epcs = [item.epc for item in items]
    if len(set(epcs)) != len(epcs):
        twice = next(epc for epc in epcs if epcs.count(epc) > 1)
        raise ValidationError(f"{what}: {twice} appears twice")
    return items


def _time(at: datetime) -> str:
    """An RFC 3339 time, to the millisecond, in its own zone."""
    return at.isoformat(timespec="milliseconds")


def _zone(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
