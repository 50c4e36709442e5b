"""From the journal to the chart: readings become the patient's Observations once, through the guarded door."""

from __future__ import annotations

import time

import pytest
from fhir.resources.R4B.observation import Observation

from careledger.consent import Purpose
from careledger.iot import Reading, ReadingRecorder
from careledger.records import Category, StoredRecord
from tests.iot.conftest import Ward, device_key

HOUR = 3600.0


def _recorder(ward: Ward, summary_seconds: float | None) -> ReadingRecorder:
    return ReadingRecorder(ward.node.db, ward.node.access, ward.node._readings_key, summary_seconds=summary_seconds)


@pytest.fixture(autouse=True)
def _empty_journal(ward: Ward) -> None:
    _recorder(ward, None).record_ready()


def _observations(ward: Ward) -> dict[str, StoredRecord]:
    return {
        s.record_id: s for s in ward.node._records.list(resource_type="Observation", patient_address=ward.alice.address)
    }


def test_every_reading_becomes_an_observation_written_by_the_device(ward: Ward) -> None:
    before = _observations(ward)
    ward.node.intake.accept(ward.frame(ward.readings(61, 62)))
    assert _recorder(ward, None).record_ready() == 2
    new = [ward.node._records.read(i) for i in _observations(ward).keys() - before.keys()]
    assert sorted(o["valueQuantity"]["value"] for o in new) == [61, 62]
    for observation in new:
        Observation.model_validate(observation)
        assert observation["subject"] == {"reference": f"Patient/{ward.watch.patient_record}"}
        assert observation["device"] == {"reference": f"Device/{ward.watch.device_record}"}
        assert observation["category"][0]["coding"][0]["code"] == "vital-signs"
    write = ward.node.audit.entries()[-1].access
    assert (write.agent, write.patient, write.interaction) == (ward.watch.address, ward.alice.address, "create")
    assert _recorder(ward, None).pending() == 0


def test_a_blood_pressure_reading_has_its_components(ward: Ward) -> None:
    ward.sequence += 1
    reading = Reading(ward.sequence, int(time.time() * 1000), "85354-9", ((128.0, "mm[Hg]"), (84.0, "mm[Hg]")))
    before = _observations(ward)
    ward.node.intake.accept(ward.frame([reading]))
    _recorder(ward, None).record_ready()
    (new,) = [ward.node._records.read(i) for i in _observations(ward).keys() - before.keys()]
    Observation.model_validate(new)
    assert [c["code"]["coding"][0]["code"] for c in new["component"]] == ["8480-6", "8462-4"]
    assert [c["valueQuantity"]["value"] for c in new["component"]] == [128, 84]


def test_a_finished_interval_becomes_one_summary_and_an_open_one_waits(ward: Ward) -> None:
    recorder = _recorder(ward, HOUR)
    earlier = time.time() - 2 * HOUR
    start = earlier - earlier % HOUR  # readings inside a whole hour that ended at least an hour ago
    before = _observations(ward)
    ward.node.intake.accept(ward.frame(ward.readings(70, 72, 74, at=start + 100)))
    ward.node.intake.accept(ward.frame(ward.readings(76, at=start + 200)))
    ward.node.intake.accept(ward.frame(ward.readings(90)))  # this hour: not over yet
    assert recorder.record_ready() == 1
    (summary,) = [ward.node._records.read(i) for i in _observations(ward).keys() - before.keys()]
    Observation.model_validate(summary)
    assert summary["valueSampledData"]["data"] == "70 72 74 76"
    assert summary["valueSampledData"]["origin"]["code"] == "/min"
    assert recorder.pending() == 1


def test_a_batch_arriving_after_its_interval_was_summarised_is_a_summary_of_its_own(ward: Ward) -> None:
    recorder = _recorder(ward, HOUR)
    start = time.time() - 3 * HOUR
    start -= start % HOUR
    before = _observations(ward)
    ward.node.intake.accept(ward.frame(ward.readings(70, 71, at=start + 10)))
    recorder.record_ready()
    ward.node.intake.accept(ward.frame(ward.readings(72, at=start + 20)))
    recorder.record_ready()
    new = _observations(ward).keys() - before.keys()
    assert len(new) == 2
    assert sorted(ward.node._records.read(i)["valueSampledData"]["data"] for i in new) == ["70 71", "72"]
    assert all(_observations(ward)[i].version == 1 for i in new)


def test_a_failure_while_storing_keeps_the_journal_and_stores_once_later(
    ward: Ward, monkeypatch: pytest.MonkeyPatch
) -> None:
    ward.node.intake.accept(ward.frame(ward.readings(66, 67)))
    before = _observations(ward)
    recorder = _recorder(ward, None)

    def fail(name: str) -> None:
        if name == "record-rows-written":
            raise RuntimeError("power cut")

    monkeypatch.setattr("careledger.records._service.crash_point", fail)
    with pytest.raises(RuntimeError):
        recorder.record_ready()
    assert _observations(ward).keys() == before.keys()
    assert recorder.pending() == 1
    monkeypatch.undo()
    assert recorder.record_ready() == 2
    assert recorder.record_ready() == 0
    assert len(_observations(ward).keys() - before.keys()) == 2


def test_readings_taken_before_a_revocation_are_not_stored_after_it(ward: Ward) -> None:
    clip = ward.node.devices.register("clip", "pw")
    terms = ward.node.consent.terms(ward.alice.address, clip.address, [Category.VITALS], [Purpose.TREAT], days=1)
    grant = ward.node.consent.grant("alice", terms)
    ward.node.devices.bind("clip", grant)
    assert ward.node.intake.accept(ward.frame(ward.readings(70), key=device_key(ward.node, clip))).accepted == 1
    ward.node.consent.revoke("alice", grant.grant_id)
    ward.node.consent.sync()
    before = _observations(ward)
    assert _recorder(ward, None).record_ready() == 0
    assert _observations(ward).keys() == before.keys()
    assert _recorder(ward, None).pending() == 0
    denial = ward.node.audit.entries()[-1].access
    assert (denial.allowed, denial.agent, denial.patient) == (False, clip.address, ward.alice.address)
    assert "consent" in (denial.detail or "")
