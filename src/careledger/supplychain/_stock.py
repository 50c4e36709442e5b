"""A node's stock: the packs its own events name (commissioned, received, packed or unpacked here) that the chain
says this node holds now, each with its live flags (recalled lot, quarantined pack).

The chain is the judge of custody (a pack shipped on, or dispensed, is gone), and this node's events are how it
knows a pack's GTIN and serial: the chain keeps only hashes of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from careledger.chain import PackState, PackStatus, pack_key
from careledger.errors import ValidationError
from careledger.store import SUPPLY_EVENT_EPCS, Database, SupplyDispense
from careledger.supplychain._gs1 import DIGITAL_LINK, Pack, parse_epc
from careledger.supplychain._verdict import pack_json


@dataclass(frozen=True, slots=True)
class StockItem:
    """A pack held here: its identifiers, what the chain says of its lot and expiry, and its live flags by kind."""

    pack: Pack
    key: bytes
    lot: bytes | None
    expiry: date | None
    flags: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """As the API and `drug stock --json` show it."""
        return {
            "pack": pack_json(self.pack),
            "key": "0x" + self.key.hex(),
            "lot": None if self.lot is None else "0x" + self.lot.hex(),
            "expiry": None if self.expiry is None else self.expiry.isoformat(),
            "flags": self.flags,
        }


def named_packs(db: Database) -> Iterator[Pack]:
    """Every pack this node's events name that it has not dispensed, each once."""
    epcs = SUPPLY_EVENT_EPCS.c
    query = select(epcs.epc).distinct().where(epcs.epc.like(f"{DIGITAL_LINK}/01/%/21/%")).order_by(epcs.epc)
    with db.reading() as connection:
        named = list(connection.scalars(query))
    with db.session() as session:
        dispensed = set(session.scalars(select(SupplyDispense.key)))
    for epc in named:
        try:
            pack = parse_epc(epc)
        except ValidationError:
            continue
        if isinstance(pack, Pack) and pack_key(pack.gtin, pack.serial) not in dispensed:
            yield pack


def held(status: PackStatus, here: str) -> bool:
    """Whether the chain says `here` holds the pack now (itself, or in a case it holds)."""
    return status.state is PackState.ACTIVE and status.holder == here
