"""eConsent: her participant id, the EIP-712 consent and withdrawal a wallet signs and who signed them, and the FHIR
Consent and ResearchSubject her site keeps."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from careledger.crypto import keccak
from careledger.errors import ValidationError
from careledger.records import parse_resource
from careledger.trials import (
    consent_digest,
    consent_resource,
    consent_typed_data,
    new_salt,
    participant_id,
    research_subject,
    signer_of,
    withdrawal_typed_data,
)

CHAIN_ID = 31337
TRIALS = "0x" + "7e" * 20
DOCUMENT = keccak(b"# HT-3 consent, version 1")
SALT = bytes(range(32))
PATIENT: LocalAccount = Account.from_key(b"\x01" * 32)
PARTICIPANT = participant_id(SALT, 7, PATIENT.address)
SIGNED = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def consent(**changes: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "chain_id": CHAIN_ID,
        "contract": TRIALS,
        "trial_id": 7,
        "version": 1,
        "document_hash": DOCUMENT,
        "participant": PARTICIPANT,
        "payee": PATIENT.address,
        "deadline": 1_800_000_000,
    }
    return consent_typed_data(**(terms | changes))


def sign(account: LocalAccount, typed: dict[str, Any]) -> bytes:
    """Her wallet's signature, as eth_signTypedData_v4 makes it."""
    return bytes(account.sign_message(encode_typed_data(full_message=typed)).signature)


def test_the_participant_id_is_the_keccak_of_salt_trial_and_address_packed() -> None:
    expected = keccak(SALT + (7).to_bytes(32, "big") + bytes.fromhex(PATIENT.address[2:]))
    assert expected == PARTICIPANT
    assert participant_id(SALT, 8, PATIENT.address) != PARTICIPANT
    assert participant_id(new_salt(), 7, PATIENT.address) != PARTICIPANT
    assert participant_id(SALT, 7, PATIENT.address.lower()) == PARTICIPANT


@pytest.mark.parametrize(
    ("salt", "trial", "patient", "message"),
    [
        (b"\x00" * 31, 7, PATIENT.address, "a participant's salt is 32 bytes, not 31"),
        (SALT, -1, PATIENT.address, "trial id -1 is not a uint256"),
        (SALT, 7, "0x1234", "a participant is an address"),
    ],
)
def test_a_participant_id_of_bad_parts_is_refused(salt: bytes, trial: int, patient: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        participant_id(salt, trial, patient)


def test_the_consent_typed_data_is_the_trials_contracts_domain_and_struct() -> None:
    typed = consent()
    assert typed["domain"] == {
        "name": "CareLedger Trials",
        "version": "1",
        "chainId": CHAIN_ID,
        "verifyingContract": to_checksum_address(TRIALS),
    }
    assert typed["primaryType"] == "TrialConsent"
    fields = ",".join(f"{f['type']} {f['name']}" for f in typed["types"]["TrialConsent"])
    assert (
        fields == "uint256 trialId,uint32 version,bytes32 document,bytes32 participant,address payee,uint256 deadline"
    )
    assert typed["message"]["participant"] == "0x" + PARTICIPANT.hex()
    withdrawal = withdrawal_typed_data(CHAIN_ID, TRIALS, 7, PARTICIPANT, 1_800_000_000)
    fields = ",".join(f"{f['type']} {f['name']}" for f in withdrawal["types"]["TrialWithdrawal"])
    assert fields == "uint256 trialId,bytes32 participant,uint256 deadline"


def test_a_consent_signed_by_her_key_recovers_to_her_address_as_bytes_or_hex() -> None:
    typed = consent()
    signature = sign(PATIENT, typed)
    assert signer_of(typed, signature) == PATIENT.address
    assert signer_of(typed, "0x" + signature.hex()) == PATIENT.address
    as_wallet_writes_v = signature[:64] + bytes([signature[64] - 27])  # some wallets write v as 0 or 1
    assert signer_of(typed, as_wallet_writes_v) == PATIENT.address
    assert consent_digest(as_wallet_writes_v) == consent_digest(signature) == keccak(signature)


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("message", "version", 2),
        ("message", "payee", "0x" + "99" * 20),
        ("message", "document", "0x" + "00" * 32),
        ("message", "participant", "0x" + "11" * 32),
        ("message", "deadline", 1_900_000_000),
        ("message", "trialId", 8),
        ("domain", "chainId", 1),
        ("domain", "verifyingContract", "0x" + "7f" * 20),
    ],
)
def test_a_tampered_field_recovers_to_another_address(where: str, field: str, value: Any) -> None:
    typed = consent()
    signature = sign(PATIENT, typed)
    tampered = copy.deepcopy(typed)
    tampered[where][field] = value
    assert signer_of(tampered, signature) != PATIENT.address


def test_a_withdrawal_signed_by_her_key_recovers_to_her_address() -> None:
    typed = withdrawal_typed_data(CHAIN_ID, TRIALS, 7, PARTICIPANT, 1_800_000_000)
    signature = sign(PATIENT, typed)
    assert signer_of(typed, signature) == PATIENT.address
    other = withdrawal_typed_data(CHAIN_ID, TRIALS, 7, participant_id(new_salt(), 7, PATIENT.address), 1_800_000_000)
    assert signer_of(other, signature) != PATIENT.address


def _renamed(typed: dict[str, Any]) -> dict[str, Any]:
    typed["types"]["TrialConsent"][1]["name"] = "release"
    return typed


def _other_primary(typed: dict[str, Any]) -> dict[str, Any]:
    typed["primaryType"] = "Consent"
    return typed


def _other_domain(typed: dict[str, Any]) -> dict[str, Any]:
    typed["domain"]["name"] = "CareLedger Exchange"
    return typed


def _missing(typed: dict[str, Any]) -> dict[str, Any]:
    del typed["message"]["payee"]
    return typed


def _huge(typed: dict[str, Any]) -> dict[str, Any]:
    typed["message"]["version"] = 2**32
    return typed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_renamed, "the TrialConsent type is not CareLedger Trials's"),
        (_other_primary, "not a trial consent or withdrawal"),
        (_other_domain, "not a trial consent for CareLedger Trials version 1"),
        (_missing, "a trial consent is an object of .*: payee is missing"),
        (_huge, r"version is a uint32 \(an integer from 0 to 2\*\*32 - 1\)"),
    ],
)
def test_malformed_typed_data_is_refused(change: Any, message: str) -> None:
    typed = consent()
    signature = sign(PATIENT, typed)
    with pytest.raises(ValidationError, match=message):
        signer_of(change(copy.deepcopy(typed)), signature)


@pytest.mark.parametrize("signature", ["", "0x1234", "0x" + "00" * 65, b"\x01" * 64])
def test_a_malformed_signature_is_a_validation_error(signature: str | bytes) -> None:
    with pytest.raises(ValidationError, match="signature"):
        signer_of(consent(), signature)
    with pytest.raises(ValidationError, match="signature"):
        consent_digest(signature)


def test_the_consent_resource_validates_as_r4_and_keeps_what_she_signed() -> None:
    typed = consent()
    signature = sign(PATIENT, typed)
    resource = consent_resource("Patient/p1", "ResearchStudy/t7", 1, DOCUMENT, typed, signature, signed=SIGNED)
    parse_resource(resource)
    assert resource["scope"]["coding"][0]["code"] == "research"
    assert resource["patient"] == {"reference": "Patient/p1"}
    assert resource["policy"] == [{"uri": "urn:careledger:trial-consent-document:0x" + DOCUMENT.hex()}]
    assert resource["provision"]["period"] == {"start": "2026-12-07T10:00:00Z"}
    assert resource["provision"]["extension"][0]["valueReference"] == {"reference": "ResearchStudy/t7"}
    assert resource["identifier"][0]["value"] == "0x" + consent_digest(signature).hex()
    kept = json.loads(base64.b64decode(resource["sourceAttachment"]["data"]))
    assert kept["typedData"] == typed
    assert signer_of(kept["typedData"], kept["signature"]) == PATIENT.address


def test_a_consent_resource_for_another_version_or_document_is_refused() -> None:
    typed = consent()
    signature = sign(PATIENT, typed)
    with pytest.raises(ValidationError, match="the signed consent is to version 1, not 2, or another document"):
        consent_resource("Patient/p1", "ResearchStudy/t7", 2, DOCUMENT, typed, signature)
    with pytest.raises(ValidationError, match="the signed consent is to version 1, not 1, or another document"):
        consent_resource("Patient/p1", "ResearchStudy/t7", 1, keccak(b"other"), typed, signature)


@pytest.mark.parametrize("status", ["candidate", "on-study", "withdrawn"])
def test_the_research_subject_validates_as_r4_in_each_status(status: str) -> None:
    subject = research_subject(
        "Patient/p1", "ResearchStudy/t7", "0x" + PARTICIPANT.hex(), "0x" + SALT.hex(), "0x" + "ab" * 20, 5, status
    )
    parse_resource(subject)
    assert subject["status"] == status
    assert {i["system"]: i["value"] for i in subject["identifier"]} == {
        "urn:careledger:trial-participant": "0x" + PARTICIPANT.hex(),
        "urn:careledger:trial-participant-salt": "0x" + SALT.hex(),
    }
    assert "assignedArm" not in subject  # blinded


def test_the_arm_is_written_once_unblinded_with_her_consent() -> None:
    subject = research_subject(
        "Patient/p1",
        "ResearchStudy/t7",
        "0x" + PARTICIPANT.hex(),
        "0x" + SALT.hex(),
        "0x" + "ab" * 20,
        5,
        "on-study",
        arm="combination",
        consent_ref="Consent/c1",
    )
    parse_resource(subject)
    assert (subject["assignedArm"], subject["consent"]) == ("combination", {"reference": "Consent/c1"})


@pytest.mark.parametrize(
    ("participant", "salt", "site", "stratum", "status", "message"),
    [
        ("0x" + PARTICIPANT.hex(), "0x" + SALT.hex(), "0x" + "ab" * 20, 0, "enrolled", "status is one of candidate"),
        ("0x" + PARTICIPANT.hex()[:-2], "0x" + SALT.hex(), "0x" + "ab" * 20, 0, "on-study", "a participant id is 0x"),
        ("0x" + PARTICIPANT.hex(), SALT.hex(), "0x" + "ab" * 20, 0, "on-study", "a salt is 0x and 64"),
        ("0x" + PARTICIPANT.hex(), "0x" + SALT.hex(), "ab" * 20, 0, "on-study", "a site is an address"),
        ("0x" + PARTICIPANT.hex(), "0x" + SALT.hex(), "0x" + "ab" * 20, 2**16, "on-study", "is not a uint16"),
    ],
)
def test_a_research_subject_of_bad_parts_is_refused(
    participant: str, salt: str, site: str, stratum: int, status: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        research_subject("Patient/p1", "ResearchStudy/t7", participant, salt, site, stratum, status)
