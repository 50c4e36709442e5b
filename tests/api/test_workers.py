"""`careledger serve --workers 2` on PostgreSQL and a real anvil, as processes: a killed leader's anchoring is taken
over with nothing lost, a revoke is honoured by every worker within a round, SQLite is refused."""

from __future__ import annotations

import os
import signal
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage
from sqlalchemy import Engine, create_engine, text

from careledger.api import NodeProcess, free_port
from careledger.cli import run
from careledger.config import Home, load_settings
from careledger.consent import Purpose
from careledger.identity import Wallet
from careledger.records import Category, StoredRecord
from careledger.services import Operations, open_operations
from careledger.store._leader import LOCK_CLASS
from careledger.testdata import synthetic_patients
from tests.conftest import PG_URL, _postgres_schema

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]

PASSPHRASE = "test passphrase"
WORKERS = 2
ROUND = 1.0  # the background loop's round (api._server.SYNC_SECONDS)


@dataclass
class Served:
    """A node served by two workers, the test's own handle on the same home, and its database."""

    server: NodeProcess
    node: Operations
    engine: Engine
    schema: str
    alice: Wallet
    clinic: Wallet
    labs_id: str

    def leader_pid(self) -> int | None:
        """The pid of the worker holding the background lock, as PostgreSQL names its connection."""
        with self.engine.connect() as connection:
            name = connection.execute(
                text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :c AND l.objid = :k"
                ),
                {"c": LOCK_CLASS, "k": zlib.crc32(self.schema.encode()) & 0x7FFFFFFF},
            ).scalar()
        return int(name.rsplit(" ", 1)[1]) if name else None


def _cli(home: Path, *args: str) -> None:
    assert run(["--home", str(home), *args]) == 0, args


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    schemas = _postgres_schema()
    schema = next(schemas)
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    home = tmp_path_factory.mktemp("workers") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
        _cli(home, "--db", url, "init", "--light-kdf")
        with (home / "config.toml").open("a") as config:
            config.write("anchor_max_wait = 5.0\n")  # queued long enough to be killed with, anchored soon after
        _cli(home, "chain", "deploy")
        for name, role in (("alice", "patient"), ("clinic", "org")):
            _cli(home, "wallet", "new", name, "--role", role)
            _cli(home, "identity", "register", name)
        labs_id = _chart(home)
        server = NodeProcess(Home(home), free_port(), passphrase=PASSPHRASE, workers=WORKERS)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            server.start(timeout=180)
            with open_operations(Home(home), load_settings(Home(home)), lambda _wallet: PASSPHRASE) as node:
                yield Served(
                    server, node, engine, schema, node.wallets.get("alice"), node.wallets.get("clinic"), labs_id
                )
        finally:
            code = server.stop()
            engine.dispose()
            next(schemas, None)
    assert code == 0, server.log_tail()


def _chart(home: Path) -> str:
    """Alice's Patient and her results, written before the server starts (this process's own anvil then
    stops, so the server keeps the chain); the id of one lab result."""
    with open_operations(Home(home), load_settings(Home(home)), lambda _wallet: PASSPHRASE) as node:
        patient = synthetic_patients(1, seed=5)[0]
        alice = node.wallets.get("alice").address
        node.maintenance.write(patient.patient, patient_address=alice)
        stored = [node.maintenance.write(r) for r in patient.resources if r is not patient.patient]
        node.anchorer.anchor_pending()
        return next(s.record_id for s in stored if s.category is Category.LABS)


def _token(url: str, account: LocalAccount) -> str:
    """An access token for `account`, signed in over one connection (one worker hands out the nonce and takes it)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        offer = http.get("/auth/nonce").json()
        message = SiweMessage(
            domain=offer["domain"],
            address=account.address,
            statement="Sign in to CareLedger",
            uri=url,
            version="1",
            chain_id=int(offer["chain_id"]),
            nonce=offer["nonce"],
            issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        ).prepare_message()
        signature = account.sign_message(encode_defunct(text=message)).signature.hex()
        response = http.post("/auth/login", json={"message": message, "signature": "0x" + signature})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def _answers(served: Served, token: str, count: int) -> list[tuple[int, str]]:
    """`count` reads of the lab result, each on a fresh connection: (status, the worker that answered)."""
    answers = []
    for _ in range(count):
        response = httpx.get(
            f"{served.server.url}/Observation/{served.labs_id}", headers={"Authorization": f"Bearer {token}"}
        )
        answers.append((response.status_code, response.headers["x-worker"]))
    return answers


def _until(what: str, condition: Callable[[], bool], seconds: float) -> float:
    """Wait until `condition()` holds; the seconds it took (the test fails after `seconds`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_revoke_is_honoured_by_every_worker_within_a_round(served: Served) -> None:
    token = _token(served.server.url, served.node.unlock("clinic").account)
    workers = {str(number) for number in range(1, WORKERS + 1)}
    assert {status for status, _ in _answers(served, token, 10)} == {404}  # no consent yet
    consent = served.node.consent
    grant = consent.grant(
        "alice", consent.terms(served.alice.address, served.clinic.address, [Category.LABS], [Purpose.TREAT], days=1)
    )
    _until("every worker allows", lambda: {w for s, w in _answers(served, token, 8) if s == 200} == workers, 10)

    consent.revoke("alice", grant.grant_id)  # mined: the chain's next block holds it
    revoked = time.monotonic()
    allowing = set(workers)
    while allowing:  # each worker's next round reads the revoke, whichever of them indexed it
        allowing -= {w for s, w in _answers(served, token, 4) if s == 404}
        assert time.monotonic() - revoked < 2 * ROUND + 1, f"workers {allowing} still allow"
    answers = _answers(served, token, 40)
    assert {status for status, _ in answers} == {404}, answers
    assert {worker for _, worker in answers} == workers  # both served some of the 40 fresh connections


def test_every_secret_the_workers_share_is_made_before_they_start(served: Served) -> None:
    """A fresh home: the workers would each make (and keep) their own `oidc.key`, `readings.key`… at their start."""
    started = min(_started_at(pid) for pid in _worker_pids(served))
    for secret in served.node.home.secret_files:
        assert secret.stat().st_mtime < started, f"{secret.name} was written after a worker started"
    key_sets: dict[str, list[object]] = {}
    for _ in range(40):  # fresh connections, until both workers answered
        answer = httpx.get(f"{served.server.url}/.well-known/jwks.json")
        key_sets.setdefault(answer.headers["x-worker"], answer.json()["keys"])
    assert len(key_sets) == WORKERS
    assert len({str(keys) for keys in key_sets.values()}) == 1  # an ID token from either verifies with both


def _started_at(pid: int) -> float:
    """When process `pid` started, as a Unix time (to its clock tick, as a file's mtime compares)."""
    ticks = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(") ", 1)[1].split()[19])
    since_boot = ticks / os.sysconf("SC_CLK_TCK")
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME) + since_boot


def test_killing_the_leader_hands_anchoring_to_another_worker_and_loses_nothing(served: Served) -> None:
    leader = served.leader_pid()
    assert leader is not None, served.server.log_tail()
    written = {(s.record_id, s.version) for s in _write_again(served)}
    assert not _anchored(served, written)  # queued (anchor_max_wait is 5 s): the leader still has them to do

    before = _worker_pids(served)
    os.kill(leader, signal.SIGKILL)
    killed = time.monotonic()
    took_over = _until("another worker leads", lambda: served.leader_pid() not in (None, leader), 10)
    _until("everything queued is anchored", lambda: _anchored(served, written) == written, 10 - took_over)
    assert time.monotonic() - killed < 10
    for record_id, version in sorted(written)[:3]:  # down to the root on chain
        assert all(check.ok for check in served.node.verify_record(record_id, version))

    assert f"(pid {leader}) was killed by SIGKILL; starting it again" in served.server.log.read_text()
    _until("two workers serve again", lambda: len(_worker_pids(served)) == WORKERS, 60)
    assert leader not in _worker_pids(served)
    (started,) = _worker_pids(served) - before
    _until("its new pid is logged", lambda: f"started again (pid {started})" in served.server.log.read_text(), 10)


def _write_again(served: Served) -> list[StoredRecord]:
    """A new version of each of alice's records but her Patient: commitments queued for anchoring."""
    patient = synthetic_patients(1, seed=5)[0]
    return [served.node.maintenance.write(r) for r in patient.resources if r is not patient.patient]


def test_sigterm_stops_every_worker_and_leaves_nothing_to_anchor(served: Served) -> None:
    """Last in the module: it stops the server the others share."""
    workers = _worker_pids(served)
    assert len(workers) == WORKERS
    written = {(s.record_id, s.version) for s in _write_again(served)}
    assert not _anchored(served, written)
    assert served.server.stop() == 0, served.server.log_tail()
    assert _anchored(served, written) == written
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert "stopped; pending commitments and audit heads anchored" in served.server.log.read_text()


def test_several_workers_on_sqlite_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(tmp_path / "home")
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
    assert run(["--home", home, "init", "--light-kdf"]) == 0
    capsys.readouterr()
    assert run(["--home", home, "serve", "--workers", "2", "--port", str(free_port())]) == 15
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "--workers 2 needs PostgreSQL" in err
    assert "serve with one worker" in err


def _anchored(served: Served, versions: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of these record versions are in an anchor batch that is anchored on chain."""
    with served.engine.connect() as connection:
        rows = connection.execute(
            text(
                f'SELECT v.record_id, v.version FROM "{served.schema}".record_versions v'
                f' JOIN "{served.schema}".anchor_batches b ON b.id = v.batch_id'
                " WHERE b.status = 'anchored' AND v.record_id = ANY(:ids)"
            ),
            {"ids": [record_id for record_id, _ in versions]},
        ).all()
    return {(record_id, version) for record_id, version in rows} & versions


def _worker_pids(served: Served) -> set[int]:
    """The live worker processes of the server (its spawned children; not its anvil or resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            _name, rest = stat.read_text().rsplit(") ", 1)
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # it exited while we looked
        state, parent = rest.split()[:2]
        if int(parent) == served.server.pid and state != "Z" and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found
