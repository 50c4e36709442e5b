"""Facade of SupplyChain.vy: serialised packs from their manufacturer to the pharmacy that dispenses them.

Packs, lots and containers are named on chain by keys computed the same way here and in
the contract (`pack_key`, `lot_key`, `container_key`), so a scanned identifier finds its
pack without the chain holding the serial in clear; the contract itself computes the key
of what it creates (a pack from its GTIN and serial, a case from its SSCC). Calls that take
many items are sent in chunks, pipelined (`_send_many`); a shipment is one transaction,
because its receive must name the same items. Logs are read from the contract's
deployment block on, `log_span` blocks a request (hosted RPCs cap the range); what is
read often needs none: a shipment keeps its block, a decommissioned pack its own. The
contract's `supply: …` refusals come back as the `careledger.errors` a face maps to an HTTP
status (`supply_refusal`); no patient is ever named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from careledger.chain._facades import ChainEvent, ContractFacade
from careledger.errors import AccessDenied, CareLedgerError, Conflict, NotFound, ValidationError

if TYPE_CHECKING:
    from careledger.chain._backends import Receipt
    from careledger.chain._signer import TxRequest

REGULATOR_ROLE = keccak(b"REGULATOR_ROLE")
MAX_ITEMS = 500  # SupplyChain.MAX_ITEMS: the most items one transaction takes
# Items per transaction when the facade splits a long list: a commission costs ~27,000 gas a pack, so 150 stay
# under the 5 M gas the memory chain gives a transaction (anvil's blocks hold 30 M).
CHUNK = 150
_ZERO = bytes(32)
_NOW = (2**63, 0)  # a position after every log: a stay in a container not ended yet
_TEXT_BYTES = 20  # String[20]: GS1 AI 10 (lot) and AI 21 (serial) are 1..20 characters


class PackState(IntEnum):
    """A pack's or container's state, custody resolved (the contract's constants; 0: never commissioned)."""

    UNKNOWN = 0
    ACTIVE = 1
    IN_TRANSIT = 2
    DECOMMISSIONED = 3


class Reason(IntEnum):
    """Why a pack was decommissioned: dispensed to a patient (not named), destroyed, or another reason."""

    DISPENSED = 1
    DESTROYED = 2
    OTHER = 3


@dataclass(frozen=True, slots=True)
class PackStatus:
    """Where a pack (or a case, a pallet) is: its custody resolved through the containers it is packed in."""

    key: bytes
    state: PackState
    holder: str | None  # the custody holder; the sender while in transit
    receiver: str | None  # while in transit
    manufacturer: str | None
    lot: bytes | None
    expiry: date | None
    recalled: bool
    container: bytes | None  # the container it is packed in
    reason: Reason | None  # why it was decommissioned
    gtin: str | None = None
    is_container: bool = False
    decommissioned_in: int | None = None  # the block (2**32 - 1: that block or a later one)


@dataclass(frozen=True, slots=True)
class Admission:
    """A manufacturer's admission by a regulator: its GS1 company prefix, licence hash, expiry."""

    manufacturer: str
    company_prefix: str
    licence: bytes
    expires_at: int
    regulator: str
    revoked: bool

    def in_force(self, now: int) -> bool:
        """Whether it lets the manufacturer commission at chain time `now`."""
        return not self.revoked and self.expires_at > now


@dataclass(frozen=True, slots=True)
class Lot:
    """A lot as its first commission opened it, and whether it is recalled."""

    key: bytes
    manufacturer: str
    gtin: str
    expiry: date | None  # None for a date no calendar has (a deployment before the contract checked days)
    recalled: bool


@dataclass(frozen=True, slots=True)
class Shipment:
    """A shipment's parties, the hash of its items, whether it is still to be received, and its block."""

    shipment: bytes
    sender: str
    receiver: str
    items_hash: bytes
    open: bool
    shipped_in: int = 0


def pack_key(gtin: str, serial: str) -> bytes:
    """A pack's key: keccak256(abi_encode(uint64(gtin), keccak256(serial))), as the contract computes it."""
    from eth_abi import encode

    return keccak(encode(["uint64", "bytes32"], [_gtin_number(gtin), keccak(_text("serial", serial))]))


def lot_key(gtin: str, lot: str) -> bytes:
    """A lot's key: keccak256(abi_encode(uint64(gtin), keccak256(lot)))."""
    from eth_abi import encode

    return keccak(encode(["uint64", "bytes32"], [_gtin_number(gtin), keccak(_text("lot", lot))]))


def container_key(sscc: str) -> bytes:
    """A case's or pallet's key: keccak256(abi_encode(uint64(0), uint256(sscc)))."""
    from eth_abi import encode

    return keccak(encode(["uint64", "uint256"], [0, _sscc_number(sscc)]))


def items_hash(items: Sequence[bytes]) -> bytes:
    """What a shipment keeps of its items: keccak256(abi_encode(items)), order included."""
    from eth_abi import encode

    return keccak(encode(["bytes32[]"], [list(items)]))


class SupplyChain(ContractFacade):
    """Admissions, commissioning, aggregation, shipments, decommissioning and recalls of medicine packs."""

    contract_name = "SupplyChain"

    def grant_regulator(self, account: str) -> Receipt:
        """Make `account` a regulator, who admits manufacturers and may recall any lot (the admin)."""
        return self._send("grantRole", REGULATOR_ROLE, to_checksum_address(account))

    def is_regulator(self, account: str) -> bool:
        """Whether `account` holds REGULATOR_ROLE."""
        return bool(self._call("hasRole", REGULATOR_ROLE, to_checksum_address(account)))

    def admit(self, manufacturer: str, company_prefix: str, licence: bytes, expires_at: int) -> Receipt:
        """Admit a manufacturer with its GS1 company prefix (4-12 digits) and licence hash until `expires_at`
        (unix seconds); the signer must be a regulator."""
        if not (company_prefix.isascii() and company_prefix.isdigit() and 4 <= len(company_prefix) <= 12):
            raise ValidationError(f"company prefix: {company_prefix!r} is not 4 to 12 digits")
        if len(licence) != 32:
            raise ValidationError("licence: the hash of a licence is 32 bytes")
        return self._send(
            "admit", to_checksum_address(manufacturer), int(company_prefix), len(company_prefix), licence, expires_at
        )

    def revoke_admission(self, manufacturer: str) -> Receipt:
        """Revoke a manufacturer's admission (a regulator): it commissions nothing more."""
        return self._send("revoke_admission", to_checksum_address(manufacturer))

    def admission(self, manufacturer: str) -> Admission | None:
        """A manufacturer's admission, lapsed or revoked ones included; None if it was never admitted."""
        regulator, prefix, digits, licence, expires_at, revoked = self._call(
            "admission", to_checksum_address(manufacturer)
        )
        if digits == 0:
            return None
        return Admission(
            to_checksum_address(manufacturer),
            str(prefix).zfill(digits),
            bytes(licence),
            int(expires_at),
            to_checksum_address(regulator),
            bool(revoked),
        )

    def commission(self, gtin: str, lot: str, expiry: date, serials: Sequence[str]) -> list[Receipt]:
        """Commission serials of one lot as the signer (an admitted manufacturer), in chunks of `CHUNK`."""
        number = _gtin_number(gtin)
        _text("lot", lot)
        for serial in serials:
            _text("serial", serial)
        _unique("serial", serials)
        stamp = int(expiry.strftime("%Y%m%d"))
        return self._send_chunks(lambda chunk: self._request("commission", number, lot, stamp, chunk), serials)

    def pack(self, sscc: str, children: Sequence[bytes]) -> list[Receipt]:
        """Pack items the signer holds into the case or pallet of `sscc` (created on its first packing, at
        `container_key(sscc)`), in chunks; the contract checks the SSCC's check digit."""
        number = _sscc_number(sscc)
        _unique("item", children)
        return self._send_chunks(lambda chunk: self._request("pack", number, chunk), children)

    def unpack(self, sscc: str, children: Sequence[bytes]) -> list[Receipt]:
        """Take items out of the case or pallet of `sscc`, in the signer's custody, in chunks."""
        number = _sscc_number(sscc)
        _unique("item", children)
        return self._send_chunks(lambda chunk: self._request("unpack", number, chunk), children)

    def ship(self, shipment: bytes, receiver: str, items: Sequence[bytes]) -> Receipt:
        """Ship items the signer holds to `receiver` under a new shipment id (at most `MAX_ITEMS`: pack more)."""
        _within_one("shipment", items)
        return self._send("ship", shipment, to_checksum_address(receiver), list(items))

    def receive(self, shipment: bytes, items: Sequence[bytes]) -> Receipt:
        """Receive a shipment to the signer, naming the items it was shipped with, in their order."""
        _within_one("shipment", items)
        return self._send("receive", shipment, list(items))

    def decommission(self, keys: Sequence[bytes], reason: Reason) -> list[Receipt]:
        """Take packs in the signer's custody out of the supply chain for good, in chunks."""
        _unique("pack", keys)
        return self._send_chunks(lambda chunk: self._request("decommission", chunk, int(reason)), keys)

    def recall(self, gtin: str, lot: str) -> Receipt:
        """Recall a lot (its manufacturer or a regulator): every pack of it reads recalled."""
        _text("lot", lot)
        return self._send("recall", _gtin_number(gtin), lot)

    def status(self, key: bytes) -> PackStatus:
        """Where a pack or container is, in one call: state, holder, receiver in transit, lot, recall, container."""
        return _status_of(key, self._call("status", key))

    def statuses(self, keys: Sequence[bytes]) -> list[PackStatus]:
        """`status` of each of `keys`, asked in one JSON-RPC batch (a stock page's packs, not a call each)."""
        answers = self._call_many("status", [(key,) for key in keys])
        return [_status_of(key, raw) for key, raw in zip(keys, answers, strict=True)]

    def lot(self, gtin: str, lot: str) -> Lot | None:
        """A lot's manufacturer, expiry and recall; None if no pack of it was commissioned."""
        key = lot_key(gtin, lot)
        manufacturer, number, expiry, recalled = self._call("lot", key)
        if expiry == 0:
            return None
        return Lot(key, to_checksum_address(manufacturer), str(number).zfill(14), _date(expiry), bool(recalled))

    def shipment(self, shipment: bytes) -> Shipment | None:
        """A shipment's parties, items hash and whether it is open; None if there is none by that id."""
        sender, receiver, hashed, is_open, block = self._call("shipment", shipment)
        if int(sender, 16) == 0:
            return None
        return Shipment(
            shipment, to_checksum_address(sender), to_checksum_address(receiver), bytes(hashed), is_open, int(block)
        )

    def shipment_items(self, shipment: bytes) -> list[bytes]:
        """The items of a shipment, in the order it was shipped with (what `receive` must name), from the logs of
        the one block it was shipped in; none for an unknown shipment."""
        found = self.shipment(shipment)
        if found is None:
            return []
        shipped = self._logs([self._topic("Shipped"), _hex(shipment)], found.shipped_in, found.shipped_in)
        return [bytes(event.args["item"]) for event in shipped]

    def history(self, key: bytes, *, from_block: int = 0) -> list[ChainEvent]:
        """Every log naming a pack (or container), those of the containers it was packed in while it was in them
        (their shipments, their own packing), and its lot's recall, oldest first; read up to one block, the latest
        when it starts, so the containers' logs agree with the pack's."""
        blocks = (from_block, self.chain.block_number())
        found = self._naming(key, blocks)
        lot = next((e.args["lot"] for e in found if e.name == "Commissioned"), None)
        recall = [] if lot is None else self._logs([self._topic("LotRecalled"), _hex(lot)], *blocks)
        return sorted(found + self._carried(key, found, blocks, depth=0) + recall, key=_position)

    def recalls(self, from_block: int, to_block: int | None = None) -> list[ChainEvent]:
        """The LotRecalled logs of blocks `from_block`..`to_block` (default: the latest), oldest first."""
        return self._logs([self._topic("LotRecalled")], from_block, to_block)

    def _carried(self, key: bytes, found: list[ChainEvent], blocks: tuple[int, int], depth: int) -> list[ChainEvent]:
        """The logs of the containers `key` was packed in, each while it was in it, up to 3 levels up."""
        if depth == 3:
            return []
        carried: list[ChainEvent] = []
        for container, start, end in _stays(key, found):
            own = [
                e
                for e in self._naming(container, blocks)
                if e.args.get("child", e.args.get("item")) == container and start < _position(e) < end
            ]
            carried += own + self._carried(container, own, blocks, depth + 1)
        return carried

    def _naming(self, key: bytes, blocks: tuple[int, int]) -> list[ChainEvent]:
        """The logs with `key` as their first or second indexed argument, in blocks `blocks`."""
        return self._logs([None, _hex(key)], *blocks) + self._logs([None, None, _hex(key)], *blocks)

    def _refusal(self, reason: str) -> CareLedgerError | None:
        """Who may not (403), what is not there (404), what clashes with the chain's state (409), and any other
        `supply: …` as malformed input (400); the RecordAnchor-style role checks as who may not."""
        if reason.startswith("access_control: "):
            return AccessDenied("supply: only a regulator (or the admin, for roles) may do this")
        return supply_refusal(reason) if reason.startswith("supply: ") else None

    def _send_chunks(self, request: Callable[[list[Any]], TxRequest], items: Sequence[Any]) -> list[Receipt]:
        """One request per `CHUNK` items, pipelined; nothing is sent for no items."""
        chunks = [list(items[start : start + CHUNK]) for start in range(0, len(items), CHUNK)]
        with self._refusals():
            return self._send_many([request(chunk) for chunk in chunks])


_REFUSALS: dict[str, type[CareLedgerError]] = {
    "not admitted": AccessDenied,
    "not the holder": AccessDenied,
    "not the receiver": AccessDenied,
    "not the lot's manufacturer": AccessDenied,
    "no such shipment": NotFound,
    "no such lot": NotFound,
    "unknown item": NotFound,
    "serial already commissioned": Conflict,
    "already decommissioned": Conflict,
    "in transit": Conflict,
    "packed in a container": Conflict,
    "not packed in that container": Conflict,
    "shipment id already used": Conflict,
    "shipment already received": Conflict,
    "items differ from the shipment's": Conflict,
    "lot already recalled": Conflict,
    "lot recalled": Conflict,
    "lot of another manufacturer": Conflict,
    "expiry differs from the lot's": Conflict,
    "containers nest at most 3 deep": Conflict,
    "company prefix overlaps another manufacturer's": Conflict,
    "gtin outside the company prefix": Conflict,
    "too many lots": Conflict,
    "too many containers": Conflict,
    "too many shipments": Conflict,
    "a regulator may not admit itself": AccessDenied,
}


def supply_refusal(reason: str, message: str | None = None) -> CareLedgerError:
    """The error a `supply: …` refusal is, whether the contract reverted with it or a node's dry run of a step
    found it first: who may not (403), what is not there (404), what clashes with the chain's state (409), any
    other as malformed input (400). It says `message` (the reason itself unless given: the item it names, say)."""
    return _REFUSALS.get(reason.removeprefix("supply: "), ValidationError)(message or reason)


def _gtin_number(gtin: str) -> int:
    """A GTIN as the contract takes it: up to 14 digits, left-padded (the contract checks its check digit)."""
    if not (gtin.isascii() and gtin.isdigit() and len(gtin) in (8, 12, 13, 14)):
        raise ValidationError(f"gtin: {gtin!r} is not a GTIN-8, -12, -13 or -14")
    return int(gtin)


def _text(field: str, value: str) -> bytes:
    """A lot number or serial as the contract's String[20] takes it; `ValidationError` naming the field."""
    encoded = value.encode()
    if not 1 <= len(encoded) <= _TEXT_BYTES:
        raise ValidationError(f"{field}: {value!r} is not 1 to {_TEXT_BYTES} characters")
    return encoded


def _unique(field: str, values: Sequence[Any]) -> None:
    """Refuse a list naming something twice: the second would revert after the first chunks were mined."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            shown = f"0x{value.hex()}" if isinstance(value, bytes) else repr(value)
            raise ValidationError(f"{field}: {shown} is listed twice")
        seen.add(value)


def _within_one(what: str, items: Sequence[bytes]) -> None:
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationError(f"items: a {what} holds 1 to {MAX_ITEMS} items (pack more into cases)")


def _stays(key: bytes, events: list[ChainEvent]) -> list[tuple[bytes, tuple[int, int], tuple[int, int]]]:
    """Each container `key` was packed in, from its packing to its unpacking (or decommission, or now)."""
    stays: list[tuple[bytes, tuple[int, int], tuple[int, int]]] = []
    for event in sorted(events, key=_position):
        if event.name == "Packed" and event.args["child"] == key:
            stays.append((bytes(event.args["container"]), _position(event), _NOW))
        elif (
            event.name in ("Unpacked", "Decommissioned")
            and event.args.get("child", event.args.get("key")) == key
            and stays
            and stays[-1][2] == _NOW
        ):
            stays[-1] = (stays[-1][0], stays[-1][1], _position(event))
    return stays


def _status_of(key: bytes, raw: Sequence[Any]) -> PackStatus:
    """A `status` call's answer, read."""
    state, holder, receiver, manufacturer, lot, gtin, expiry, recalled, container, reason, is_container, block = raw
    if state == PackState.UNKNOWN:
        return PackStatus(key, PackState.UNKNOWN, None, None, None, None, None, False, None, None)
    return PackStatus(
        key=key,
        state=PackState(state),
        holder=_address(holder),
        receiver=_address(receiver),
        manufacturer=_address(manufacturer),
        lot=None if is_container else bytes(lot),
        expiry=None if is_container else _date(expiry),
        recalled=bool(recalled),
        container=bytes(container) if bytes(container) != _ZERO else None,
        reason=Reason(reason) if reason else None,
        gtin=None if is_container else str(gtin).zfill(14),
        is_container=bool(is_container),
        decommissioned_in=int(block) if state == PackState.DECOMMISSIONED else None,
    )


def _position(event: ChainEvent) -> tuple[int, int]:
    return event.block, event.log_index


def _hex(key: bytes) -> str:
    return HexBytes(key).to_0x_hex()


def _address(value: str) -> str | None:
    return None if int(value, 16) == 0 else to_checksum_address(value)


def _sscc_number(sscc: str) -> int:
    """An SSCC as the contract takes it: 18 digits (the contract checks its check digit)."""
    if not (sscc.isascii() and sscc.isdigit() and len(sscc) == 18):
        raise ValidationError(f"sscc: {sscc!r} is not 18 digits")
    return int(sscc)


def _date(yyyymmdd: int) -> date | None:
    """The date YYYYMMDD; None for one no calendar has (never an exception: a status is read whatever it holds)."""
    try:
        return date(yyyymmdd // 10_000, yyyymmdd // 100 % 100, yyyymmdd % 100)
    except ValueError:
        return None
