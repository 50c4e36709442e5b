"""Synthetic, deterministic FHIR test data: for tests, the demo and benchmarks. No real people."""

from careledger.testdata._generator import (
    RESOURCE_TYPES,
    Resource,
    SyntheticPatient,
    collection_bundle,
    synthetic_patients,
)

__all__ = ["RESOURCE_TYPES", "Resource", "SyntheticPatient", "collection_bundle", "synthetic_patients"]
