"""The published scores, each a module-level object implementing `Score`, and the one registry of them.

`SCORES` is in the issue's order (cardiovascular, kidney, atrial fibrillation, acute illness, diabetes risk), the
order a patient and a CDS card see them in; `score_by_id` finds one by the id URLs, Parameters and the CLI name.
"""

from __future__ import annotations

from careledger.errors import ValidationError
from careledger.insight._model import Score
from careledger.insight.scores._cha2ds2vasc import CHA2DS2_VASC
from careledger.insight.scores._ckd_epi import CKD_EPI
from careledger.insight.scores._findrisc import FINDRISC
from careledger.insight.scores._has_bled import HAS_BLED
from careledger.insight.scores._news2 import NEWS2
from careledger.insight.scores._pce import PCE
from careledger.insight.scores._prevent import PREVENT
from careledger.insight.scores._qsofa import QSOFA

SCORES: tuple[Score, ...] = (PCE, PREVENT, CKD_EPI, CHA2DS2_VASC, HAS_BLED, NEWS2, QSOFA, FINDRISC)
_BY_ID = {score.id: score for score in SCORES}


def score_by_id(score_id: str) -> Score:
    """The score whose id is `score_id`; `ValidationError` (a client's mistake: 400) naming the ones there are."""
    found = _BY_ID.get(score_id)
    if found is None:
        raise ValidationError(f"no score {score_id[:64]!r}; the scores are {', '.join(_BY_ID)}")
    return found


__all__ = ["SCORES", "score_by_id"]
