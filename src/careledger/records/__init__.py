"""Encrypted, versioned FHIR records: validation, categories, the record service, anchoring, verification."""

from careledger.records._categories import SENSITIVE, Category, categorise
from careledger.records._commitment import commitment
from careledger.records._fhir import MAX_RESOURCE_BYTES, Resource, parse_resource, patient_reference
from careledger.records._service import RecordService, StoredRecord

__all__ = [
    "MAX_RESOURCE_BYTES",
    "SENSITIVE",
    "Category",
    "RecordService",
    "Resource",
    "StoredRecord",
    "categorise",
    "commitment",
    "parse_resource",
    "patient_reference",
]
