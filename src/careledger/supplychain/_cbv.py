"""GS1 Core Business Vocabulary 2.0: the business steps and dispositions CareLedger's events use.

EPCIS 2.0 JSON writes CBV values as bare words (`shipping`, `in_transit`); a value may also arrive
as its web URI (`https://ref.gs1.org/cbv/BizStep-shipping`, compacted `cbv:BizStep-shipping`), the
older GS1 web vocabulary's (`https://gs1.org/voc/BizStep-shipping`) or the EPCIS 1.x URN
(`urn:epcglobal:cbv:bizstep:shipping`). Whoever reads a value (the chain effects, the queries)
reads it through the functions here, so each form means the same; an event's body
is never rewritten, as its signature covers it as sent.
"""

from __future__ import annotations

from enum import StrEnum


class BizStep(StrEnum):
    """The business steps of a drug pack's life that CareLedger acts on."""

    COMMISSIONING = "commissioning"
    PACKING = "packing"
    UNPACKING = "unpacking"
    SHIPPING = "shipping"
    RECEIVING = "receiving"
    DISPENSING = "dispensing"
    DECOMMISSIONING = "decommissioning"
    DESTROYING = "destroying"


class Disposition(StrEnum):
    """The dispositions CareLedger's events give their packs and containers."""

    ACTIVE = "active"
    IN_PROGRESS = "in_progress"
    IN_TRANSIT = "in_transit"
    DISPENSED = "dispensed"
    INACTIVE = "inactive"
    DESTROYED = "destroyed"
    RECALLED = "recalled"
    EXPIRED = "expired"


def _forms(web: str, urn: str) -> tuple[str, ...]:
    """The forms a CBV value of one vocabulary may arrive in, before its bare word: the CBV 2.0 web URI (also
    compacted by the EPCIS context's `cbv:` prefix), the older GS1 web vocabulary's URI, the EPCIS 1.x URN."""
    return (
        f"https://ref.gs1.org/cbv/{web}-",
        f"cbv:{web}-",
        f"https://gs1.org/voc/{web}-",
        f"urn:epcglobal:cbv:{urn}:",
    )


_BIZ_STEP = _forms("BizStep", "bizstep")
_DISPOSITION = _forms("Disp", "disp")
_BIZ_TRANSACTION_TYPE = _forms("BTT", "btt")
_SOURCE_DESTINATION_TYPE = _forms("SDT", "sdt")
_ANY = _BIZ_STEP + _DISPOSITION + _BIZ_TRANSACTION_TYPE + _SOURCE_DESTINATION_TYPE


def _bare(value: str, forms: tuple[str, ...]) -> str:
    for form in forms:
        if value.startswith(form):
            return value[len(form) :]
    return value


def biz_step(value: str) -> str:
    """A business step as its bare CBV word (`https://ref.gs1.org/cbv/BizStep-shipping` → `shipping`); a vendor's
    own URI, or a word already bare, stays as it is."""
    return _bare(value, _BIZ_STEP)


def disposition(value: str) -> str:
    """A disposition as its bare CBV word (`urn:epcglobal:cbv:disp:in_transit` → `in_transit`)."""
    return _bare(value, _DISPOSITION)


def biz_transaction_type(value: str) -> str:
    """A business transaction type as its bare CBV word (`https://ref.gs1.org/cbv/BTT-desadv` → `desadv`)."""
    return _bare(value, _BIZ_TRANSACTION_TYPE)


def source_destination_type(value: str) -> str:
    """A source or destination type as its bare CBV word (`cbv:SDT-owning_party` → `owning_party`)."""
    return _bare(value, _SOURCE_DESTINATION_TYPE)


def bare(value: str) -> str:
    """A value of any of the four vocabularies above as its bare word, when which one it is does not matter."""
    return _bare(value, _ANY)
