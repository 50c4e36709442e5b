"""FHIR knowledge without I/O: what the specification says, read from its own definitions, and JSON from
strangers parsed safely."""

from careledger.fhir._compartment import COMPARTMENT_DEFINITION, in_patient_compartment, patient_compartment
from careledger.fhir._json import MAX_DEPTH, check_depth, loads, loads_object

__all__ = [
    "COMPARTMENT_DEFINITION",
    "MAX_DEPTH",
    "check_depth",
    "in_patient_compartment",
    "loads",
    "loads_object",
    "patient_compartment",
]
