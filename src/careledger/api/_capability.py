"""The CapabilityStatement: what this node's FHIR API really supports, and nothing more."""

from __future__ import annotations

from typing import Any

from careledger import __version__
from careledger.records import MAX_RESOURCE_BYTES, SEARCH_PARAMS

# The resource types a node keeps (any valid R4B type is accepted; these are listed).
RESOURCE_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "DiagnosticReport",
    "Immunization",
    "AllergyIntolerance",
    "Encounter",
    "DocumentReference",
    "Procedure",
    "CarePlan",
)


def capability_statement(base_url: str, date: str) -> dict[str, Any]:
    """The CapabilityStatement of this server at `base_url`, dated `date`."""
    interactions = [
        {"code": code} for code in ("read", "vread", "update", "delete", "history-instance", "create", "search-type")
    ]
    resources = [
        {
            "type": resource_type,
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": False,
            "conditionalUpdate": False,
            "interaction": interactions,
            "searchParam": [
                {"name": name, "type": kind}
                for name, kind in SEARCH_PARAMS.items()
                if resource_type != "Patient" or name not in ("patient", "subject")
            ],
            **(
                {
                    "operation": [
                        {
                            "name": "everything",
                            "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                        }
                    ]
                }
                if resource_type == "Patient"
                else {}
            ),
        }
        for resource_type in RESOURCE_TYPES
    ]
    resources.append(
        {
            "type": "Consent",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "patient", "type": "reference"}],
        }
    )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "CareLedger", "version": __version__},
        "implementation": {"description": "CareLedger node: encrypted records under on-chain consent", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": (
                        "Sign-In with Ethereum (EIP-4361): GET /auth/nonce, POST /auth/login, then "
                        "Authorization: Bearer <JWT> with SMART-style scopes. Reads need the patient's "
                        f"consent for the purpose in X-Purpose-Of-Use. Bodies up to {MAX_RESOURCE_BYTES:,} bytes."
                    ),
                },
                "resource": resources,
            }
        ],
    }
