"""FHIR views of what lives elsewhere: a consent on chain, the provenance of records fetched from a node.

Pure builders from plain values (dids, instants, codes); the packages that own the data
(`consent`, `exchange`) say what goes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from careledger.fhir._instant import fhir_instant
from careledger.fhir.systems import (
    ACT_CODE,
    ACT_REASON,
    COMMITMENT,
    CONSENT_SCOPE,
    LOINC,
    PARTICIPATION_TYPE,
    PROVENANCE_PARTICIPANT_TYPE,
    RECORD_CATEGORY,
    account_reference,
)


def consent_view(
    *,
    consent_id: str,
    patient_did: str,
    grantee_did: str,
    period: tuple[int, int],
    active: bool,
    purposes: Iterable[str],
    categories: Iterable[str],
) -> dict[str, object]:
    """A FHIR R4 `Consent`: a privacy consent, opt-in, permitting the grantee the record categories
    (CareLedger's codes) for the purposes (PurposeOfUse codes) within `period` (epoch seconds)."""
    start, end = (fhir_instant(moment, precision="seconds") for moment in period)
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": "active" if active else "inactive",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": account_reference(patient_did),
        "dateTime": start,
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": start, "end": end},
            "actor": [
                {
                    "role": {"coding": [{"system": PARTICIPATION_TYPE, "code": "IRCP"}]},
                    "reference": account_reference(grantee_did),
                }
            ],
            "purpose": [{"system": ACT_REASON, "code": code} for code in purposes],
            "code": [{"coding": [{"system": RECORD_CATEGORY, "code": code}]} for code in categories],
        },
    }


def provenance_view(
    *, provenance_id: str, recorded: datetime, custodian_did: str, sources: Sequence[tuple[str, bytes]]
) -> dict[str, object]:
    """A FHIR `Provenance` of records received from a custodian node: each source is the versioned
    reference it had there (`Type/id/_history/n`) and its salted commitment, as anchored."""
    return {
        "resourceType": "Provenance",
        "id": provenance_id,
        "target": [{"reference": reference.split("/_history/")[0]} for reference, _ in sources],
        "recorded": fhir_instant(recorded, precision="seconds"),
        "agent": [
            {
                "type": {"coding": [{"system": PROVENANCE_PARTICIPANT_TYPE, "code": "custodian"}]},
                "who": account_reference(custodian_did),
            }
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": COMMITMENT, "value": "0x" + commitment.hex()},
                    "display": reference,
                },
            }
            for reference, commitment in sources
        ],
    }
