"""FHIR XML in and out, through fhir.resources' R4B models (on lxml), never a hand-written mapping.

The node speaks R4; R4B's models read and write the XML of every type R4B left as R4 defined it.
A type R4B changed or dropped (`is_r4_validated`) is never read from XML (415: R4B's model is not
its definition); it is written as XML only where R4B's model holds the resource as it is (the
same elements), else the answer is a 406. Each refusal says to use JSON.

The parser is locked down for bodies from strangers: no DTD, no entity expansion, no
network, no huge trees, so a billion-laughs or XXE document is refused rather than
expanded; and, as for JSON, no tree deeper than `MAX_DEPTH` elements reaches the model,
whose validation recurses in Python for each level (lxml itself allows 256). A resource
must validate against its model on the way in, as JSON does.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError

from careledger.errors import InvalidResource, NotAcceptable, UnsupportedMediaType, ValidationError
from careledger.fhir._json import MAX_DEPTH
from careledger.fhir._r4_structures import is_r4_validated
from careledger.fhir._types import is_resource_type

FHIR_NAMESPACE = "{http://hl7.org/fhir}"


def _parser() -> Any:
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def xml_to_json(body: bytes) -> bytes:
    """A FHIR XML resource as FHIR JSON; `ValidationError` for XML that is not well formed, has a DTD or is no
    FHIR resource, `InvalidResource` for one its model refuses, `UnsupportedMediaType` for one of a type R4B
    changed or dropped."""
    from fhir.resources.R4B import get_fhir_model_class
    from lxml import etree

    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ValidationError(f"the body is not well-formed XML: {str(exc)[:200]}") from None
    if root.getroottree().docinfo.doctype:
        raise ValidationError("XML with a DOCTYPE is not accepted")
    _check_depth(root)
    tag = str(root.tag)
    resource_type = tag.removeprefix(FHIR_NAMESPACE)
    if not tag.startswith(FHIR_NAMESPACE) or not is_resource_type(resource_type):
        raise ValidationError(f"the XML root <{tag[:80]}> is not a FHIR resource in the namespace http://hl7.org/fhir")
    if is_r4_validated(resource_type):
        raise UnsupportedMediaType(_JSON_ONLY.format(resource_type))
    try:
        model = get_fhir_model_class(resource_type).model_validate_xml(body, xmlparser=_parser())
    except (PydanticValidationError, ValueError, TypeError) as exc:
        raise InvalidResource(f"invalid {resource_type} XML: {str(exc)[:400]}") from None
    return model.model_dump_json().encode()


def _check_depth(root: Any) -> None:
    """`ValidationError` if elements nest deeper than `MAX_DEPTH` (counted without recursion)."""
    from lxml import etree

    depth = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > MAX_DEPTH:
            raise ValidationError(f"the XML is nested deeper than {MAX_DEPTH} elements")


_JSON_ONLY = (
    "{} has no XML here: FHIR R4B, whose models write this node's XML, defines it otherwise than R4 does; "
    "use application/fhir+json"
)


def json_to_xml(resource: dict[str, Any]) -> bytes:
    """A FHIR JSON resource (one this node produced, so valid R4) as FHIR XML; `NotAcceptable` if it is, or
    holds, a resource of a type R4B changed or dropped that R4B's model cannot hold."""
    from fhir.resources.R4B import get_fhir_model_class

    resource_type = str(resource["resourceType"])
    try:
        model = get_fhir_model_class(resource_type).model_validate(resource)
    except (PydanticValidationError, KeyError, ValueError):  # valid R4, so an R4 type R4B changed, or holds one
        raise NotAcceptable(_JSON_ONLY.format(f"{resource_type} (or a resource it holds)")) from None
    xml = model.model_dump_xml()
    return xml.encode() if isinstance(xml, str) else bytes(xml)
