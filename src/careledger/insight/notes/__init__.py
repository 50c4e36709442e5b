"""Notes to codes: a note's free text read by a rule-based pipeline (spaCy's blank English, negspacy's NegEx and
ConText triggers; no model downloaded) into coded suggestions of conditions and medications, each with how the
note speaks of it (present, negated, historical, family, allergy, uncertain), and the drafts a clinician may keep.
Nothing is written here: she confirms by writing the drafts she keeps through her own door."""

from careledger.insight.notes._sources import NOTE_TYPES, note_text, read_note
from careledger.insight.notes._suggest import (
    MAX_PLACES,
    MAX_SUGGESTIONS,
    MAX_TEXT_BYTES,
    Reading,
    Status,
    Suggestion,
    as_drafts,
    suggest,
)
from careledger.insight.notes._vocabulary import CONDITIONS, Concept, medications

__all__ = [
    "CONDITIONS",
    "MAX_PLACES",
    "MAX_SUGGESTIONS",
    "MAX_TEXT_BYTES",
    "NOTE_TYPES",
    "Concept",
    "Reading",
    "Status",
    "Suggestion",
    "as_drafts",
    "medications",
    "note_text",
    "read_note",
    "suggest",
]
