"""JSON from strangers: its depth bounded before it is parsed, objects and arrays alike."""

from __future__ import annotations

import pytest

from careledger.errors import ValidationError
from careledger.fhir import loads


@pytest.mark.parametrize(
    "document",
    [
        b'{"a":' * 101 + b"1" + b"}" * 101,
        b'[{"a":' * 51 + b"1" + b"}]" * 51,
        b'{"s":"[[[[", "a":' * 101 + b"1" + b"}" * 101,
    ],
)
def test_objects_nested_past_the_limit_are_refused_as_arrays_are(document: bytes) -> None:
    """Objects were not counted (they were dropped before they were read as brackets): with py-evm's recursion
    limit of 100,000, a deep enough one overflowed the C stack instead of being refused."""
    with pytest.raises(ValidationError, match="nested deeper than 100 levels"):
        loads(document)


def test_a_document_at_the_limit_and_brackets_inside_strings_are_taken() -> None:
    assert loads(b'{"a":' * 99 + b'"}}}]]]"' + b"}" * 99)
    assert loads(b'{"a":[' + b'"' + b"[" * 500 + b'"' + b"]}") == {"a": ["[" * 500]}


@pytest.mark.parametrize("digits", [4301, 5001])
def test_an_integer_of_too_many_digits_is_refused_in_our_words(digits: int) -> None:
    with pytest.raises(ValidationError, match=f"a number too large: {digits:,} digits, at most 4,300") as refused:
        loads('{"trial": -' + "9" * digits + "}")
    assert "sys." not in str(refused.value)  # no hint to a remote client about Python's settings
    assert loads("[" + "9" * 4300 + "]") == [int("9" * 4300)]
