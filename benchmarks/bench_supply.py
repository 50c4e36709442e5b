"""Drug supply chain (issue 41): events captured per second, verify-at-dispense latency, gas per pack and per
dispense; each beside a FHIR create measured in the same run.

    regulator ─admit─► manufacturer ─commission PACKS, pack into CASES, ship─► wholesaler ─ship half─► pharmacy A
                                                                                         └─ship half─► pharmacy B
    captures (one EPCISDocument of EVENTS events each, in process): GS1-example-style observations at A; the same
        signed by the wholesaler (another party's events: signatures checked); the manufacturer's own custody
        events (one commissioning a pack each: a transaction each), then one destroying event of them all
    B dispenses its half in process; A is served (`careledger serve`, 1 worker): VERIFIES `POST /supply/verify`
        interleaved with as many `POST /Observation` by the same pharmacist; then A dispenses its half over HTTP
    beside: FHIR creates through the door in process (rates), plain_fhir.py `POST /Observation` (PostgreSQL)

Five nodes (the regulator is the founding node) on one managed anvil, each on SQLite, anchoring not running. Gas
is each receipt's `gasUsed` (intrinsic gas and calldata included) of the transactions a step's events sent, over
the packs the step moved: a case's packs move with it, so a shipment of cases costs per pack what it costs per case
over the packs inside. `CARELEDGER_BENCH_SMOKE=1`: a handful of packs and events, a check that it runs.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from biip.checksums import gs1_standard_check_digit
from eth_account.signers.local import LocalAccount

from benchmarks import PG_SERVER, Result, baseline_server, fresh_database
from benchmarks.bench_api import _login, _observation
from careledger.access import AFFILIATION, Accessor
from careledger.api import NodeProcess, free_port
from careledger.chain import IdentityRegistry, Role, open_chain
from careledger.config import NODE_WALLET, Home, Settings
from careledger.node import Node
from careledger.supplychain import Container, Pack, commissioning, destroying, document, party_uri, sign_event
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients

SMOKE = os.environ.get("CARELEDGER_BENCH_SMOKE") == "1"
PACKS = 40 if SMOKE else 1_000
CASES = 4 if SMOKE else 10
EVENTS = 20 if SMOKE else 1_000
VERIFIES = 20 if SMOKE else 200
PREFIX = "0614141"
GTIN = f"0{PREFIX}12345" + str(gs1_standard_check_digit(f"0{PREFIX}12345"))
EXPIRY = date(2031, 1, 31)
_OBSERVED = "70614141123451"  # the GTIN of GS1's example 9.6.1, which no one commissions here


@dataclass
class Network:
    """The five nodes, where their homes are, the pharmacist of A (its staff) and a patient at each pharmacy."""

    root: Path
    regulator: Node
    manufacturer: Node
    wholesaler: Node
    pharmacy_a: Node
    pharmacy_b: Node
    pharmacist: LocalAccount
    patients: dict[str, str]  # a pharmacy's address -> her Patient id there
    chain_id: int

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, the founder first."""
        return (self.regulator, self.manufacturer, self.wholesaler, self.pharmacy_a, self.pharmacy_b)


@dataclass(frozen=True, slots=True)
class Timed:
    """Latencies (ms) of calls made one after another, and the rate they went at."""

    latencies: list[float]
    rate: float

    def percentile(self, p: int) -> float:
        """The p-th percentile, in ms."""
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    def spread(self) -> str:
        """p50 and p95 in words."""
        return f"p50 {self.percentile(50):.1f} ms, p95 {self.percentile(95):.1f} ms, {len(self.latencies)} calls"


def bench_supply() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, open_chain("anvil", chain_dir=Path(tmp) / "chain", keep=True) as chain:
        net = _network(Path(tmp), Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False))
        a, b, half = net.pharmacy_a, net.pharmacy_b, PACKS // 2
        try:
            packs, gas = _journey(net)
            captures = _captures(net)
            gas["decommission (destroyed, one event)"] = _destroyed(net, captures.own_packs)
            door = _door_creates(a, net.pharmacist.address, net.patients[a.address])
            anchored = _anchor_gas(a)
            dispensed, gas["decommission (a dispense)"] = _dispenses_here(b, packs[half:], net.patients[b.address])
        finally:
            for node in reversed(net.nodes):
                node.close()
        served = _served(net, packs[:half])
    plain = _plain(len(served["verify"].latencies))
    return [
        *_capture_results(captures, door),
        *_latency_results(served, dispensed, plain),
        *_gas_results(gas, captures.own_gas, anchored),
    ]


def _network(root: Path, settings: Settings) -> Network:
    """Five homes on the chain: the regulator deploys and admits the manufacturer (prefix `PREFIX`); pharmacy A
    attests a pharmacist (its staff); each pharmacy keeps a patient."""
    regulator = founding_node(root / "regulator", settings)
    others = [joining_node(root / name, settings, regulator) for name in ("manufacturer", "wholesaler", "a", "b")]
    regulator.contracts.supply_chain(as_wallet=NODE_WALLET).grant_regulator(regulator.address)
    until = int((datetime.now(UTC) + timedelta(days=3650)).timestamp())
    manufacturer, wholesaler, pharmacy_a, pharmacy_b = others
    regulator.supply.admit(manufacturer.address, PREFIX, "MIA-2026-0042", until, by=regulator.address)
    founder = regulator.contracts.identity_registry(as_wallet=NODE_WALLET)
    founder.grant_role("ISSUER_ROLE", pharmacy_a.address)  # it attests its staff
    pharmacist = _registered(founder, pharmacy_a, "pharmacist", Role.PRACTITIONER)
    registry = pharmacy_a.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.attest(pharmacist, AFFILIATION, pharmacy_a.chain.timestamp() + 30 * 86_400)
    patients = {}
    for n, (pharmacy, synthetic) in enumerate(
        zip((pharmacy_a, pharmacy_b), synthetic_patients(2, seed=41), strict=True)
    ):
        her = _registered(founder, pharmacy, f"patient{n}", Role.PATIENT)
        patients[pharmacy.address] = pharmacy._records.write(synthetic.patient, patient_address=her).record_id
    account = pharmacy_a.unlock("pharmacist").account
    nodes = (regulator, manufacturer, wholesaler, pharmacy_a, pharmacy_b)
    return Network(root, *nodes, account, patients, regulator.chain.chain_id)


def _registered(founder: IdentityRegistry, node: Node, name: str, role: Role) -> str:
    """A new wallet of `node`'s home, registered on chain by the founder (a joining node registers no one); its
    address."""
    wallet = node.wallets.create(name, role, PASSPHRASE)
    founder.register_actor(wallet.address, wallet.role, wallet.encryption_key)
    return wallet.address


def _journey(net: Network) -> tuple[list[Pack], dict[str, float]]:
    """`PACKS` packs commissioned, packed into `CASES` cases, shipped to the wholesaler and received, half the cases
    shipped on to each pharmacy, received and unpacked onto its shelves: the packs, and each step's gas per pack."""
    m, w = net.manufacturer, net.wholesaler
    packs = [Pack(GTIN, f"S{n:07d}", "L1", EXPIRY) for n in range(PACKS)]
    cases = [_case(n) for n in range(CASES)]
    each = PACKS // CASES
    gas: dict[str, float] = {}
    with _gas_of(m, gas, "commission", PACKS):
        m.supply.commission(packs, by=m.address)
    with _gas_of(m, gas, "pack", PACKS):
        for n, case in enumerate(cases):
            m.supply.pack(case, packs[n * each : (n + 1) * each], by=m.address)
    with _gas_of(m, gas, "ship (cases)", PACKS):
        shipment = m.supply.ship(cases, w.address, by=m.address)
    with _gas_of(w, gas, "receive (cases)", PACKS):
        _receive(m, w, shipment)
    for pharmacy, first in ((net.pharmacy_a, 0), (net.pharmacy_b, CASES // 2)):  # half the cases to each
        with _gas_of(w, gas, "ship on (cases)", PACKS):
            shipment = w.supply.ship(cases[first : first + CASES // 2], pharmacy.address, by=w.address)
        with _gas_of(pharmacy, gas, "receive on (cases)", PACKS):
            _receive(w, pharmacy, shipment)
        with _gas_of(pharmacy, gas, "unpack", PACKS):
            for n in range(first, first + CASES // 2):
                pharmacy.supply.unpack(cases[n], packs[n * each : (n + 1) * each], by=pharmacy.address)
    return packs, gas


def _receive(sender: Node, receiver: Node, shipment: str) -> None:
    """The receiver takes in the sender's shipping notice (the items by their EPCs, with their signed history) and
    receives the shipment."""
    receiver.supply.accept_notice(sender.supply.notice(shipment, by=sender.address))
    receiver.supply.receive(shipment, by=receiver.address)


def _case(n: int) -> Container:
    body = f"0{PREFIX}{n + 1:09d}"
    return Container(body + str(gs1_standard_check_digit(body)))


@contextmanager
def _gas_of(node: Node, gas: dict[str, float], step: str, packs: int) -> Iterator[None]:
    """The gas of every transaction `node` sent within the block, over `packs`, added to `gas[step]`."""
    since = node.chain.w3.eth.block_number
    yield
    gas[step] = gas.get(step, 0.0) + _gas_sent(node, since) / packs


def _gas_sent(node: Node, since: int) -> int:
    """The gas of the transactions `node`'s wallet sent in the blocks after `since`."""
    w3 = node.chain.w3
    used = 0
    for number in range(since + 1, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if not isinstance(tx, bytes) and tx["from"] == node.address:
                used += int(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
    return used


@dataclass(frozen=True, slots=True)
class Captures:
    """Events captured per second in one document of `EVENTS`: observations, another party's signed events, the
    node's own custody steps; the packs those commissioned and the gas of a commissioning of one pack."""

    observed: float
    foreign: float
    own: float
    own_packs: list[Pack]
    own_gas: float


def _captures(net: Network) -> Captures:
    """Three documents of `EVENTS` events, each captured in one call (module docstring)."""
    a, m = net.pharmacy_a, net.manufacturer
    observed = _rate(a, _gs1_document([_observation_event(n) for n in range(EVENTS)]))
    account = net.wholesaler.unlock().account
    contract = a.contracts.supply_chain().address
    signed = [sign_event(_observation_event(EVENTS + n), account, a.chain_id, contract) for n in range(EVENTS)]
    foreign = _rate(a, _gs1_document(signed))
    packs = [Pack(GTIN, f"T{n:07d}", "L2", EXPIRY) for n in range(EVENTS)]
    maker = party_uri(m.chain_id, m.address)
    gas: dict[str, float] = {}
    with _gas_of(m, gas, "commission", EVENTS):
        own = _rate(m, document([commissioning([pack], maker) for pack in packs]))
    return Captures(observed, foreign, own, packs, gas["commission"])


def _rate(node: Node, body: dict[str, Any]) -> float:
    """Events per second of one capture of `body` at `node`, by its operator."""
    count = len(body["epcisBody"]["eventList"])
    start = time.perf_counter()
    job = node.supply.capture(body, by=node.address)
    took = time.perf_counter() - start
    if not job.ok or len(job.event_ids) != count:
        raise RuntimeError(f"capture of {count} events: {job.errors[:3]}")
    return count / took


def _gs1_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The events in an EPCISDocument whose context also names the example's namespace, as GS1's does."""
    body = document(events)
    body["@context"].append({"example": "http://ns.example.com/epcis/"})
    return body


def _observation_event(n: int) -> dict[str, Any]:
    """An event as GS1's example 9.6.1 writes one (a pack seen received at a dock door, its purchase order and
    despatch advice, a vendor's extension), of a serial of its own: a pack no one commissioned here."""
    return {
        "eventID": uuid.uuid4().urn,
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "epcList": [f"https://id.gs1.org/01/{_OBSERVED}/21/{n}"],
        "eventTime": "2026-04-04T20:33:31.116-06:00",
        "eventTimeZoneOffset": "-06:00",
        "readPoint": {"id": "urn:epc:id:sgln:0012345.11111.400"},
        "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"},
            {"type": "desadv", "bizTransaction": f"urn:epcglobal:cbv:bt:0614141073467:{n}"},
        ],
        "example:myField": "Example of a vendor/user extension",
    }


def _destroyed(net: Network, packs: Sequence[Pack]) -> float:
    """The manufacturer destroys `packs` in one event: the gas per pack of decommissioning in a batch."""
    m = net.manufacturer
    gas: dict[str, float] = {}
    with _gas_of(m, gas, "destroy", len(packs)):
        job = m.supply.capture(document([destroying(packs, party_uri(m.chain_id, m.address))]), by=m.address)
    if not job.ok:
        raise RuntimeError(f"destroying {len(packs)} packs: {job.errors}")
    return gas["destroy"]


def _door_creates(node: Node, staff: str, patient_id: str) -> Timed:
    """`EVENTS` Observations of the patient written one at a time by `staff` through her door at `node` (judged,
    sealed, audited): the FHIR create beside the captures (after a few to warm up)."""
    door = node.access.for_caller(Accessor(staff))
    for n in range(5):
        door.write(_observation(patient_id, n))
    return _timed([partial(door.write, _observation(patient_id, n)) for n in range(EVENTS)])


def _dispenses_here(node: Node, packs: Sequence[Pack], patient: str) -> tuple[Timed, float]:
    """Each pack scanned and dispensed at `node` by its operator to its `patient`, in process (verified, her
    MedicationDispense written, the pack decommissioned on chain): the calls, and the gas of a dispense."""

    def dispense(pack: Pack) -> None:
        answer = node.dispensary.dispense(_scan(pack), patient, Accessor(node.address), by=node.address)
        if answer.pending is not None:
            raise RuntimeError(f"a dispense not decommissioned on chain: {answer.pending}")

    gas: dict[str, float] = {}
    with _gas_of(node, gas, "dispense", len(packs)):
        timed = _timed([partial(dispense, pack) for pack in packs])
    return timed, gas["dispense"]


def _timed(calls: Sequence[Callable[[], object]]) -> Timed:
    """Each call in turn, timed."""
    latencies = []
    start = time.perf_counter()
    for call in calls:
        began = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - began) * 1e3)
    return Timed(latencies, len(calls) / (time.perf_counter() - start))


def _scan(pack: Pack) -> str:
    """What a 2D scanner types for the pack's GS1 DataMatrix: its symbology identifier, then GTIN, expiry and lot,
    a GS (FNC1) after the lot (a field of variable length), then the serial."""
    assert pack.expiry is not None
    return f"]d201{pack.gtin}17{pack.expiry:%y%m%d}10{pack.lot}\x1d21{pack.serial}"


def _served(net: Network, packs: Sequence[Pack]) -> dict[str, Timed]:
    """Pharmacy A served (its home, 1 worker), its pharmacist signed in with SIWE: `VERIFIES` verifies of its
    packs, each beside a `POST /Observation` of her patient, in an order drawn each round; then its packs
    dispensed over HTTP, one after another. Each kind after one call not counted."""
    patient = net.patients[net.pharmacy_a.address]
    with NodeProcess(Home(net.root / "a"), free_port(), passphrase=PASSPHRASE).start() as server:
        token = _login(server.url, net.pharmacist, net.chain_id)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:

            def verify(pack: Pack) -> None:
                answer = _answer(client.post("/supply/verify", json={"scan": _scan(pack)}), 200)
                if not answer["dispensable"]:
                    raise RuntimeError(f"verify of {pack.epc}: {answer}")

            def create(n: int) -> None:
                _answer(client.post("/Observation", json=_observation(patient, n)), 201)

            def dispense(pack: Pack) -> None:
                _answer(client.post("/supply/dispense", json={"scan": _scan(pack), "patient": patient}), 201)

            verify(packs[0])
            create(0)
            rounds = [(partial(verify, packs[n % len(packs)]), partial(create, n)) for n in range(VERIFIES)]
            verifies, creates = _interleaved(rounds)
            dispenses = _timed([partial(dispense, p) for p in packs])
    return {"verify": verifies, "create": creates, "dispense": dispenses}


def _interleaved(rounds: Sequence[tuple[Callable[[], object], Callable[[], object]]]) -> tuple[Timed, Timed]:
    """Each round's two calls in an order drawn for it (so both meet the same load), each timed."""
    order = random.Random(41)
    latencies: tuple[list[float], list[float]] = ([], [])
    start = time.perf_counter()
    for pair in rounds:
        for which in order.sample((0, 1), 2):
            began = time.perf_counter()
            pair[which]()
            latencies[which].append((time.perf_counter() - began) * 1e3)
    took = time.perf_counter() - start
    return Timed(latencies[0], len(rounds) / took), Timed(latencies[1], len(rounds) / took)


def _answer(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}"
        )
    return response.json()


def _plain(count: int) -> Timed | None:
    """`count` `POST /Observation` at plain_fhir.py (its own process, a fresh PostgreSQL database), one after
    another after one not counted; None when PostgreSQL is not reachable."""
    try:
        psycopg.connect(PG_SERVER, connect_timeout=3).close()
    except psycopg.OperationalError:
        return None
    with fresh_database() as url, baseline_server(url, free_port()) as plain, httpx.Client(base_url=plain) as client:

        def create(n: int) -> None:
            _answer(client.post("/Observation", json=_observation("p1", n)), 201)

        create(0)
        return _timed([partial(create, n) for n in range(count)])


def _anchor_gas(node: Node) -> tuple[float, float]:
    """Everything waiting at `node` anchored: the gas per record (its FHIR writes) and per event digest (its
    captured events), each over the leaves of its batches (up to 1,024 a batch)."""
    per_leaf = []
    for anchorer in (node.anchorer, node.supply_anchorer):
        since = node.chain.w3.eth.block_number
        leaves = sum(batch.leaf_count for batch in anchorer.anchor_pending())
        per_leaf.append(_gas_sent(node, since) / leaves)
    return per_leaf[0], per_leaf[1]


def _capture_results(captures: Captures, door: Timed) -> list[Result]:
    where = f"one EPCISDocument of {EVENTS:,} events, one capture call in process, SQLite"
    return [
        Result(
            "EPCIS capture: GS1-example-style observations",
            "events/s",
            captures.observed,
            f"{where}; unsigned, so each signed by the node; no custody step (packs the chain does not know)",
        ),
        Result(
            "EPCIS capture: another party's signed events",
            "events/s",
            captures.foreign,
            f"{where}; the same kind signed by the wholesaler: each EIP-712 signature checked",
        ),
        Result(
            "EPCIS capture: the node's own custody events",
            "events/s",
            captures.own,
            f"{where}; the manufacturer's commissioning of one pack each: signed, dry-run, a transaction each",
        ),
        Result(
            "beside them: FHIR create through the door",
            "creates/s",
            door.rate,
            f"{len(door.latencies):,} Observations one at a time by the pharmacist, in process ({door.spread()})",
        ),
        Result(
            "observations captured / FHIR creates", "x", captures.observed / door.rate, "events over creates, same run"
        ),
    ]


def _latency_results(served: dict[str, Timed], dispensed: Timed, plain: Timed | None) -> list[Result]:
    verify, create, dispense = served["verify"], served["create"], served["dispense"]
    http = "pharmacy A served (1 uvicorn worker, SQLite), its pharmacist signed in, one call at a time"
    results = [
        Result(
            "verify at dispense p95 (POST /supply/verify)", "ms", verify.percentile(95), f"{verify.spread()}; {http}"
        ),
        Result("verify at dispense p50", "ms", verify.percentile(50), "same calls"),
        Result(
            "beside it: POST /Observation p95, same server",
            "ms",
            create.percentile(95),
            f"{create.spread()}; interleaved with the verifies, the same pharmacist",
        ),
        Result("verify p95 / POST Observation p95", "x", verify.percentile(95) / create.percentile(95), "same run"),
        Result("dispense p95 (POST /supply/dispense)", "ms", dispense.percentile(95), f"{dispense.spread()}; {http}"),
        Result(
            "dispense p95, in process", "ms", dispensed.percentile(95), f"{dispensed.spread()}; pharmacy B's operator"
        ),
    ]
    if plain is None:
        return [
            *results,
            Result("plain FHIR POST /Observation p95", "ms", float("nan"), f"no PostgreSQL at {PG_SERVER}"),
        ]
    words = f"{plain.spread()}; benchmarks/plain_fhir.py on PostgreSQL, the same client"
    return [*results, Result("plain FHIR POST /Observation p95", "ms", plain.percentile(95), words)]


def _gas_results(gas: dict[str, float], own: float, anchored: tuple[float, float]) -> list[Result]:
    batch = f"a batch of {PACKS:,} packs in {CASES} cases"
    words = {
        "commission": f"{batch}: one event, its serials in chunks",
        "pack": f"{batch}: one event a case",
        "ship (cases)": f"{batch}: one shipment of the {CASES} cases, one transaction",
        "receive (cases)": "the same shipment received: one transaction",
        "ship on (cases)": "half the cases to each pharmacy: a transaction each",
        "receive on (cases)": "each pharmacy receiving its half: a transaction each",
        "unpack": "each pharmacy unpacking its cases onto its shelves: one event a case",
        "decommission (destroyed, one event)": f"{EVENTS:,} packs destroyed in one event, in chunks",
        "decommission (a dispense)": "the transaction of one dispense (one pack)",
    }
    results = [Result(f"gas per pack: {step}", "gas", value, words[step]) for step, value in gas.items()]
    return [
        *results,
        Result("gas per pack: commission, one pack an event", "gas", own, f"{EVENTS:,} events, a transaction each"),
        Result("anchor gas per event digest", "gas", anchored[1], "pharmacy A's events, batches of up to 1,024"),
        Result("beside it: anchor gas per FHIR record", "gas", anchored[0], "pharmacy A's Observations, the same way"),
    ]


BENCHMARKS = [bench_supply]
