"""The EPCIS event query: each parameter parsed and refused by name, and served by the store on SQLite and
PostgreSQL (filters, stable order, paging with opaque tokens), with the events' anchoring rows."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from careledger.crypto import MerkleTree, verify_proof
from careledger.errors import NotFound, ValidationError
from careledger.store import AnchorBatch, Database, SupplyEvent
from careledger.supplychain import (
    CaptureJob,
    Container,
    EventDigests,
    EventQuery,
    Pack,
    commissioning,
    digest,
    document,
    packing,
    party_uri,
    query_document,
    shipping,
)
from careledger.supplychain._capture import Capturer
from careledger.supplychain._store import NewEvent, SupplyStore

GTIN = "00614141123452"
ME = "0x" + "11" * 20
YOU = "0x" + "22" * 20
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _row(event: dict[str, Any], *, shipment: str | None = None) -> NewEvent:
    """An event as the service would store it (its EPCs in their roles, keys left out)."""
    epcs: list[tuple[str, str, bytes | None]] = [(e, "epc", None) for e in event.get("epcList", ())]
    epcs += [(e, "epc", None) for e in event.get("childEPCs", ())]
    if "parentID" in event:
        epcs.append((event["parentID"], "parent", None))
    if shipment:
        epcs.append((shipment, "desadv", None))
    return NewEvent(
        event_id=event["eventID"],
        event_type=event["type"],
        biz_step=event["bizStep"],
        disposition=event["disposition"],
        event_time=datetime.fromisoformat(event["eventTime"]),
        digest=digest(event),
        signer=ME,
        effect="chain",
        body=event,
        epcs=tuple(epcs),
    )


def _token(after: int) -> str:
    """A page token as this node writes them, of the query with no filters, starting after `after`."""
    return EventQuery().next_token(after)


@pytest.fixture
def store(database: Database) -> SupplyStore:
    """A store holding ten commissionings (one pack each, an hour apart), a packing and a shipping."""
    clock = iter(T0 + timedelta(minutes=i) for i in range(100))
    store = SupplyStore(database, clock=lambda: next(clock))
    packs = [Pack(GTIN, f"Q{i}", "L9", datetime(2030, 1, 1).date()) for i in range(10)]
    me, you = party_uri(1, ME), party_uri(1, YOU)
    events = [commissioning([pack], me, at=T0 + timedelta(hours=i)) for i, pack in enumerate(packs)]
    case = Container("006141410000000012")
    events.append(packing(case, packs[:2], me, at=T0 + timedelta(hours=20)))
    shipment = "5f0c2b1e-8f43-4a53-9d55-0c6b1f7d2a10"
    events.append(shipping([case], me, you, shipment, at=T0 + timedelta(hours=21)))
    for i, event in enumerate(events):
        job = CaptureJob(f"job-{i}", T0, T0, "success", (event["eventID"],))
        store.save(job, [_row(event, shipment=f"urn:uuid:{shipment}" if i == 11 else None)], by=ME)
    return store


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"eventType": "ObjectEvent|Nonsense"}, "eventType: 'Nonsense' is not an event type"),
        ({"GE_eventTime": "yesterday"}, "GE_eventTime: 'yesterday' is not an ISO 8601 date-time"),
        ({"LT_recordTime": "2026-01-01T00:00:00"}, "LT_recordTime: '2026-01-01T00:00:00' has no time zone offset"),
        ({"perPage": "0"}, "perPage: 0 is outside 1..1000"),
        ({"perPage": "1001"}, "perPage: 1001 is outside 1..1000"),
        ({"perPage": "many"}, "perPage: 'many' is not a whole number"),
        ({"nextPageToken": "garbage!"}, "nextPageToken: not a token this node gave"),
        ({"nextPageToken": _token(10**30)}, "nextPageToken: not a token this node gave"),
        ({"nextPageToken": _token(-1)}, "nextPageToken: not a token this node gave"),
        ({"GE_eventTime": "0001-01-01T00:00:00+01:00"}, "GE_eventTime: '0001-01-01T00:00:00+01:00' is not between"),
        ({"LT_eventTime": "9999-12-31T23:59:59-01:00"}, "LT_eventTime: '9999-12-31T23:59:59-01:00' is not between"),
        ({"GE_recordTime": "1200-01-01T00:00:00Z"}, "GE_recordTime: '1200-01-01T00:00:00Z' is not between 1900"),
        ({"GE_eventTime": "2026-12-07T06:00:00 01:00"}, "(a + in a URL reads as a space: encode it as %2B)"),
        ({"MATCH_epc": "urn:epc:idpat:sgtin:0614141.112345.*"}, "MATCH_epc: EPC patterns"),
        ({"EQ_bizStep": "shipping||receiving"}, "EQ_bizStep: an empty value"),
        ({"orderBy": "eventTime"}, "orderBy: not a query parameter this node serves"),
    ],
)
def test_bad_parameters_are_refused_by_name(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        EventQuery.parse(params)


def test_parameters_parse_in_every_form() -> None:
    query = EventQuery.parse(
        [
            ("eventType", "ObjectEvent|AggregationEvent"),
            ("EQ_bizStep", "https://ref.gs1.org/cbv/BizStep-shipping"),
            ("EQ_bizStep", "urn:epcglobal:cbv:bizstep:receiving"),
            ("EQ_disposition", "in_transit"),
            ("GE_eventTime", "2026-03-01T13:00:00+01:00"),
            ("MATCH_epc", "urn:epc:id:sgtin:0614141.012345.Q1"),
            ("perPage", "5"),
        ]
    )
    assert query.event_types == ("ObjectEvent", "AggregationEvent")
    assert query.biz_steps == ("shipping", "receiving")
    assert query.ge_event_time == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert query.match_epc == (f"https://id.gs1.org/01/{GTIN}/21/Q1",)  # the URN found as its Digital Link
    assert query.per_page == 5


def _ids(store: SupplyStore, params: dict[str, str]) -> list[str]:
    return [event["eventID"] for event in store.page(EventQuery.parse(params)).events]


def test_each_filter(store: SupplyStore) -> None:
    everything = _ids(store, {"perPage": "1000"})
    assert len(everything) == 12
    assert len(_ids(store, {"eventType": "AggregationEvent"})) == 1
    assert _ids(store, {"EQ_bizStep": "shipping"}) == everything[11:]
    assert _ids(store, {"EQ_disposition": "in_progress"}) == everything[10:11]
    assert (
        _ids(store, {"GE_eventTime": "2026-03-01T15:00:00Z", "LT_eventTime": "2026-03-01T17:00:00Z"})
        == (everything[3:5])
    )
    assert (
        _ids(store, {"GE_recordTime": "2026-03-01T12:02:00Z", "LT_recordTime": "2026-03-01T12:04:00Z"})
        == (everything[2:4])
    )
    pack = f"https://id.gs1.org/01/{GTIN}/21/Q1"
    assert _ids(store, {"MATCH_epc": pack}) == [everything[1], everything[10]]  # commissioned, then packed
    case = "urn:epc:id:sscc:0614141.0000000001"
    assert _ids(store, {"MATCH_epc": case}) == everything[11:]  # shipped, in the shipping's epcList
    assert _ids(store, {"MATCH_parentID": case}) == everything[10:11]
    assert _ids(store, {"MATCH_anyEPC": case}) == everything[10:]
    assert _ids(store, {"EQ_eventID": f"{everything[0]}|{everything[5]}"}) == [everything[0], everything[5]]
    assert _ids(store, {"EQ_bizStep": "receiving"}) == []


def test_pages_follow_one_another_with_opaque_tokens(store: SupplyStore) -> None:
    everything = _ids(store, {"perPage": "1000"})
    seen, params = [], {"perPage": "5", "eventType": "ObjectEvent|AggregationEvent"}
    while True:
        page = store.page(EventQuery.parse(params))
        seen += [event["eventID"] for event in page.events]
        if page.next_page_token is None:
            break
        params = {**params, "nextPageToken": page.next_page_token}
    assert seen == everything
    first = store.page(EventQuery.parse({"perPage": "5"}))
    assert first.next_page_token is not None
    with pytest.raises(ValidationError, match="nextPageToken: not a token of this query"):
        EventQuery.parse({"EQ_bizStep": "shipping", "nextPageToken": first.next_page_token})


def test_events_jobs_and_shipments_are_read_back(store: SupplyStore) -> None:
    first = store.page(EventQuery(per_page=1)).events[0]
    assert first["recordTime"] == "2026-03-01T12:00:00.000Z"  # served with the time it was recorded here
    assert {**store.event(first["eventID"]).body, "recordTime": first["recordTime"]} == first
    with pytest.raises(NotFound):
        store.event("urn:uuid:nothing")
    assert store.job("job-3").event_ids != ()
    assert [job.id for job in store.jobs(limit=2)] == ["job-11", "job-10"]
    with pytest.raises(NotFound):
        store.job("nope")
    (shipped,) = store.shipment("urn:uuid:5f0c2b1e-8f43-4a53-9d55-0c6b1f7d2a10")
    assert shipped.body["bizStep"] == "shipping"
    document = query_document([first])
    assert document["type"] == "EPCISQueryDocument"
    assert document["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == [first]


def test_events_wait_for_their_anchor_in_merkle_batches(store: SupplyStore, database: Database) -> None:
    source = EventDigests()
    with database.reading() as connection:
        assert source.waiting(connection)[0] == 12
        taken = source.take(connection, 5)
    assert taken is not None
    assert taken.leaf_count == 5
    with database.session() as session:
        batch = AnchorBatch(
            root=taken.root, leaf_count=5, kind=1, chain_id=1, status="anchored", created_at=T0, anchored_at=T0
        )
        session.add(batch)
        session.flush()
        taken.assign(session, batch.id)
    with database.reading() as connection:
        assert source.waiting(connection)[0] == 7
        digests = [bytes(d) for (d,) in connection.execute(select(SupplyEvent.digest).order_by(SupplyEvent.seq))]
    assert MerkleTree(digests[:5]).root == taken.root
    anchored = store.event(store.page(EventQuery(per_page=3)).events[2]["eventID"])
    assert anchored.anchor is not None
    assert anchored.anchor.anchored
    assert anchored.anchor.leaf_index == 2
    assert verify_proof(anchored.anchor.siblings, taken.root, anchored.digest)
    assert anchored.anchor.root == taken.root
    waiting = store.event(store.page(EventQuery(per_page=12)).events[-1]["eventID"])
    assert waiting.anchor is None
    json.dumps(store.page(EventQuery()).events)


def test_the_widest_values_fit_and_wider_ones_never_reach_the_database(store: SupplyStore) -> None:
    """PostgreSQL holds 255 characters an eventID or EPC and refuses more (SQLite would not): a capture refuses
    more before anything is sent or stored."""
    event = commissioning([Pack(GTIN, "W1", "L9", datetime(2030, 1, 1).date())], party_uri(1, ME), at=T0)
    widest = {**event, "eventID": "urn:uuid:" + "w" * 246, "epcList": ["urn:example:" + "e" * 243]}
    store.save(CaptureJob("job-widest", T0, T0, "success", (widest["eventID"],)), [_row(widest)], by=ME)
    assert store.event(widest["eventID"]).body["epcList"] == widest["epcList"]

    def unused() -> Any:
        raise AssertionError("nothing is signed or sent for a document refused as it is received")

    capturer = Capturer(store, lambda *entry: None, unused, unused, node=ME, chain_id=1)
    wider = {**event, "eventID": "urn:uuid:" + "w" * 291}
    with pytest.raises(ValidationError, match=r"^epcisBody/eventList/0/eventID: 300 characters, at most 255$"):
        capturer.capture(document([wider]), ME, "supply.capture", None)
    with pytest.raises(NotFound):
        store.event(wider["eventID"])
