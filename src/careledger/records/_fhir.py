"""FHIR R4 resources in: parse, validate, and read what the node needs.

A type R4B left as R4 defined it is validated by fhir.resources' R4B model; one R4B changed or
dropped by R4's own definitions (`careledger.fhir.r4_problems`), each nested resource by its own
type's rule. Validation errors name the element path and the problem, the way a FHIR server's
OperationOutcome would, so a user can fix the input.
"""

from __future__ import annotations

import decimal
import functools
import json
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from careledger.errors import InvalidResource, TooLarge, ValidationError
from careledger.fhir import (
    URI,
    compartment_references,
    is_r4_validated,
    is_resource_type,
    loads,
    r4_extension_problems,
    r4_only_extension_values,
    r4_problems,
    r4b_only_extension_values,
)
from careledger.records import _values

Resource = dict[str, Any]

# The largest resource accepted (attachments included); bigger documents belong in a
# Binary store, not inline.
MAX_RESOURCE_BYTES = 4 * 1024 * 1024

# A reference to one of this node's records, perhaps to one version of it: relative, as FHIR writes a local one
# (a type, an id as FHIR's rule allows). An absolute URL is another server's, whatever its last parts say.
_LOCAL_RECORD = re.compile(r"([A-Z][A-Za-z]{0,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?")


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
    if not is_resource_type(resource_type):
        raise ValidationError(f"unknown resourceType {resource_type!r}")
    problems = "; ".join(_problems(data, resource_type, text))
    if problems:
        raise InvalidResource(f"invalid {resource_type}: {problems}")
    return data


def _problems(data: Resource, path: str, text: bytes | str | None = None) -> list[str]:
    """What is wrong with a resource (at `path`), each as `path: problem`; `text` is its JSON, if at hand."""
    resource_type = str(data["resourceType"])
    if not is_resource_type(resource_type):
        return [f"{path}: unknown resourceType {resource_type[:40]!r}"]
    if is_r4_validated(resource_type):
        return r4_problems(data, _problems, path)
    model_class = _model_class(resource_type)
    # What R4B's model cannot validate, each by R4's rule, apart (nothing, where the text names neither)
    inside = _mentions(text, "resourceType", 2) or any(_mentions(text, name) for name in r4_only_extension_values())
    outside = list(_beyond_r4b(data, path)) if inside else []
    found = [problem for part, where in outside for problem in _part_problems(part, where)]
    if outside:
        data = _without(data, {id(part) for part, _ in outside})
    try:
        if text is not None and not outside:
            model_class.model_validate_json(text)
        else:
            model_class.model_validate(data)
    except PydanticValidationError as exc:
        found += [f"{path}.{_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        return found
    if any(_mentions(text, name) for name in r4b_only_extension_values()):
        found += _r4b_only(data, path)
    return found + list(_bad_values(data, model_class, path))


def _mentions(text: bytes | str | None, word: str, times: int = 1) -> bool:
    """Whether JSON `text` may hold the name `word` `times` times: True without a text, or with a `\\u` escape,
    which could spell it."""
    if text is None:
        return True
    raw = text if isinstance(text, bytes) else text.encode()
    return b"\\u" in raw or raw.count(word.encode()) >= times


def _beyond_r4b(data: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The parts of `data` (at any depth, not inside one another) R4B's models cannot validate: resources of a
    type R4B changed or lacks, and extensions with a value type R4B dropped (valueMeta)."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
        kind = value.get("resourceType") if isinstance(value, dict) else None
        if isinstance(kind, str) and (is_r4_validated(kind) or not is_resource_type(kind)):
            yield value, where
        elif isinstance(value, dict) and not r4_only_extension_values().isdisjoint(value):
            yield value, where  # only an Extension has one, among the types R4B's models check
        else:
            yield from _beyond_r4b(value, where)


def _part_problems(part: dict[str, Any], where: str) -> list[str]:
    """What is wrong with a part `_beyond_r4b` found: a resource by its type's rule, an extension by R4's."""
    if "resourceType" in part:
        return _problems(part, where)
    return r4_extension_problems(part, _problems, where)


def _without(data: Any, dropped: set[int]) -> Any:
    """A copy of `data` without the objects `dropped` names (by `id`), so R4B's model sees only its own."""
    if isinstance(data, dict):
        return {k: _without(v, dropped) for k, v in data.items() if id(v) not in dropped}
    if isinstance(data, list):
        return [_without(v, dropped) for v in data if id(v) not in dropped]
    return data


def _r4b_only(data: Any, path: str) -> Iterator[str]:
    """Each extension value of a type R4B added to `Extension.value[x]` (valueCodeableReference, ...): not R4."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
        if key in r4b_only_extension_values():
            yield f"{where}: not an element of FHIR R4"
        else:
            yield from _r4b_only(value, where)


# Required bindings whose value set the models list only in part ("a | b +"): the rest of
# each value set, from the FHIR R4 specification (a type R4's definitions validate lists its own).
_MORE_CODES: dict[tuple[str, str], frozenset[str]] = {
    **dict.fromkeys(
        [("Observation", "status"), ("DetectedIssue", "status"), ("RiskAssessment", "status")],
        frozenset({"corrected", "cancelled", "entered-in-error", "unknown"}),
    ),
    ("DiagnosticReport", "status"): frozenset(
        {"partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled", "entered-in-error"}
        | {"unknown", "registered"}
    ),
    **dict.fromkeys(
        [("Encounter", "status"), ("EncounterStatusHistory", "status")],
        frozenset({"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled"})
        | {"entered-in-error", "unknown"},
    ),
    ("SupplyRequest", "status"): frozenset(
        {"draft", "active", "suspended", "cancelled", "completed", "entered-in-error", "unknown"}
    ),
    ("DeviceUseStatement", "status"): frozenset(
        {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold"}
    ),
}


@dataclass(frozen=True, slots=True)
class _Element:
    """What `_bad_values` checks of one element: the codes its required binding allows (if listed), its element
    model, and for a number or a boolean the JSON type it is (R4 JSON never quotes them, and the models take "260"
    for a decimal, "5" for an integer, "true" for a boolean)."""

    allowed: frozenset[str] | None
    child: type[BaseModel] | None
    json_type: type[bool] | type[float] | None


# Model field types and the JSON type of their elements: integer, positiveInt and unsignedInt, decimal, boolean.
_JSON_TYPES: dict[type, type[bool] | type[float]] = {bool: bool, int: float, decimal.Decimal: float}


@functools.cache
def _shape(model_class: type[BaseModel]) -> dict[str, _Element]:
    """Per JSON element of a model: what `_bad_values` checks of it (elements with nothing to check left out)."""
    shape: dict[str, _Element] = {}
    for name, field in model_class.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        listed = extra.get("enum_values")
        allowed: frozenset[str] | None = None
        if isinstance(listed, list) and listed:
            more = _MORE_CODES.get((model_class.__name__, name)) if "+" in listed else frozenset()
            if more is not None:  # a partly listed value set we do not know in full stays unchecked
                allowed = frozenset(str(code) for code in listed if code != "+") | more
        types = list(_types_in(field.annotation))
        child = next(filter(None, map(_element_model, types)), None)
        json_type = next((_JSON_TYPES[t] for t in types if t in _JSON_TYPES), None)
        if allowed is not None or child is not None or json_type is not None:
            shape[field.alias or name] = _Element(allowed, child, json_type)
    return shape


def _element_model(kind: type) -> type[BaseModel] | None:
    """The model behind a field type: a model itself, or a fhir.resources element type naming one."""
    if issubclass(kind, BaseModel):
        return kind
    if isinstance(getattr(kind, "_model_klass", None), str) and hasattr(kind, "get_model_klass"):
        found = kind.get_model_klass()
        return found if isinstance(found, type) and issubclass(found, BaseModel) else None
    return None


def _types_in(annotation: Any) -> Iterator[type]:
    """The classes an annotation names (through Optional, list and unions)."""
    if isinstance(annotation, type):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _types_in(argument)


def _bad_values(data: Resource, model_class: type[BaseModel], path: str) -> Iterator[str]:
    """Each element, at any depth (contained and Bundle entry resources too), whose code is not in its required
    binding's value set, or a number or boolean written as a JSON string. Only the elements present are visited."""
    shape = _shape(model_class)
    for name, value in data.items():
        element = shape.get(name)
        if element is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if element.allowed is not None and isinstance(item, str) and item not in element.allowed:
                yield f"{path}.{name}: {item[:40]!r} is not one of {', '.join(sorted(element.allowed))}"
            elif element.json_type is not None and item is not None and not _is_json(item, element.json_type):
                wanted = "a JSON boolean" if element.json_type is bool else "a JSON number"
                yield f"{path}.{name}: {json.dumps(item)[:40]} is not {wanted}, as R4 JSON writes it"
            elif isinstance(item, dict):
                kind = item.get("resourceType")
                model = _resource_model(kind) if isinstance(kind, str) else element.child
                if model is not None:
                    yield from _bad_values(item, model, f"{path}.{name}")


def _is_json(item: object, json_type: type[bool] | type[float]) -> bool:
    """Whether `item` is of `json_type` as JSON reads: a boolean, or a number (which a boolean is not)."""
    return isinstance(item, bool) if json_type is bool else isinstance(item, int | float) and not isinstance(item, bool)


def _resource_model(resource_type: str) -> type[BaseModel] | None:
    if is_r4_validated(resource_type):  # R4's own definitions checked its codes
        return None
    try:
        return _model_class(resource_type)
    except (KeyError, ValueError):
        return None


def _model_class(resource_type: str) -> type[BaseModel]:
    """The fhir.resources model of a type; `KeyError` or `ValueError` for one it does not know."""
    from fhir.resources.R4B import get_fhir_model_class  # ~30 ms with its YAML and lxml: paid on first validation

    return cast("type[BaseModel]", get_fhir_model_class(resource_type))


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


@dataclass(frozen=True, slots=True)
class PatientsNamed:
    """The Patients a resource points at through its type's Patient-compartment parameters.

    `ids`: each Patient of this node's (`Patient/<id>`) once, in the order named, with the parameter that
    names it first. `elsewhere`: Patients it names in a way no record of this node's can be filed under
    (an absolute URL, a contained Patient, an identifier typed Patient, a reference no Bundle entry resolved),
    each as `<reference as written> (<parameter>)`. `unsaid`: references by an identifier or a display alone,
    with no type, where a Patient may be meant (an Observation's performer "Dr Eve"), written the same way.
    """

    ids: dict[str, str]
    elsewhere: list[str]
    unsaid: list[str]


def patients_named(resource: Resource) -> PatientsNamed:
    """Who `resource` is about: every reference of its compartment elements, every item of a list-valued one."""
    ids: dict[str, str] = {}
    elsewhere: list[str] = []
    unsaid: list[str] = []
    for found in compartment_references(resource):
        if not isinstance(found.value, dict):
            continue
        written = f"{json.dumps(found.value)[:120]} ({found.param.code})"
        if (local := local_reference(found.value)) is not None and local[0] == "Patient":
            ids.setdefault(local[1], found.param.code)
        elif (kind := _target_type(found.value, resource, found.param.targets)) == "Patient":
            elsewhere.append(written)
        elif kind == _UNSAID:
            unsaid.append(written)
    return PatientsNamed(ids, elsewhere, unsaid)


def local_reference(value: object) -> tuple[str, str] | None:
    """The (type, id) of one of this node's records a Reference points at, if it is local (`Type/id`, perhaps
    `/_history/<version>`); None for an absolute URL, a contained or `urn:` one, an identifier or a display."""
    reference = value.get("reference") if isinstance(value, dict) else None
    local = _LOCAL_RECORD.fullmatch(reference) if isinstance(reference, str) else None
    return (local[1], local[2]) if local is not None else None


_UNSAID = "Patient?"  # a reference by identifier or display alone, no type, where a Patient may be meant


def _target_type(value: Resource, resource: Resource, targets: tuple[str, ...]) -> str | None:
    """The type of what a reference points at, as far as it says (its literal reference, the contained resource,
    its `type`); "Patient" where a reference it cannot resolve may be one, `_UNSAID` where it names someone by an
    identifier or a display alone and a Patient may be meant."""
    reference = value.get("reference")
    if isinstance(reference, str) and reference.startswith("#"):
        contained = resource.get("contained")
        for item in contained if isinstance(contained, list) else []:
            if isinstance(item, dict) and item.get("id") == reference[1:]:
                return str(item.get("resourceType"))
    elif isinstance(reference, str) and (literal := _values.reference(_values.Found(value))) is not None:
        return literal.split("/", 1)[0]
    if isinstance(value.get("type"), str):
        return str(value["type"])
    if isinstance(reference, str):  # a urn: no entry resolved, an unknown #id: any of the element's targets
        return "Patient" if "Patient" in targets else None
    if targets == ("Patient",):  # an identifier where only a Patient may be meant
        return "Patient"
    return _UNSAID if "Patient" in targets else None


def patient_reference(resource: Resource) -> str | None:
    """The id of the Patient a resource belongs to: itself, or the first of this node's Patients it names
    (`owner_of` refuses a resource that names more than one)."""
    if resource["resourceType"] == "Patient":
        return str(resource["id"]) if "id" in resource else None
    return next(iter(patients_named(resource).ids), None)


def foreign_accounts(patient: Resource, owner: str) -> list[str]:
    """The `did:pkh` identifiers of a Patient that name anyone but `owner`, under any system: each names a
    wallet, so a Patient carrying another's would pass her for that wallet's holder (to a search, to a
    node that reads the identifier to know whose records these are)."""
    foreign = []
    for identifier in patient.get("identifier", []):
        value = identifier.get("value") if isinstance(identifier, dict) else None
        if not isinstance(value, str) or not value.lower().startswith("did:pkh:"):
            continue
        parts = value.split(":")  # did:pkh:eip155:<chain id>:<address>
        theirs = len(parts) != 5 or parts[1:3] != ["pkh", "eip155"] or not parts[3].isdigit()
        if theirs or parts[4].lower() != owner.lower():
            foreign.append(value)
    return foreign


def wallet_identifier(patient: Resource) -> str | None:
    """The patient's own wallet, from an identifier `did:pkh:eip155:<chain>:<address>` (system urn:ietf:rfc:3986)."""
    for identifier in patient.get("identifier", []):
        value = str(identifier.get("value", "")) if isinstance(identifier, dict) else ""
        if identifier.get("system") == URI and value.startswith("did:pkh:eip155:"):
            address = value.rsplit(":", 1)[-1]
            if not is_address(address):
                raise ValidationError(f"{value!r} does not end in an Ethereum address")
            return str(to_checksum_address(address))
    return None
