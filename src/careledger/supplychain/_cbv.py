"""GS1 Core Business Vocabulary 2.0: the business steps and dispositions CareLedger's events use.

EPCIS 2.0 JSON writes CBV values as bare words (`shipping`, `in_transit`); a value may also arrive
as its web URI (`https://ref.gs1.org/cbv/BizStep-shipping`, compacted `cbv:BizStep-shipping`), the
older GS1 web vocabulary's (`https://gs1.org/voc/BizStep-shipping`) or the EPCIS 1.x URN
(`urn:epcglobal:cbv:bizstep:shipping`). Whoever reads a value (the chain effects, the queries)
reads it through `bare` here, so each form means the same; an event's body
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


# The forms a CBV value may arrive in, before its bare word: the CBV 2.0 web URI (also compacted by the EPCIS
# context's `cbv:` prefix), the older GS1 web vocabulary's URI, and the EPCIS 1.x URN; for business steps,
# dispositions, business transaction types and source/destination types.
_FORMS = tuple(
    form
    for web, urn in (("BizStep", "bizstep"), ("Disp", "disp"), ("BTT", "btt"), ("SDT", "sdt"))
    for form in (
        f"https://ref.gs1.org/cbv/{web}-",
        f"cbv:{web}-",
        f"https://gs1.org/voc/{web}-",
        f"urn:epcglobal:cbv:{urn}:",
    )
)


def bare(value: str) -> str:
    """A CBV value (business step, disposition, business transaction or source/destination type) as its bare
    word, whichever form it came in: `https://ref.gs1.org/cbv/BizStep-shipping` → `shipping`. A vendor's own
    URI, or a word already bare, stays as it is."""
    for form in _FORMS:
        if value.startswith(form):
            return value[len(form) :]
    return value
