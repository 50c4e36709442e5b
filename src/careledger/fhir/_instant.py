"""FHIR's `instant`: a UTC time written `YYYY-MM-DDThh:mm:ss[.fff]Z`, in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

# FHIR years end at 9999; a later expiry (a far-off "never") is written as the last second.
_LAST_INSTANT = 253402300799


def fhir_instant(
    moment: datetime | float, *, precision: Literal["seconds", "milliseconds", "microseconds"] = "milliseconds"
) -> str:
    """`moment` (aware, or seconds since the epoch) as a FHIR instant in UTC.

    Records' `meta.lastUpdated` is written to the millisecond, audit events to the
    microsecond (their hashes cover it), signed messages and consents to the second.
    """
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(min(moment, _LAST_INSTANT), UTC)
    return moment.astimezone(UTC).isoformat(timespec=precision).replace("+00:00", "Z")
