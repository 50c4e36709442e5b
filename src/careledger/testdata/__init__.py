"""Synthetic, deterministic FHIR test data: for tests, the demo and benchmarks. No real people."""

from careledger.testdata._generator import Resource, SyntheticPatient, collection_bundle, synthetic_patients

__all__ = ["Resource", "SyntheticPatient", "collection_bundle", "synthetic_patients"]
