"""Search values read at the edge (`records/_query.py`): a number or quantity is FHIR's decimal, or refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.errors import ValidationError
from careledger.records import search_query
from careledger.records._matching import matches

UCUM = "http://unitsofmeasure.org"
NO_DECIMALS = ["NaN", "nan", "inf", "-inf", "gtInfinity", "snan", f"NaN|{UCUM}|/min", "1e1001", "1e-1001"]
_PULSE: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "pulse"},
    "valueQuantity": {"value": 72, "system": UCUM, "code": "/min"},
    "component": [{"code": {"text": "beat"}, "valueQuantity": {"value": 5.4}}],
}
_PARAMS = [
    ("Observation", "value-quantity"),
    ("Observation", "component-value-quantity"),
    ("Encounter", "length"),
    ("RiskAssessment", "probability"),
]


def _found(value: str, param: str = "value-quantity") -> bool:
    query, unknown = search_query("Observation", [(param, value)], patient_address=None)
    assert unknown == []
    return matches(_PULSE, query.checks)


@pytest.mark.parametrize(
    "value", [*NO_DECIMALS, "05", "+5", ".5", "5.", "1_000", "٣", " 5", "5 ", "0x10", f"|{UCUM}|/min"]
)
@pytest.mark.parametrize(("resource_type", "param"), _PARAMS)
def test_a_number_that_is_no_fhir_decimal_is_refused_before_any_record_is_read(
    resource_type: str, param: str, value: str
) -> None:
    with pytest.raises(ValidationError, match="not a FHIR decimal"):
        search_query(resource_type, [(param, f"5,{value}")], patient_address=None)


def test_fhir_decimals_up_to_the_bound_compare_with_their_precision_as_range() -> None:
    for beyond in ("le1e1001", "ge-1e-1001"):
        with pytest.raises(ValidationError, match="within 1e±1000"):
            _found(beyond)
    found = ["72", "7.2e1", f"72|{UCUM}|/min", "-0,72", "gt71.9", "le1e1000", "ge-1e-1000"]
    assert [value for value in found if not _found(value)] == []
    assert [value for value in ["72.1", "gt72", "1e1000", "lt-1e-1000", f"72|{UCUM}|/h"] if _found(value)] == []
    assert _found("ge5.35", "component-value-quantity")
    assert not _found("5.44", "component-value-quantity")


@given(
    st.sampled_from(NO_DECIMALS)
    | st.text(max_size=24)
    | st.from_regex(r"(gt|lt|ge|le|ne|sa|eb)?-?[0-9]{1,4}(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,7})?", fullmatch=True)
)
def test_any_quantity_value_is_compared_or_refused_never_an_error_of_ours(value: str) -> None:
    """Junk is a `ValidationError` (a 400); what passes the edge compares with a record's values without error."""
    try:
        query, _ = search_query("Observation", [("value-quantity", value)], patient_address=None)
    except ValidationError:
        return
    matches(_PULSE, query.checks)
