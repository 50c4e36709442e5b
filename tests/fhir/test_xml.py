"""FHIR XML from strangers: refused, not a server error, when it nests deeper than JSON may."""

from __future__ import annotations

import pytest

from careledger.errors import NotAcceptable, UnsupportedMediaType, ValidationError
from careledger.fhir import MAX_DEPTH, json_to_xml, xml_to_json


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


def test_a_type_r4b_changed_or_dropped_is_not_read_from_xml() -> None:
    """R4B's model is not R4's definition of these: 415, saying to send JSON."""
    for xml in (
        b'<MedicinalProduct xmlns="http://hl7.org/fhir"><name><productName value="A"/></name></MedicinalProduct>',
        b'<ActivityDefinition xmlns="http://hl7.org/fhir"><status value="active"/></ActivityDefinition>',
    ):
        with pytest.raises(UnsupportedMediaType, match="application/fhir\\+json"):
            xml_to_json(xml)


def test_xml_is_written_only_where_r4bs_model_holds_the_r4_resource() -> None:
    product = {"resourceType": "MedicinalProduct", "name": [{"productName": "A"}]}
    for resource in (product, {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": product}]}):
        with pytest.raises(NotAcceptable, match="application/fhir\\+json"):
            json_to_xml(resource)
    versions = {"resourceType": "Parameters", "parameter": [{"name": "version", "valueCode": "4.0"}]}
    assert b'<valueCode value="4.0"/>' in json_to_xml(versions)
