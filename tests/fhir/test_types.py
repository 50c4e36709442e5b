"""The resource types a node serves are exactly the resource models of the installed fhir.resources (R4B)."""

from __future__ import annotations

import json

from fhir.resources.R4B import __fhir_version__, fhirtypes, get_fhir_model_class
from fhir.resources.R4B.resource import Resource

from careledger.fhir import FHIR_VERSION, RESOURCE_TYPES_FILE, is_resource_type, resource_types


def _model_resource_types() -> list[str]:
    found = []
    for attribute in dir(fhirtypes):
        name = attribute.removesuffix("Type")
        if attribute == name or not name[:1].isupper() or name in ("Resource", "DomainResource"):
            continue
        try:
            model = get_fhir_model_class(name)
        except ValueError:
            continue
        if issubclass(model, Resource) and model.get_resource_type() == name:
            found.append(name)
    return sorted(found)


def test_the_list_is_the_installed_models() -> None:
    listed = json.loads(RESOURCE_TYPES_FILE.read_text())
    assert listed["fhirVersion"] == __fhir_version__ == FHIR_VERSION
    assert list(resource_types()) == _model_resource_types(), "regenerate definitions/resource-types.json"


def test_types_are_told_from_data_types_and_strangers() -> None:
    assert is_resource_type("Patient")
    assert is_resource_type("Citation")
    for name in ("patient", "HumanName", "Foo", "$export", "MedicinalProduct", ""):
        assert not is_resource_type(name), name
