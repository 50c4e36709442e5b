"""The registry of scores: one object per id, found by it; an unknown id is the client's mistake (400)."""

from __future__ import annotations

import pytest

from careledger.errors import ValidationError
from careledger.insight.scores import SCORES, score_by_id


def test_each_score_is_found_by_its_own_id() -> None:
    assert len({score.id for score in SCORES}) == len(SCORES)
    assert all(score_by_id(score.id) is score for score in SCORES)
    assert [score.id for score in SCORES] == [
        "pce-ascvd-10y",
        "prevent-cvd-10y",
        "ckd-epi-2021",
        "cha2ds2-vasc",
        "has-bled",
        "news2",
        "qsofa",
        "findrisc",
    ]


def test_an_unknown_id_names_the_scores_there_are() -> None:
    with pytest.raises(ValidationError, match="no score 'framingham'; the scores are pce-ascvd-10y, prevent-cvd-10y, "):
        score_by_id("framingham")
