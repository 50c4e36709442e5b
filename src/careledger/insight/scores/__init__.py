"""The published scores, each a module-level object implementing `Score`, and the one registry of them.

`SCORES` is in the issue's order (cardiovascular, kidney, atrial fibrillation, acute illness, diabetes risk), the
order a patient and a CDS card see them in; `score_by_id` finds one by the id URLs, Parameters and the CLI name.
"""

from __future__ import annotations

from careledger.errors import ValidationError
from careledger.insight._model import Score
from careledger.insight.scores._pce import PCE

SCORES: tuple[Score, ...] = (PCE,)
_BY_ID = {score.id: score for score in SCORES}


def score_by_id(score_id: str) -> Score:
    """The score whose id is `score_id`; `ValidationError` (a client's mistake: 400) naming the ones there are."""
    found = _BY_ID.get(score_id)
    if found is None:
        raise ValidationError(f"no score {score_id[:64]!r}; the scores are {', '.join(_BY_ID)}")
    return found


__all__ = ["SCORES", "score_by_id"]
