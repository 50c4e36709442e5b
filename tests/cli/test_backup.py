"""`careledger backup` while a served node takes writes, and `careledger restore` into a fresh home: every
record and the audit log verify, the patient reads her records on the restored node; a wrong passphrase, a
changed or truncated backup and an occupied home or database are refused with nothing half-restored.
On SQLite and on PostgreSQL (a database of its own per home)."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, inspect, text

from careledger.api import NodeProcess, free_port
from careledger.cli import run
from careledger.client import FhirClient
from careledger.config import Home
from careledger.identity import WalletStore
from careledger.testdata import synthetic_patients
from tests.conftest import PG_URL

pytestmark = pytest.mark.anvil

_ENV = {"CARELEDGER_PASSPHRASE": "node pass", "CARELEDGER_BACKUP_PASSPHRASE": "backup pass"}


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def careledger(*args: str, **env: str) -> Ran:
    """Run the CLI in this process with the test's passphrases (and `env`), capturing its output."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name, value in {**_ENV, **env}.items():
            patch.setenv(name, value)
        patch.setenv("COLUMNS", "200")
        code = run(list(args))
    return Ran(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _databases(backend: str, count: int) -> Iterator[list[str]]:
    """URLs of `count` new, empty PostgreSQL databases (dropped after); none for SQLite, whose database a home
    makes in itself."""
    if backend == "sqlite":
        yield []
        return
    names = [f"careledger_backup_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    base = PG_URL.rsplit("/", 1)[0]
    try:
        with engine.connect() as connection:
            for name in names:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield [f"{base}/{name}" for name in names]
    finally:
        with engine.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@dataclass
class Served:
    """A backup taken while a served node was written to, and what was written when."""

    home: Path
    backup: Path
    summary: dict[str, Any]
    alice: LocalAccount
    before: int  # Observations stored before the backup began
    after: int  # … once it had ended
    backend: str
    original_db: list[str]  # `--db URL` of the served node's database (PostgreSQL), or nothing


def _writer(url: str, alice: LocalAccount, patient_id: str, written: list[str], stop: threading.Event) -> None:
    """Alice records her own vitals through the API until told to stop."""
    with FhirClient(url, timeout=30) as client:
        client.login(alice)
        while not stop.is_set():
            created = client.create(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "valueQuantity": {"value": 60 + len(written) % 40, "unit": "/min"},
                }
            )
            written.append(created["id"])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp(f"backup-{request.param}")
    home = root / "home"
    with _databases(request.param, 1) as urls:
        original = ["--db", urls[0]] if urls else []
        assert careledger("--home", str(home), *original, "init", "--light-kdf").code == 0
        for args in (
            ("chain", "deploy"),
            ("wallet", "new", "alice", "--role", "patient"),
            ("identity", "register", "alice"),
        ):
            assert careledger("--home", str(home), *args).code == 0, args
        patient = root / "patient.json"
        patient.write_text(json.dumps(synthetic_patients(1, seed=5)[0].patient))
        added = careledger("--home", str(home), "record", "add", str(patient), "--patient", "alice", "-q")
        assert added.code == 0, added.err
        patient_id = added.out.strip().rpartition("/")[2]
        alice = WalletStore(home / "keystore", light_kdf=True).unlock("alice", _ENV["CARELEDGER_PASSPHRASE"]).account
        server = NodeProcess(Home(home), free_port(), passphrase=_ENV["CARELEDGER_PASSPHRASE"]).start()
        written: list[str] = []
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(server.url, alice, patient_id, written, stop))
        writer.start()
        try:
            while len(written) < 10:
                assert writer.is_alive(), "the writer stopped"
                stop.wait(0.1)
            before = len(written)
            made = careledger("--home", str(home), "backup", str(root / "node.backup"), "--json")
            after = len(written)
            stop.wait(0.5)
        finally:
            stop.set()
            writer.join(60)
            server.stop()
        assert made.code == 0, made.err
        yield Served(home, root / "node.backup", made.json(), alice, before, after, request.param, original)


@pytest.fixture
def restore_db(served: Served) -> Iterator[list[str]]:
    """`--db URL` of a new, empty database to restore into (PostgreSQL), or nothing (SQLite in the new home)."""
    with _databases(served.backend, 1) as urls:
        yield ["--db", urls[0]] if urls else []


def test_backup_while_serving_restores_and_verifies(served: Served, tmp_path: Path, restore_db: list[str]) -> None:
    assert served.after > served.before  # the node took writes while the backup ran
    assert served.summary["database"]["revision"]
    assert served.summary["chain_state"] is True
    assert served.summary["blobs"] >= served.before + 1
    restored_home = tmp_path / "restored"
    restored = careledger(
        "--home", str(restored_home), *restore_db, "restore", str(served.backup), "--anchor", "--json"
    )
    assert restored.code == 0, restored.err
    report = restored.json()
    assert report["ok"] is True
    assert (report["records_pending"], report["audit_entries_pending"]) == (0, 0)
    assert (report["records_failed"], report["audit_problems"]) == ({}, [])
    assert report["records_verified"] >= served.before + 1  # her Patient and at least what preceded the backup
    assert report["audit_entries"] > 0
    assert careledger("--home", str(restored_home), "audit", "verify").code == 0

    server = NodeProcess(Home(restored_home), free_port(), passphrase=_ENV["CARELEDGER_PASSPHRASE"]).start()
    try:
        with FhirClient(server.url, timeout=30) as client:
            client.login(served.alice)
            found = client.search("Observation", _count="1000")
    finally:
        assert server.stop() == 0, server.log_tail()
    observations = [resource for resource in found if resource["resourceType"] == "Observation"]
    assert served.before <= len(observations) <= served.after + 1
    assert len(observations) == report["records_verified"] - 1  # every Observation she wrote and the backup held


def test_without_anchor_a_restore_sends_nothing_and_counts_what_waits(
    served: Served, tmp_path: Path, restore_db: list[str]
) -> None:
    """A drill on the live chain must not anchor with production's wallet: what waits is counted, not sent."""
    restored_home = tmp_path / "drill"
    restored = careledger("--home", str(restored_home), *restore_db, "restore", str(served.backup), "--json")
    assert restored.code == 0, restored.err
    report = restored.json()
    assert (report["ok"], report["anchored_now"]) == (True, 0)
    assert report["records_pending"] > 0  # what the node wrote after its last anchoring before the backup
    assert report["records_verified"] + report["records_pending"] >= served.before + 1
    assert report["audit_entries_pending"] > 0
    anchored = careledger("--home", str(restored_home), *restore_db, "record", "anchor", "--json")
    assert anchored.code == 0, anchored.err
    assert sum(batch["records"] for batch in anchored.json()) >= report["records_pending"]  # still waiting


def test_a_backup_is_not_written_inside_its_home(served: Served) -> None:
    refused = careledger("--home", str(served.home), *served.original_db, "backup", str(served.home / "b"))
    assert refused.code == 2
    assert "inside the home it would back up" in refused.err
    assert not (served.home / "b").exists()


def test_a_home_that_holds_a_node_is_refused(served: Served) -> None:
    refused = careledger("--home", str(served.home), *served.original_db, "restore", str(served.backup))
    assert refused.code == 6
    assert "holds a node already" in refused.err


@pytest.mark.parametrize(
    ("damage", "code", "message"),
    [
        ("passphrase", 5, "wrong passphrase for this backup"),
        ("flip", 7, "was changed"),
        ("truncate", 7, "cut short"),
        ("not a backup", 7, "not a CareLedger backup"),
    ],
)
def test_a_wrong_passphrase_or_damaged_backup_restores_nothing(
    served: Served, tmp_path: Path, restore_db: list[str], damage: str, code: int, message: str
) -> None:
    data = served.backup.read_bytes()
    env = {"CARELEDGER_BACKUP_PASSPHRASE": "not the passphrase"} if damage == "passphrase" else {}
    if damage == "flip":
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]
    elif damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "not a backup":
        data = b"PK\x03\x04" + data[4:]
    source = tmp_path / "copy.backup"
    source.write_bytes(data)
    target = tmp_path / "target"
    refused = careledger("--home", str(target), *restore_db, "restore", str(source), **env)
    assert refused.code == code, refused.err
    assert message in refused.err
    assert not target.exists()  # nothing half-restored
    assert [path.name for path in tmp_path.iterdir()] == ["copy.backup"]  # no staging left behind
    if restore_db:  # the database it would have filled is as empty as it was
        engine = create_engine(restore_db[1].replace("postgresql://", "postgresql+psycopg://", 1))
        assert inspect(engine).get_table_names() == []
        engine.dispose()


def test_a_database_that_is_not_empty_is_refused_and_the_new_home_left_as_it_was(
    served: Served, tmp_path: Path
) -> None:
    taken = served.original_db or ["--db", f"sqlite:///{served.home / 'careledger.db'}"]
    target = tmp_path / "target"
    refused = careledger("--home", str(target), *taken, "restore", str(served.backup))
    assert refused.code == 6, refused.err
    assert "is not empty: restore into an empty database" in refused.err
    assert not target.exists()
    assert careledger("--home", str(served.home), *served.original_db, "record", "list", "--json").code == 0


def test_force_replaces_a_home_and_keeps_the_old_one_aside(
    served: Served, tmp_path: Path, restore_db: list[str]
) -> None:
    target = tmp_path / "target"
    assert careledger("--home", str(target), "init", "--light-kdf").code == 0
    replaced = careledger("--home", str(target), *restore_db, "restore", str(served.backup), "--force", "--json")
    assert replaced.code == 0, replaced.err
    aside = Path(replaced.json()["replaced"])
    assert aside.parent == tmp_path
    assert aside.name.startswith("target.replaced-")
    assert (aside / "config.toml").is_file()  # the home it replaced, whole
    shown = careledger("--home", str(target), *restore_db, "wallet", "show", "node", "--json").json()
    assert shown["address"] == served.summary["node"]
