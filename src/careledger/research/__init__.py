"""Research: de-identified releases of study data (HIPAA Safe Harbor, then k-anonymity), for studies patients
join. No I/O here yet: records in, a release and its report out."""

from careledger.research._deidentify import AGE_BAND_URL, OLDEST_BAND, Deidentifier, QuasiIdentifiers, shift_date
from careledger.research._release import DEFAULT_K, Release, ReleaseReport, release

__all__ = [
    "AGE_BAND_URL",
    "DEFAULT_K",
    "OLDEST_BAND",
    "Deidentifier",
    "QuasiIdentifiers",
    "Release",
    "ReleaseReport",
    "release",
    "shift_date",
]
