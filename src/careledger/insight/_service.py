"""The Insight service: a patient's scores, read through the caller's door and, when asked, written back through it.

    caller's Repository ──search──► gather ──► Facts ──► each Score.assess ──► [(Score, Result)]
             ▲                                                                     │
             └────────────── store (one transaction, judged and audited) ◄── as_fhir (RiskAssessment / Observation)

Nothing here widens what the caller may do: the facts are what her door shows her (a record she may not read is not
there, and a Patient she may not see is told as an unknown one), and what is written is written as her.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from careledger.access import Repository
from careledger.insight._assessments import as_fhir
from careledger.insight._gather import gather
from careledger.insight._model import Assessment, Facts, Result, Score
from careledger.insight.scores import SCORES, score_by_id
from careledger.records import Resource, StoredRecord

Scored = list[tuple[Score, Result]]


class Insight:
    """Scores from published equations over a patient's record, for whoever asks through her own door."""

    def __init__(self, *, today: Callable[[], date]) -> None:
        """`today`: the day a score is computed for when none is named (the node's clock)."""
        self._today = today

    @staticmethod
    def chosen(ids: Sequence[str] | None) -> tuple[Score, ...]:
        """The scores named by `ids` (every score if None), in the order given; `ValidationError` for an unknown id."""
        return SCORES if ids is None else tuple(score_by_id(i) for i in dict.fromkeys(ids))

    def gather(self, repository: Repository, patient_id: str, on: date | None = None) -> Facts:
        """The facts of Patient `patient_id` as `repository`'s caller may see them, as of `on` (default today);
        `NotFound` if she may not see the Patient."""
        return gather(repository, patient_id, on or self._today())

    @staticmethod
    def score(facts: Facts, ids: Sequence[str] | None = None) -> Scored:
        """Each chosen score (all if `ids` is None) computed on `facts`: an Assessment or why it cannot be."""
        return [(score, score.assess(facts)) for score in Insight.chosen(ids)]

    def assess(
        self, repository: Repository, patient_id: str, *, scores: Sequence[str] | None = None, on: date | None = None
    ) -> Scored:
        """The chosen scores of Patient `patient_id` as of `on`, from what `repository`'s caller may see."""
        chosen = self.chosen(scores)  # an unknown id is refused before anything is read
        return self.score(self.gather(repository, patient_id, on), [s.id for s in chosen])

    @staticmethod
    def write(repository: Repository, facts: Facts, results: Scored) -> list[tuple[StoredRecord, Resource]]:
        """Store the computed scores of `results` (a score that could not be computed writes nothing) as FHIR, all
        or none, as `repository`'s caller: judged and audited as any write of hers. Each stored version beside the
        resource it holds (with its id)."""
        drafts = [
            repository.prepare(as_fhir(result, facts, score))
            for score, result in results
            if isinstance(result, Assessment)
        ]
        stored = repository.store(drafts) if drafts else []
        return [(version, draft.data) for version, draft in zip(stored, drafts, strict=True)]
