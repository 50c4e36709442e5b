"""qSOFA, the quick Sequential Organ Failure Assessment: three bedside criteria that pick out, among adults with
suspected infection, those likely to do badly (die in hospital or stay 3 days or more in intensive care).

Source: Seymour CW, Liu VX, Iwashyna TJ, et al. Assessment of clinical criteria for sepsis: for the Third
International Consensus Definitions for Sepsis and Septic Shock (Sepsis-3). JAMA 2016;315:762-74; Singer M,
Deutschman CS, Seymour CW, et al. The Third International Consensus Definitions for Sepsis and Septic Shock
(Sepsis-3). JAMA 2016;315:801-10 (Box 4): respiratory rate >= 22/min, altered mentation (GCS < 15), systolic blood
pressure <= 100 mmHg; one point each, 2 or more is positive.

Observations are the same day's (Facts has dates, not times). Altered mentation is read from the day's Glasgow
Coma Scale total (LOINC 9269-2) when there is one, else from the day's ACVPU (anything but "alert" is altered).
"""

from __future__ import annotations

from careledger.insight._model import Assessment, Facts, Result
from careledger.insight.scores._points import award
from careledger.insight.scores._reading import Reading
from careledger.insight.scores._vitals import (
    GCS_RANGE,
    GLASGOW_COMA_SCALE,
    RESPIRATORY_RANGE,
    RESPIRATORY_RATE,
    SYSTOLIC_BP,
    SYSTOLIC_RANGE,
    TODAY,
    consciousness,
)

VERSION = "qSOFA (Seymour 2016, Sepsis-3)"

RESPIRATORY_RATE_FROM = 22  # breaths/min, inclusive
SYSTOLIC_AT_MOST = 100  # mmHg, inclusive
FULL_GCS = 15
POSITIVE_FROM = 2


class QSofa:
    """qSOFA as a RiskAssessment: 0-3 points, positive at 2."""

    id = "qsofa"
    title = "qSOFA (quick Sequential Organ Failure Assessment)"
    version = VERSION
    citation = (
        "Seymour CW, Liu VX, Iwashyna TJ, et al. Assessment of clinical criteria for sepsis: for the Third "
        "International Consensus Definitions for Sepsis and Septic Shock (Sepsis-3). JAMA 2016;315:762-74."
    )
    url = "https://jamanetwork.com/journals/jama/fullarticle/2492875"
    observation = False

    def assess(self, facts: Facts) -> Result:
        """The points from today's observations, positive at 2; each missing one a gap."""
        reading = Reading(facts)
        total = 0
        rate = reading.measurement("respiratory rate", [RESPIRATORY_RATE], TODAY, RESPIRATORY_RANGE)
        if rate is not None:
            total += award(reading, int(rate.value >= RESPIRATORY_RATE_FROM))
        systolic = reading.measurement("systolic blood pressure", [SYSTOLIC_BP], TODAY, SYSTOLIC_RANGE)
        if systolic is not None:
            total += award(reading, int(systolic.value <= SYSTOLIC_AT_MOST))
        if facts.latest([GLASGOW_COMA_SCALE], within=TODAY.span) is not None:
            gcs = reading.measurement("Glasgow Coma Scale", [GLASGOW_COMA_SCALE], TODAY, GCS_RANGE)
            if gcs is not None:
                total += award(reading, int(gcs.value < FULL_GCS))
        else:
            letter = consciousness(reading, "no Glasgow Coma Scale or level of consciousness (ACVPU) today")
            if letter is not None:
                total += award(reading, int(letter != "A"))
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        positive = total >= POSITIVE_FROM
        return Assessment(
            score=self.id,
            version=self.version,
            value=float(total),
            display=f"qSOFA {total} of 3 ({'positive' if positive else 'negative'})",
            band="positive" if positive else "negative",
            inputs=tuple(reading.inputs),
            alert=positive,
            why=f"qSOFA {total} (>= {POSITIVE_FROM}): if infection is suspected, high risk of a poor outcome; "
            "assess for organ dysfunction (SOFA)"
            if positive
            else "",
        )


QSOFA = QSofa()
