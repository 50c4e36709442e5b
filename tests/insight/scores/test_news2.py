"""NEWS2 against the Royal College of Physicians' 2017 chart: each parameter's bands at their edges, the
aggregate's clinical risk and triggers, scale 2, and the gaps that refuse a score."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.insight import ICD10, SNOMED, Assessment, CannotCompute, Code, Finding
from careledger.insight.scores._news2 import NEWS2
from tests.insight.scores.cv_facts import ON, facts, measured

RR, SPO2, SBP, PULSE, TEMP = "9279-1", "59408-5", "8480-6", "8867-4", "8310-5"
ALERT = Finding(Code(SNOMED, "248234008"), "Observation/acvpu", ON)
CONFUSED = Finding(Code(SNOMED, "1104441000000107"), "Observation/acvpu", ON)
AIR = Finding(Code(SNOMED, "722742002"), "Observation/o2", ON)
OXYGEN = Finding(Code(SNOMED, "371825009"), "Observation/o2", ON)
HYPERCAPNIA = Finding(Code(ICD10, "J96.12"), "Condition/copd-t2rf")
NORMAL = {RR: 16, SPO2: 97, SBP: 125, PULSE: 70, TEMP: 37.0}


def news2(
    answers: tuple[Finding, ...] = (ALERT, AIR), conditions: tuple[Finding, ...] = (), **changed: float
) -> Assessment:
    values = {**NORMAL, **{_code(name): value for name, value in changed.items()}}
    result = NEWS2.assess(
        facts(
            measurements=[measured(code, v, days_ago=0) for code, v in values.items()],
            answers=answers,
            conditions=conditions,
        )
    )
    assert isinstance(result, Assessment), result
    return result


def _code(name: str) -> str:
    return {"rr": RR, "spo2": SPO2, "sbp": SBP, "pulse": PULSE, "temp": TEMP}[name]


@pytest.mark.parametrize(
    ("name", "value", "points"),
    [
        # Chart 1, respiration rate: <=8 3, 9-11 1, 12-20 0, 21-24 2, >=25 3.
        ("rr", 8, 3),
        ("rr", 9, 1),
        ("rr", 11, 1),
        ("rr", 12, 0),
        ("rr", 20, 0),
        ("rr", 21, 2),
        ("rr", 24, 2),
        ("rr", 25, 3),
        # SpO2 scale 1: <=91 3, 92-93 2, 94-95 1, >=96 0.
        ("spo2", 91, 3),
        ("spo2", 92, 2),
        ("spo2", 93, 2),
        ("spo2", 94, 1),
        ("spo2", 95, 1),
        ("spo2", 96, 0),
        # Systolic: <=90 3, 91-100 2, 101-110 1, 111-219 0, >=220 3.
        ("sbp", 90, 3),
        ("sbp", 91, 2),
        ("sbp", 100, 2),
        ("sbp", 101, 1),
        ("sbp", 110, 1),
        ("sbp", 111, 0),
        ("sbp", 219, 0),
        ("sbp", 220, 3),
        # Pulse: <=40 3, 41-50 1, 51-90 0, 91-110 1, 111-130 2, >=131 3.
        ("pulse", 40, 3),
        ("pulse", 41, 1),
        ("pulse", 50, 1),
        ("pulse", 51, 0),
        ("pulse", 90, 0),
        ("pulse", 91, 1),
        ("pulse", 110, 1),
        ("pulse", 111, 2),
        ("pulse", 130, 2),
        ("pulse", 131, 3),
        # Temperature: <=35.0 3, 35.1-36.0 1, 36.1-38.0 0, 38.1-39.0 1, >=39.1 2.
        ("temp", 35.0, 3),
        ("temp", 35.1, 1),
        ("temp", 36.0, 1),
        ("temp", 36.1, 0),
        ("temp", 38.0, 0),
        ("temp", 38.1, 1),
        ("temp", 39.0, 1),
        ("temp", 39.1, 2),
    ],
)
def test_each_parameter_scores_its_chart_band(name: str, value: float, points: int) -> None:
    assert news2(**{name: value}).value == points


def test_normal_observations_on_air_score_zero_low() -> None:
    result = news2()
    assert (result.value, result.band, result.alert) == (0, "low", False)
    assert result.display == "NEWS2 0 (low clinical risk)"


def test_supplemental_oxygen_scores_two() -> None:
    assert news2(answers=(ALERT, OXYGEN)).value == 2


def test_oxygen_from_inhaled_concentration_or_flow() -> None:
    values = [measured(code, v, days_ago=0) for code, v in NORMAL.items()]
    on_fio2 = facts(measurements=[*values, measured("3150-0", 28, days_ago=0, unit="%")], answers=(ALERT,))
    on_flow = facts(measurements=[*values, measured("3151-8", 2, days_ago=0, unit="L/min")], answers=(ALERT,))
    room_air = facts(measurements=[*values, measured("3150-0", 21, days_ago=0, unit="%")], answers=(ALERT,))
    scores = [NEWS2.assess(f) for f in (on_fio2, on_flow, room_air)]
    assert [getattr(s, "value", None) for s in scores] == [2, 2, 0]


def test_new_confusion_scores_three_and_triggers_a_ward_response() -> None:
    result = news2(answers=(CONFUSED, AIR))
    assert (result.value, result.band, result.alert) == (3, "low-medium", True)
    assert "single parameter" in result.why


def test_aggregate_bands_and_the_key_threshold() -> None:
    medium = news2(rr=21, pulse=111, temp=38.1)  # 2 + 2 + 1
    assert (medium.value, medium.band, medium.alert) == (5, "medium", True)
    assert "urgent clinical response" in medium.why
    four = news2(rr=21, pulse=95, temp=38.1)  # 2 + 1 + 1
    assert (four.value, four.band, four.alert) == (4, "low", False)
    # RR 24 (2), SpO2 93 (2), oxygen (2), SBP 100 (2), pulse 112 (2), alert (0), 38.4 °C (1).
    high = news2(answers=(ALERT, OXYGEN), rr=24, spo2=93, sbp=100, pulse=112, temp=38.4)
    assert (high.value, high.band) == (11, "high")


def test_the_maximum_is_twenty() -> None:
    unresponsive = Finding(Code(SNOMED, "422768004"), "Observation/acvpu", ON)
    result = news2(answers=(unresponsive, OXYGEN), rr=30, spo2=85, sbp=80, pulse=140, temp=34)
    assert result.value == 20


@pytest.mark.parametrize(
    ("spo2", "oxygen", "points"),
    [
        (83, False, 3),
        (84, False, 2),
        (86, False, 1),
        (88, False, 0),
        (97, False, 0),
        (92, True, 2),
        (93, True, 3),
        (95, True, 4),
        (97, True, 5),
    ],
)
def test_scale_2_for_hypercapnic_respiratory_failure(spo2: float, oxygen: bool, points: int) -> None:
    # On oxygen the 2 points for oxygen are in the total too.
    result = news2(answers=(ALERT, OXYGEN if oxygen else AIR), conditions=(HYPERCAPNIA,), spo2=spo2)
    assert result.value == points
    assert any(i.label == "SpO2 scale" and i.value.startswith("2") for i in result.inputs)


def test_inputs_name_their_sources_and_points() -> None:
    result = news2(rr=21)
    rate = next(i for i in result.inputs if i.label == "Respiratory rate")
    assert rate.source == f"Observation/{RR}-0"
    assert rate.value.endswith(": 2 points")


def test_missing_observations_are_named() -> None:
    result = NEWS2.assess(facts(measurements=[measured(SBP, 120, days_ago=0)], answers=()))
    assert isinstance(result, CannotCompute)
    assert str(result) == (
        "cannot compute: no respiratory rate today; no record of air or supplemental oxygen today; "
        "no oxygen saturation today; no pulse rate today; no level of consciousness (ACVPU) today; "
        "no temperature today"
    )


def test_yesterdays_observations_are_not_today() -> None:
    stale = [measured(code, v, days_ago=1) for code, v in NORMAL.items()]
    result = NEWS2.assess(facts(measurements=stale, answers=(ALERT, AIR)))
    assert isinstance(result, CannotCompute)
    assert "no respiratory rate today" in result.missing
    yesterday = Finding(ALERT.code, ALERT.source, ON - timedelta(days=1))
    result = NEWS2.assess(
        facts(measurements=[measured(c, v, days_ago=0) for c, v in NORMAL.items()], answers=(yesterday, AIR))
    )
    assert isinstance(result, CannotCompute)
    assert result.missing == ("no level of consciousness (ACVPU) today",)


def test_an_implausible_value_is_refused() -> None:
    result = NEWS2.assess(
        facts(
            measurements=[measured(c, 370 if c == TEMP else v, days_ago=0) for c, v in NORMAL.items()],
            answers=(ALERT, AIR),
        )
    )
    assert isinstance(result, CannotCompute)
    assert result.missing == ("temperature 370 °C on 2026-12-01 is outside 25-45 °C",)


def test_the_score_is_an_observation_with_its_code() -> None:
    assert NEWS2.observation is True
    assert NEWS2.code == Code(SNOMED, "1104051000000101")


@settings(max_examples=60, deadline=None)
@given(
    rr=st.integers(0, 80),
    spo2=st.integers(50, 100),
    sbp=st.integers(40, 300),
    pulse=st.integers(20, 300),
    temp=st.floats(25, 45).map(lambda t: round(t, 1)),
    oxygen=st.booleans(),
)
def test_any_chart_scores_0_to_20_and_its_band_follows_the_total(
    rr: int, spo2: int, sbp: int, pulse: int, temp: float, oxygen: bool
) -> None:
    result = news2(answers=(ALERT, OXYGEN if oxygen else AIR), rr=rr, spo2=spo2, sbp=sbp, pulse=pulse, temp=temp)
    assert 0 <= result.value <= 20
    assert result.alert == (result.value >= 5 or result.band == "low-medium")
    assert (result.band == "high") == (result.value >= 7)
