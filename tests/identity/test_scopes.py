"""SMART scopes: v1 and v2 forms, what is within what, and what v2 queries narrow reads to."""

from __future__ import annotations

import pytest

from careledger.errors import ValidationError
from careledger.identity import Scope, granted, narrowing, resource_scopes


def test_v1_and_v2_name_the_same_permissions() -> None:
    assert Scope.parse("patient/*.read").permissions == Scope.parse("patient/*.rs").permissions
    assert Scope.parse("user/Observation.write").permissions == frozenset("cud")
    assert Scope.parse("system/*.*").text() == "system/*.cruds"
    assert Scope.parse("patient/Observation.rs?category=laboratory").query == (("category", "laboratory"),)


@pytest.mark.parametrize(
    "text",
    ["patient/Observation.sr", "patient/Observation.rx", "nobody/*.rs", "patient/observation.rs", "openid"],
)
def test_what_is_not_a_resource_scope(text: str) -> None:
    with pytest.raises(ValidationError):
        Scope.parse(text)


def test_granted_is_never_wider_than_allowed() -> None:
    allowed = resource_scopes("patient/*.read")
    asked = resource_scopes("patient/Observation.rs patient/Condition.cruds user/*.rs patient/Observation.r?code=1")
    assert [s.text() for s in granted(asked, allowed)] == ["patient/Observation.rs", "patient/Observation.r?code=1"]


def test_narrowing_only_where_every_reading_scope_has_a_query() -> None:
    narrowed = narrowing(resource_scopes("patient/Observation.rs?category=laboratory patient/Condition.rs"))
    assert narrowed == (("Observation", ((("category", "laboratory"),),)),)
    widened = resource_scopes("patient/Observation.rs?category=laboratory patient/*.rs")
    assert narrowing(widened) == ()
    two = narrowing(resource_scopes("user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs"))
    assert two == (("Observation", ((("category", "laboratory"),), (("category", "vital-signs"),))),)
