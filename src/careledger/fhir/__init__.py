"""FHIR knowledge without I/O: what the specification says, read from its own definitions."""

from careledger.fhir._compartment import COMPARTMENT_DEFINITION, in_patient_compartment, patient_compartment

__all__ = ["COMPARTMENT_DEFINITION", "in_patient_compartment", "patient_compartment"]
