"""Facts' lookups: the newest measurement of any of several codes within a window, looked up by code; a tie of
dates goes to the code that comes first in `measurements`, as a scan of them would find it."""

from __future__ import annotations

from datetime import date, timedelta

from careledger.insight import LOINC, Code, Facts, Measurement

ON = date(2026, 12, 6)
SERUM = Code(LOINC, "2160-0")
BLOOD = Code(LOINC, "38483-4")


def _measured(code: Code, value: float, days_ago: int) -> Measurement:
    return Measurement(code, value, "mg/dL", ON - timedelta(days=days_ago), f"Observation/{code.code}-{days_ago}")


def _facts(*measurements: Measurement) -> Facts:
    by_code: dict[Code, list[Measurement]] = {}
    for m in measurements:
        by_code.setdefault(m.code, []).append(m)
    newest_first = {code: tuple(sorted(ms, key=lambda m: m.when, reverse=True)) for code, ms in by_code.items()}
    return Facts("p1", ON, None, None, measurements=newest_first)


def test_the_newest_of_any_code_within_the_window() -> None:
    facts = _facts(_measured(SERUM, 1.0, 30), _measured(SERUM, 1.1, 400), _measured(BLOOD, 1.2, 10))
    assert facts.latest([SERUM, BLOOD]).value == 1.2  # type: ignore[union-attr]
    assert facts.latest([SERUM]).value == 1.0  # type: ignore[union-attr]
    assert facts.latest([SERUM], within=timedelta(days=20)) is None
    assert facts.latest([SERUM, BLOOD], within=timedelta(days=10)).value == 1.2  # type: ignore[union-attr]
    assert facts.latest([Code(LOINC, "2093-3")]) is None


def test_an_old_measurement_is_found_only_without_a_window() -> None:
    facts = _facts(_measured(SERUM, 1.1, 400))
    assert facts.latest([SERUM], within=timedelta(days=366)) is None
    assert facts.latest([SERUM]).value == 1.1  # type: ignore[union-attr]


def test_a_tie_of_dates_goes_to_the_code_first_in_the_measurements() -> None:
    blood_first = _facts(_measured(BLOOD, 1.2, 5), _measured(SERUM, 1.0, 5))
    serum_first = _facts(_measured(SERUM, 1.0, 5), _measured(BLOOD, 1.2, 5))
    for codes in ([SERUM, BLOOD], [BLOOD, SERUM], [SERUM, BLOOD, SERUM]):
        assert blood_first.latest(codes).value == 1.2  # type: ignore[union-attr]
        assert serum_first.latest(codes).value == 1.0  # type: ignore[union-attr]
