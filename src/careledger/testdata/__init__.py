"""Synthetic, deterministic FHIR test data: for tests, the demo and benchmarks. No real people."""

from careledger.testdata._generator import (
    RESOURCE_TYPES,
    Resource,
    SyntheticPatient,
    collection_bundle,
    synthetic_patients,
)
from careledger.testdata._insurance import CARE, example_plan_terms, insure
from careledger.testdata._network import founding_node, joining_node, serve
from careledger.testdata._nodes import PASSPHRASE, scratch_node

__all__ = [
    "CARE",
    "PASSPHRASE",
    "RESOURCE_TYPES",
    "Resource",
    "SyntheticPatient",
    "collection_bundle",
    "example_plan_terms",
    "founding_node",
    "insure",
    "joining_node",
    "scratch_node",
    "serve",
    "synthetic_patients",
]
