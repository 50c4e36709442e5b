"""Encrypted, versioned FHIR records: validation, categories, the record service, anchoring, verification."""

from careledger.records._anchoring import RecordCommitments
from careledger.records._blind_index import BlindIndex
from careledger.records._categories import SENSITIVE, Category, categorise
from careledger.records._census import CategoryCounts, category_counts
from careledger.records._commitment import commitment
from careledger.records._erased import ErasureMark
from careledger.records._erasure import ErasableRecord, RecordEraser
from careledger.records._fhir import MAX_RESOURCE_BYTES, Resource, parse_resource, patient_reference
from careledger.records._import import Importer, ImportReport, Refusal
from careledger.records._matching import references, references_to, satisfies, sort_resources
from careledger.records._proofs import SealedProof, sealed_proofs
from careledger.records._query import RESULT_PARAMS, search_query
from careledger.records._rows import records_about
from careledger.records._search import Chain, DateCondition, Has, SearchQuery, TokenCondition, ValueCheck
from careledger.records._service import RecordService
from careledger.records._stored import Also, AnchoredVersion, Draft, Guard, StoredRecord
from careledger.records._verify import Check, verify_record

__all__ = [
    "MAX_RESOURCE_BYTES",
    "RESULT_PARAMS",
    "SENSITIVE",
    "Also",
    "AnchoredVersion",
    "BlindIndex",
    "Category",
    "CategoryCounts",
    "Chain",
    "Check",
    "DateCondition",
    "Draft",
    "ErasableRecord",
    "ErasureMark",
    "Guard",
    "Has",
    "ImportReport",
    "Importer",
    "RecordCommitments",
    "RecordEraser",
    "RecordService",
    "Refusal",
    "Resource",
    "SealedProof",
    "SearchQuery",
    "StoredRecord",
    "TokenCondition",
    "ValueCheck",
    "categorise",
    "category_counts",
    "commitment",
    "parse_resource",
    "patient_reference",
    "records_about",
    "references",
    "references_to",
    "satisfies",
    "sealed_proofs",
    "search_query",
    "sort_resources",
    "verify_record",
]
