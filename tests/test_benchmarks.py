"""The benchmarks' plain FHIR server, the baseline of the EHR journey (a short run, not a measurement)."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from benchmarks import PG_SERVER, baseline_server, bench_supply, fresh_database
from benchmarks.bench_ehr import _journeys, _procedure
from benchmarks.bench_telehealth import _plain_creates

from careledger.access import wallet_reference
from careledger.api import free_port
from careledger.claims import ServiceClass
from careledger.telehealth import Offer, Opening, VisitMode, proposal

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def plain() -> Iterator[str]:
    try:
        psycopg.connect(PG_SERVER, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER}: {exc}")
    with fresh_database() as url, baseline_server(url, free_port()) as server:
        yield server


def test_journey_runs_against_the_plain_server(plain: str) -> None:
    rate, latencies = asyncio.run(_journeys(plain, "none", users=2, seconds=0.5))
    assert rate > 0
    assert latencies
    assert len(latencies) % 15 == 0  # whole journeys, each with its searches' counts checked


def test_plain_server_refuses_what_a_fhir_server_refuses(plain: str) -> None:
    subject = {"reference": "Patient/p1"}
    assert httpx.post(f"{plain}/Procedure", json=_procedure(subject, "e1")).status_code == 201
    assert httpx.post(f"{plain}/Encounter", json=_procedure(subject, "e1")).status_code == 400
    assert httpx.post(f"{plain}/Procedure", json={**_procedure(subject, "e1"), "status": 7}).status_code == 400
    assert httpx.get(f"{plain}/Procedure/unknown").status_code == 404


def test_telehealth_baselines_take_what_careledger_books_and_sends(plain: str) -> None:
    # bench_telehealth posts CareLedger's own answers to the plain server: a booked Appointment, a message.
    schedule = {**Offer("dr-ng", ServiceClass.TELEHEALTH, VisitMode.VIRTUAL).resource(), "id": "schedule-1"}
    slot = {
        "resourceType": "Slot",
        "id": "slot-1",
        "schedule": {"reference": "Schedule/schedule-1"},
        "status": "free",
        "serviceType": schedule["serviceType"],
        "start": "2026-12-07T08:00:00Z",
        "end": "2026-12-07T08:05:00Z",
    }
    booked = {**proposal(Opening(slot, schedule), "p1", status="booked"), "id": "a1", "meta": {"versionId": "1"}}
    patient = {"reference": "Patient/p1"}
    message = {
        "resourceType": "Communication",
        "id": "m1",
        "status": "completed",
        "subject": patient,
        "sender": patient,
        "recipient": [wallet_reference("Practitioner", "0x" + "ab" * 20, 31337)],
        "payload": [{"contentString": "my rash is back"}],
    }
    for resource in (booked, message):
        run = _plain_creates(plain, [resource], 4, clients=2)
        assert len(run.latencies) == 4
        assert run.rate > 0


def test_the_supply_benchmark_reports_each_figure_beside_its_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    # A smoke size: every part runs (~30 s here, most of it starting `careledger serve` and the plain server).
    for name, value in (("PACKS", 8), ("CASES", 2), ("EVENTS", 6), ("VERIFIES", 6)):
        monkeypatch.setattr(bench_supply, name, value)
    results = {r.name: r for r in bench_supply.bench_supply()}
    for name in (
        "EPCIS capture: GS1-example-style observations",
        "EPCIS capture: another party's signed events",
        "EPCIS capture: the node's own custody events",
        "beside them: FHIR create through the door",
        "verify at dispense p95 (POST /supply/verify)",
        "beside it: POST /Observation p95, same server",
        "gas per pack: commission",
        "gas per pack: decommission (a dispense)",
        "anchor gas per event digest",
        "beside it: anchor gas per FHIR record",
    ):
        assert math.isfinite(results[name].value), name
        assert results[name].value > 0, name
    assert results["gas per pack: commission, one pack an event"].value > results["gas per pack: commission"].value
    assert "6 events" in results["EPCIS capture: the node's own custody events"].conditions
