"""Verify at dispense: whether a scanned pack may be dispensed here, and if not why, in words a pharmacist acts on.

Pure: what the chain says of the pack (one `status` read: custody resolved through its cases), what this node
knows besides (its own flags and dispenses, the manufacturer's admission), and the barcode; no chain, no database.
The rules are tried in order, the gravest first (a counterfeit before a recall, a recall before an expiry), and
the first that refuses is the verdict:

```
unknown-serial · not-admitted · lot-mismatch · expiry-mismatch · already-dispensed · decommissioned · recalled
· quarantined · diverted · in-transit · expired                                                       ─► else ok
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from careledger.chain import PackState, PackStatus, Reason, lot_key
from careledger.supplychain._gs1 import Pack

OK = "ok"
CODES = (
    OK,
    "unknown-serial",
    "not-admitted",
    "lot-mismatch",
    "expiry-mismatch",
    "already-dispensed",
    "decommissioned",
    "recalled",
    "quarantined",
    "diverted",
    "in-transit",
    "expired",
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a pack may be dispensed here (`code` ok) or why not (`reason`), with what the chain said of it."""

    dispensable: bool
    code: str
    reason: str
    pack: Pack
    status: dict[str, Any]
    checked_at: datetime

    def to_json(self) -> dict[str, Any]:
        """As the API and `drug verify --json` show it."""
        return {
            "dispensable": self.dispensable,
            "code": self.code,
            "reason": self.reason,
            "pack": pack_json(self.pack),
            "status": self.status,
            "checkedAt": self.checked_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Known:
    """What this node knows of a pack besides the chain's status: who it is (`here`), today, its own flags and
    dispense, and, asked only when a rule needs them, the manufacturer's admission and the decommission's date."""

    here: str
    today: date
    quarantined: str | None = None  # the reason staff gave
    recalled: str | None = None  # the recall flag's reason (who recalled the lot, when)
    dispensed_here: datetime | None = None  # when this node dispensed it (its `supply_dispenses` row)
    admitted: Callable[[str], bool] = lambda _manufacturer: True
    decommissioned_on: Callable[[], date | None] = lambda: None


Rule = Callable[[Pack, PackStatus, Known], "tuple[str, str] | None"]


def judge(pack: Pack, status: PackStatus, known: Known, checked_at: datetime) -> Verdict:
    """The verdict of the first rule that refuses `pack`, else ok."""
    for rule in RULES:
        refused = rule(pack, status, known)
        if refused is not None:
            return Verdict(False, refused[0], refused[1], pack, status_json(status), checked_at)
    lot = f"lot {pack.lot}, " if pack.lot else ""
    reason = f"may be dispensed: {lot}expires {_expiry(pack, status)}, commissioned by {status.manufacturer}"
    return Verdict(True, OK, reason, pack, status_json(status), checked_at)


def _unknown(pack: Pack, status: PackStatus, _known: Known) -> tuple[str, str] | None:
    if status.state is not PackState.UNKNOWN:
        return None
    return (
        "unknown-serial",
        f"unknown serial: no manufacturer commissioned serial {pack.serial} of GTIN {pack.gtin}; a counterfeit or a"
        " cloned serial (or a misread barcode: scan it again): set it aside",
    )


def _not_admitted(_pack: Pack, status: PackStatus, known: Known) -> tuple[str, str] | None:
    if status.manufacturer is not None and known.admitted(status.manufacturer):
        return None
    return (
        "not-admitted",
        f"not commissioned by an admitted manufacturer: {status.manufacturer}'s admission has ended or was revoked",
    )


def _lot_mismatch(pack: Pack, status: PackStatus, _known: Known) -> tuple[str, str] | None:
    if pack.lot is None or status.lot is None or lot_key(pack.gtin, pack.lot) == status.lot:
        return None
    return (
        "lot-mismatch",
        f"the barcode's lot {pack.lot} is not the lot this serial was commissioned in: a relabelled or counterfeit"
        " pack",
    )


def _expiry_mismatch(pack: Pack, status: PackStatus, _known: Known) -> tuple[str, str] | None:
    if pack.expiry is None or status.expiry is None or pack.expiry == status.expiry:
        return None
    return (
        "expiry-mismatch",
        f"the barcode's expiry {pack.expiry.isoformat()} is not its lot's ({status.expiry.isoformat()}): a"
        " relabelled or counterfeit pack",
    )


def _decommissioned(_pack: Pack, status: PackStatus, known: Known) -> tuple[str, str] | None:
    if known.dispensed_here is not None:
        here_on = known.dispensed_here.date().isoformat()
        return "already-dispensed", f"cloned serial: this pack was dispensed here ({known.here}) on {here_on}"
    if status.state is not PackState.DECOMMISSIONED:
        return None
    day = known.decommissioned_on()
    on = f" on {day.isoformat()}" if day is not None else ""
    if status.reason is Reason.DISPENSED:
        return "already-dispensed", f"cloned serial: this pack was dispensed at {status.holder}{on}"
    how = status.reason.name.lower() if status.reason is not None else "taken out of the supply chain"
    return "decommissioned", f"decommissioned ({how}) by {status.holder}{on}: it may not be dispensed"


def _recalled(pack: Pack, status: PackStatus, known: Known) -> tuple[str, str] | None:
    if not status.recalled and known.recalled is None:
        return None
    lot = f"lot {pack.lot}" if pack.lot else "this pack's lot"
    return "recalled", f"{lot} {known.recalled}" if known.recalled else f"{lot} recalled on chain"


def _quarantined(_pack: Pack, _status: PackStatus, known: Known) -> tuple[str, str] | None:
    if known.quarantined is None:
        return None
    return "quarantined", f"quarantined here: {known.quarantined}"


def _custody(_pack: Pack, status: PackStatus, known: Known) -> tuple[str, str] | None:
    if status.state is PackState.IN_TRANSIT:
        if status.receiver == known.here:
            return (
                "in-transit",
                f"a custody step is missing: shipped to this node by {status.holder}, never received (receive"
                " its shipment first)",
            )
        return "diverted", f"diverted: in transit from {status.holder} to {status.receiver}, never received here"
    if status.holder != known.here:
        return "diverted", f"diverted: held by {status.holder}, never received here"
    return None


def _expired(pack: Pack, status: PackStatus, known: Known) -> tuple[str, str] | None:
    expiry = status.expiry or pack.expiry
    if expiry is None or expiry >= known.today:
        return None
    return "expired", f"expired on {expiry.isoformat()}"


RULES: tuple[Rule, ...] = (
    _unknown,
    _not_admitted,
    _lot_mismatch,
    _expiry_mismatch,
    _decommissioned,
    _recalled,
    _quarantined,
    _custody,
    _expired,
)


def _expiry(pack: Pack, status: PackStatus) -> str:
    expiry = status.expiry or pack.expiry
    return expiry.isoformat() if expiry is not None else "(no expiry on record)"


def pack_json(pack: Pack) -> dict[str, Any]:
    """A pack as JSON: its GTIN, serial, lot and expiry, EPC and element string."""
    return {
        "gtin": pack.gtin,
        "serial": pack.serial,
        "lot": pack.lot,
        "expiry": pack.expiry.isoformat() if pack.expiry else None,
        "epc": pack.epc,
        "elementString": pack.element_string,
    }


def status_json(status: PackStatus) -> dict[str, Any]:
    """What the chain says of a pack or container, as JSON: the one spelling every answer uses (verify, trace,
    stock). Keys and lots as 0x hex; the state as a lower-case word, `in_transit` as CBV spells the disposition;
    the decommission's reason likewise (`dispensed`, `destroyed`, `other`)."""
    return {
        "key": _hex(status.key),
        "state": status.state.name.lower(),
        "holder": status.holder,
        "receiver": status.receiver,
        "manufacturer": status.manufacturer,
        "gtin": status.gtin,
        "lot": _hex(status.lot),
        "expiry": status.expiry.isoformat() if status.expiry else None,
        "recalled": status.recalled,
        "container": _hex(status.container),
        "reason": status.reason.name.lower() if status.reason is not None else None,
    }


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()
