"""Coded suggestions from a note's text, and the draft resources a clinician may keep of them.

    text ─► pipeline (_pipeline.read) ─► Suggestion per mention ─► shown to the clinician
                                                     │
                                     as_drafts: present and historical ones, once per code
                                                     ▼
                              Condition / MedicationStatement drafts (nothing stored here)

Nothing here writes: a draft becomes a record only when the clinician keeps it and her client writes it through
her own door, which judges it as any write (so "confirmed" below is her act, not the pipeline's). A present
condition is drafted active and confirmed; a historical one inactive (its status now is not in the note), both on
the problem list. A medication she takes is an active MedicationStatement, one she took a completed one. Negated,
family-history and allergy mentions are shown, never drafted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from careledger.errors import TooLarge, ValidationError
from careledger.insight._model import Code
from careledger.insight.notes._pipeline import ALLERGY, FAMILY, HISTORICAL, NEGATED, read
from careledger.insight.notes._vocabulary import CONDITION, Kind, concepts

Status = Literal["present", "negated", "historical", "family", "allergy"]
DRAFTED: frozenset[Status] = frozenset({"present", "historical"})
MAX_TEXT_BYTES = 64 * 1024  # a long discharge summary is a few KiB; more is not a note
_QUOTED = 500  # characters of a sentence a draft's note quotes

_CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One mention of a concept in a note: what it codes to, where it is (`start`/`end`, character offsets into the
    text, and its sentence) and how the note speaks of it (`status`), for `patient` (a Patient id). `source` is the
    note's reference (``DocumentReference/<id>``) when it came from a stored note."""

    kind: Kind
    codes: tuple[Code, ...]
    display: str
    text: str
    start: int
    end: int
    sentence: str
    status: Status
    patient: str
    source: str | None = None

    @property
    def code(self) -> Code:
        """The leading code: SNOMED CT for a condition (ICD-10-CM follows), RxNorm for a medication."""
        return self.codes[0]

    @property
    def drafted(self) -> bool:
        """Whether `as_drafts` makes a resource of it (present and historical mentions; never negated, family or
        allergy ones)."""
        return self.status in DRAFTED


def suggest(text: str, *, patient: str, source: str | None = None) -> list[Suggestion]:
    """Every mention of a known condition or medication in `text`, in order, with its status; `TooLarge` (413) for
    a text over `MAX_TEXT_BYTES` in UTF-8, `ValidationError` for one that is no Unicode text (a lone surrogate)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError("a note's text is Unicode text: it has a lone surrogate") from None
    if size > MAX_TEXT_BYTES:
        raise TooLarge(f"a note's text is at most {MAX_TEXT_BYTES // 1024} KiB")
    known = concepts()
    found = []
    for sentence, doc in read(text):
        for ent in doc.ents:
            concept = known[ent.ent_id_]
            found.append(
                Suggestion(
                    kind=concept.kind,
                    codes=concept.codes,
                    display=concept.display,
                    text=ent.text,
                    start=sentence.start_char + ent.start_char,
                    end=sentence.start_char + ent.end_char,
                    sentence=sentence.text.strip(),
                    status=_status(ent),
                    patient=patient,
                    source=source,
                )
            )
    return found


def _status(ent: Any) -> Status:
    """How the note speaks of a mention; a negated one is negated whoever it is about ("no family history of")."""
    for extension, status in (
        (NEGATED, "negated"),
        (ALLERGY, "allergy"),
        (FAMILY, "family"),
        (HISTORICAL, "historical"),
    ):
        if ent._.get(extension):
            return status  # type: ignore[return-value]
    return "present"


def as_drafts(suggestions: Iterable[Suggestion]) -> list[dict[str, Any]]:
    """The resources to offer for confirmation: one per patient and code of the drafted suggestions (a present
    mention before a historical one of the same code), in the order first mentioned."""
    kept: dict[tuple[str, Code], Suggestion] = {}
    for suggestion in suggestions:
        key = (suggestion.patient, suggestion.code)
        if suggestion.drafted and (key not in kept or kept[key].status != "present"):
            kept[key] = suggestion
    return [_draft(suggestion) for suggestion in kept.values()]


def _draft(suggestion: Suggestion) -> dict[str, Any]:
    subject = {"reference": f"Patient/{suggestion.patient}"}
    concept = {
        "coding": [{"system": code.system, "code": code.code} for code in suggestion.codes],
        "text": suggestion.display,
    }
    note = [{"text": _citation(suggestion)}]
    source = [{"reference": suggestion.source}] if suggestion.source else []
    present = suggestion.status == "present"
    if suggestion.kind == CONDITION:
        return {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": _CLINICAL_STATUS, "code": "active" if present else "inactive"}]},
            "verificationStatus": {"coding": [{"system": _VERIFICATION, "code": "confirmed"}]},
            "category": [{"coding": [{"system": _CATEGORY, "code": "problem-list-item"}]}],
            "code": concept,
            "subject": subject,
            **({"evidence": [{"detail": source}]} if source else {}),
            "note": note,
        }
    return {
        "resourceType": "MedicationStatement",
        "status": "active" if present else "completed",
        "medicationCodeableConcept": concept,
        "subject": subject,
        **({"derivedFrom": source} if source else {}),
        "note": note,
    }


def _citation(suggestion: Suggestion) -> str:
    """Where in the note a draft came from: the words, their place, and the sentence they stand in."""
    sentence = suggestion.sentence
    quoted = sentence if len(sentence) <= _QUOTED else sentence[: _QUOTED - 1] + "…"
    where = f"characters {suggestion.start} to {suggestion.end}"
    of = f" of {suggestion.source}" if suggestion.source else " of the note"
    return f'Suggested from "{suggestion.text}" ({where}{of}, read as {suggestion.status}): "{quoted}"'
