"""Bulk import: Bundles and NDJSON, Patients first, bad resources reported, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from careledger.records import Importer, RecordService
from careledger.records._fhir import Resource
from careledger.store import RecordVersion
from careledger.testdata import collection_bundle, synthetic_patients
from tests.records.conftest import Keys


@pytest.fixture
def importer(records: RecordService, keys: Keys, tmp_path: Path) -> Importer:
    def new_wallet(_patient: Resource) -> str:
        return keys.new_patient()

    return Importer(records, patient_wallet=new_wallet, chunk_size=5)


def _versions(records: RecordService) -> list[int]:
    with records.db.session() as session:
        return list(session.scalars(select(RecordVersion.version)).all())


def test_bundle_with_records_before_their_patients(importer: Importer, records: RecordService, tmp_path: Path) -> None:
    patients = synthetic_patients(2, seed=31)
    bundle = collection_bundle(patients)
    bundle["entry"].reverse()  # every Patient now comes after its records
    source = tmp_path / "bundle.json"
    source.write_text(json.dumps(bundle))
    report = importer.run(source)
    total = sum(len(p.resources) for p in patients)
    assert (report.imported, report.skipped, report.refused) == (total, 0, [])
    assert len(records.list()) == total


def test_ndjson_directory_reports_bad_lines_and_goes_on(
    importer: Importer, records: RecordService, tmp_path: Path
) -> None:
    patient = synthetic_patients(1, seed=32)[0]
    folder = tmp_path / "export"
    folder.mkdir()
    observations = [r for r in patient.records if r["resourceType"] == "Observation"]
    lines = [json.dumps(r) for r in observations] + ["{broken", '{"resourceType": "Observation", "status": "final"}']
    (folder / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    (folder / "Patient.ndjson").write_text(json.dumps(patient.patient) + "\n")
    (folder / "notes.txt").write_text("ignored")
    report = importer.run(folder)
    assert report.imported == len(observations) + 1
    assert [(r.source, r.position) for r in report.refused] == [
        ("Observation.ndjson", len(observations) + 1),
        ("Observation.ndjson", len(observations) + 2),
    ]
    assert "not JSON" in report.refused[0].reason
    assert "Observation.code: Field required" in report.refused[1].reason


def test_a_killed_import_resumes_without_writing_anything_twice(
    importer: Importer, records: RecordService, tmp_path: Path
) -> None:
    patients = synthetic_patients(2, seed=33)
    source = tmp_path / "bundle.json"
    source.write_text(json.dumps(collection_bundle(patients)))

    def die_after_four_chunks(_phase: str, done: int, _total: int | None) -> None:
        if done == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        importer.run(source, die_after_four_chunks)
    assert len(_versions(records)) == 20
    report = importer.run(source)
    total = sum(len(p.resources) for p in patients)
    assert (report.skipped, report.imported) == (20, total - 20)
    assert _versions(records) == [1] * total
    again = importer.run(source)
    assert (again.skipped, again.imported) == (total, 0)


def test_a_mixed_ndjson_streams_patients_first_and_names_lines_and_phases(
    importer: Importer, records: RecordService, tmp_path: Path
) -> None:
    patients = synthetic_patients(2, seed=35)
    resources = [r for p in patients for r in reversed(p.resources)]  # every Patient after her records
    source = tmp_path / "mixed.ndjson"
    source.write_text("\n".join([*map(json.dumps, resources), "", "[1]"]) + "\n")
    phases: list[tuple[str, int, int | None]] = []
    report = importer.run(source, lambda phase, done, total: phases.append((phase, done, total)))
    assert (report.imported, len(report.refused)) == (len(resources), 1)
    bad_line = len(resources) + 2  # after the resources and a blank line
    assert (report.refused[0].position, report.refused[0].reason) == (bad_line, f"line {bad_line} is not a JSON object")
    assert phases[0] == ("counting resources", 0, None)
    assert phases[-1] == ("importing mixed.ndjson (1/1)", len(resources) + 1, len(resources) + 1)
    assert len(records.list()) == len(resources)


def test_missing_path_is_a_validation_error(importer: Importer, tmp_path: Path) -> None:
    from careledger.errors import ValidationError

    with pytest.raises(ValidationError, match="neither a file nor a directory"):
        importer.run(tmp_path / "absent")


def test_patients_without_a_wallet_are_refused(records: RecordService, tmp_path: Path) -> None:
    patient = synthetic_patients(1, seed=34)[0]
    source = tmp_path / "one.ndjson"
    source.write_text("\n".join(json.dumps(r) for r in patient.resources[:3]))
    report = Importer(records, patient_wallet=lambda _p: None).run(source)
    assert report.imported == 0
    assert "needs the patient's wallet" in report.refused[0].reason
    assert all("does not hold" in r.reason for r in report.refused[1:])
    with records.db.session() as session:
        assert session.scalar(select(func.count()).select_from(RecordVersion)) == 0


def test_a_chunk_that_fails_midway_stores_nothing_and_is_redone(
    importer: Importer, records: RecordService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patients = synthetic_patients(1, seed=35)
    source = tmp_path / "bundle.json"
    source.write_text(json.dumps(collection_bundle(patients)))
    put_many = records.blobs.put_many
    calls = 0

    def disk_full_on_third_chunk(blobs: list[bytes]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        return put_many(blobs)

    monkeypatch.setattr(records.blobs, "put_many", disk_full_on_third_chunk)
    with pytest.raises(OSError, match="No space"):
        importer.run(source)
    assert len(_versions(records)) == 10
    report = importer.run(source)
    assert report.skipped == 10
    assert _versions(records) == [1] * len(patients[0].resources)
