"""The blind index: exact and range search over keyed hashes, and a database that gives nothing away."""

from __future__ import annotations

import copy
import os
import random
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from careledger.audit import Access, Action, Outcome
from careledger.config import Home, Settings
from careledger.errors import IntegrityError, ValidationError
from careledger.records import BlindIndex, Category, RecordService, SearchQuery, TokenCondition, search_query
from careledger.records._blind_index import END_DAY, MIN_DAY, _cover
from careledger.records._search import DateCondition, FhirDate
from careledger.store import RECORD_TOKENS, RECORD_VERSIONS, NodeState
from careledger.testdata import SyntheticPatient, scratch_node, synthetic_patients
from tests.records.conftest import Keys

_EMERGENCY = "unconscious after a suspected overdose"
_PSY = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]}


def test_a_cover_tiles_exactly_its_range() -> None:
    rng = random.Random(7)
    for _ in range(300):
        start = rng.randrange(MIN_DAY, END_DAY)
        end = rng.choice([start + rng.randrange(0, 5000), END_DAY, start])
        covered = sorted(
            day for level, bucket in _cover(start, end) for day in range(bucket << 4 * level, (bucket + 1) << 4 * level)
        )
        assert covered == list(range(start, min(end, 1 << 24)))
        assert len(list(_cover(start, end))) <= 160


def test_a_date_is_found_by_every_range_that_holds_it() -> None:
    index = BlindIndex(os.urandom(32))
    day = FhirDate.parse("2024-03-15").first_day
    stored = set(index.day_buckets(day))
    for query, hit in [("2024", True), ("2024-03", True), ("2024-03-16", False), ("2023-12-31", False)]:
        wanted = FhirDate.parse(query)
        assert bool(stored & set(index.day_range(wanted.first_day, wanted.end_day))) is hit


def test_a_tag_of_another_key_is_an_integrity_error() -> None:
    tag = BlindIndex(os.urandom(32)).category_tag("r1", 1, Category.LABS)
    with pytest.raises(IntegrityError):
        BlindIndex(os.urandom(32)).category_of("r1", 1, tag)


def test_a_tag_told_apart_once_is_still_bound_to_its_record_and_version() -> None:
    index = BlindIndex(os.urandom(32))
    tag = index.category_tag("r1", 1, Category.MENTAL_HEALTH)
    assert index.category_of("r1", 1, tag) == Category.MENTAL_HEALTH
    assert index.category_of("r1", 1, tag) == Category.MENTAL_HEALTH  # remembered
    for record_id, version in (("r2", 1), ("r1", 2)):  # the tag copied onto another row is not taken as its own
        with pytest.raises(IntegrityError):
            index.category_of(record_id, version, tag)


@pytest.mark.parametrize("value", ["0000", "-001", "9999-13", "2024-02-30", "20240315", "2024-03-15T24:00", "99999"])
def test_a_malformed_date_is_a_validation_error(records: RecordService, value: str) -> None:
    with pytest.raises(ValidationError, match="not a FHIR date"):
        records.search(SearchQuery(dates=(DateCondition("date", "eq", value),)))


def test_search_finds_by_hashed_tokens_and_far_dates_do_not_fail(
    records: RecordService, keys: Keys, synthetic: SyntheticPatient
) -> None:
    address = keys.new_patient()
    records.write(synthetic.patient, patient_address=address)
    observation = next(r for r in synthetic.records if r["resourceType"] == "Observation")
    records.write(observation)
    coding = observation["code"]["coding"][0]
    by_code = SearchQuery(tokens=(TokenCondition("code", (coding["code"],), coding["system"]),))
    assert [s.record_id for s in records.search(by_code)] == [observation["id"]]
    wrong_system = SearchQuery(tokens=(TokenCondition("code", (coding["code"],), "http://example.org"),))
    assert records.search(wrong_system) == []
    day = observation["effectiveDateTime"][:10]
    for prefix, hit in [("eq", True), ("ge", True), ("le", True), ("gt", False), ("lt", False)]:
        query = SearchQuery(resource_type="Observation", dates=(DateCondition("date", prefix, day),))
        assert bool(records.search(query)) is hit, prefix
    for far in ("9999-12-31", "9999", "0001", "9999-12-31T23:59:59Z"):
        for prefix in ("eq", "lt", "le", "gt", "ge"):
            records.search(SearchQuery(dates=(DateCondition("date", prefix, far),)))
            records.search(SearchQuery(dates=(DateCondition("_lastUpdated", prefix, far),)))


def test_an_old_plaintext_index_is_rebuilt_as_hashes(records: RecordService, keys: Keys) -> None:
    patient = synthetic_patients(1, seed=4)[0]
    address = keys.new_patient()
    records.write(patient.patient, patient_address=address)
    stored = [records.write(r) for r in patient.records]
    # As a database from before the blind index held them: category names and plaintext tokens.
    with records.db.session() as session:
        for s in stored:
            session.execute(
                update(RECORD_VERSIONS)
                .where(RECORD_VERSIONS.c.record_id == s.record_id)
                .values(category=s.category.value)
            )
        session.execute(RECORD_TOKENS.delete())
        session.execute(
            insert(RECORD_TOKENS),
            [
                {
                    "record_id": "x",
                    "resource_type": "Patient",
                    "patient_id": "x",
                    "param": "date",
                    "system": "",
                    "value": patient.patient["birthDate"],
                }
            ],
        )
        session.execute(update(NodeState).values(value="pending"))
    assert records.upgrade_index() == len(stored) + 1
    assert records.upgrade_index() == 0  # once
    with records.db.reading() as connection:
        categories = set(connection.execute(select(RECORD_VERSIONS.c.category)).scalars())
        values = set(connection.execute(select(RECORD_TOKENS.c.value)).scalars())
    assert not categories & {c.value for c in Category}
    assert patient.patient["birthDate"] not in values
    assert [s.category for s in stored] == [records.get(s.record_id).category for s in stored]
    identifier = patient.patient["identifier"][0]
    found = records.search(SearchQuery(tokens=(TokenCondition("identifier", (identifier["value"],)),)))
    assert [s.record_id for s in found] == [patient.patient["id"]]
    born, _ = search_query("Patient", [("birthdate", patient.patient["birthDate"])], patient_address=None)
    assert [s.record_id for s in records.search(born)] == [patient.patient["id"]]  # the spec's names, rebuilt


def test_the_database_file_holds_no_identifier_date_name_code_category_or_audit_reason(tmp_path: Path) -> None:
    patient = synthetic_patients(1, seed=12)[0]
    condition = next(r for r in patient.records if r["resourceType"] == "Condition")
    psychiatric = {**copy.deepcopy(condition), "id": "psy-1", "meta": _PSY}
    home = tmp_path / "home"
    with scratch_node(home, Settings(chain="memory", light_kdf=True)) as node:
        owner = node.wallets.create("alice", node.wallets.get("node").role, "pw")
        node._records.write(patient.patient, patient_address=owner.address)
        for record in [*patient.records, psychiatric]:
            node._records.write(record)
        assert node._records.get("psy-1").category == Category.MENTAL_HEALTH
        reader = node.wallets.get("node").address
        node.audit.record(
            Access(
                Action.READ,
                "read",
                Outcome.DENIED,
                reader,
                owner.address,
                ("Condition/psy-1",),
                "TREAT",
                detail="no consent from the patient to mental-health records for TREAT",
            )
        )
        node.audit.record(
            Access(
                Action.READ,
                "break-glass",
                Outcome.SUCCESS,
                reader,
                owner.address,
                ("Condition/psy-1",),
                "ETREAT",
                break_glass=True,
                detail=_EMERGENCY,
            )
        )
    raw = b"".join(path.read_bytes() for path in home.glob("careledger.db*"))
    # Content ids are public base32 text (a-z, 2-7): a short secret such as "labs" turns up inside
    # one by chance a few runs in a thousand, so they are taken out before the search.
    raw = re.sub(rb"bafkrei[a-z2-7]{52}", b"", raw)
    secrets = {identifier["value"] for identifier in patient.patient["identifier"]}
    secrets |= {
        patient.patient["birthDate"],
        *patient.patient["name"][0]["given"],
        patient.patient["name"][0]["family"],
    }
    secrets |= {coding["code"] for r in patient.records for coding in r.get("code", {}).get("coding", [])}
    secrets |= {c.value for c in Category}
    secrets.add(_EMERGENCY)
    leaked = sorted(s for s in secrets if s.encode() in raw)
    assert leaked == []
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "careledger.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "index.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "audit.key").stat().st_mode) == 0o600
    assert all(stat.S_IMODE(d.stat().st_mode) == 0o700 for d in (home / "blobs").iterdir() if d.is_dir())


def test_a_home_others_can_read_is_refused(tmp_path: Path) -> None:
    home = Home(tmp_path / "open")
    home.path.mkdir(mode=0o755)
    home.path.chmod(0o755)
    with pytest.raises(ValidationError, match="chmod 700"):
        home.require_private()
