"""`Patient/{id}/$everything` a page at a time, and `_count` above the maximum, at zero and malformed.

One node behind a real HTTP server for the module; Dr Bob, of the node's care team, registers a
patient and writes her chart (twenty Observations and nine Conditions, the last four a second
later than the rest, for `_since`), then reads it back page by page as a client would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving


@dataclass
class Chart:
    api: Api
    http: httpx.Client
    patient: str
    types: dict[str, str]  # record id -> resource type, the Patient included
    since: str  # an instant after all but the last four records were written
    late: set[str]  # those four


def _create(http: httpx.Client, body: dict[str, Any]) -> str:
    response = http.post(f"/{body['resourceType']}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _record(kind: str, patient: str, n: int) -> dict[str, Any]:
    subject = {"reference": f"Patient/{patient}"}
    if kind == "Observation":
        return {
            "resourceType": "Observation", "status": "final", "subject": subject,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}, "valueQuantity": {"value": n},
        }  # fmt: skip
    return {"resourceType": "Condition", "subject": subject, "code": {"text": f"condition {n}"}}


def _patient(http: httpx.Client, name: str) -> str:
    return _create(http, {"resourceType": "Patient", "name": [{"family": name}]})


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chart]:
    with built_world(Path(tmp_path_factory.mktemp("everything")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        http = api.client(world.drbob)
        patient = _patient(http, "Paging")
        types = {patient: "Patient"}
        kinds = ["Observation"] * 20 + ["Condition"] * 9
        for n, kind in enumerate(kinds[:-4]):
            types[_create(http, _record(kind, patient, n))] = kind
        boundary = math.ceil(time.time())
        time.sleep(boundary - time.time() + 0.05)
        late = set()
        for n, kind in enumerate(kinds[-4:]):
            record_id = _create(http, _record(kind, patient, 100 + n))
            types[record_id] = kind
            late.add(record_id)
        since = datetime.fromtimestamp(boundary, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield Chart(api, http, patient, types, since, late)
        http.close()


def _pages(http: httpx.Client, url: str, **params: str) -> list[dict[str, Any]]:
    """Every page from `url`, following each `next` link to the end."""
    pages = []
    response = http.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        following = [link["url"] for link in pages[-1]["link"] if link["relation"] == "next"]
        if not following:
            return pages
        response = http.get(following[0])


def _ids(page: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]


def _link(page: dict[str, Any], relation: str) -> str:
    return next(link["url"] for link in page["link"] if link["relation"] == relation)


def test_pages_of_seven_hold_the_whole_chart_once(chart: Chart) -> None:
    pages = _pages(chart.http, f"/Patient/{chart.patient}/$everything", _count="7")
    assert [len(_ids(page)) for page in pages] == [7, 7, 7, 7, 2]
    found = [record_id for page in pages for record_id in _ids(page)]
    assert len(found) == len(set(found))
    assert set(found) == set(chart.types)
    assert {page["total"] for page in pages} == {30}
    assert {page["type"] for page in pages} == {"searchset"}
    assert "_count=7" in _link(pages[0], "self")
    assert found[0] == chart.patient  # written first
    with chart.api.client(chart.api.world.mallory) as mallory:  # a stranger is told what an unknown patient is
        withheld = mallory.get(f"/Patient/{chart.patient}/$everything", params={"_count": "7"})
        unknown = mallory.get("/Patient/no-such-patient/$everything", params={"_count": "7"})
    assert withheld.status_code == unknown.status_code == 404


def test_a_page_is_all_that_is_decrypted_and_audited(chart: Chart) -> None:
    node = chart.api.world.node
    page = chart.http.get(f"/Patient/{chart.patient}/$everything", params={"_count": "7", "_offset": "7"}).json()
    entry = node.audit.entries(agent=chart.api.world.drbob.address)[-1].access
    assert entry.allowed
    assert len(_ids(page)) == 7
    assert sorted(e.split("/")[1] for e in entry.entities) == sorted(_ids(page))


def test_a_record_written_between_pages_makes_no_page_repeat_or_skip(chart: Chart) -> None:
    http = chart.http
    patient = _patient(http, "Concurrent")
    before = {patient} | {_create(http, _record("Observation", patient, n)) for n in range(10)}
    first = http.get(f"/Patient/{patient}/$everything", params={"_count": "4"}).json()
    written = _create(http, _record("Condition", patient, 99))
    found = _ids(first)
    response = http.get(_link(first, "next"))
    while True:
        page = response.json()
        found += _ids(page)
        if not any(link["relation"] == "next" for link in page["link"]):
            break
        response = http.get(_link(page, "next"))
    assert len(found) == len(set(found))
    assert set(found) == before | {written}


def test_type_and_since_narrow_every_page(chart: Chart) -> None:
    url = f"/Patient/{chart.patient}/$everything"
    conditions = {i for i, kind in chart.types.items() if kind == "Condition"}
    pages = _pages(chart.http, url, _type="Condition", _count="4")
    assert [r for page in pages for r in _ids(page)] == sorted(
        conditions, key=[r for r in chart.types if r in conditions].index
    )
    assert all("_type=Condition" in _link(page, "self") for page in pages)
    both = chart.http.get(url, params={"_type": "Condition,Patient"}).json()
    assert set(_ids(both)) == conditions | {chart.patient}
    since = _pages(chart.http, url, _since=chart.since, _count="3")
    assert {r for page in since for r in _ids(page)} == chart.late
    assert since[0]["total"] == 4
    none = chart.http.get(url, params={"_type": "Immunization"}).json()  # she exists: an empty page, not a 404
    assert none["total"] == 0
    assert "entry" not in none or none["entry"] == []


def _ask(chart: Chart, what: str, count: str) -> httpx.Response:
    """`$everything` of the chart's patient, or a search of her Observations, with this `_count`."""
    if what == "everything":
        return chart.http.get(f"/Patient/{chart.patient}/$everything", params={"_count": count})
    return chart.http.get("/Observation", params={"patient": chart.patient, "_count": count})


@pytest.mark.parametrize("what", ["everything", "search"])
def test_a_count_above_the_maximum_is_answered_with_the_maximum_and_said_so(chart: Chart, what: str) -> None:
    response = _ask(chart, what, "100000")
    assert response.status_code == 200
    bundle = response.json()
    assert "_count=500" in _link(bundle, "self")
    assert "_count=100000" not in _link(bundle, "self")
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issue = outcomes[0]["resource"]["issue"][0]
    assert outcomes[0]["resource"]["resourceType"] == "OperationOutcome"
    assert issue["severity"] == "warning"
    assert "100000" in issue["diagnostics"]
    assert "500" in issue["diagnostics"]
    assert len(_ids(bundle)) == bundle["total"] == (30 if what == "everything" else 20)


def test_count_zero_answers_the_total_alone(chart: Chart) -> None:
    for what, total in (("everything", 30), ("search", 20)):
        bundle = _ask(chart, what, "0").json()
        assert bundle["total"] == total
        assert bundle.get("entry", []) == []


@pytest.mark.parametrize("count", ["-1", "seven", "1.5"])
def test_a_negative_or_non_numeric_count_is_400(chart: Chart, count: str) -> None:
    for what in ("everything", "search"):
        response = _ask(chart, what, count)
        assert response.status_code == 400
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "_count" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("offset", ["-3", "-1"])
def test_a_negative_offset_is_400_as_a_negative_count_is(chart: Chart, offset: str) -> None:
    """It was quietly the first page: a client computing offsets wrongly was shown a page it did not ask for."""
    for url, params in (
        (f"/Patient/{chart.patient}/$everything", {}),
        ("/Observation", {"patient": chart.patient}),
        ("/Observation", {"patient": chart.patient, "_summary": "count"}),
    ):
        response = chart.http.get(url, params={**params, "_offset": offset})
        assert response.status_code == 400, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        assert f"_offset must be 0 or more, not '{offset}'" in response.json()["issue"][0]["diagnostics"]


def test_an_unknown_type_or_a_bad_since_is_400(chart: Chart) -> None:
    url = f"/Patient/{chart.patient}/$everything"
    assert chart.http.get(url, params={"_type": "Observation,Foo"}).status_code == 400
    assert chart.http.get(url, params={"_since": "yesterday"}).status_code == 400
