"""Names of credential types: the chain keeps only keccak256 of a type's name, people want the name back."""

from __future__ import annotations

from functools import cache

from careledger.chain import credential_type_id

# The credentials CareLedger's own rules read: a practitioner's licence (break-glass), the
# affiliation a node attests to the actors of its care team, the privacy officer a node
# attests to whoever reviews its break-glass uses, the governance officer a node attests
# to whoever proposes, votes and executes for it on the network's council, and the supply
# officer a node attests to whoever recalls lots and admits manufacturers for it.
MEDICAL_LICENCE = "medical-licence"
AFFILIATION = "affiliation"
PRIVACY_OFFICER = "privacy-officer"
GOVERNANCE_OFFICER = "governance-officer"
SUPPLY_OFFICER = "supply-officer"

# The types CareLedger and its users attest most; any other name still works on chain, and is
# shown as its hash until it is added here.
KNOWN_CREDENTIAL_TYPES = (
    MEDICAL_LICENCE,
    AFFILIATION,
    PRIVACY_OFFICER,
    GOVERNANCE_OFFICER,
    SUPPLY_OFFICER,
    "nursing-licence",
    "pharmacy-licence",
    "dental-licence",
    "board-certification",
    "dea-registration",
    "npi",
    "hospital-privileges",
    "lab-accreditation",
    "insurer-licence",
    "research-ethics-approval",
    "device-certification",
)


def credential_type_name(type_id: bytes) -> str | None:
    """The name of a known credential type, from its on-chain id."""
    return _by_id().get(bytes(type_id))


@cache
def _by_id() -> dict[bytes, str]:
    # Hashed on first use, not at import: keccak's backend takes ~70 ms to load.
    return {credential_type_id(name): name for name in KNOWN_CREDENTIAL_TYPES}
