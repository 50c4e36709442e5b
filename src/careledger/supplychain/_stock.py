"""A node's stock: the packs it holds by its own account (its events), each shown with what the chain says now.

```
this node's events, in the order captured ─► holdings
  commissioning · receiving (its own, sent to chain)             the packs and cases named: held here
  packing (its own)                                              the case held here, its packs inside it
  unpacking (its own)                                            its packs held here, loose
  shipping · dispensing · decommissioning · destroying (its own) gone
  packing · unpacking by anyone (a shipping notice's)            which case a pack is in: held if the case is
  less every pack dispensed here (`supply_dispenses`), its decommission on chain done or pending
─► the packs shown: all of them, or the flagged (quarantined; of a recalled lot, or of a lot not known here)
─► SupplyChain.statuses, one JSON-RPC batch for those alone ─► each pack the chain says is held here, with its lot,
   expiry and live flags
```

The chain is the judge of custody: a pack it says is elsewhere is not shown (and the disagreement logged). A page
load costs one local replay and one batch for what it shows, not an `eth_call` for every pack ever named here. A
pack's lot is known here from a commissioning event's ILMD (the manufacturer's own, or one a notice carried),
else from the chain.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select

from careledger.chain import PackState, SupplyChain, lot_key
from careledger.errors import Conflict, ValidationError
from careledger.store import SUPPLY_EVENT_EPCS, SUPPLY_EVENTS, Database, SupplyDispense
from careledger.supplychain._effects import CHAIN
from careledger.supplychain._flags import QUARANTINED, RECALLED, Flags
from careledger.supplychain._gs1 import Pack, parse_epc
from careledger.supplychain._verdict import pack_json

_IN = frozenset({"commissioning", "receiving"})  # this node's steps that bring what they name here
_OUT = frozenset({"shipping", "dispensing", "decommissioning", "destroying"})  # and those that take it away
_NESTING = 4  # a pack in a case in a pallet in a pallet at most (the contract's 3 levels, and one to spare)
_log = logging.getLogger(__name__)


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


def stock(db: Database, facade: SupplyChain, flags: Flags, *, here: str, flagged_only: bool = False) -> list[StockItem]:
    """The packs `here` holds (module docstring), each with its live flags; `flagged_only`: the flagged alone."""
    held = holdings(db, here)
    recalled, quarantined = flags.recalled_lots(), flags.quarantined()
    shown = list(held)
    if flagged_only:
        lots = commissioned_lots(db, held) if recalled else {}
        shown = [key for key in held if key in quarantined or (recalled and _maybe(lots.get(key), recalled))]
    items, elsewhere = [], 0
    for status in facade.statuses(shown):
        if not (status.state is PackState.ACTIVE and status.holder == here):
            elsewhere += 1
            continue
        kept = {QUARANTINED: quarantined[status.key]} if status.key in quarantined else {}
        if status.lot in recalled or status.recalled:
            kept[RECALLED] = recalled.get(status.lot or b"", "recalled on chain")
        if kept or not flagged_only:
            items.append(StockItem(held[status.key], status.key, status.lot, status.expiry, kept))
    if elsewhere:
        _log.warning("stock: the chain says %d packs this node's events hold are not held here", elsewhere)
    return sorted(items, key=lambda item: item.pack.epc)


def _maybe(lot: bytes | None, recalled: dict[bytes, str]) -> bool:
    """Whether a pack of `lot` may be of a recalled lot: it is, or its lot is not known here (the chain says)."""
    return lot is None or lot in recalled


def holdings(db: Database, here: str) -> dict[bytes, Pack]:
    """The packs `here` holds by its own events (module docstring), by chain key, less those it dispensed."""
    events, epcs = SUPPLY_EVENTS.c, SUPPLY_EVENT_EPCS.c
    own = and_(events.signer == here, events.effect == CHAIN)
    query = (
        select(events.seq, events.biz_step, own, epcs.role, epcs.epc, epcs.key)
        .join(SUPPLY_EVENT_EPCS, epcs.seq == events.seq)
        .where(epcs.role.in_(("epc", "parent")), epcs.key.is_not(None))
        .where(or_(own, events.biz_step.in_(("packing", "unpacking"))))
        .order_by(events.seq, epcs.role.desc())  # each event's parentID first
    )
    where: dict[bytes, bytes | bool] = {}  # key -> held here (True), gone (False), or the container it is in
    names: dict[bytes, str] = {}
    parent: tuple[int, bytes] | None = None
    with db.reading() as connection:
        for seq, step, mine, role, epc, key in connection.execute(query):
            if role == "parent":
                parent = (seq, key)
            inside = parent[1] if parent is not None and parent[0] == seq else None
            names[key] = epc
            where[key] = _after(step, bool(mine), role == "parent", where.get(key, False), inside)
    with db.session() as session:
        dispensed = set(session.scalars(select(SupplyDispense.key)))
    packs: dict[bytes, Pack] = {}
    for key, epc in names.items():
        if key not in dispensed and _held(key, where) and (pack := _pack(epc)) is not None:
            packs[key] = pack
    return packs


def _after(step: str | None, mine: bool, is_parent: bool, before: bytes | bool, inside: bytes | None) -> bytes | bool:
    """Where a key is after an event naming it (`holdings`' replay, one step): held here (True), gone (False), or
    in a container; `inside`: the event's parentID."""
    if step in ("packing", "unpacking"):
        if is_parent:
            return True if mine else before  # the case: held by whoever packs or unpacks it
        return (inside or before) if step == "packing" else mine  # a pack: in the case, or out (loose, whose?)
    if not mine:
        return before  # another's word on custody: not this node's
    return True if step in _IN else False if step in _OUT else before


def _held(key: bytes, where: dict[bytes, bytes | bool]) -> bool:
    """Whether `key` is held here: itself, or inside a container held here (at most `_NESTING` deep)."""
    place: bytes | bool = where.get(key, False)
    for _ in range(_NESTING):
        if not isinstance(place, bytes):
            return place
        place = where.get(place, False)
    return False


def _pack(epc: object) -> Pack | None:
    try:
        found = parse_epc(str(epc))
    except ValidationError:
        return None
    return found if isinstance(found, Pack) else None


def commissioned_lots(db: Database, packs: dict[bytes, Pack]) -> dict[bytes, bytes]:
    """The lot (its chain key) of each of `packs` that a commissioning event held here names in its ILMD."""
    query = select(SUPPLY_EVENTS.c.body).where(SUPPLY_EVENTS.c.biz_step == "commissioning")
    by_epc = {pack.epc: key for key, pack in packs.items()}
    lots: dict[bytes, bytes] = {}
    with db.reading() as connection:
        for (body,) in connection.execute(query):
            event = json.loads(body)
            lot = (event.get("ilmd") or {}).get("cbvmda:lotNumber")
            named = (_pack(epc) for epc in event.get("epcList", ()))
            for key in (by_epc.get(pack.epc) for pack in named if pack is not None and isinstance(lot, str)):
                if key is not None:
                    lots[key] = lot_key(packs[key].gtin, str(lot))
    return lots


def refuse_dispensed(db: Database, keys: Iterable[bytes]) -> None:
    """`Conflict` if any of `keys` was dispensed here: a pack handed to a patient moves no more, even while its
    decommission on chain is pending (a capture's dry run refuses to ship, pack, unpack or receive it)."""
    wanted = list(keys)
    dispensed: set[bytes] = set()
    with db.session() as session:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            dispensed.update(session.scalars(select(SupplyDispense.key).where(SupplyDispense.key.in_(chunk))))
    if dispensed:
        shown = ", ".join("0x" + key.hex() for key in sorted(dispensed)[:3])
        raise Conflict(f"{len(dispensed)} of the items were dispensed here ({shown}): a dispensed pack moves no more")
