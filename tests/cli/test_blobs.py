"""`careledger blobs ...`, and a node whose blobs are in its database, end to end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from careledger.chain import Chain, Role, open_chain
from careledger.config import Home, Settings, load_settings, write_config
from careledger.node import Node
from careledger.store import FileBlobStore
from careledger.testdata import scratch_node, synthetic_patients
from tests.cli.conftest import Cli
from tests.conftest import PG_URL, _postgres_schema

ROOT = Path(__file__).resolve().parents[2]


def _chart(node: Node) -> list[str]:
    """Three patients' records (156 versions, so 156 blobs: three pages of a move) written by the node; their ids."""
    ids = []
    for n, patient in enumerate(synthetic_patients(3, seed=1)):
        owner = node.wallets.create(f"patient{n}", Role.PATIENT, "pw")
        drafts = [node.maintenance.prepare(patient.patient, patient_address=owner.address)]
        drafts += [node.maintenance.prepare(record) for record in patient.records]
        ids += [stored.record_id for stored in node.maintenance.store(drafts)]
    return ids


def _files_in(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and p.name != "LAYOUT"] if path.exists() else []


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The node's database: SQLite in its home, or a PostgreSQL schema of its own (named in the URL)."""
    if request.param == "sqlite":
        yield None
        return
    for schema in _postgres_schema():
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"


def test_a_node_on_the_database_store_writes_and_reads_records(tmp_path: Path, database_url: str | None) -> None:
    settings = Settings(chain="memory", light_kdf=True, blob_store="database", db=database_url)
    with scratch_node(tmp_path / "home", settings) as node:
        ids = _chart(node)
        assert [node.maintenance.open(node.maintenance.get(i))["id"] for i in ids] == ids
        node.anchorer.anchor_pending()
        assert all(check.ok for check in node.verify_record(ids[0]))
        usage = node.blob_stores.usage()
        assert usage["database"].count == len(ids)
        assert usage["files"].count == 0
    assert _files_in(tmp_path / "home" / "blobs") == []


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with open_chain("anvil", chain_dir=tmp_path_factory.mktemp("chain")) as chain:
        yield chain


@pytest.fixture(scope="module")
def charted(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A home on the files store, its records written on a chain that outlives the node."""
    home = tmp_path_factory.mktemp("charted") / "home"
    with scratch_node(home, Settings(chain=chain.url, light_kdf=True)) as node:
        ids = _chart(node)
    return home, ids


@pytest.fixture
def home(charted: tuple[Path, list[str]], cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """A copy of the charted home, for one test to change."""
    shutil.copytree(charted[0], cli.home)
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "pw")
    return cli


def _switch(home: Cli, to: str) -> None:
    """Set `blob_store` as the operator is told to, and put the old store out of reach."""
    settings = load_settings(Home(home.home))
    write_config(Home(home.home), settings.model_copy(update={"blob_store": to}))
    if to == "database":
        os.rename(home.home / "blobs", home.home / "blobs.old")


def _reads_every_record(home: Cli, ids: list[str]) -> None:
    """The node lists every record, and opens each one (an export per patient decrypts all of hers)."""
    listed = home("record", "list", "--limit", "0", "--json")
    assert listed.code == 0, listed.err
    assert sorted(r["id"] for r in listed.json()) == sorted(ids)
    opened = []
    for n in range(3):
        out = home.home.parent / f"patient{n}.json"
        exported = home("record", "export", "--patient", f"patient{n}", "--out", str(out), "--json")
        assert exported.code == 0, exported.err
        opened += [entry["resource"]["id"] for entry in json.loads(out.read_text())["entry"]]
    assert sorted(opened) == sorted(ids)
    verified = home("record", "verify", ids[-1], "--json")
    assert {c["step"]: c["ok"] for c in verified.json()}.get("content id") is True, verified.out


@pytest.mark.anvil
def test_migrate_moves_every_blob_and_the_node_reads_them_from_the_database(
    home: Cli, charted: tuple[Path, list[str]]
) -> None:
    ids = charted[1]
    before = home("blobs", "status", "--json").json()
    assert before["configured"] == "files"
    assert before["stores"]["files"]["blobs"] == len(ids)
    assert before["stores"]["database"] == {"blobs": 0, "bytes": 0}

    moved = home("blobs", "migrate", "--to", "database", "--json")
    assert moved.code == 0, moved.err
    summary = moved.json()
    assert (summary["from"], summary["to"], summary["moved"], summary["already_there"]) == (
        "files",
        "database",
        len(ids),
        0,
    )
    assert summary["moved_bytes"] == summary["total_bytes"] == before["stores"]["files"]["bytes"]
    assert summary["next"].startswith("next: stop the node and run this command again")  # blobs written meanwhile
    assert 'then set blob_store = "database"' in summary["next"]
    assert f"{len(ids)}/{len(ids)}" in moved.err  # the progress bar, on stderr

    _switch(home, "database")
    _reads_every_record(home, ids)
    after = home("blobs", "status")
    assert next(line for line in after.out.splitlines() if "← in use" in line).split()[1] == "database"
    again = home("blobs", "migrate", "--to", "database", "--json").json()  # nothing left to copy
    assert (again["moved"], again["already_there"]) == (0, 0)  # the files store is out of reach
    assert again["next"] == "the node already uses the database store"


@pytest.mark.anvil
def test_a_migrate_killed_mid_way_is_finished_by_a_rerun(home: Cli, charted: tuple[Path, list[str]]) -> None:
    ids = charted[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CARELEDGER_CRASH_AT": "blobs-page-moved"}
    command = [sys.executable, "-m", "careledger", "--home", str(home.home), "blobs", "migrate", "--to", "database"]
    killed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    halfway = home("blobs", "status", "--json").json()["stores"]["database"]["blobs"]
    assert 0 < halfway < len(ids)  # one page made it, whole

    finished = home("blobs", "migrate", "--to", "database", "--json").json()
    assert (finished["moved"], finished["already_there"]) == (len(ids) - halfway, halfway)
    _switch(home, "database")
    _reads_every_record(home, ids)
    # Back to files, from the database: every blob comes back, checked, and the node reads them there.
    shutil.rmtree(home.home / "blobs.old")
    back = home("blobs", "migrate", "--to", "files", "--json").json()
    assert (back["from"], back["moved"]) == ("database", len(ids))
    _switch(home, "files")
    _reads_every_record(home, ids)


def test_bad_input_and_a_misconfigured_node_are_refused_clearly(cli: Cli) -> None:
    assert cli("blobs", "status").code == 3  # no home yet
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0
    wrong = cli("blobs", "migrate", "--to", "s3")
    assert wrong.code == 2
    assert "'s3' is not one of 'files', 'database'" in wrong.err
    (cli.home / "config.toml").write_text('blob_store = "s3"\n')
    misconfigured = cli("blobs", "migrate", "--to", "database")
    assert misconfigured.code == 3
    assert "blob_store: Input should be 'files' or 'database'" in misconfigured.err


def test_ctrl_c_mid_way_says_how_to_finish_and_a_rerun_does(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0
    blobs = [os.urandom(300) for _ in range(200)]
    FileBlobStore(cli.home / "blobs").put_many(blobs)
    pages: list[str] = []

    def ctrl_c_on_the_second_page(name: str) -> None:
        pages.append(name)
        if len(pages) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("careledger.store._blob_stores.crash_point", ctrl_c_on_the_second_page)
    stopped = cli("blobs", "migrate", "--to", "database")
    assert stopped.code == 130
    assert "stopped after 128 of 200 blobs: run the same command again to finish" in stopped.err
    monkeypatch.undo()
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "test passphrase")
    finished = cli("blobs", "migrate", "--to", "database", "--json")
    assert finished.code == 0, finished.err
    assert (finished.json()["moved"], finished.json()["already_there"]) == (200 - 128, 128)
    assert finished.json()["total_bytes"] == 200 * 300
    status = cli("blobs", "status", "--json").json()["stores"]
    assert status["database"] == status["files"] == {"blobs": 200, "bytes": 200 * 300}
