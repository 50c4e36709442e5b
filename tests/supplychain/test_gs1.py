"""GS1 identifiers: every form a scanner or an EPCIS event sends reads to the same pack, and every flaw is named."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.errors import ValidationError
from careledger.supplychain import Container, Pack, company_prefix_ok, gtin_of, parse_epc, parse_scan

GS = "\x1d"
GTIN = "09506000134352"  # GS1's example GTIN (check digit 2)
PACK = Pack(gtin=GTIN, serial="12345XYZ", lot="ABC-123", expiry=date(2027, 1, 31))
SSCC = "106141412345678908"  # GS1 TDS: (00) 106141412345678908 is urn:epc:id:sscc:0614141.1234567890


@pytest.mark.parametrize(
    "scan",
    [
        # GS after the variable-length lot, the serial last: what a DataMatrix reader sends.
        f"01{GTIN}17270131" + f"10ABC-123{GS}2112345XYZ",
        # The symbology identifiers of GS1 DataMatrix, GS1-128 and GS1 QR in front, and a leading FNC1.
        f"]d201{GTIN}1727013110ABC-123{GS}2112345XYZ",
        f"]C101{GTIN}1727013110ABC-123{GS}2112345XYZ",
        f"]Q3{GS}01{GTIN}1727013110ABC-123{GS}2112345XYZ",
        # No separator at all: the serial in front of the lot, which ends the string.
        f"01{GTIN}17270131" + f"2112345XYZ{GS}10ABC-123",
        f"01{GTIN}2112345XYZ{GS}1727013110ABC-123",
        # Expiry day 00: the month's last day.
        f"01{GTIN}1727010010ABC-123{GS}2112345XYZ",
        # The human-readable form a label prints, and with spaces and a trailing newline from the wedge.
        f"(01){GTIN}(17)270131(10)ABC-123(21)12345XYZ",
        f"  (01){GTIN}(21)12345XYZ(10)ABC-123(17)270131\n",
        f"(01) {GTIN} (17) 270131 (10) ABC-123 (21) 12345XYZ",
        # Digital Link: GS1's resolver or a brand's own host with a path prefix; lot in the path or the query.
        f"https://id.gs1.org/01/{GTIN}/10/ABC-123/21/12345XYZ?17=270131",
        f"https://brand.example.com/products/01/{GTIN}/21/12345XYZ?10=ABC-123&17=270131&linkType=all",
        f"]Q1https://id.gs1.org/01/{GTIN}/10/ABC-123/21/12345XYZ?17=270100",
        # A scanner set to spell the separator out, in any face (the CLI, the API, the portal).
        f"]d201{GTIN}1727013110ABC-123<GS>2112345XYZ",
        f"01{GTIN}1727013110ABC-123{{gs}}2112345XYZ",
        f"01{GTIN}1727013110ABC-123[GS]2112345XYZ",
        f"01{GTIN}1727013110ABC-123^]2112345XYZ",
    ],
)
def test_each_form_a_scanner_sends_reads_to_the_same_pack(scan: str) -> None:
    assert parse_scan(scan) == PACK


@pytest.mark.parametrize(
    ("scan", "pack"),
    [
        (f"01{GTIN}21A1", Pack(GTIN, "A1")),
        (f"https://id.gs1.org/01/{GTIN}/21/A1", Pack(GTIN, "A1")),
        ("https://id.gs1.org/01/9506000134352/21/A1", Pack(GTIN, "A1")),  # a GTIN-13 in the path, padded
        (f"https://id.gs1.org/01/{GTIN}/21/A%2F1%25", Pack(GTIN, "A/1%")),
        (f"(01){GTIN}(17)270131(21)A1", Pack(GTIN, "A1", expiry=date(2027, 1, 31))),
    ],
)
def test_a_pack_without_lot_or_expiry_has_none(scan: str, pack: Pack) -> None:
    assert parse_scan(scan) == pack


def test_a_pack_writes_its_epc_and_element_string_back() -> None:
    assert PACK.epc == f"https://id.gs1.org/01/{GTIN}/21/12345XYZ"
    assert PACK.element_string == f"(01){GTIN}(17)270131(10)ABC-123(21)12345XYZ"
    assert parse_scan(PACK.element_string) == PACK
    odd = Pack(GTIN, "A/1 %"[:3] + "%")
    assert odd.epc == f"https://id.gs1.org/01/{GTIN}/21/A%2F1%25"
    assert parse_epc(odd.epc) == odd


@pytest.mark.parametrize(
    ("urn", "gtin", "serial"),
    [
        # GS1 Tag Data Standard's example: (01) 80614141123458 (21) 6789.
        ("urn:epc:id:sgtin:0614141.812345.6789", "80614141123458", "6789"),
        # Indicator 1, item reference 12345: GTIN 1 0614141 12345 and its check digit 9.
        ("urn:epc:id:sgtin:0614141.112345.400", "10614141123459", "400"),
        # A serial with characters the URN escapes.
        ("urn:epc:id:sgtin:0614141.107346.A%2FB%22", "10614141073464", 'A/B"'),
    ],
)
def test_an_sgtin_urn_reads_as_its_gtin_and_serial(urn: str, gtin: str, serial: str) -> None:
    assert parse_epc(urn) == Pack(gtin, serial)
    assert parse_scan(urn) == Pack(gtin, serial)


def test_sscc_in_each_form_is_a_container() -> None:
    container = Container(SSCC)
    assert parse_epc("urn:epc:id:sscc:0614141.1234567890") == container
    assert parse_epc(f"https://id.gs1.org/00/{SSCC}") == container
    assert parse_scan(f"00{SSCC}") == container
    assert parse_scan(f"]C100{SSCC}{GS}02{GTIN}3712") == container
    assert parse_scan(f"(00){SSCC}") == container
    assert container.epc == f"https://id.gs1.org/00/{SSCC}"


@pytest.mark.parametrize(
    ("scan", "message"),
    [
        (f"01{GTIN[:-1]}3" + "21A1", "gtin: check digit should be 2, not 3"),
        (f"(01){GTIN[:-1]}7(21)A1", "gtin: check digit should be 2, not 7"),
        (f"https://id.gs1.org/01/{GTIN[:-1]}0/21/A1", "gtin: check digit should be 2, not 0"),
        (f"00{SSCC[:-1]}1", "sscc: check digit should be 8, not 1"),
        (f"https://id.gs1.org/00/{SSCC[:-1]}5", "sscc: check digit should be 8, not 5"),
        ("urn:epc:id:sscc:0614141.1234567890x", "epc: "),
        (f"01{GTIN}172513401012345{GS}21A1", "expiry: 251340 is not a date"),
        (f"01{GTIN}1725023110L{GS}21A1", "expiry: 250231 is not a date"),  # 31 February
        (f"(01){GTIN}(17)251399(21)A1", "expiry: 251399 is not a date"),
        (f"https://id.gs1.org/01/{GTIN}/21/A1?17=2513", "expiry: 2513 is not a date"),
        (f"01{GTIN}21" + "A" * 21, "serial: 21 characters, at most 20"),
        (f"(01){GTIN}(21)" + "A" * 21, "serial: 21 characters, at most 20"),
        (f"https://id.gs1.org/01/{GTIN}/21/" + "A" * 21, "serial: 21 characters, at most 20"),
        (f"01{GTIN}21ab{{c", "serial: '{' is not in GS1's character set 82"),
        (f"01{GTIN}21abé", "serial: 'é' is not in GS1's character set 82"),
        (f"(01){GTIN}(21)a b", "serial: ' ' is not in GS1's character set 82"),
        (f"01{GTIN}10L~T{GS}21A1", "lot: '~' is not in GS1's character set 82"),
        (f"01{GTIN}1727013110ABC", "serial: missing (AI 21): a serialised pack's code carries one"),
        (f"01{GTIN}1727013110ABC2112345", "serial: missing (AI 21): a group separator (GS) is probably missing"),
        (f"01{GTIN}1727013110ABC<G>2112345", "serial: missing (AI 21): a group separator (GS) is probably missing"),
        (f"https://id.gs1.org/01/{GTIN}", "serial: missing"),
        (GTIN, "serial: 09506000134352 is a GTIN alone"),
        ("9506000134352", "serial: 9506000134352 is a GTIN alone"),
        ("", "element string: empty"),
        ("]d2", "element string: empty"),
        ("hello", "element string: "),
        ("(01)", "gtin: 14 digits, not ''"),
        (f"(01){GTIN}(21)A1(21)B2", "element string: (21) appears twice"),
        (f"3712{GS}10L", "element string: neither a GTIN (01) nor an SSCC (00)"),
        ("urn:epc:id:sgtin:0614141.12345.400", "epc: an SGTIN's company prefix and item reference are 13 digits"),
        ("urn:epc:id:sgln:0614141.12345.400", "epc: an SGTIN or SSCC EPC URN"),
        ("https://example.com/about", "element string: not a GS1 Digital Link URI"),
        (f"https://id.g[1.org/01/{GTIN}/21/S1", "element string: not a GS1 Digital Link URI"),
        (f"https://a[b/01/{GTIN}/21/S1", "element string: not a GS1 Digital Link URI"),
    ],
)
def test_a_malformed_scan_is_refused_naming_its_field(scan: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_scan(scan)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("epc", [f"01{GTIN}21A1", f"(01){GTIN}(21)A1", "", 7, None])
def test_an_event_epc_is_a_digital_link_or_an_urn_only(epc: object) -> None:
    with pytest.raises(ValidationError, match=r"^epc: "):
        parse_epc(epc)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "gtin"), [("96385074", "00000096385074"), ("9506000134352", GTIN), (GTIN, GTIN)])
def test_gtin_of_pads_to_14_digits(text: str, gtin: str) -> None:
    assert gtin_of(text) == gtin


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("96385075", "gtin: check digit should be 4, not 5"),
        ("12345", "gtin: 8, 12, 13 or 14 digits"),
        ("0950600013435x", "gtin: 8, 12, 13 or 14 digits"),
        ("٠٩٥٠٦٠٠٠١٣٤٣٥٢", "gtin: 8, 12, 13 or 14 digits"),  # digits, but not ASCII ones
    ],
)
def test_gtin_of_refuses_what_is_no_gtin(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"^{re.escape(message)}"):
        gtin_of(text)


def test_a_pack_made_in_code_is_checked_as_a_scanned_one() -> None:
    with pytest.raises(ValidationError, match=r"^gtin: check digit should be 2, not 1"):
        Pack(GTIN[:-1] + "1", "A1")
    with pytest.raises(ValidationError, match=r"^serial: "):
        Pack(GTIN, "")
    with pytest.raises(ValidationError, match=r"^lot: 21 characters"):
        Pack(GTIN, "A1", lot="L" * 21)
    with pytest.raises(ValidationError, match=r"^sscc: 18 digits"):
        Container("12345")


def test_company_prefix_follows_the_indicator_digit() -> None:
    assert company_prefix_ok(GTIN, "950600")
    assert company_prefix_ok("80614141123458", "0614141")
    assert not company_prefix_ok("80614141123458", "8061414")
    assert not company_prefix_ok(GTIN, "950601")
    with pytest.raises(ValidationError, match=r"^company prefix: "):
        company_prefix_ok(GTIN, "95")


_CSET82 = st.sampled_from("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
# A serial or lot as a scanner sends it: `<GS>` (in any case) is read as the separator, so none spells it.
_VALUES = st.text(_CSET82, min_size=1, max_size=20).filter(lambda value: "<gs>" not in value.lower())
_URLISH = st.builds(
    "{}://{}/{}/{}?{}".format,
    st.sampled_from(["http", "https", "HTTPS"]),
    st.text(max_size=12),
    st.sampled_from(["01", "00", "01/09506000134352/21", "x/01"]),
    st.text(max_size=30),
    st.text(max_size=12),
)
_URNISH = st.builds("urn:epc:id:{}:{}.{}".format, st.sampled_from(["sgtin", "sscc", "sgln"]), st.text(), st.text())
_ELEMENTISH = st.builds(
    str.__add__, st.sampled_from(["01" + GTIN, "]d2", "(01)", "00", "10", "21", GS, "<GS>"]), st.text()
)


@given(text=st.one_of(st.text(), _URLISH, _URNISH, _ELEMENTISH))
def test_whatever_is_typed_is_read_or_refused_as_a_validation_error(text: str) -> None:
    for parse in (parse_scan, parse_epc):
        try:
            parse(text)
        except ValidationError:
            continue


@given(serial=_VALUES, lot=_VALUES)
def test_any_serial_and_lot_survive_the_element_string_and_the_digital_link(serial: str, lot: str) -> None:
    pack = Pack(GTIN, serial, lot, date(2030, 6, 30))
    assert parse_scan(f"01{GTIN}17300630" + f"10{lot}{GS}21{serial}") == pack
    assert parse_epc(pack.epc) == Pack(GTIN, serial)
