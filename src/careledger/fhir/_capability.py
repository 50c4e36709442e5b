"""The CapabilityStatement: what this node's FHIR API really supports, and nothing more.

Built from the tables the server itself runs on: the resource types it validates
(`resource_types`), the interactions below (the routes register exactly these), the
search parameters `records` understands, the formats the API negotiates and the body
limit, so it cannot claim what the server does not do. `tests/api` asks every listed
interaction of the server and expects an answer. A type's `supportedProfile` lists the US Core
profiles `_us_core` names, whose SHALL searches `tests/api/test_us_core.py` asks from the same table.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from careledger.fhir._search_parameters import search_parameters
from careledger.fhir._types import FHIR_VERSION, resource_types
from careledger.fhir._us_core import US_CORE

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
# Operations: (name, canonical definition); the routes that run them are `api/operations` and `api/_bulk_routes`.
SYSTEM_OPERATIONS = (("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"),)
TYPE_OPERATIONS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "Patient": (
        ("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),
        ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"),
        ("assess", "https://careledger.org/fhir/OperationDefinition/Patient-assess"),  # `api/operations/assess.py`
        # `api/operations/suggest_codes.py`: coded suggestions from a note's text, nothing written
        ("suggest-codes", "https://careledger.org/fhir/OperationDefinition/Patient-suggest-codes"),
        ("erase", "https://careledger.org/fhir/OperationDefinition/Patient-erase"),  # `api/operations/erase.py`
    ),
    "Claim": (("submit", "http://hl7.org/fhir/OperationDefinition/Claim-submit"),),
    # Argonaut Scheduling's $find and $book (`api/operations/appointment.py`), and CareLedger's $cancel and $reschedule;
    # a telehealth visit's $quote, $prepare-book, $join, $finish, $respond and $no-show (`api/operations/visit.py`).
    "Appointment": (
        ("find", "http://fhir.org/guides/argonaut-scheduling/OperationDefinition/appointment-find"),
        ("book", "http://fhir.org/guides/argonaut-scheduling/OperationDefinition/appointment-book"),
        ("cancel", "https://careledger.org/fhir/OperationDefinition/Appointment-cancel"),
        ("reschedule", "https://careledger.org/fhir/OperationDefinition/Appointment-reschedule"),
        ("quote", "https://careledger.org/fhir/OperationDefinition/Appointment-quote"),
        ("prepare-book", "https://careledger.org/fhir/OperationDefinition/Appointment-prepare-book"),
        ("join", "https://careledger.org/fhir/OperationDefinition/Appointment-join"),
        ("finish", "https://careledger.org/fhir/OperationDefinition/Appointment-finish"),
        ("respond", "https://careledger.org/fhir/OperationDefinition/Appointment-respond"),
        ("no-show", "https://careledger.org/fhir/OperationDefinition/Appointment-no-show"),
    ),
    "CoverageEligibilityRequest": (
        ("submit", "https://careledger.org/fhir/OperationDefinition/CoverageEligibilityRequest-submit"),
    ),
}
SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
# Views of the chain, read and searched, never written here: consents (granted with the consent commands) and
# members' coverage (their enrolment in a plan on the Claims contract).
READ_ONLY_TYPES: Mapping[str, tuple[str, ...]] = {
    "Consent": ("read", "search-type"),
    "Coverage": ("read", "search-type"),
}
# What each view's search takes (`api/_consent_routes.py`, `api/operations/coverage.py`).
VIEW_SEARCH_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "Consent": ("patient",),
    "Coverage": ("patient", "beneficiary"),
}
FORMATS = ("application/fhir+json", "application/fhir+xml", "json", "xml")


def capability_statement(
    base_url: str,
    date: str,
    *,
    version: str,
    max_body: int,
) -> dict[str, Any]:
    """The CapabilityStatement of the server at `base_url`, dated `date`: CareLedger `version`, which takes
    bodies of up to `max_body` bytes."""
    resources = [_resource(resource_type) for resource_type in resource_types()]
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
                    "cors": True,  # for the origins of registered SMART apps (api/_cors.py)
                    "extension": [
                        {
                            "url": SMART_OAUTH_URIS,
                            "extension": [
                                {"url": "authorize", "valueUri": f"{base_url}auth/authorize"},
                                {"url": "token", "valueUri": f"{base_url}auth/token"},
                                {"url": "introspect", "valueUri": f"{base_url}auth/introspect"},
                                {"url": "revoke", "valueUri": f"{base_url}auth/revoke"},
                            ],
                        }
                    ],
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": (
                        "SMART on FHIR (App Launch with the user's wallet, Backend Services), or Sign-In with Ethereum "
                        "(EIP-4361): GET /auth/nonce, POST /auth/login, then "
                        "Authorization: Bearer <JWT> with SMART-style scopes. Reads need the patient's "
                        f"consent for the purpose in X-Purpose-Of-Use. Bodies up to {max_body:,} bytes."
                    ),
                },
                "resource": resources,
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": [{"name": name, "definition": url} for name, url in SYSTEM_OPERATIONS],
            }
        ],
    }


@functools.cache
def _pointing_at() -> dict[str, list[str]]:
    """Per type, the `Source:param` reference parameters that may point at it (what `_revinclude` takes). A
    read-only view (Coverage, Consent) is no stored record a `_revinclude` could bring, so it is left out."""
    found: dict[str, list[str]] = {resource_type: [] for resource_type in resource_types()}
    for source in resource_types():
        if source in READ_ONLY_TYPES:
            continue
        for param in search_parameters(source).values():
            if param.kind == "reference":
                for target in param.targets:
                    if target in found:
                        found[target].append(f"{source}:{param.code}")
    return found


def _resource(resource_type: str) -> dict[str, Any]:
    interactions = READ_ONLY_TYPES.get(resource_type, TYPE_INTERACTIONS)
    if resource_type in READ_ONLY_TYPES:
        return {
            "type": resource_type,
            "interaction": [{"code": code} for code in interactions],
            "searchParam": [{"name": name, "type": "reference"} for name in VIEW_SEARCH_PARAMETERS[resource_type]],
        }
    return {
        "type": resource_type,
        **({"supportedProfile": US_CORE[resource_type].supported_profiles} if resource_type in US_CORE else {}),
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "interaction": [{"code": code} for code in interactions],
        "searchParam": [
            {"name": param.code, "definition": param.url, "type": param.kind}
            for param in search_parameters(resource_type).values()
        ],
        # FHIR allows no empty list: a type nothing points at, or that points at nothing, says nothing
        **_listed(
            searchInclude=sorted(
                f"{resource_type}:{param.code}"
                for param in search_parameters(resource_type).values()
                if param.kind == "reference"
            ),
            searchRevInclude=_pointing_at()[resource_type],
        ),
        **(
            {"operation": [{"name": name, "definition": url} for name, url in TYPE_OPERATIONS[resource_type]]}
            if resource_type in TYPE_OPERATIONS
            else {}
        ),
    }


def _listed(**lists: list[str]) -> dict[str, list[str]]:
    """The lists that hold something (FHIR JSON has no empty arrays)."""
    return {name: items for name, items in lists.items() if items}
