"""Every code system, identifier system and extension URL CareLedger writes, each named once.

Import the module and name the system where it is used (`systems.LOINC`), so a reader sees
which vocabulary a code comes from.
"""

from __future__ import annotations

from typing import Any

# Identifiers.
URI = "urn:ietf:rfc:3986"  # an identifier whose value is a URI: a `did:pkh:eip155:<chain>:<address>` account
COMMITMENT = "urn:careledger:commitment"  # a record version's salted commitment, as anchored
PLAN = "urn:careledger:plan"  # a plan on the Claims contract
TOKEN = "urn:careledger:token"  # noqa: S105 - an ERC-20 a plan pays in, by address

# HL7 terminology.
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"  # PurposeOfUse
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PROVENANCE_PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
BENEFIT_TYPE = "http://terminology.hl7.org/CodeSystem/benefit-type"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"  # XrequestId

# Clinical and billing vocabularies.
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CPT = "http://www.ama-assn.org/go/cpt"
CDT = "http://www.ada.org/cdt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"  # X12 claim adjustment reason codes

# CareLedger's own.
RECORD_CATEGORY = "https://careledger.org/fhir/CodeSystem/record-category"
AUDIT_SUBTYPE = "https://careledger.org/fhir/CodeSystem/audit-subtype"  # break-glass, export, share
SERVICE_CLASS = "https://careledger.org/fhir/CodeSystem/service-class"
PAYMENT_TOKEN_EXTENSION = "https://careledger.org/fhir/StructureDefinition/payment-token"  # noqa: S105 - a URL
BENEFIT_REMAINING_EXTENSION = "https://careledger.org/fhir/StructureDefinition/benefit-remaining"  # allowed - used
VISIT_MODE = "https://careledger.org/fhir/CodeSystem/visit-mode"  # virtual | in-person: a Slot's appointmentType
VISIT_FEE_EXTENSION = "https://careledger.org/fhir/StructureDefinition/visit-fee"  # a Schedule's fee, CARE units
VISIT_MODE_EXTENSION = "https://careledger.org/fhir/StructureDefinition/visit-mode"  # a Schedule's visit mode
APPOINTMENT_CANCELLATION = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"


def account_reference(did: str) -> dict[str, Any]:
    """A FHIR Reference to an account (a patient, a practitioner, a node) by its did:pkh."""
    return {"identifier": {"system": URI, "value": did}}
