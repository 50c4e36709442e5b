"""FHIR R4 resources in: parse, validate (fhir.resources R4B models), and read what the node needs.

Validation errors name the element path and the problem, the way a FHIR server's
OperationOutcome would, so a user can fix the input.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from careledger._json import loads
from careledger.errors import InvalidResource, TooLarge, ValidationError

Resource = dict[str, Any]

# The largest resource accepted (attachments included); bigger documents belong in a
# Binary store, not inline.
MAX_RESOURCE_BYTES = 4 * 1024 * 1024

# The elements that name the patient a resource belongs to, in order of preference.
_PATIENT_ELEMENTS = ("subject", "patient", "beneficiary")


def parse_resource(body: bytes | str | Resource) -> Resource:
    """A validated resource as plain JSON data; `ValidationError` names every problem.

    The data is returned as given (a copy) once the model accepts it (the models refuse unknown
    elements, so nothing unvalidated gets through); validating from JSON text is about
    three times faster than from Python objects, so dicts are serialised first.
    """
    text = body if isinstance(body, bytes | str) else json.dumps(body)
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_RESOURCE_BYTES:
        raise TooLarge(f"resource is {size:,} bytes; the limit is {MAX_RESOURCE_BYTES:,}")
    data = loads(text)  # a fresh copy even of a dict: callers keep theirs unchanged
    if not isinstance(data, dict):
        raise ValidationError("a FHIR resource is a JSON object")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        raise ValidationError("resourceType is missing")
    try:
        model_class = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        raise ValidationError(f"unknown resourceType {resource_type!r}") from None
    try:
        model_class.model_validate_json(text)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{resource_type}.{_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidResource(f"invalid {resource_type}: {problems}") from None
    return data


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


def patient_reference(resource: Resource) -> str | None:
    """The id of the Patient a resource belongs to: itself, or its subject/patient/beneficiary."""
    if resource["resourceType"] == "Patient":
        return str(resource["id"]) if "id" in resource else None
    for element in _PATIENT_ELEMENTS:
        value = resource.get(element)
        reference = value.get("reference") if isinstance(value, dict) else None
        if isinstance(reference, str) and reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")
    return None
