"""EPCIS 2.0 events: GS1's schema decides what is an event, the actor's key decides who made it."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from careledger.errors import InvalidSignature, ValidationError
from careledger.supplychain import (
    PARTY,
    SIGNATURE,
    SIGNER,
    Container,
    EpcisEvent,
    Pack,
    bare,
    biz_step,
    biz_transaction_type,
    commissioning,
    decommissioning,
    destroying,
    digest,
    dispensing,
    disposition,
    document,
    packing,
    party_address,
    party_uri,
    receiving,
    shipping,
    sign_event,
    signer_of,
    source_destination_type,
    unpacking,
    validate_document,
)
from careledger.supplychain._epcis import event_pointer, instant

EXAMPLES = Path(__file__).parents[1] / "testdata" / "epcis"
CHAIN_ID = 31337
CONTRACT = "0x" + "5c" * 20
GTIN = "09506000134352"
PACKS = [Pack(GTIN, f"S{i}", "L1", date(2027, 1, 31)) for i in range(3)]
CASE = Container("106141412345678908")
MAKER = party_uri(CHAIN_ID, "0x" + "aa" * 20)
SHOP = party_uri(CHAIN_ID, "0x" + "bb" * 20)
SHIPMENT = str(uuid.uuid4())


def _example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return body


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*.jsonld")))
def test_every_published_gs1_example_validates(name: str) -> None:
    body = _example(name)
    assert validate_document(body) == body["epcisBody"]["eventList"]


def test_the_examples_are_those_gs1_published() -> None:
    assert len(list(EXAMPLES.glob("*.jsonld"))) >= 8
    assert "urn:epc:id:sgtin:0614141.107346.2017" in (EXAMPLES / "Example_9.6.1-ObjectEvent.jsonld").read_text()


def _broken(path: list[str | int], value: Any) -> dict[str, Any]:
    body = _example("Example_9.6.1-ObjectEvent.jsonld")
    *parents, last = path
    holder: Any = body
    for step in parents:
        holder = holder[step]
    if value is None:
        del holder[last]
    else:
        holder[last] = value
    return body


EVENT = ["epcisBody", "eventList", 1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_broken([*EVENT, "action"], "ADDX"), "epcisBody/eventList/1/action: 'ADDX' is not one of"),
        (_broken([*EVENT, "bizStep"], "shipped"), "epcisBody/eventList/1/bizStep: 'shipped' is not valid"),
        # EPCIS 1.x URNs are not CBV values in EPCIS 2.0 JSON: GS1's schema refuses them.
        (_broken([*EVENT, "bizStep"], "urn:epcglobal:cbv:bizstep:shipping"), "epcisBody/eventList/1/bizStep: "),
        (_broken([*EVENT, "disposition"], 7), "epcisBody/eventList/1/disposition: 7 is not valid"),
        (
            _broken([*EVENT, "eventTime"], "yesterday"),
            "epcisBody/eventList/1/eventTime: 'yesterday' is not a 'date-time'",
        ),
        (_broken([*EVENT, "eventTimeZoneOffset"], None), "epcisBody/eventList/1: 'eventTimeZoneOffset' is a required"),
        (_broken([*EVENT, "epcList"], ["not a uri"]), "epcisBody/eventList/1/epcList/0: 'not a uri' is not a 'uri'"),
        (_broken([*EVENT, "shoe size"], 42), "epcisBody/eventList/1: 'shoe size' is not valid"),
        (_broken(["schemaVersion"], None), "(document): 'schemaVersion' is a required property"),
        (_broken(["epcisBody", "eventList"], {}), "epcisBody/eventList: {} is not of type 'array'"),
        (_broken(["type"], "EPCISQueryDocument"), "epcisBody: 'queryResults' is a required property"),
        (_broken(["type"], "EPCISQuery"), "type: an EPCISDocument, an EPCISQueryDocument or an EPCIS event"),
        (_broken(["type"], None), "type: an EPCISDocument, an EPCISQueryDocument or an EPCIS event"),
        ([], "EPCIS document: a JSON object, not list"),
        ("{}", "EPCIS document: a JSON object, not str"),
    ],
)
def test_a_broken_document_is_refused_naming_the_json_pointer(body: object, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_document(body)
    assert str(refused.value).startswith(message)
    assert len(str(refused.value)) < 400


def test_a_query_document_is_read_as_the_capture_interface_takes_it() -> None:
    """A query's answer, captured as it came (EPCIS 2.0's capture takes both kinds of document)."""
    events = _example("Example_9.6.1-ObjectEvent.jsonld")["epcisBody"]["eventList"]
    answer = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T12:00:00Z",
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}},
    }
    assert validate_document(answer) == events
    assert event_pointer(answer, 3) == "epcisBody/queryResults/resultsBody/eventList/3/"
    assert event_pointer(_example("Example_9.6.1-ObjectEvent.jsonld"), 0) == "epcisBody/eventList/0/"
    assert event_pointer(events[0], 0) == ""
    broken = copy.deepcopy(answer)
    broken["epcisBody"]["queryResults"]["resultsBody"]["eventList"][1]["action"] = "ADDX"
    with pytest.raises(ValidationError, match=r"^epcisBody/queryResults/resultsBody/eventList/1/action: "):
        validate_document(broken)


@pytest.mark.parametrize(
    ("value", "name", "message"),
    [
        ("2026-03-01T13:00:00+01:00", "eventTime", None),
        ("0001-01-01T00:00:00+01:00", "eventTime", "eventTime: '0001-01-01T00:00:00+01:00' is not between 1900"),
        ("9999-12-31T23:59:59-01:00", "x/eventTime", "x/eventTime: '9999-12-31T23:59:59-01:00' is not between"),
        ("2026-03-01T13:00:00", "eventTime", "eventTime: '2026-03-01T13:00:00' has no time zone offset"),
        ("soon", "eventTime", "eventTime: 'soon' is not an ISO 8601 date-time"),
        (None, "eventTime", "eventTime: a NoneType is not an ISO 8601 date-time"),
    ],
)
def test_an_instant_is_a_time_with_its_offset_in_the_years_a_pack_lives(
    value: object, name: str, message: str | None
) -> None:
    if message is None:
        assert instant(name, value) == datetime(2026, 3, 1, 12, tzinfo=UTC)
        return
    with pytest.raises(ValidationError) as refused:
        instant(name, value)
    assert str(refused.value).startswith(message)


def test_a_lone_event_validates_with_its_context_and_not_without() -> None:
    event = _example("Example_9.6.1-ObjectEvent.jsonld")["epcisBody"]["eventList"][0]
    alone = {"@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", **event}
    assert validate_document(alone) == [alone]
    with pytest.raises(ValidationError, match="'@context' is a required property"):
        validate_document(event)


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("shipping", "shipping"),
        ("https://ref.gs1.org/cbv/BizStep-shipping", "shipping"),
        ("cbv:BizStep-shipping", "shipping"),
        ("https://gs1.org/voc/BizStep-shipping", "shipping"),
        ("urn:epcglobal:cbv:bizstep:shipping", "shipping"),
        ("https://ref.gs1.org/cbv/Disp-in_transit", "in_transit"),
        ("urn:epcglobal:cbv:disp:in_transit", "in_transit"),
        ("urn:epcglobal:cbv:btt:desadv", "desadv"),
        ("https://ref.gs1.org/cbv/SDT-owning_party", "owning_party"),
        (
            "http://epcis.example.org/hc/bizstep/summarising_discharge",
            "http://epcis.example.org/hc/bizstep/summarising_discharge",
        ),
    ],
)
def test_cbv_values_read_as_bare_words_whatever_their_form(value: str, word: str) -> None:
    assert bare(value) == word


def test_each_vocabulary_reads_its_own_forms_only() -> None:
    assert biz_step("urn:epcglobal:cbv:bizstep:receiving") == "receiving"
    assert biz_step("urn:epcglobal:cbv:disp:in_transit") == "urn:epcglobal:cbv:disp:in_transit"
    assert disposition("https://ref.gs1.org/cbv/Disp-recalled") == "recalled"
    assert disposition("https://ref.gs1.org/cbv/BizStep-shipping") == "https://ref.gs1.org/cbv/BizStep-shipping"
    assert biz_transaction_type("https://ref.gs1.org/cbv/BTT-po") == "po"
    assert source_destination_type("urn:epcglobal:cbv:sdt:possessing_party") == "possessing_party"


def test_a_business_step_as_its_cbv_uri_validates() -> None:
    body = _broken([*EVENT, "bizStep"], "https://ref.gs1.org/cbv/BizStep-receiving")
    assert validate_document(body)[1]["bizStep"] == "https://ref.gs1.org/cbv/BizStep-receiving"


def _built() -> list[dict[str, Any]]:
    at = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    return [
        commissioning(PACKS, MAKER, at=at, read_point="urn:epc:id:sgln:0614141.00777.0"),
        packing(CASE, PACKS, MAKER),
        unpacking(CASE, PACKS[:1], SHOP, biz_location="urn:epc:id:sgln:0614141.00888.0"),
        shipping([CASE, PACKS[0]], MAKER, SHOP, SHIPMENT),
        receiving([CASE, PACKS[0]], MAKER, SHOP, SHIPMENT),
        dispensing(PACKS[0], SHOP),
        decommissioning(PACKS[1:2], SHOP),
        destroying(PACKS[2:], SHOP),
    ]


def test_the_node_s_own_events_validate_against_gs1_s_schema() -> None:
    events = _built()
    assert validate_document(document(events)) == events
    for event in events:
        assert event["eventID"].startswith("urn:uuid:")
        alone = {"@context": document([])["@context"], **event}
        assert validate_document(alone) == [alone]
    assert [(e["type"], e["action"], e["bizStep"], e["disposition"]) for e in events] == [
        ("ObjectEvent", "ADD", "commissioning", "active"),
        ("AggregationEvent", "ADD", "packing", "in_progress"),
        ("AggregationEvent", "DELETE", "unpacking", "in_progress"),
        ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
        ("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
        ("ObjectEvent", "OBSERVE", "dispensing", "dispensed"),
        ("ObjectEvent", "DELETE", "decommissioning", "inactive"),
        ("ObjectEvent", "DELETE", "destroying", "destroyed"),
    ]


def test_each_builder_writes_what_gs1_and_the_chain_read() -> None:
    made, packed, unpacked, shipped, received, dispensed, *_ = _built()
    assert made["epcList"] == [pack.epc for pack in PACKS]
    assert made["ilmd"] == {"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2027-01-31"}
    assert made["eventTime"] == "2026-03-01T09:30:00.000-05:00"
    assert made["eventTimeZoneOffset"] == "-05:00"
    assert made["readPoint"] == {"id": "urn:epc:id:sgln:0614141.00777.0"}
    assert "bizLocation" not in made
    assert "readPoint" not in packed
    assert unpacked["bizLocation"] == {"id": "urn:epc:id:sgln:0614141.00888.0"}
    assert (packed["parentID"], packed["childEPCs"]) == (CASE.epc, [pack.epc for pack in PACKS])
    assert made[PARTY] == packed[PARTY] == MAKER
    for moved in (shipped, received):
        assert moved["sourceList"] == [{"type": "owning_party", "source": MAKER}]
        assert moved["destinationList"] == [{"type": "owning_party", "destination": SHOP}]
        assert moved["bizTransactionList"] == [{"type": "desadv", "bizTransaction": f"urn:uuid:{SHIPMENT}"}]
        assert moved["epcList"] == [CASE.epc, PACKS[0].epc]
    assert dispensed["epcList"] == [PACKS[0].epc]
    assert set(dispensed) == {
        "type", "eventID", "eventTime", "eventTimeZoneOffset", "action", "epcList", "bizStep", "disposition", PARTY,
    }  # fmt: skip


def test_an_event_the_node_builds_now_carries_the_current_time() -> None:
    before = datetime.now(UTC)
    event = dispensing(PACKS[0], SHOP)
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(event["eventTime"]) <= datetime.now(UTC)
    assert event["eventTimeZoneOffset"] == "+00:00"
    assert event["eventID"] != dispensing(PACKS[0], SHOP)["eventID"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: commissioning([], MAKER), "packs: none given"),
        (
            lambda: commissioning([PACKS[0], Pack(GTIN, "S9", "L2", date(2027, 1, 31))], MAKER),
            "packs: one commissioning",
        ),
        (
            lambda: commissioning([PACKS[0], PACKS[0]], MAKER),
            "packs: https://id.gs1.org/01/09506000134352/21/S0 appears",
        ),
        (lambda: packing(CASE, [CASE, PACKS[0]], MAKER), "children: a container does not hold itself"),
        (lambda: packing(CASE, [], MAKER), "children: none given"),
        (lambda: dispensing(PACKS[0], "0x" + "bb" * 20), "party: did:pkh:eip155"),
        (lambda: dispensing(PACKS[0], "Jane Doe"), "party: did:pkh:eip155"),
        (lambda: shipping([CASE], MAKER, MAKER, SHIPMENT), "destination: a shipment goes to another party"),
        (lambda: shipping([CASE], MAKER, SHOP, "12"), "shipment: a UUID"),
        (lambda: receiving([CASE], "did:web:shop", SHOP, SHIPMENT), "party: "),
        (lambda: dispensing(PACKS[0], SHOP, at=datetime(2026, 1, 1)), "at: a time with its zone"),
    ],
)
def test_a_builder_refuses_what_would_make_a_wrong_event(build: Any, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        build()
    assert str(refused.value).startswith(message)


def test_party_uri_is_a_caip10_did_of_the_checksummed_address() -> None:
    address = Account.create().address
    uri = party_uri(CHAIN_ID, address.lower())
    assert uri == f"did:pkh:eip155:{CHAIN_ID}:{address}"
    assert party_address(uri) == (CHAIN_ID, address)
    with pytest.raises(ValidationError, match=r"^party: "):
        party_uri(CHAIN_ID, "0x12")


def test_the_digest_is_stable_under_key_order_and_covers_every_member() -> None:
    event = _example("object_event_all_possible_fields.jsonld")["epcisBody"]["eventList"][0]
    shuffled = json.loads(json.dumps(event, sort_keys=True))
    reversed_keys = dict(reversed(list(event.items())))
    assert digest(event) == digest(shuffled) == digest(reversed_keys)
    assert len(digest(event)) == 32
    changed = copy.deepcopy(event)
    changed["epcList"] = [*changed["epcList"], "urn:epc:id:sgtin:0614141.107346.9999"]
    assert digest(changed) != digest(event)
    served = {**event, "recordTime": "2026-01-01T00:00:00Z", "@context": ["x"], SIGNER: "0x", SIGNATURE: "0x"}
    assert digest(served) == digest(event)


def test_the_digest_is_the_sha256_of_rfc8785_json() -> None:
    import hashlib

    import rfc8785

    event = {"b": [1.5, "é", None], "a": {"y": True, "x": 10**15}, SIGNATURE: "0x00"}
    assert digest(event) == hashlib.sha256(rfc8785.dumps({"a": event["a"], "b": event["b"]})).digest()


@pytest.fixture
def actor() -> LocalAccount:
    account: LocalAccount = Account.create()
    return account


def test_a_signed_event_names_its_signer_and_still_validates(actor: LocalAccount) -> None:
    signed = [sign_event(event, actor, CHAIN_ID, CONTRACT) for event in _built()]
    assert validate_document(document(signed)) == signed
    for event in signed:
        assert event[SIGNER] == actor.address
        assert len(bytes.fromhex(event[SIGNATURE][2:])) == 65
        assert signer_of(event, CHAIN_ID, CONTRACT) == actor.address


def test_the_signature_is_eip712_over_event_id_step_and_digest(actor: LocalAccount) -> None:
    event = sign_event(_built()[3], actor, CHAIN_ID, CONTRACT)
    typed = EpcisEvent.of(event).typed_data(CHAIN_ID, CONTRACT)
    assert typed["types"]["EpcisEvent"] == [
        {"name": "eventId", "type": "string"},
        {"name": "bizStep", "type": "string"},
        {"name": "digest", "type": "bytes32"},
    ]
    assert typed["domain"]["name"] == "CareLedger SupplyChain"
    assert typed["domain"]["verifyingContract"].lower() == CONTRACT
    assert typed["message"] == {
        "eventId": event["eventID"],
        "bizStep": "shipping",
        "digest": "0x" + digest(event).hex(),
    }
    signed = encode_typed_data(full_message=typed)
    assert Account.recover_message(signed, signature=bytes.fromhex(event[SIGNATURE][2:])) == actor.address


def test_a_step_in_its_uri_form_signs_as_its_bare_word(actor: LocalAccount) -> None:
    event = {**_built()[3], "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping"}
    assert EpcisEvent.of(event).biz_step == "shipping"
    assert signer_of(sign_event(event, actor, CHAIN_ID, CONTRACT), CHAIN_ID, CONTRACT) == actor.address


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: e.update(epcList=[PACKS[2].epc]),
        lambda e: e.update(destinationList=[{"type": "owning_party", "destination": MAKER}]),
        lambda e: e.update(eventID=f"urn:uuid:{uuid.uuid4()}"),
        lambda e: e.update(bizStep="receiving"),
        lambda e: e.update({"example:note": "added later"}),
        lambda e: e.update({SIGNER: Account.create().address}),  # someone else claims it
        lambda e: e.update({SIGNATURE: e[SIGNATURE][:-2] + ("1c" if e[SIGNATURE].endswith("1b") else "1b")}),
    ],
)
def test_a_tampered_or_forged_event_is_refused(actor: LocalAccount, tamper: Any) -> None:
    event = sign_event(_built()[3], actor, CHAIN_ID, CONTRACT)
    tamper(event)
    with pytest.raises(InvalidSignature):
        signer_of(event, CHAIN_ID, CONTRACT)


def test_a_signature_holds_for_its_chain_and_contract_only(actor: LocalAccount) -> None:
    event = sign_event(_built()[5], actor, CHAIN_ID, CONTRACT)
    with pytest.raises(InvalidSignature):
        signer_of(event, CHAIN_ID + 1, CONTRACT)
    with pytest.raises(InvalidSignature):
        signer_of(event, CHAIN_ID, "0x" + "5d" * 20)


def test_a_forger_signing_in_another_s_name_is_refused(actor: LocalAccount) -> None:
    forger: LocalAccount = Account.create()
    forged = {**sign_event(_built()[5], forger, CHAIN_ID, CONTRACT), SIGNER: actor.address}
    with pytest.raises(InvalidSignature, match=f"signed by {forger.address}, not by {actor.address}"):
        signer_of(forged, CHAIN_ID, CONTRACT)


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({}, InvalidSignature),
        ({SIGNER: "0x" + "aa" * 20}, InvalidSignature),
        ({SIGNER: "0x" + "aa" * 20, SIGNATURE: "0x1234"}, InvalidSignature),
        ({SIGNER: "0x" + "aa" * 20, SIGNATURE: "0x" + "00" * 65}, InvalidSignature),
        ({SIGNER: "me", SIGNATURE: "0x" + "11" * 65}, InvalidSignature),
    ],
)
def test_an_unsigned_or_malformed_signature_is_refused(members: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        signer_of({**_built()[5], **members}, CHAIN_ID, CONTRACT)


def test_an_event_without_an_id_cannot_be_signed(actor: LocalAccount) -> None:
    event = {key: value for key, value in _built()[5].items() if key != "eventID"}
    with pytest.raises(ValidationError, match=r"^eventID: "):
        sign_event(event, actor, CHAIN_ID, CONTRACT)
