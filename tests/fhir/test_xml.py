"""FHIR XML from strangers: refused, not a server error, when it nests deeper than JSON may."""

from __future__ import annotations

import pytest

from careledger.errors import ValidationError
from careledger.fhir import MAX_DEPTH, xml_to_json


def _nested(levels: int) -> bytes:
    inner = b'<extension url="http://example.org/x">' * levels + b"</extension>" * levels
    return b'<Observation xmlns="http://hl7.org/fhir"><status value="final"/>' + inner + b"</Observation>"


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 150, 255])
def test_extensions_nested_past_the_limit_are_refused(levels: int) -> None:
    """150 to 255 levels (within lxml's own limit) overflowed Python's recursion in the model: a 500."""
    with pytest.raises(ValidationError, match=f"nested deeper than {MAX_DEPTH} elements"):
        xml_to_json(_nested(levels))


def test_a_shallow_resource_converts() -> None:
    assert b'"resourceType":"Observation"' in xml_to_json(
        b'<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="pulse"/></code>'
        b"</Observation>"
    )
