"""What an auditor must look at: lateness, breaks in the audit log, licences expired, break-glass unjudged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from careledger.compliance._model import BreakGlassEvent, Finding, Lag
from careledger.compliance._tally import EXAMPLES, Tally


def findings(
    tally: Tally,
    problems: Sequence[str],
    break_glass: Sequence[BreakGlassEvent],
    anchoring: Sequence[Lag],
    now: datetime,
    review_days: int,
) -> tuple[Finding, ...]:
    """Every finding of a period: from its anchoring lag, the audit log's own checks, the entries' tally (a
    licence expired at the time of an access) and its break-glass uses (not reviewed in time, or unjustified)."""
    found = [
        Finding(
            "not-anchored",
            f"{lag.late} {lag.kind} written in the period were not anchored on chain within an hour",
            lag.late,
        )
        for lag in anchoring
        if lag.late
    ]
    found.extend(Finding("audit-integrity", problem, 1) for problem in problems[:EXAMPLES])
    if len(problems) > EXAMPLES:
        more = len(problems) - EXAMPLES
        found.append(Finding("audit-integrity", f"{more} more problems: `careledger audit verify` lists them", more))
    for practitioner, count in sorted(tally.expired_count.items()):
        what = f"{practitioner} accessed patients' records {count} times after every licence they held had expired"
        found.append(Finding("expired-licence", what, count, tuple(tally.expired[practitioner])))
    overdue = [
        e.entry for e in break_glass if e.opened and e.review is None and now - e.at > timedelta(days=review_days)
    ]
    if overdue:
        what = f"{len(overdue)} break-glass uses not reviewed {review_days} days after they were opened"
        found.append(Finding("break-glass-unreviewed", what, len(overdue), tuple(overdue[:EXAMPLES])))
    unjustified = [e.entry for e in break_glass if e.review is not None and e.review.verdict == "unjustified"]
    if unjustified:
        what = f"{len(unjustified)} break-glass uses were judged unjustified by their reviewers"
        found.append(Finding("break-glass-unjustified", what, len(unjustified), tuple(unjustified[:EXAMPLES])))
    return tuple(found)
