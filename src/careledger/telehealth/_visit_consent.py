"""The visit's consent: what the patient signs so that the visit's practitioner (or her node) may read her records
for the visit, and only around it.

```
the slot [start, end] ─► window: from an hour before start to a day after end
   ─► ConsentTerms (patient, grantee, the categories she picks, TREAT, window) ─► EIP-712 typed data (any wallet)
   ─► her signature ─► checked to be exactly these terms ─► `ConsentService.submit` (the node pays the gas)
```

The grant is an ordinary ConsentRegistry grant with a not-before and an expiry: it ends by itself, she may revoke
it earlier as any other (the consents page, `consent revoke`), and a practitioner of another node reads under it
through the exchange like under any consent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from eth_utils import to_checksum_address

from careledger.config import NODE_WALLET
from careledger.consent import ConsentService, ConsentTerms, Grant, Purpose, SignedConsent
from careledger.errors import AccessDenied, CareLedgerError, ValidationError
from careledger.records import Category

HOUR = 3_600
DAY = 86_400


@dataclass(frozen=True, slots=True)
class VisitWindow:
    """When a visit's consent is in force: from an hour before the slot's start (the practitioner prepares) to a
    day after its end (she writes her notes), in seconds since the epoch."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValidationError("a visit ends after it starts")

    @property
    def not_before(self) -> int:
        """The consent's first second."""
        return self.start - HOUR

    @property
    def expiry(self) -> int:
        """The consent's end (exclusive, as the registry's expiry is)."""
        return self.end + DAY


class VisitConsents:
    """Visit consents prepared, checked and submitted on one node's ConsentRegistry."""

    def __init__(self, consent: ConsentService, clock: Callable[[], float] = time.time) -> None:
        self._consent = consent
        self._clock = clock

    def terms(self, patient: str, grantee: str, categories: Iterable[Category], window: VisitWindow) -> ConsentTerms:
        """The terms of `patient`'s consent for a visit: `grantee` (the practitioner, or her node) may read
        `categories` for treatment during `window`."""
        picked = list(categories)
        if not picked:
            raise ValidationError("a visit's consent names at least one category of records")
        terms = self._consent.terms(patient, grantee, picked, [Purpose.TREAT], days=1, starts=window.not_before)
        return replace(terms, expiry=window.expiry)

    def prepare(self, terms: ConsentTerms, *, valid_until: int) -> dict[str, Any]:
        """The EIP-712 typed data of `terms` for her wallet to sign, to be submitted by `valid_until` (the slot's
        start: a consent signed for a visit is not kept for later)."""
        days = max(valid_until - int(self._clock()), HOUR) / DAY
        return self._consent.prepare(terms, valid_for_days=days)

    def check(self, signed: SignedConsent, expected: ConsentTerms) -> None:
        """Refuse a signed consent that is not the visit's: another patient's, or one signed by neither her nor a
        live delegate of hers (`AccessDenied`: nobody books with someone else's consent), another grantee, a purpose
        besides treatment, or another window (`ValidationError`, saying which). The categories are hers to pick."""
        terms = signed.terms
        patient = to_checksum_address(expected.patient)
        if to_checksum_address(terms.patient) != patient:
            raise AccessDenied("the visit's consent must be the booking patient's own")
        signer = to_checksum_address(signed.signer)
        if signer != patient and not set(Category.from_mask(terms.categories)) <= self._delegated(signer, patient):
            raise AccessDenied("the visit's consent is signed by neither the patient nor a live delegate of hers")
        if to_checksum_address(terms.grantee) != to_checksum_address(expected.grantee):
            raise ValidationError(f"the visit's consent must name {expected.grantee}, the visit's practitioner")
        if terms.purposes != Purpose.TREAT.bit:
            raise ValidationError("the visit's consent is for treatment (TREAT) only")
        if (terms.not_before, terms.expiry) != (expected.not_before, expected.expiry):
            raise ValidationError(
                f"the visit's consent runs from {expected.not_before} to {expected.expiry} (an hour before the slot"
                f" to a day after it), not from {terms.not_before} to {terms.expiry}"
            )

    def submit(self, signed: SignedConsent, expected: ConsentTerms) -> Grant:
        """Check `signed` is the visit's consent, then submit it (the node pays the gas; the chain judges the
        signer and her nonce, refused here first in words)."""
        self.check(signed, expected)
        return self._consent.submit(NODE_WALLET, signed)

    def withdraw(self, grant: Grant) -> str | None:
        """Undo the consent of a booking that failed after granting it: revoked by the node where it may (it
        manages her consents); None then, else why it stays granted, for the failure to report."""
        try:
            self._consent.revoke(NODE_WALLET, grant.grant_id)
        except CareLedgerError as failed:
            return (
                f"consent {grant.hex_id} stays granted until {grant.expiry} (revoke it on the consents page): {failed}"
            )
        return None

    def _delegated(self, delegate: str, patient: str) -> frozenset[Category]:
        """The categories `delegate` manages of `patient`'s consents now (none: she is no delegate of hers)."""
        return self._consent.represented(delegate).get(patient, frozenset())
