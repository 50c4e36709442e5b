"""eConsent: who a participant is on chain, the EIP-712 consent and withdrawal she signs, and the FHIR Consent and
ResearchSubject her site keeps of them.

    salt (32 random bytes, kept in her ResearchSubject) ‖ trial id ‖ her address ──keccak──► participant id (on chain)
    TrialConsent(trialId, version, document, participant, payee, deadline) ──her wallet──► signature
        ├── signer_of ──► her address (checked by the site node, off chain)
        ├── consent_digest ──► keccak(signature) (on chain at enrolment and re-consent)
        └── consent_resource ──► FHIR Consent (the typed data and signature attached, in her record)

The domain is the Trials contract's, so a consent signed for one chain or contract is no consent for another.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from careledger.crypto import (
    Address,
    Bytes32,
    Struct,
    Uint32,
    Uint256,
    canonical_json,
    checksum_address,
    keccak,
    parse_signature,
    recover_typed_data_signer,
)
from careledger.errors import InvalidSignature, ValidationError
from careledger.fhir import fhir_instant, systems
from careledger.records import Resource
from careledger.trials._protocol import PROTOCOL_VERSION_EXTENSION, SITE_SYSTEM

DOMAIN = ("CareLedger Trials", "1")
SALT_BYTES = 32
PARTICIPANT_SYSTEM = "urn:careledger:trial-participant"  # her participant id on chain, 0x and 64 hex digits
SALT_SYSTEM = "urn:careledger:trial-participant-salt"  # the salt of that commitment: only in her own record
CONSENT_DIGEST_SYSTEM = "urn:careledger:trial-consent-digest"  # keccak256 of her signature, as on chain
DOCUMENT_URN = "urn:careledger:trial-consent-document:"  # + the document's keccak256: the policy she agreed to
CONSENT_CATEGORY = "http://terminology.hl7.org/CodeSystem/consentcategorycodes"
STUDY_CONTEXT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/consent-ResearchStudyContext"
STRATUM_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-stratum"
SITE_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-site"
SUBJECT_STATUSES = ("candidate", "on-study", "withdrawn")
_HEX32 = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True)
class TrialConsent(Struct):
    """Her consent to version `version` of a trial, whose consent document has keccak256 `document`, as participant
    `participant`, stipends paid to `payee`; valid for signing until `deadline` (epoch seconds)."""

    PRIMARY_TYPE: ClassVar[str] = "TrialConsent"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a trial consent"

    trial_id: Uint256
    version: Uint32
    document: Bytes32
    participant: Bytes32
    payee: Address
    deadline: Uint256


@dataclass(frozen=True, slots=True)
class TrialWithdrawal(Struct):
    """Her withdrawal, as participant `participant`, from a trial; valid for signing until `deadline`."""

    PRIMARY_TYPE: ClassVar[str] = "TrialWithdrawal"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a trial withdrawal"

    trial_id: Uint256
    participant: Bytes32
    deadline: Uint256


_SIGNED: dict[str, type[TrialConsent] | type[TrialWithdrawal]] = {
    TrialConsent.PRIMARY_TYPE: TrialConsent,
    TrialWithdrawal.PRIMARY_TYPE: TrialWithdrawal,
}


def new_salt() -> bytes:
    """A fresh salt for a participant id: 32 bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(SALT_BYTES)


def participant_id(salt: bytes, trial_id: int, patient: str) -> bytes:
    """Her id in a trial on chain: keccak256(salt ‖ uint256 trial id ‖ her address), packed. Without the salt, which
    only her record keeps, nobody can tell whose it is, nor link her across trials."""
    if len(salt) != SALT_BYTES:
        raise ValidationError(f"a participant's salt is {SALT_BYTES} bytes, not {len(salt)}")
    if not 0 <= trial_id < 2**256:
        raise ValidationError(f"trial id {trial_id} is not a uint256")
    if not _ADDRESS.fullmatch(patient):
        raise ValidationError(f"a participant is an address, not {patient[:50]!r}")
    return keccak(salt + trial_id.to_bytes(32, "big") + bytes.fromhex(patient[2:]))


def consent_typed_data(
    chain_id: int,
    contract: str,
    trial_id: int,
    version: int,
    document_hash: bytes,
    participant: bytes,
    payee: str,
    deadline: int,
) -> dict[str, Any]:
    """The EIP-712 typed data (`eth_signTypedData_v4`) of her consent, for the Trials contract `contract`."""
    return TrialConsent(trial_id, version, document_hash, participant, payee, deadline).typed_data(chain_id, contract)


def withdrawal_typed_data(
    chain_id: int, contract: str, trial_id: int, participant: bytes, deadline: int
) -> dict[str, Any]:
    """The EIP-712 typed data of her withdrawal."""
    return TrialWithdrawal(trial_id, participant, deadline).typed_data(chain_id, contract)


def signer_of(typed: Any, signature: bytes | str) -> str:
    """Who signed `typed` (a TrialConsent or TrialWithdrawal, read and checked field by field, then encoded again):
    a changed field recovers someone else. `ValidationError` for malformed typed data or signature."""
    kind = _SIGNED.get(str(typed.get("primaryType"))) if isinstance(typed, dict) else None
    if kind is None:
        raise ValidationError(
            "not a trial consent or withdrawal: EIP-712 typed data of TrialConsent or TrialWithdrawal"
        )
    signed = kind.from_typed_data(typed)
    chain_id, contract = kind.domain_of(typed)
    try:
        return recover_typed_data_signer(signed.typed_data(chain_id, contract), _signature(signature))
    except InvalidSignature as exc:
        raise ValidationError(str(exc)) from None


def consent_digest(signature: bytes | str) -> bytes:
    """What the chain keeps of her signature: keccak256 of its 65 bytes (v as 27 or 28, however her wallet wrote
    it, so one signature has one digest)."""
    try:
        return keccak(_signature(signature))
    except InvalidSignature as exc:
        raise ValidationError(str(exc)) from None


def _signature(signature: bytes | str) -> bytes:
    """The 65 bytes of a signature given as bytes or hex, v as 27 or 28 (`InvalidSignature` if malformed)."""
    return parse_signature(signature if isinstance(signature, str) else "0x" + signature.hex())


def consent_resource(
    patient_ref: str,
    study_ref: str,
    version: int,
    document_hash: bytes,
    typed: dict[str, Any],
    signature: bytes | str,
    *,
    signed: datetime | None = None,
) -> Resource:
    """Her research consent as a FHIR R4 Consent: to the consent document (`policy`, by its keccak256) of protocol
    `version` of the trial `study_ref`, from `signed` (now if not given), with the typed data she signed and her
    signature attached and the digest the chain keeps as an identifier. `ValidationError` if the typed data is
    not a consent to that version and document."""
    consent = TrialConsent.from_typed_data(typed)
    if (consent.version, consent.document) != (version, document_hash):
        raise ValidationError(f"the signed consent is to version {consent.version}, not {version}, or another document")
    raw = _signature(signature)
    since = fhir_instant(signed or datetime.now(UTC), precision="seconds")
    evidence = canonical_json({"typedData": typed, "signature": "0x" + raw.hex()})
    return {
        "resourceType": "Consent",
        "extension": [{"url": PROTOCOL_VERSION_EXTENSION, "valuePositiveInt": version}],
        "identifier": [{"system": CONSENT_DIGEST_SYSTEM, "value": "0x" + keccak(raw).hex()}],
        "status": "active",
        "scope": {"coding": [{"system": systems.CONSENT_SCOPE, "code": "research"}]},
        "category": [
            {"coding": [{"system": systems.LOINC, "code": "59284-0", "display": "Patient Consent"}]},
            {"coding": [{"system": CONSENT_CATEGORY, "code": "research"}]},
        ],
        "patient": {"reference": patient_ref},
        "dateTime": since,
        "sourceAttachment": {
            "contentType": "application/json",
            "data": base64.b64encode(evidence).decode(),
            "title": f"EIP-712 TrialConsent to protocol version {version}, and her signature",
        },
        "policy": [{"uri": DOCUMENT_URN + "0x" + document_hash.hex()}],
        "provision": {
            "extension": [{"url": STUDY_CONTEXT_EXTENSION, "valueReference": {"reference": study_ref}}],
            "type": "permit",
            "period": {"start": since},
            "purpose": [{"system": systems.ACT_REASON, "code": "HRESCH"}],
        },
    }


def research_subject(
    patient_ref: str,
    study_ref: str,
    participant_hex: str,
    salt_hex: str,
    site: str,
    stratum: int,
    status: str,
    *,
    arm: str | None = None,
    consent_ref: str | None = None,
) -> Resource:
    """Her place in a trial as a FHIR R4 ResearchSubject: her participant id and its salt as identifiers (so her
    record alone can tell which on-chain participant she is), her site and stratum; `status` candidate (consent
    asked), on-study or withdrawn; `arm` (an arm's code) only once the trial is unblinded."""
    if status not in SUBJECT_STATUSES:
        raise ValidationError(f"a trial subject's status is one of {', '.join(SUBJECT_STATUSES)}, not {status[:40]!r}")
    for name, value in (("participant id", participant_hex), ("salt", salt_hex)):
        if not _HEX32.fullmatch(value):
            raise ValidationError(f"a {name} is 0x and 64 lower-case hex digits")
    if not _ADDRESS.fullmatch(site):
        raise ValidationError(f"a site is an address, not {site[:50]!r}")
    if not 0 <= stratum < 2**16:
        raise ValidationError(f"stratum {stratum} is not a uint16")
    subject: Resource = {
        "resourceType": "ResearchSubject",
        "extension": [
            {
                "url": SITE_EXTENSION,
                "valueIdentifier": {"system": SITE_SYSTEM, "value": checksum_address(bytes.fromhex(site[2:]))},
            },
            {"url": STRATUM_EXTENSION, "valueUnsignedInt": stratum},
        ],
        "identifier": [
            {"system": PARTICIPANT_SYSTEM, "value": participant_hex},
            {"system": SALT_SYSTEM, "value": salt_hex},
        ],
        "status": status,
        "study": {"reference": study_ref},
        "individual": {"reference": patient_ref},
    }
    if arm is not None:
        subject["assignedArm"] = arm
    if consent_ref is not None:
        subject["consent"] = {"reference": consent_ref}
    return subject
