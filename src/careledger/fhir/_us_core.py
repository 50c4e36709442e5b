"""US Core 6.1.0: the profiles this node serves, and the searches US Core's server CapabilityStatement says SHALL work.

Read from HL7's `us-core-server` CapabilityStatement of release 6.1.0 (the `6.1.0` tag of
github.com/HL7/US-Core, `input/resources/capabilitystatement-us-core-server.json`): for each type,
the search parameters and combinations whose expectation is SHALL, and the `_include`s it names.
`_revinclude=Provenance:target` is SHALL for every type here. One table feeds the CapabilityStatement's
`supportedProfile` and the test that asks each of these searches of a running server, so the two
cannot drift. Listing a profile says the node can store and serve resources that conform to it and
answers its searches; it does not validate instances against it (`docs/api.md`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

US_CORE_VERSION = "6.1.0"
_PROFILES = "http://hl7.org/fhir/us/core/StructureDefinition/"
PROVENANCE_REVINCLUDE = "Provenance:target"


@dataclass(frozen=True, slots=True)
class UsCoreType:
    """One resource type as US Core's server serves it: its profiles (ids), SHALL searches and includes."""

    profiles: tuple[str, ...]
    searches: tuple[tuple[str, ...], ...]  # each a parameter, or a combination, US Core makes SHALL
    includes: tuple[str, ...] = ()

    @property
    def supported_profiles(self) -> list[str]:
        """The profiles' canonical URLs, versioned as US Core's own CapabilityStatement lists them."""
        return [f"{_PROFILES}{profile}|{US_CORE_VERSION}" for profile in self.profiles]


US_CORE: Mapping[str, UsCoreType] = MappingProxyType(
    {
        "AllergyIntolerance": UsCoreType(("us-core-allergyintolerance",), (("patient",),)),
        "CareTeam": UsCoreType(("us-core-careteam",), (("patient", "status"),)),
        "Condition": UsCoreType(
            ("us-core-condition-encounter-diagnosis", "us-core-condition-problems-health-concerns"),
            (("patient",), ("patient", "category")),
        ),
        "DiagnosticReport": UsCoreType(
            ("us-core-diagnosticreport-note", "us-core-diagnosticreport-lab"),
            (("patient",), ("patient", "category"), ("patient", "code"), ("patient", "category", "date")),
        ),
        "DocumentReference": UsCoreType(
            ("us-core-documentreference",),
            (("_id",), ("patient",), ("patient", "category"), ("patient", "category", "date"), ("patient", "type")),
        ),
        "Encounter": UsCoreType(("us-core-encounter",), (("_id",), ("patient",), ("date", "patient"))),
        "Goal": UsCoreType(("us-core-goal",), (("patient",),)),
        "Immunization": UsCoreType(("us-core-immunization",), (("patient",),)),
        "MedicationRequest": UsCoreType(
            ("us-core-medicationrequest",),
            (("patient", "intent"), ("patient", "intent", "status")),
            ("MedicationRequest:medication",),
        ),
        "Observation": UsCoreType(
            ("us-core-observation-lab", "us-core-vital-signs"),
            (("patient", "category"), ("patient", "category", "date"), ("patient", "code")),
        ),
        "Patient": UsCoreType(
            ("us-core-patient",),
            (("_id",), ("identifier",), ("name",), ("birthdate", "name"), ("gender", "name")),
        ),
        "Procedure": UsCoreType(("us-core-procedure",), (("patient",), ("patient", "date"))),
    }
)
