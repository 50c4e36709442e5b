"""The identifier systems CareLedger writes, each named once, and the reference they make."""

from __future__ import annotations

from typing import Any

# An identifier whose value is a URI: here a `did:pkh:eip155:<chain>:<address>` account.
URI = "urn:ietf:rfc:3986"


def account_reference(did: str) -> dict[str, Any]:
    """A FHIR Reference to an account (a patient, a practitioner, a node) by its did:pkh."""
    return {"identifier": {"system": URI, "value": did}}
