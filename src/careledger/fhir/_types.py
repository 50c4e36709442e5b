"""The FHIR version a node speaks and the resource types it knows: R4B (4.3.0), the version its models validate.

The list comes from the models themselves (`definitions/resource-types.json`, written from
fhir.resources' R4B models; a test checks it against the installed package), so a type is
served exactly when a body of that type can be validated. Reading the file costs a
millisecond; importing every model to find out would cost seconds.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

RESOURCE_TYPES_FILE = Path(__file__).resolve().parent / "definitions" / "resource-types.json"
FHIR_VERSION = "4.3.0"


@functools.cache
def resource_types() -> tuple[str, ...]:
    """Every resource type of FHIR R4B, sorted."""
    definition = json.loads(RESOURCE_TYPES_FILE.read_text())
    return tuple(definition["resourceTypes"])


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(resource_types())


def is_resource_type(name: str) -> bool:
    """Whether `name` is a FHIR R4B resource type (`Patient`, not `patient`, `HumanName` or `Foo`)."""
    return name in _known()
