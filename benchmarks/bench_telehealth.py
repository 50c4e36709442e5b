"""Telehealth (issue 38): `$book` under a race, a message across two nodes, gas per escrowed visit.

Each beside what a plain FHIR server does with the same resource in the same run:

    20 patients ─ $book (one Slot each call, 201 or 409) ─▶ careledger serve, PostgreSQL ─▶ p50/p95/p99, req/s
                └ POST Appointment (the Appointments booked) ─▶ plain_fhir.py          ─┘   beside it
    alice at the hospital ─ Communication/$send ─▶ hospital ─(courier, sealed)─▶ clinic ─SSE─▶ carol reads it
                          └ POST Communication (the same message) ─▶ plain_fhir.py ─▶ p50/p95/p99 beside it
    10 patients' visits ─ hold (permit), release, refund, cancel, no-show ─▶ VisitEscrow on anvil ─▶ receipts' gas

Booking: `PATIENTS` patients, each signed in as herself (SIWE) on her own connection, want `SLOTS // PATIENTS`
visits each of one practitioner's `SLOTS` slots: each walks all slots in an order of her own, calling `$book`
until she holds her share, so the slots are raced for and every call answers 201 or 409 (anything else fails
the run). Afterwards each reads her Appointments back: no slot is booked twice, and every slot is booked.

Messages: the hospital keeps alice's record; carol is a practitioner of the clinic (another node) alice has a
visit with. Alice sends `MESSAGES` messages in one thread, one after the other; carol holds the clinic's event
stream (`GET /telehealth/events`). Measured per message: from the moment alice's `$send` is called at the
hospital until carol's `GET /Communication/{id}` at the clinic has answered 200 with its text, after the
stream told her of it; apart, the `$send` call alone (the courier delivers within it), the time after it
returned, and `$send` to dan, of the hospital's own care team (nothing to deliver).

`CARELEDGER_BENCH_SMOKE=1` runs each with a handful of patients, slots and messages: a check that it runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account
from eth_account.signers.local import LocalAccount

from benchmarks import Result, baseline_server, fresh_database, registered_wallet
from benchmarks.bench_api import _login
from benchmarks.bench_ehr import Run, _spread
from careledger.access import AFFILIATION, Accessor, wallet_reference
from careledger.api import NodeProcess, free_port
from careledger.chain import Role, open_chain
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET, Home, Settings
from careledger.crypto import sign_typed_data
from careledger.node import Node
from careledger.telehealth import Offer, VisitMode, VisitPayment
from careledger.testdata import CARE, PASSPHRASE, founding_node, joining_node, scratch_node, synthetic_patients

SMOKE = os.environ.get("CARELEDGER_BENCH_SMOKE") == "1"
PATIENTS = 4 if SMOKE else 20
SLOTS = 8 if SMOKE else 100
MESSAGES = 4 if SMOKE else 40
PAYERS = 2 if SMOKE else 10
FEE = 80 * CARE
_WAIT = 30.0  # seconds a message may take to reach the clinic before the run fails


# Booking.


@dataclass(frozen=True, slots=True)
class Booker:
    """A patient who books: her Patient record's id and her signed-in token."""

    patient_id: str
    token: str


def bench_telehealth_booking() -> list[Result]:
    with fresh_database() as url, tempfile.TemporaryDirectory() as tmp:
        home, accounts, slots, warm_up = _clinic(Path(tmp) / "home", url)
        with NodeProcess(home, free_port(), passphrase=PASSPHRASE).start() as server:
            bookers = [
                Booker(patient_id, _login(server.url, account, chain)) for patient_id, account, chain in accounts
            ]
            asyncio.run(_race(server.url, bookers, [[slot] for slot in warm_up]))  # each her own: sign-in, caches
            orders = [random.Random(n).sample(slots, len(slots)) for n in range(len(bookers))]
            race, answers, booked = asyncio.run(_race(server.url, bookers, orders))
            held = asyncio.run(_held(server.url, bookers))
        _check(answers, held, slots, warm_up)
        with baseline_server(url, free_port()) as plain_url:
            plain = _plain_creates(plain_url, booked, len(race.latencies), clients=len(bookers))
    took = {code: [ms for _slot, status, ms in answers if status == code] for code in (201, 409)}
    each = ", ".join(f"{len(ms)} {code} (p50 {statistics.median(ms or [0]):.0f} ms)" for code, ms in took.items())
    conditions = f"{len(bookers)} patients as themselves, {len(slots)} slots: {each}, none twice; 1 worker, PostgreSQL"
    return _beside(race, plain, "Appointment", conditions)


def _clinic(path: Path, url: str) -> tuple[Home, list[tuple[str, LocalAccount, int]], list[str], list[str]]:
    """A node's home on the database `url`: a practitioner's Schedule with `SLOTS` slots tomorrow and one
    warm-up slot a patient the day after, and `PATIENTS` patients (their Patient id, account and chain id)."""
    with scratch_node(path, Settings(db=url, light_kdf=True, anchor_in_background=False)) as node:
        drbob = registered_wallet(node, "drbob", Role.PRACTITIONER)
        node.contracts.identity_registry(as_wallet=NODE_WALLET).attest(
            drbob.address, AFFILIATION, node.chain.timestamp() + 7 * 86_400
        )
        staff = node.access.for_caller(Accessor(drbob.address))
        practitioner = staff.write({"resourceType": "Practitioner", "name": [{"family": "Bob", "given": ["Dr"]}]})
        offer = Offer(practitioner.record_id, ServiceClass.TELEHEALTH, VisitMode.VIRTUAL)
        schedule = node.scheduling.publish(staff, offer)["id"]
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)

        def slots(start: datetime, count: int) -> list[str]:
            opened = node.scheduling.open_slots(staff, schedule, start, start + timedelta(minutes=5 * count), 5)
            return [slot["id"] for slot in opened]

        patients = []
        for n, synthetic in enumerate(synthetic_patients(PATIENTS, seed=38)):
            wallet = registered_wallet(node, f"patient{n}", Role.PATIENT)
            stored = node._records.write(synthetic.patient, patient_address=wallet.address)
            patients.append((stored.record_id, node.unlock(f"patient{n}").account, node.chain.chain_id))
        return Home(path), patients, slots(tomorrow, SLOTS), slots(tomorrow + timedelta(days=1), PATIENTS)


async def _race(
    url: str, bookers: list[Booker], orders: list[list[str]]
) -> tuple[Run, list[tuple[str, int, float]], list[dict[str, Any]]]:
    """Each booker calls `$book` on the slots of her order until she holds her share of them (all of them are
    shared out): the calls' latencies and rate, each answer (slot, status, ms), and the Appointments booked."""
    share = len({slot for order in orders for slot in order}) // len(bookers) or 1
    latencies: list[float] = []
    answers: list[tuple[str, int, float]] = []
    booked: list[dict[str, Any]] = []

    async def patient(booker: Booker, order: list[str]) -> None:
        held = 0
        async with _session(url, booker.token) as session:
            for slot in order:
                if held == share:
                    return
                timed: list[float] = []
                status, body = await _call(session, "POST", "/Appointment/$book", timed, json=_book(slot, booker))
                if status not in (201, 409):
                    raise RuntimeError(f"$book of Slot/{slot}: {status} {str(body)[:300]}")
                latencies.extend(timed)
                answers.append((slot, status, timed[0]))
                if status == 201:
                    held += 1
                    booked.append(body)

    start = time.perf_counter()
    await asyncio.gather(*(patient(b, order) for b, order in zip(bookers, orders, strict=True)))
    return Run("$book", len(latencies) / (time.perf_counter() - start), latencies), answers, booked


def _book(slot: str, booker: Booker) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "slot", "valueReference": {"reference": f"Slot/{slot}"}},
            {"name": "patient", "valueReference": {"reference": f"Patient/{booker.patient_id}"}},
        ],
    }


async def _held(url: str, bookers: list[Booker]) -> list[str]:
    """The slots of every booked Appointment the patients read back, each as often as it is booked."""
    held: list[str] = []
    for booker in bookers:
        async with _session(url, booker.token) as session:
            query = f"/Appointment?patient={booker.patient_id}&status=booked&_count=200"
            status, bundle = await _call(session, "GET", query, [])
            if status != 200:
                raise RuntimeError(f"her Appointments: {status} {str(bundle)[:300]}")
            for entry in bundle.get("entry", []):
                held += [s["reference"].removeprefix("Slot/") for s in entry["resource"].get("slot", [])]
    return held


def _check(answers: list[tuple[str, int, float]], held: list[str], slots: list[str], warm_up: list[str]) -> None:
    """Every slot booked once: by the answers (one 201 a slot) and by the Appointments read back."""
    won = Counter(slot for slot, status, _ms in answers if status == 201)
    if sorted(won.elements()) != sorted(slots) or sorted(held) != sorted(slots + warm_up):
        twice = [slot for slot, count in (won + Counter(held)).items() if count > 2]
        raise RuntimeError(f"slots not booked exactly once: {len(won)} won of {len(slots)}; twice: {twice[:5]}")


# Messages across two nodes.


@dataclass(frozen=True, slots=True)
class Post:
    """Two serving nodes and who writes: alice (the hospital's patient) to carol (the clinic's practitioner) and to
    dan (the hospital's)."""

    hospital: str
    clinic: str
    alice_id: str
    alice: str
    carol_address: str
    carol: str
    dan_address: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """What alice's messages took: to carol at the clinic (from the send call to her read there; the send call;
    after it returned), to dan at the hospital (the send call: nothing to deliver), and her last message."""

    delivered: Run
    sent: Run
    after: Run
    local: Run
    message: dict[str, Any]


def bench_telehealth_messages() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, fresh_database() as hospital_db, fresh_database() as clinic_db:
        with _two_nodes(Path(tmp), hospital_db, clinic_db) as post:
            talk = asyncio.run(_conversation(post))
        with baseline_server(hospital_db, free_port()) as plain_url:
            plain = _plain_creates(plain_url, [talk.message], len(talk.delivered.latencies), clients=1)
    conditions = (
        f"{len(talk.delivered.latencies)} messages in one thread, one at a time: from alice's $send at the hospital to "
        "carol's read of it at the clinic (sealed, signed, delivered, stored, notified, read); two nodes on PostgreSQL"
    )
    return [
        *_beside(talk.delivered, plain, "Communication", conditions, "messages/s"),
        Result("message $send p50/p95/p99", "ms", talk.sent.percentile(95), f"{_spread(talk.sent)}; delivery within"),
        Result("message after $send returned p50/p95/p99", "ms", talk.after.percentile(95), _spread(talk.after)),
        Result("message $send in one node p50/p95/p99", "ms", talk.local.percentile(95), _spread(talk.local)),
    ]


@contextmanager
def _two_nodes(tmp: Path, hospital_db: str, clinic_db: str) -> Iterator[Post]:
    """A hospital (alice's custodian) and a clinic (carol's) on one anvil, both serving, alice and carol signed in."""
    with open_chain("anvil", chain_dir=tmp / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        ports = free_port(), free_port()
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        hospital = founding_node(tmp / "hospital", settings.model_copy(update={"db": hospital_db}), urls[0])
        clinic = joining_node(tmp / "clinic", settings.model_copy(update={"db": clinic_db}), hospital, urls[1])
        try:
            alice_id, alice, carol, dan = _people(hospital, clinic)
            chain_id, homes = hospital.chain.chain_id, (hospital.home, clinic.home)
        finally:
            clinic.close()
            hospital.close()
        servers = [NodeProcess(home, port, passphrase=PASSPHRASE) for home, port in zip(homes, ports, strict=True)]
        for server in servers:
            server.launch()
        try:
            for server in servers:
                server.wait_ready()
            alice_token, carol_token = _login(urls[0], alice, chain_id), _login(urls[1], carol, chain_id)
            yield Post(urls[0], urls[1], alice_id, alice_token, carol.address, carol_token, dan)
        finally:
            for server in servers:
                server.stop()


def _people(hospital: Node, clinic: Node) -> tuple[str, LocalAccount, LocalAccount, str]:
    """Alice, the hospital's patient (her Patient id and account), with a visit there with carol, a practitioner of
    the clinic's care team (her account): so alice may write to her, and the clinic keep it; and dan, of the
    hospital's care team (his wallet)."""
    registry = hospital.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.grant_role("ISSUER_ROLE", clinic.address)
    alice = registered_wallet(hospital, "alice", Role.PATIENT)
    dan = registered_wallet(hospital, "dan", Role.PRACTITIONER)
    carol = clinic.wallets.create("carol", Role.PRACTITIONER, PASSPHRASE)
    registry.register_actor(carol.address, carol.role, carol.encryption_key)
    until = hospital.chain.timestamp() + 7 * 86_400
    registry.attest(dan.address, AFFILIATION, until)
    clinic.contracts.identity_registry(as_wallet=NODE_WALLET).attest(carol.address, AFFILIATION, until)
    patient = synthetic_patients(1, seed=38)[0].patient
    alice_id = hospital._records.write(patient, patient_address=alice.address).record_id
    start = datetime.now(UTC) + timedelta(days=1)
    visit = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": start.isoformat(timespec="seconds"),
        "end": (start + timedelta(minutes=20)).isoformat(timespec="seconds"),
        "participant": [
            {"actor": {"reference": f"Patient/{alice_id}"}, "status": "accepted"},
            {"actor": wallet_reference("Practitioner", carol.address, hospital.chain.chain_id), "status": "accepted"},
        ],
    }
    hospital._records.write(visit, patient_address=alice.address)
    return alice_id, hospital.unlock("alice").account, clinic.unlock("carol").account, dan.address


async def _conversation(post: Post) -> Conversation:
    """Alice's messages, one at a time, each thread's first not counted: to carol (read at the clinic once her
    stream told her of it), each followed by one to dan (kept at the hospital). Rates are one over the mean."""
    arrived: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
    connected = asyncio.Event()
    delivered: list[float] = []
    sent: list[float] = []
    local: list[float] = []
    async with _session(post.hospital, post.alice) as hospital, _session(post.clinic, post.carol) as clinic:
        listener = asyncio.create_task(_listen(clinic, connected, arrived))
        try:
            await asyncio.wait_for(connected.wait(), _WAIT)
            thread = (await _message(post, (hospital, clinic), arrived, "hello", None, ([], [])))["id"]
            here = (await _send(hospital, post, "hello", None, post.dan_address, []))["id"]
            for n in range(MESSAGES):  # interleaved, so both meet the same load
                message = await _message(post, (hospital, clinic), arrived, f"message {n}", thread, (sent, delivered))
                await _send(hospital, post, f"message {n}", here, post.dan_address, local)
        finally:
            listener.cancel()
    after = [total - call for total, call in zip(delivered, sent, strict=True)]
    runs = (("message across nodes", delivered), ("$send", sent), ("after", after), ("here", local))
    across, sends, afters, here_sends = (Run(name, 1e3 / statistics.mean(t), t) for name, t in runs)
    return Conversation(across, sends, afters, here_sends, message)


async def _message(
    post: Post,
    sessions: tuple[aiohttp.ClientSession, aiohttp.ClientSession],
    arrived: defaultdict[str, asyncio.Event],
    text: str,
    thread: str | None,
    timings: tuple[list[float], list[float]],
) -> dict[str, Any]:
    """Alice's message `text` to carol (in `thread`, or a new one) sent at the hospital, then read by carol at the
    clinic once her stream told her of it; its latencies appended to `timings` (the send call, the whole)."""
    hospital, clinic = sessions
    began = time.perf_counter()
    message = await _send(hospital, post, text, thread, post.carol_address, timings[0])
    await asyncio.wait_for(arrived[message["id"]].wait(), _WAIT)
    status, read = await _call(clinic, "GET", f"/Communication/{message['id']}", [])
    if status != 200 or read.get("payload") != [{"contentString": text}]:
        raise RuntimeError(f"carol's read at the clinic: {status} {str(read)[:300]}")
    timings[1].append((time.perf_counter() - began) * 1e3)
    return message


async def _send(
    hospital: aiohttp.ClientSession, post: Post, text: str, thread: str | None, to: str, latencies: list[float]
) -> dict[str, Any]:
    """Alice's `$send` of `text` to the practitioner `to` (in `thread`, or a new one): the message, as sent."""
    about = {"name": "thread", "valueString": thread} if thread else {"name": "patient", "valueString": post.alice_id}
    parameters = [{"name": "text", "valueString": text}, about, {"name": "to", "valueString": to}]
    body = {"resourceType": "Parameters", "parameter": parameters}
    status, message = await _call(hospital, "POST", "/Communication/$send", latencies, json=body)
    if status != 201:
        raise RuntimeError(f"$send: {status} {str(message)[:300]}")
    return dict(message)


async def _listen(
    clinic: aiohttp.ClientSession, connected: asyncio.Event, arrived: defaultdict[str, asyncio.Event]
) -> None:
    """Carol's event stream at the clinic: `connected` set once it is open, then each `message` event naming a
    Communication sets its event."""
    async with clinic.get("/telehealth/events", timeout=aiohttp.ClientTimeout(total=None)) as stream:
        if stream.status != 200:
            raise RuntimeError(f"carol's event stream: {stream.status}")
        connected.set()
        kind = ""
        async for line in stream.content:
            field, _, value = line.decode().rstrip("\n").partition(": ")
            if field == "event":
                kind = value
            elif field == "data" and kind == "message" and "communication" in (data := json.loads(value)):
                arrived[data["communication"]].set()


# Both.


def _beside(run: Run, plain: Run, kind: str, conditions: str, unit: str = "requests/s") -> list[Result]:
    """A run's figures beside the plain server's creates of the same `kind` of resource in the same run."""
    return [
        Result(f"{run.server} p50/p95/p99", "ms", run.percentile(95), f"{_spread(run)}; {conditions}"),
        Result(f"{run.server} rate", unit, run.rate, f"{len(run.latencies)} timed"),
        Result(f"plain FHIR create {kind} p50/p95/p99", "ms", plain.percentile(95), _spread(plain)),
        Result(f"plain FHIR create {kind} rate", "requests/s", plain.rate, "benchmarks/plain_fhir.py, same clients"),
        Result(f"{run.server} p95 / plain create p95", "x", run.percentile(95) / plain.percentile(95), "same run"),
    ]


def _plain_creates(url: str, resources: list[dict[str, Any]], count: int, *, clients: int) -> Run:
    """`count` creates of `resources` (in turn, as stored elsewhere: id and meta left to the server) at the plain
    FHIR server by `clients` clients at once, after a warm-up of `clients` creates."""
    bodies = [{k: v for k, v in r.items() if k not in ("id", "meta")} for r in resources]
    kind = bodies[0]["resourceType"]

    async def creates(total: int) -> Run:
        queue = [bodies[n % len(bodies)] for n in range(total)]
        latencies: list[float] = []
        async with _session(url, "none") as session:

            async def client() -> None:
                while queue:
                    status, answer = await _call(session, "POST", f"/{kind}", latencies, json=queue.pop())
                    if status != 201:
                        raise RuntimeError(f"plain create of a {kind}: {status} {str(answer)[:300]}")

            start = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            return Run("plain", total / (time.perf_counter() - start), latencies)

    asyncio.run(creates(clients))
    return asyncio.run(creates(count))


def _session(url: str, token: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"})


async def _call(
    session: aiohttp.ClientSession, method: str, path: str, latencies: list[float], **kwargs: Any
) -> tuple[int, Any]:
    """One request's status and JSON body, its latency (ms) appended to `latencies`."""
    began = time.perf_counter()
    async with session.request(method, path, **kwargs) as response:
        body = await response.read()
        latencies.append((time.perf_counter() - began) * 1e3)
        return response.status, json.loads(body) if body else None


# Gas per escrowed visit.


def bench_telehealth_gas() -> list[Result]:
    """`VisitPayments` on a managed anvil; patients' wallets outside the node (eth-account keys) hold CARE. Each
    books four visits (her permit and signed terms, no gas for her), then one is released, one refunded by the
    provider, one cancelled by her signature (relayed), one a no-show once the chain's clock passed the slots.
    Gas is each receipt's `gasUsed`, intrinsic gas and calldata included."""
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", Settings(light_kdf=True)) as node:
        patients: list[LocalAccount] = [Account.create() for _ in range(PAYERS)]
        token = node.contracts.token(as_wallet=NODE_WALLET)
        for patient in patients:
            token.mint(patient.address, 1_000 * CARE)
        gas: dict[str, list[int]] = defaultdict(list)
        for i, patient in enumerate(patients):
            for visit in ("released", "refunded", "cancelled", "missed"):
                paid = _hold(node, patient, f"bench-{visit}-{i}", in_progress=visit == "released")
                gas["first hold" if visit == "released" else "hold"].append(_gas(paid))
            gas["release"].append(_gas(node.visit_payments.release(f"bench-released-{i}")))
            gas["refund"].append(_gas(node.visit_payments.refund(f"bench-refunded-{i}")))
            gas["cancel"].append(_gas(_cancel(node, patient, f"bench-cancelled-{i}")))
        _pass_the_slots(node)
        gas["no-show"] = [_gas(node.visit_payments.no_show(f"bench-missed-{i}")) for i in range(PAYERS)]
    mean = {movement: statistics.mean(values) for movement, values in gas.items()}
    return [
        Result("gas per visit held, first", "gas", mean["first hold"], "her first booking: permit + signed terms"),
        Result("gas per visit held", "gas", mean["hold"], "a later booking of hers: permit + signed terms"),
        Result("gas per visit released", "gas", mean["release"], "the fee paid to the payee"),
        Result("gas per visit refunded", "gas", mean["refund"], "the provider cancelled"),
        Result("gas per visit cancelled", "gas", mean["cancel"], "her signed cancellation, relayed"),
        Result("gas per no-show", "gas", mean["no-show"], "50% to the payee, the rest back to her"),
        Result(
            "gas per escrowed visit",
            "gas",
            mean["hold"] + mean["release"],
            "hold + release, what a visit that happened costs the node",
        ),
    ]


def _hold(node: Node, patient: LocalAccount, appointment: str, *, in_progress: bool) -> VisitPayment:
    """Book a visit for the patient (a slot in progress, so it can be released at once; else tomorrow's)."""
    now = node.chain.timestamp()
    starts = now - 60 if in_progress else now + 86_400
    payments = node.visit_payments
    prepared = payments.prepare(patient.address, appointment, FEE, starts, starts + 1800)
    permit, terms = sign_typed_data(patient, prepared["permit"]), sign_typed_data(patient, prepared["terms"])
    return payments.hold(patient.address, appointment, prepared["terms"], permit, terms)


def _cancel(node: Node, patient: LocalAccount, appointment: str) -> VisitPayment:
    typed = node.visit_payments.prepare_cancellation(appointment)
    return node.visit_payments.cancel(appointment, typed, sign_typed_data(patient, typed))


def _pass_the_slots(node: Node) -> None:
    """Move anvil's clock past every booked slot (a day and an hour) and mine a block there."""
    provider = node.chain.w3.provider
    provider.make_request("evm_increaseTime", [86_400 + 3_600])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _gas(payment: VisitPayment) -> int:
    if payment.gas_used is None:
        raise AssertionError(f"{payment.appointment_id}: no transaction was sent")
    return payment.gas_used


BENCHMARKS = [bench_telehealth_booking, bench_telehealth_messages, bench_telehealth_gas]
