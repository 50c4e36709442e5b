"""GS1 identifiers of a drug pack and its cases: what a scanner reads, checked before anything trusts it.

A pharmacy's scanner types the pack's GS1 DataMatrix as an element string (AIs 01 GTIN, 17 expiry,
10 lot, 21 serial, FNC1 sent as GS), perhaps behind a symbology identifier (`]d2`); a label shows
the same in its human-readable form `(01)…(21)…`; EPCIS events name packs and cases by GS1 Digital
Link URIs or the older EPC URNs of the Tag Data Standard. `biip` reads the element strings and
Digital Links (check digits, dates, AI formats); this module turns what it finds into `Pack` and
`Container`, and every refusal into a `ValidationError` whose message starts with the field.

```
scan ──▶ ]d2 / GS / (HRI) / https://…/01/…/21/… / urn:epc:id:sgtin:… ──▶ biip element strings ──▶ Pack | Container
```

A scanner set to spell the group separator out types `<GS>`, `{GS}`, `[GS]` (any case) or `^]` (what a keyboard
wedge types for Ctrl+], ASCII 29) for it; an element string reads each as the separator, whichever face it came
through (CLI, API, portal). `^ [ ] { }` are outside GS1's character set 82; `<GS>` is inside it, and is read as the
separator all the same (a serial that spells those four characters is sent with the separator as the character).
Nothing a stranger types escapes as another error than `ValidationError`: a URI that is no URL at all (`https://a[b`)
is refused like any other malformed one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString

from careledger.errors import ValidationError

GS = "\x1d"  # what a scanner sends for FNC1 between a variable-length field and the next
MAX_SERIAL = 20  # AI 21 and AI 10: X..20
DIGITAL_LINK = "https://id.gs1.org"

# GS1 AI encodable character set 82 (General Specifications, figure 7.11-1).
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+")
_SYMBOLOGY = re.compile(r"\][A-Za-z][0-9A-Za-z]")  # ISO/IEC 15424: `]d2` DataMatrix, `]C1` GS1-128, `]Q3` QR
_HRI = re.compile(r"\((\d{2,4})\)([^(]*)")
_HRI_SPACES = re.compile(r"\s*(\(\d{2,4}\))\s*")
_FIELDS = {"00": "sscc", "01": "gtin", "10": "lot", "17": "expiry", "21": "serial"}
_DATES = frozenset({"11", "12", "13", "15", "16", "17"})
_SGTIN_URN = re.compile(r"urn:epc:id:sgtin:(\d+)\.(\d+)\.(.+)")
_SSCC_URN = re.compile(r"urn:epc:id:sscc:(\d+)\.(\d+)")
_SPELLED_SEPARATOR = re.compile(r"<GS>|\{GS\}|\[GS\]|\^\]", re.IGNORECASE)
_VARIABLE = frozenset({"10", "21"})  # the variable-length AIs a pack's code carries, ended by GS unless last


@dataclass(frozen=True, slots=True)
class Pack:
    """One serialised sales pack: GTIN and serial (its SGTIN), with the lot and expiry the DataMatrix carries."""

    gtin: str
    serial: str
    lot: str | None = None
    expiry: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "gtin", gtin_of(self.gtin))
        _check_text("serial", self.serial)
        if self.lot is not None:
            _check_text("lot", self.lot)

    @property
    def epc(self) -> str:
        """The pack's EPC in EPCIS events: its GS1 Digital Link URI (GTIN and serial, no lot or expiry)."""
        return f"{DIGITAL_LINK}/01/{self.gtin}/21/{quote(self.serial, safe='')}"

    @property
    def element_string(self) -> str:
        """The pack's human-readable element string, as a label prints it: `(01)…(17)…(10)…(21)…`."""
        expiry = f"(17){self.expiry:%y%m%d}" if self.expiry else ""
        lot = f"(10){self.lot}" if self.lot is not None else ""
        return f"(01){self.gtin}{expiry}{lot}(21){self.serial}"


@dataclass(frozen=True, slots=True)
class Container:
    """A case or pallet, by its Serial Shipping Container Code (AI 00)."""

    sscc: str

    def __post_init__(self) -> None:
        _check_digits("sscc", self.sscc, 18)

    @property
    def epc(self) -> str:
        """The container's EPC in EPCIS events: its GS1 Digital Link URI."""
        return f"{DIGITAL_LINK}/00/{self.sscc}"


Identifier = Pack | Container


def gtin_of(text: str) -> str:
    """A GTIN-8, -12, -13 or -14 as 14 digits, its check digit verified (`gtin: check digit should be …`)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) not in (8, 12, 13, 14):
        raise ValidationError(f"gtin: 8, 12, 13 or 14 digits, not {_shown(text)}")
    gtin = text.zfill(14)
    _check_digits("gtin", gtin, 14)
    return gtin


def company_prefix_ok(gtin: str, prefix: str) -> bool:
    """Whether the GTIN lies inside the GS1 company prefix (4 to 12 digits), as an admitted manufacturer's must.

    The prefix follows the indicator digit of the 14-digit GTIN (a GTIN-12's prefix starts with its 0).
    """
    if not prefix.isascii() or not prefix.isdigit() or not 4 <= len(prefix) <= 12:
        raise ValidationError(f"company prefix: 4 to 12 digits, not {_shown(prefix)}")
    return gtin_of(gtin)[1:].startswith(prefix)


def parse_scan(text: str) -> Identifier:
    """What a scanner (or a person) typed: an element string with or without GS separators or a symbology
    identifier, its `(01)…` human-readable form, a GS1 Digital Link URI on any host, or an EPC URN."""
    if not isinstance(text, str):
        raise ValidationError(f"element string: a text, not {_shown(text)}")
    text = text.strip()
    if _SYMBOLOGY.match(text):
        text = text[3:]
    text = text.lstrip(GS)
    if not text:
        raise ValidationError("element string: empty")
    if text.startswith("urn:"):
        return _from_urn(text)
    if text.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
        return _identified(_digital_link(text), text)
    if text.startswith("("):
        return _identified(_hri(text), text)
    text = _SPELLED_SEPARATOR.sub(GS, text).strip(GS)
    if text.isdigit() and len(text) in (8, 12, 13, 14):
        raise ValidationError(f"serial: {text} is a GTIN alone, which names no pack: scan the pack's 2D code")
    return _identified(_element_string(text), text)


def parse_epc(uri: str) -> Identifier:
    """An EPC as EPCIS events write it: a GS1 Digital Link URI (any host) or an SGTIN or SSCC EPC URN."""
    if isinstance(uri, str) and uri.startswith("urn:"):
        return _from_urn(uri)
    if isinstance(uri, str) and uri.lower().startswith(("http://", "https://")):
        return _identified(_digital_link(uri), uri)
    raise ValidationError(f"epc: a GS1 Digital Link URI or an EPC URN, not {_shown(uri)}")


def _identified(elements: dict[str, GS1ElementString], text: str) -> Identifier:
    """The pack or container the element strings name (other AIs, such as a national number, are left aside)."""
    if "00" in elements:
        return Container(elements["00"].value)
    if "01" not in elements:
        raise ValidationError(f"element string: neither a GTIN (01) nor an SSCC (00) in {_shown(text)}")
    if "21" not in elements:
        lost = any(ai in _VARIABLE and "21" in element.value[1:] for ai, element in elements.items())
        hint = (
            ": a group separator (GS) is probably missing before it"
            if lost
            else ": a serialised pack's code carries one"
        )
        raise ValidationError("serial: missing (AI 21)" + hint)
    expiry = elements.get("17")
    lot = elements.get("10")
    return Pack(
        gtin=elements["01"].value,
        serial=elements["21"].value,
        lot=lot.value if lot else None,
        expiry=expiry.date if expiry else None,
    )


def _element_string(text: str) -> dict[str, GS1ElementString]:
    """Element strings one after the other, a variable-length one ended by GS or by the end of the text."""
    found: list[GS1ElementString] = []
    rest = text
    while rest:
        try:
            element = GS1ElementString.extract(rest)
        except ParseError:
            raise _refusal_at(rest) from None
        rest = rest[len(element) :]
        if rest and not rest.startswith(GS) and element.ai.separator_required:
            # A variable-length field stops short of a GS only at its longest or at a character it may not hold.
            raise _refused(element.ai.ai, element.value + rest.split(GS, 1)[0])
        rest = rest.lstrip(GS)
        found.append(_verified(element))
    return _by_ai(found)


def _hri(text: str) -> dict[str, GS1ElementString]:
    """The human-readable form: `(01)09506000134352(17)251231(10)AB-12(21)X1`, with spaces around the AIs as
    labels print them or without (a space inside a value is refused: no AI's value holds one)."""
    text = _HRI_SPACES.sub(r"\1", text)
    pairs = _HRI.findall(text)
    if "".join(f"({ai}){data}" for ai, data in pairs) != text:
        raise ValidationError(f"element string: not of the form (AI)value(AI)value: {_shown(text)}")
    return _by_ai([_element(ai, data) for ai, data in pairs])


def _digital_link(uri: str) -> dict[str, GS1ElementString]:
    """A GS1 Digital Link URI: `https://<any host>/<prefix>/01/<gtin>/10/<lot>/21/<serial>?17=<expiry>`."""
    try:
        link = GS1DigitalLinkURI.parse(uri)
    except (ParseError, ValueError) as exc:  # ValueError: no URL at all (`https://a[b/…`: urllib's own refusal)
        # Read the pairs again one by one, so that the refusal names the field that broke.
        try:
            parts = urlsplit(uri)
        except ValueError:
            raise ValidationError("element string: not a GS1 Digital Link URI (not a URL)") from None
        segments = [unquote(part) for part in parts.path.split("/")]
        start = next((i for i, part in enumerate(segments) if part in ("00", "01")), len(segments))
        pairs = [(segments[i], segments[i + 1]) for i in range(start, len(segments) - 1, 2)]
        for key, value in [*pairs, *parse_qsl(parts.query)]:
            if key in _FIELDS:
                _element(key, value)
        raise ValidationError(f"element string: not a GS1 Digital Link URI: {exc}") from None
    return _by_ai([_verified(element) for element in link.element_strings])


def _element(ai: str, data: str) -> GS1ElementString:
    """One AI and its value, parsed whole."""
    try:
        return _verified(GS1ElementString.parse(ai + data))
    except ParseError:
        raise _refused(ai, data) from None


def _verified(element: GS1ElementString) -> GS1ElementString:
    """The element, unless biip found its GTIN's or SSCC's check digit wrong."""
    if element.gtin_error or element.sscc_error:
        raise _refused(element.ai.ai, element.value)
    return element


def _by_ai(elements: list[GS1ElementString]) -> dict[str, GS1ElementString]:
    found: dict[str, GS1ElementString] = {}
    for element in elements:
        known = found.setdefault(element.ai.ai, element)
        if known.value != element.value:
            raise ValidationError(f"element string: ({element.ai.ai}) appears twice, with different values")
    return found


def _refusal_at(rest: str) -> ValidationError:
    """Why the element string starting `rest` does not parse, naming its field."""
    try:
        ai = GS1ApplicationIdentifier.extract(rest)
    except ParseError:
        return ValidationError(f"element string: no GS1 application identifier at {_shown(rest[:24])}")
    return _refused(ai.ai, rest[len(ai.ai) :].split(GS, 1)[0])


def _refused(ai: str, data: str) -> ValidationError:
    """The refusal of AI `ai`'s value `data`, starting with the field's name."""
    field = _FIELDS.get(ai)
    if ai in _DATES:
        return ValidationError(f"{field or f'({ai})'}: {data[:6]} is not a date (YYMMDD)")
    if ai in ("00", "01"):
        try:
            _check_digits(_FIELDS[ai], data, 18 if ai == "00" else 14)
        except ValidationError as exc:
            return exc
    if ai in ("10", "21"):
        try:
            _check_text(_FIELDS[ai], data)
        except ValidationError as exc:
            return exc
    return ValidationError(f"{field or 'element string'}: ({ai}) {_shown(data)} is not of its GS1 format")


def _check_digits(field: str, value: str, length: int) -> None:
    """`value` is `length` digits whose last is their GS1 check digit."""
    if not isinstance(value, str) or len(value) != length or not value.isascii() or not value.isdigit():
        raise ValidationError(f"{field}: {length} digits, not {_shown(value)}")
    expected = gs1_standard_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise ValidationError(f"{field}: check digit should be {expected}, not {value[-1]}")


def _check_text(field: str, value: str) -> None:
    """A serial or lot: 1 to 20 characters of GS1's character set 82."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{field}: 1 to {MAX_SERIAL} characters, not {_shown(value)}")
    if not _CSET82.fullmatch(value):
        bad = next(char for char in value if not _CSET82.fullmatch(char))
        raise ValidationError(f"{field}: {bad!r} is not in GS1's character set 82")
    if len(value) > MAX_SERIAL:
        raise ValidationError(f"{field}: {len(value)} characters, at most {MAX_SERIAL}")


def _from_urn(urn: str) -> Identifier:
    """An EPC pure-identity URN (GS1 Tag Data Standard §6): the company prefix, then the item or serial reference
    whose first digit is the indicator (SGTIN) or extension digit (SSCC), then the serial."""
    if match := _SGTIN_URN.fullmatch(urn):
        prefix, reference, serial = match.groups()
        if not 6 <= len(prefix) <= 12 or len(prefix) + len(reference) != 13:
            raise ValidationError(f"epc: an SGTIN's company prefix and item reference are 13 digits: {_shown(urn)}")
        body = reference[0] + prefix + reference[1:]
        return Pack(gtin=body + str(gs1_standard_check_digit(body)), serial=unquote(serial))
    if match := _SSCC_URN.fullmatch(urn):
        prefix, reference = match.groups()
        if not 6 <= len(prefix) <= 12 or len(prefix) + len(reference) != 17:
            raise ValidationError(f"epc: an SSCC's company prefix and serial reference are 17 digits: {_shown(urn)}")
        body = reference[0] + prefix + reference[1:]
        return Container(body + str(gs1_standard_check_digit(body)))
    raise ValidationError(f"epc: an SGTIN or SSCC EPC URN (urn:epc:id:sgtin:… or urn:epc:id:sscc:…), not {_shown(urn)}")


def _shown(value: object) -> str:
    """A stranger's value in a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 48 else text[:45] + "..."
