"""FHIR knowledge without I/O: what the specification says, read from its own definitions, and JSON from
strangers parsed safely."""

from careledger.fhir import systems
from careledger.fhir._capability import (
    FORMATS,
    READ_ONLY_TYPES,
    SYSTEM_INTERACTIONS,
    TYPE_INTERACTIONS,
    VIEW_SEARCH_PARAMETERS,
    capability_statement,
)
from careledger.fhir._compartment import (
    COMPARTMENT_DEFINITION,
    CompartmentReference,
    compartment_references,
    in_patient_compartment,
    patient_compartment,
)
from careledger.fhir._datatypes import concept, ucum_quantity
from careledger.fhir._fhirpath import Found
from careledger.fhir._instant import fhir_instant
from careledger.fhir._json import MAX_DEPTH, check_depth, loads, loads_object
from careledger.fhir._outcome import operation_outcome
from careledger.fhir._r4_structures import (
    R4_STRUCTURES_FILE,
    is_r4_validated,
    r4_only_extension_values,
    r4_validated_types,
    r4b_only_extension_values,
)
from careledger.fhir._r4_structures import extension_problems as r4_extension_problems
from careledger.fhir._r4_structures import problems as r4_problems
from careledger.fhir._search_parameters import SEARCH_PARAMETERS_FILE, SearchParameter, search_parameters
from careledger.fhir._subsetting import SUBSETTED, subset, summary_mode
from careledger.fhir._types import (
    FHIR_VERSION,
    FHIR_VERSION_PARAMETER,
    RESOURCE_TYPES_FILE,
    is_resource_type,
    resource_types,
    versions,
)
from careledger.fhir._views import consent_view, provenance_view
from careledger.fhir._xml import json_to_xml, xml_to_json
from careledger.fhir.systems import URI, account_reference

__all__ = [
    "COMPARTMENT_DEFINITION",
    "FHIR_VERSION",
    "FHIR_VERSION_PARAMETER",
    "FORMATS",
    "MAX_DEPTH",
    "R4_STRUCTURES_FILE",
    "READ_ONLY_TYPES",
    "RESOURCE_TYPES_FILE",
    "SEARCH_PARAMETERS_FILE",
    "SUBSETTED",
    "SYSTEM_INTERACTIONS",
    "TYPE_INTERACTIONS",
    "URI",
    "VIEW_SEARCH_PARAMETERS",
    "CompartmentReference",
    "Found",
    "SearchParameter",
    "account_reference",
    "capability_statement",
    "check_depth",
    "compartment_references",
    "concept",
    "consent_view",
    "fhir_instant",
    "in_patient_compartment",
    "is_r4_validated",
    "is_resource_type",
    "json_to_xml",
    "loads",
    "loads_object",
    "operation_outcome",
    "patient_compartment",
    "provenance_view",
    "r4_extension_problems",
    "r4_only_extension_values",
    "r4_problems",
    "r4_validated_types",
    "r4b_only_extension_values",
    "resource_types",
    "search_parameters",
    "subset",
    "summary_mode",
    "systems",
    "ucum_quantity",
    "versions",
    "xml_to_json",
]
