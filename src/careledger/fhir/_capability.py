"""The CapabilityStatement: what this node's FHIR API really supports, and nothing more.

Built from what the caller passes (the search parameters `records` understands, the body
limit, the software version), so it cannot claim what the server does not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def capability_statement(
    base_url: str, date: str, *, version: str, search_params: Mapping[str, str], max_body: int
) -> dict[str, Any]:
    """The CapabilityStatement of the server at `base_url`, dated `date`: CareLedger `version`, which
    understands `search_params` (name -> type) and takes bodies of up to `max_body` bytes."""
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
                for name, kind in search_params.items()
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
        "software": {"name": "CareLedger", "version": version},
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
                        f"consent for the purpose in X-Purpose-Of-Use. Bodies up to {max_body:,} bytes."
                    ),
                },
                "resource": resources,
            }
        ],
    }
