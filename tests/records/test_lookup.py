"""A version read by id (`records._lookup`): on PostgreSQL straight on psycopg, yet as SQLAlchemy would behave."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from careledger.errors import UnknownRecord
from careledger.outages import database_outage
from careledger.records import RecordService, StoredRecord
from careledger.testdata import SyntheticPatient
from tests.conftest import PG_URL
from tests.records.conftest import Keys


def test_a_version_is_read_by_id_and_the_pool_is_left_in_transactions(
    records: RecordService, synthetic: SyntheticPatient, keys: Keys
) -> None:
    owner = keys.new_patient()
    first = records.write(synthetic.patient, patient_address=owner)
    second = records.write({**synthetic.patient, "gender": "other"}, patient_address=owner)
    assert records.get(first.record_id) == second
    assert records.get(first.record_id, 1) == first
    with pytest.raises(UnknownRecord):
        records.get("no-such-record")
    with pytest.raises(UnknownRecord):
        records.get(first.record_id, 3)
    pooled = records.db.engine.raw_connection()
    try:  # a write after a read must still be a transaction of its own
        assert getattr(pooled.driver_connection, "autocommit", False) is False
    finally:
        pooled.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_lost_connection_is_an_outage_and_leaves_the_pool(
    records: RecordService, synthetic: SyntheticPatient, keys: Keys
) -> None:
    stored = records.write(synthetic.patient, patient_address=keys.new_patient())
    pool = records.db.engine.pool
    pooled = [records.db.engine.raw_connection() for _ in range(max(pool.checkedin(), 1))]  # type: ignore[attr-defined]
    pids = [connection.driver_connection.info.backend_pid for connection in pooled]  # type: ignore[union-attr]
    for connection in pooled:
        connection.close()
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    outcomes = [_read(records, stored.record_id) for _ in range(len(pids) + 1)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert lost  # every pooled connection was dead: the first read met one
    for exc in lost:  # told as SQLAlchemy tells it, so the API answers 503, not 500
        assert isinstance(exc, DBAPIError), exc
        assert database_outage(exc) is not None, exc
    assert outcomes[-1] == stored  # each dead connection is met at most once, then thrown away


def _read(records: RecordService, record_id: str) -> StoredRecord | BaseException:
    try:
        return records.get(record_id)
    except Exception as exc:
        return exc
