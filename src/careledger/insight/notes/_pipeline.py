"""The rule-based pipeline that reads a note: spaCy's blank English (no model, nothing downloaded), sentences, the
vocabulary's EntityRuler, and negspacy's NegEx pipes, one per ConText property.

    text ─► tokenizer ─► sentencizer ─► clauses ─┬─► sentence ─► entity ruler ─► context pipes (NegEx's algorithm:
            (rules)      (. ! ?)        (a line, │   (its own   (CONDITION /     negation, historical, ended,
                                      64 tokens) │    text)      MEDICATION)       uncertain, family, allergy;
                                                 └─► sentence ─► …                 each its own extension)

NegEx (Chapman et al., J Biomed Inform 2001) finds negation by trigger phrases before or after a finding within a
sentence, cut short by termination terms ("but", "however"). ConText (Harkema et al., J Biomed Inform 2009) applies
the same algorithm to other properties; negspacy's `Negex` takes any termset and extension name, so historical and
family mentions are its pipes with ConText's triggers for "historical" and "experiencer: other" (trimmed, and a few
added that notes use: "s/p", "h/o", "fhx"); "ended" marks the historical words that say a condition is over
("resolved", "in remission", "as a child"), which "history of" does not; "uncertain" is ConText's "possible"
and "hypothetical" ("possible", "suspected", "rule out", "versus": NegEx's `en_clinical` counts the last two as
negations, moved here, since a finding to be ruled out is not one she is known not to have); both read conditions
only. Allergy marks a medication named as an allergen, which is no sign she takes it. The pipeline is built once
per process, on first use; `read` runs it under a lock (spaCy's tokenizer keeps a cache it updates while reading,
so one document at a time), and each Doc is the caller's own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from negspacy.termsets import termset  # data only: spaCy is imported when the pipeline is first built

from careledger.insight.notes._vocabulary import CONDITION, LABELS, MEDICATION, patterns

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

# The span extensions the pipes set, by the property they mark.
NEGATED = "negex"
HISTORICAL = "historical"
ENDED = "ended"
UNCERTAIN = "uncertain"
FAMILY = "family"
ALLERGY = "allergy"
MAX_SENTENCE_TOKENS = 64

_CLINICAL = termset("en_clinical").get_patterns()
_ENDS = _CLINICAL["termination"]
_CLAUSE = [";"]  # a clause of its own, for negation, history and allergy (a family list runs on past one)
# What starts a new thought about the patient herself, ending any trigger's reach before it.
_ABOUT_HER = ["presents", "presenting", "presented", "reports", "complains", "admits", "has", "positive for"]

# A finding still to be ruled out or weighed against another is uncertain, not negated ("ruled out" is done: negated).
_TO_RULE_OUT = frozenset({
    "rule out", "rule him out", "rule her out", "rule patient out", "rule the patient out", "r/o", "ro", "versus",
    "evaluate for",
})  # fmt: skip
_NEGATION: dict[str, list[str]] = {
    **_CLINICAL,
    "preceding_negations": [term for term in _CLINICAL["preceding_negations"] if term not in _TO_RULE_OUT],
    "termination": [*_ENDS, *_CLAUSE, *_ABOUT_HER, "notable for", "significant for"],
}
_UNCERTAIN: dict[str, list[str]] = {
    "pseudo_negations": ["no suspicion", "not suspected"],
    "preceding_negations": [
        *_TO_RULE_OUT,
        "possible",
        "possibly",
        "probable",
        "probably",
        "suspected",
        "suspect",
        "suspicion of",
        "suspicious for",
        "concern for",
        "concerning for",
        "worrisome for",
        "questionable",
        "question of",
        "presumed",
        "presumptive",
        "likely",
        "may have",
        "might have",
        "could be",
        "could have",
        "cannot exclude",
        "can not exclude",
        "not ruled out",
        "not been ruled out",
        "not rule out",
        "differential includes",
        "differential diagnosis includes",
        "ddx",
        "vs",
    ],
    "following_negations": [
        "is possible",
        "is suspected",
        "suspected",
        "is likely",
        "is probable",
        "cannot be excluded",
        "can not be excluded",
        "cannot be ruled out",
        "can not be ruled out",
        "not excluded",
        "not ruled out",
        "versus",
        "vs",
        "?",
    ],
    "termination": [*_ENDS, *_CLAUSE, *_ABOUT_HER],
}
_TERMINATE_HISTORY = [
    *_ENDS, *_CLAUSE, *_ABOUT_HER, "now", "currently", "current", "today", "new", "newly", "recent", "recently",
    "admitted", "active", "ongoing", ", on", "; on", "and on", "takes", "taking", "started", "switched to",
    "changed to",
]  # fmt: skip
# What says a condition is over, not only that it was: "history of HTN" is hypertension she still has (a chronic
# condition does not end by being written in the past medical history); "HTN resolved" is not.
_OVER: dict[str, list[str]] = {
    "pseudo_negations": ["not resolved", "unresolved", "never resolved"],
    "preceding_negations": ["recovered from", "resolved", "resolution of", "cured of", "outgrew", "no longer has"],
    "following_negations": [
        "resolved", "has resolved", "in remission", "as a child", "in childhood", "cured", "outgrown", "outgrew it",
        "no longer", "gone",
    ],
    "termination": _TERMINATE_HISTORY,
}  # fmt: skip
_HISTORICAL: dict[str, list[str]] = {
    "pseudo_negations": [
        "family history", "social history", "history and physical", "history of present illness",
        "history taking", "poor history", "prior to",
    ],
    "preceding_negations": [
        "history of", "h/o", "hx of", "past history of", "personal history of", "remote history of",
        "prior history of", "status post", "s/p", "previous", "previously", "prior", "former", "formerly",
        "was treated for", "treated for", "was on", "previously on", "used to take", "discontinued", "stopped",
        "childhood", *_OVER["preceding_negations"],
    ],
    "following_negations": [
        "in the past", "years ago", "months ago", "was discontinued", "was stopped", "were stopped", "previously",
        *_OVER["following_negations"],
    ],
    "termination": _TERMINATE_HISTORY,
}  # fmt: skip
_RELATIVES = (
    "mother", "father", "mom", "dad", "brother", "sister", "sibling", "siblings", "parent", "parents", "aunt",
    "uncle", "grandmother", "grandfather", "grandparent", "grandparents", "cousin", "son", "daughter", "twin",
)  # fmt: skip
_FAMILY: dict[str, list[str]] = {
    "pseudo_negations": [],
    "preceding_negations": [
        "family history of", "family history", "family hx", "fam hx", "fhx", "fh", "maternal", "paternal",
        "relatives", "family member", *_RELATIVES, *(f"{r}'s" for r in _RELATIVES),
    ],
    "following_negations": [
        "in the family", "in family", "runs in the family", "on her mother's side", "on his mother's side",
        "on her father's side", "on his father's side",
        *(f"in {whose}{r}" for r in _RELATIVES for whose in ("", "her ", "his ", "a ", "the patient's ")),
    ],
    # not `_ABOUT_HER`: "mother has diabetes" is hers
    "termination": [*_ENDS, "patient", "pt", "she", "he", "herself", "himself", "personally"],
}  # fmt: skip
_ALLERGY: dict[str, list[str]] = {
    "pseudo_negations": ["no known allergies", "no known drug allergies", "nkda", "nka"],
    "preceding_negations": [
        "allergic to", "allergy to", "allergies to", "allergy", "allergies", "intolerant of", "intolerance to",
        "reaction to", "anaphylaxis to", "rash with", "hives with",
    ],
    "following_negations": ["allergy", "allergies", "intolerance", "allergic"],
    "termination": [*_ENDS, *_CLAUSE, *_ABOUT_HER, "takes", "taking", "on"],
}  # fmt: skip


def _clauses(doc: Doc) -> Doc:
    """A note's lines are sentences too ("PMH:\\nHTN": a trigger on one line must not reach the next), and a run of
    more than `MAX_SENTENCE_TOKENS` tokens is cut: NegEx looks a few words around a trigger, and a bounded sentence
    keeps the triggers-by-findings work of each one bounded, whatever a text holds."""
    starts = doc.to_array(["SENT_START"])  # set as one array: a token's own setter costs the length of the Doc
    run = 0
    for token in doc[1:]:
        before = doc[token.i - 1]
        if (before.is_space and "\n" in before.text) or run >= MAX_SENTENCE_TOKENS:
            starts[token.i] = 1
        run = 0 if starts[token.i] == 1 else run + 1
    doc.from_array(["SENT_START"], starts)  # type: ignore[arg-type]
    return doc


def _context(nlp: Language, name: str, terms: dict[str, list[str]], extension: str, **config: Any) -> None:
    nlp.add_pipe("negex", name=name, config={"neg_termset": terms, "extension_name": extension, **config})


@functools.cache
def _pipelines() -> tuple[Language, Language]:
    """The splitter (text to sentences) and the reader (a sentence's findings and their context), built on first use
    (a second or so: the patterns are compiled once per process). spaCy is imported here, not with the module: it
    takes seconds, and a node that serves no note should not pay them at start."""
    import negspacy.negation  # noqa: F401 - registers the "negex" factory the context pipes are made by
    import spacy
    from spacy.language import Language

    Language.component("careledger_clauses", func=_clauses)
    splitter = spacy.blank("en")
    splitter.add_pipe("sentencizer")
    splitter.add_pipe("careledger_clauses")
    reader = spacy.blank("en")
    reader.add_pipe("sentencizer")  # a sentence is one to it too: NegEx's boundaries start from `doc.sents`
    ruler = reader.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(patterns())  # type: ignore[attr-defined]
    _context(reader, "negation", _NEGATION, NEGATED)
    _context(reader, "historical", _HISTORICAL, HISTORICAL)
    _context(reader, "ended", _OVER, ENDED, ent_types=[LABELS[CONDITION]])
    _context(reader, "uncertain", _UNCERTAIN, UNCERTAIN, ent_types=[LABELS[CONDITION]])
    _context(reader, "family", _FAMILY, FAMILY)
    _context(reader, "allergy", _ALLERGY, ALLERGY, ent_types=[LABELS[MEDICATION]])
    return splitter, reader


_reading = threading.Lock()


def read(text: str) -> Iterator[tuple[Span, Doc]]:
    """Each sentence of `text` (a span of the whole, for its offsets) with its own Doc read by the pipeline: the
    Doc's entities carry the concept's id (`ent_id_`) and the four extensions. Sentence by sentence because NegEx
    walks every entity of a Doc for each sentence in it: a whole note at once costs the square of its length."""
    with _reading:
        splitter, reader = _pipelines()
        sentences = list(splitter(text).sents)
        docs = list(reader.pipe(sentence.text for sentence in sentences))
    return zip(sentences, docs, strict=True)
