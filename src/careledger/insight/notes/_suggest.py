"""Coded suggestions from a note's text, and the draft resources a clinician may keep of them.

    text ─► pipeline (_pipeline.read) ─► a Suggestion per code and status ─► shown to the clinician
                                         (its mentions' places listed)              │
                                     as_drafts: present, historical and uncertain ones, one per code and episode
                                                                                    ▼
                                        Condition / MedicationStatement drafts (nothing stored here)

Nothing here writes: a draft becomes a record only when the clinician keeps it and her client writes it through
her own door, which judges it as any write (so "confirmed" below is her act, not the pipeline's).

- A present condition is drafted active and confirmed, on the problem list. A historical one is drafted inactive
  (an episode that is over: "history of pneumonia"), unless it is chronic and the note does not say it ended
  ("Hx of HTN" is hypertension she has: active). An uncertain one ("possible pneumonia", "rule out PE") is drafted
  active and provisional, and is not one the clinician is offered ticked.
- A medication she takes is an active MedicationStatement, one she took a completed one.
- Negated, family-history and allergy mentions are shown, never drafted.

A note is bounded (`MAX_TEXT_BYTES`), and so is what is said of it: one suggestion per code and status, its
mentions' places listed up to `MAX_PLACES`, and at most `MAX_SUGGESTIONS` of them (`Reading.truncated` then says
so): "HTN HTN HTN …" is one suggestion, not sixteen thousand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from careledger.errors import TooLarge, ValidationError
from careledger.insight._model import Code
from careledger.insight.notes._pipeline import ALLERGY, ENDED, FAMILY, HISTORICAL, NEGATED, UNCERTAIN, read
from careledger.insight.notes._vocabulary import CONDITION, Concept, Kind, concepts

Status = Literal["present", "negated", "historical", "family", "allergy", "uncertain"]
DRAFTED: frozenset[Status] = frozenset({"present", "historical", "uncertain"})
MAX_TEXT_BYTES = 64 * 1024  # a long discharge summary is a few KiB; more is not a note
MAX_SUGGESTIONS = 200  # a note names a few dozen things; the vocabulary times the statuses is some 800
MAX_PLACES = 20  # places listed of one suggestion's mentions (all of them are counted)
_QUOTED = 500  # characters of a sentence a draft's note quotes
# Of the drafts of one code and episode, the one kept: what the note is sure she has before what it says she had,
# before what it is unsure of.
_PRECEDENCE: dict[Status, int] = {"present": 0, "historical": 1, "uncertain": 2}

_Key = tuple[str, Status, bool]  # a suggestion's concept, status and whether its draft is current

_CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A concept a note names, and how it names it (`status`), for `patient` (a Patient id): what it codes to, the
    words of its first mention (`text`, `start`/`end`, character offsets into the note, and its `sentence`), the
    places of its mentions with this status (`places`, at most `MAX_PLACES`; `mentions` counts them all), and
    whether its draft says she has or takes it now (`current`). `source` is the note's reference
    (``DocumentReference/<id>``) when it came from a stored note."""

    kind: Kind
    codes: tuple[Code, ...]
    display: str
    text: str
    start: int
    end: int
    sentence: str
    status: Status
    current: bool
    patient: str
    places: tuple[tuple[int, int], ...]
    mentions: int
    source: str | None = None

    @property
    def code(self) -> Code:
        """The leading code: SNOMED CT for a condition (ICD-10-CM follows), RxNorm for a medication."""
        return self.codes[0]

    @property
    def drafted(self) -> bool:
        """Whether `as_drafts` makes a resource of it (present, historical and uncertain mentions; never negated,
        family or allergy ones)."""
        return self.status in DRAFTED

    @property
    def certain(self) -> bool:
        """Whether it is drafted and the note is sure of it: what a clinician is offered ticked (an uncertain one
        she ticks herself)."""
        return self.drafted and self.status != "uncertain"

    @property
    def draft_key(self) -> str:
        """Which of `as_drafts`' drafts is its own: one per code and episode, her current one (the code) or a past
        one (the code and ``:past``), so a resolved pneumonia and a new one are two drafts, and "Hx of HTN" and
        "HTN, well controlled" one."""
        return self.code.code if self.current else f"{self.code.code}:past"


@dataclass(frozen=True, slots=True)
class Reading:
    """What `suggest` found in a note: its suggestions in the order first mentioned, and whether more were left out
    (past `MAX_SUGGESTIONS`)."""

    suggestions: tuple[Suggestion, ...]
    truncated: bool


def suggest(text: str, *, patient: str, source: str | None = None) -> Reading:
    """Every known condition or medication `text` names, one suggestion per code and status, in order; `TooLarge`
    (413) for a text over `MAX_TEXT_BYTES` in UTF-8, `ValidationError` for one that is no Unicode text (a lone
    surrogate)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError("a note's text is Unicode text: it has a lone surrogate") from None
    if size > MAX_TEXT_BYTES:
        raise TooLarge(f"a note's text is at most {MAX_TEXT_BYTES // 1024} KiB")
    known = concepts()
    first: dict[_Key, tuple[Concept, str, int, str]] = {}  # a key's first mention: words, offset, sentence
    places: dict[_Key, list[tuple[int, int]]] = {}
    counts: dict[_Key, int] = {}
    truncated = False
    for sentence, doc in read(text):
        words = None  # the sentence's text, made once and only if one of its mentions is new
        for ent in doc.ents:
            concept = known[ent.ent_id_]
            marks = ent._  # the context pipes' extensions (made anew at each `ent._`)
            status = _status(marks)
            key = (concept.id, status, _current(concept, status, marks))
            start = sentence.start_char + ent.start_char
            if key in counts:
                counts[key] += 1
                if len(places[key]) < MAX_PLACES:
                    places[key].append((start, start + len(ent.text)))
            elif len(first) == MAX_SUGGESTIONS:
                truncated = True
            else:
                words = sentence.text.strip() if words is None else words
                first[key] = (concept, ent.text, start, words)
                places[key], counts[key] = [(start, start + len(ent.text))], 1
    found = (
        Suggestion(
            kind=concept.kind,
            codes=concept.codes,
            display=concept.display,
            text=mention,
            start=start,
            end=start + len(mention),
            sentence=words,
            status=key[1],
            current=key[2],
            patient=patient,
            places=tuple(places[key]),
            mentions=counts[key],
            source=source,
        )
        for key, (concept, mention, start, words) in first.items()
    )
    return Reading(tuple(found), truncated)


def _status(marks: Any) -> Status:
    """How the note speaks of a mention; a negated one is negated whoever it is about ("no family history of"),
    and one it is unsure of is uncertain whenever it was ("history of possible TIA")."""
    for extension, status in (
        (NEGATED, "negated"),
        (ALLERGY, "allergy"),
        (FAMILY, "family"),
        (UNCERTAIN, "uncertain"),
        (HISTORICAL, "historical"),
        (ENDED, "historical"),
    ):
        if marks.get(extension):
            return status  # type: ignore[return-value]
    return "present"


def _current(concept: Concept, status: Status, marks: Any) -> bool:
    """Whether the draft of a mention says she has (or takes) it now: present and uncertain mentions, and a
    chronic condition's historical one unless the note says it is over."""
    if status == "historical":
        return concept.chronic and not marks.get(ENDED)
    return status in ("present", "uncertain")


def as_drafts(suggestions: Iterable[Suggestion]) -> dict[str, dict[str, Any]]:
    """The resources to offer for confirmation of one patient's suggestions, by `Suggestion.draft_key`, in the
    order first mentioned: one per code and episode of the drafted suggestions. Two of one key would say the same
    thing twice, so one is kept: a present mention before a historical one ("Hx of HTN" and "HTN on lisinopril"),
    both before an uncertain one; a past episode and a current one are both drafted."""
    kept: dict[str, Suggestion] = {}
    for suggestion in suggestions:
        key = suggestion.draft_key
        if suggestion.drafted and (key not in kept or _PRECEDENCE[suggestion.status] < _PRECEDENCE[kept[key].status]):
            kept[key] = suggestion
    return {key: _draft(suggestion) for key, suggestion in kept.items()}


def _draft(suggestion: Suggestion) -> dict[str, Any]:
    subject = {"reference": f"Patient/{suggestion.patient}"}
    concept = {
        "coding": [{"system": code.system, "code": code.code} for code in suggestion.codes],
        "text": suggestion.display,
    }
    note = [{"text": _citation(suggestion)}]
    source = [{"reference": suggestion.source}] if suggestion.source else []
    if suggestion.kind == CONDITION:
        verification = "provisional" if suggestion.status == "uncertain" else "confirmed"
        return {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [{"system": _CLINICAL_STATUS, "code": "active" if suggestion.current else "inactive"}]
            },
            "verificationStatus": {"coding": [{"system": _VERIFICATION, "code": verification}]},
            "category": [{"coding": [{"system": _CATEGORY, "code": "problem-list-item"}]}],
            "code": concept,
            "subject": subject,
            **({"evidence": [{"detail": source}]} if source else {}),
            "note": note,
        }
    return {
        "resourceType": "MedicationStatement",
        "status": "active" if suggestion.current else "completed",
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
    chronic = suggestion.status == "historical" and suggestion.current
    read_as = f"{suggestion.status}, a chronic condition she still has" if chronic else suggestion.status
    more = f"; mentioned {suggestion.mentions} times" if suggestion.mentions > 1 else ""
    return f'Suggested from "{suggestion.text}" ({where}{of}, read as {read_as}{more}): "{quoted}"'
