"""The CapabilityStatement: what this node's FHIR API really supports, and nothing more.

Built from the tables the server itself runs on: the resource types it validates
(`resource_types`), the interactions below (the routes register exactly these), the
search parameters `records` understands, the formats the API negotiates and the body
limit, so it cannot claim what the server does not do. `tests/api` asks every listed
interaction of the server and expects an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from careledger.fhir._types import FHIR_VERSION, resource_types

# What the generic routes do with every type but the ones that have routes of their own.
TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch")
# Consents are grants on chain: read and searched as FHIR views, granted with the consent commands.
READ_ONLY_TYPES: Mapping[str, tuple[str, ...]] = {"Consent": ("read", "search-type")}
FORMATS = ("application/fhir+json", "application/fhir+xml", "json", "xml")


def capability_statement(
    base_url: str,
    date: str,
    *,
    version: str,
    search_params: Mapping[str, str],
    max_body: int,
) -> dict[str, Any]:
    """The CapabilityStatement of the server at `base_url`, dated `date`: CareLedger `version`, which
    understands `search_params` (name -> type), and takes bodies of up to `max_body` bytes."""
    resources = [_resource(resource_type, search_params) for resource_type in resource_types()]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "CareLedger", "version": version},
        "implementation": {"description": "CareLedger node: encrypted records under on-chain consent", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": list(FORMATS),
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
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
            }
        ],
    }


def _resource(resource_type: str, search_params: Mapping[str, str]) -> dict[str, Any]:
    interactions = READ_ONLY_TYPES.get(resource_type, TYPE_INTERACTIONS)
    if resource_type in READ_ONLY_TYPES:
        return {
            "type": resource_type,
            "interaction": [{"code": code} for code in interactions],
            "searchParam": [{"name": "patient", "type": "reference"}],
        }
    return {
        "type": resource_type,
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "interaction": [{"code": code} for code in interactions],
        "searchParam": [
            {"name": name, "type": kind}
            for name, kind in search_params.items()
            if resource_type != "Patient" or name not in ("patient", "subject")
        ],
        **(
            {
                "operation": [
                    {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
                ]
            }
            if resource_type == "Patient"
            else {}
        ),
    }
