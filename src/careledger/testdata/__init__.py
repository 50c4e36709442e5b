"""Synthetic, deterministic FHIR test data: for tests, the demo and benchmarks. No real people."""

from careledger.testdata._files import DatasetFiles, write_dataset
from careledger.testdata._generator import (
    RESOURCE_TYPES,
    Resource,
    SyntheticPatient,
    collection_bundle,
    synthetic_patients,
)
from careledger.testdata._insurance import CARE, example_plan_terms, insure
from careledger.testdata._network import founding_node, joining_node
from careledger.testdata._nodes import PASSPHRASE, scratch_node
from careledger.testdata._study import REWARD as STUDY_REWARD
from careledger.testdata._study import StudySetUp, set_up_study
from careledger.testdata._visit import hospital_visit

__all__ = [
    "CARE",
    "PASSPHRASE",
    "RESOURCE_TYPES",
    "STUDY_REWARD",
    "DatasetFiles",
    "Resource",
    "StudySetUp",
    "SyntheticPatient",
    "collection_bundle",
    "example_plan_terms",
    "founding_node",
    "hospital_visit",
    "insure",
    "joining_node",
    "scratch_node",
    "set_up_study",
    "synthetic_patients",
    "write_dataset",
]
