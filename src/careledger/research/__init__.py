"""Research: studies on chain, de-identified releases (HIPAA Safe Harbor, then k-anonymity) of the patients who
join them, differentially private aggregates across nodes, and rewards from the study's escrow."""

from careledger.chain import StudyState, StudyTerms
from careledger.research._deidentify import AGE_BAND_URL, OLDEST_BAND, Deidentifier, QuasiIdentifiers, shift_date
from careledger.research._desk import StudyDesk, study_categories
from careledger.research._privacy import KINDS, AggregateQuery, combine, noisy_count, noisy_sum
from careledger.research._release import DEFAULT_K, Release, ReleaseReport, release
from careledger.research._request import RELEASE, StudyRequest
from careledger.research._studies import (
    Enrolment,
    NodeRelease,
    Studies,
    care,
    care_units,
    enrolment_view,
    protocol_hash,
    study_view,
)

__all__ = [
    "AGE_BAND_URL",
    "DEFAULT_K",
    "KINDS",
    "OLDEST_BAND",
    "RELEASE",
    "AggregateQuery",
    "Deidentifier",
    "Enrolment",
    "NodeRelease",
    "QuasiIdentifiers",
    "Release",
    "ReleaseReport",
    "Studies",
    "StudyDesk",
    "StudyRequest",
    "StudyState",
    "StudyTerms",
    "care",
    "care_units",
    "combine",
    "enrolment_view",
    "noisy_count",
    "noisy_sum",
    "protocol_hash",
    "release",
    "shift_date",
    "study_categories",
    "study_view",
]
