"""FHIR knowledge without I/O: what the specification says, read from its own definitions, and JSON from
strangers parsed safely."""

from careledger.fhir._compartment import COMPARTMENT_DEFINITION, in_patient_compartment, patient_compartment
from careledger.fhir._instant import fhir_instant
from careledger.fhir._json import MAX_DEPTH, check_depth, loads, loads_object
from careledger.fhir._systems import URI, account_reference

__all__ = [
    "COMPARTMENT_DEFINITION",
    "MAX_DEPTH",
    "URI",
    "account_reference",
    "check_depth",
    "fhir_instant",
    "in_patient_compartment",
    "loads",
    "loads_object",
    "patient_compartment",
]
