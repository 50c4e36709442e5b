"""Insight: validated scores from published equations, decision support over CDS Hooks, federated models trained
without moving records, and coded suggestions from note text. Every score names its inputs and its equation's
version; nothing is read from a record except through the door."""

from careledger.insight._assessments import as_fhir, as_read, outcome
from careledger.insight._gather import facts_from_resources, finite_number
from careledger.insight._model import (
    ICD10,
    LOINC,
    RXNORM,
    SNOMED,
    Assessment,
    CannotCompute,
    Code,
    Facts,
    Finding,
    Input,
    Lowering,
    Measurement,
    Result,
    Score,
)
from careledger.insight._models import Models, RegisteredModel, parse_model_id
from careledger.insight._service import Insight

__all__ = [
    "ICD10",
    "LOINC",
    "RXNORM",
    "SNOMED",
    "Assessment",
    "CannotCompute",
    "Code",
    "Facts",
    "Finding",
    "Input",
    "Insight",
    "Lowering",
    "Measurement",
    "Models",
    "RegisteredModel",
    "Result",
    "Score",
    "as_fhir",
    "as_read",
    "facts_from_resources",
    "finite_number",
    "outcome",
    "parse_model_id",
]
