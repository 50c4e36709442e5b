"""Clinical trials (issue 42): CRF responses stored and anchored per second, gas per randomisation and per milestone
payment, and the enrolment forecast's fit time for 50 sites; each beside a baseline measured in the same run.

    one node on a managed anvil: the site (its node wallet), the sponsor ("sponsor", a RESEARCHER wallet of its
        home), the ethics board ("irb", a research-ethics-approval credential) and the site's staff ("drlee")
    the example trial (trials/examples) registered with this node as its one site, approved, its seed committed
    PARTICIPANTS custodial patients charted eligible, enrolled by drlee (each enrolment a transaction of the site,
        her payee a fresh address she gave), then randomised by the sponsor (allocations in batches of 64: one
        transaction for 60)
    beside them: CareToken transfers from the sponsor, each to an address holding none yet
    CRFs: every participant's visit CRFs entered by drlee through the site service, then anchored (the records'
        batch and the site's batch of visit leaves); interleaved per visit round with as many Observations of the
        same patients written by drlee through the same door, then anchored (the records' batch)
    settle: every visit whose CRF is complete and anchored paid (pay_visit: the site's fee and her stipend)
    forecast: fit + forecast (its default draws) of SITES simulated sites; beside: numpy's Poisson draw of as many
        numbers (draws x sites)

Gas is each receipt's `gasUsed` (intrinsic gas and calldata included). `CARELEDGER_BENCH_SMOKE=1`: a handful of
participants, a check that it runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from eth_typing import HexStr

from benchmarks import Result
from careledger.access import AFFILIATION, Accessor
from careledger.anchoring import Anchorer
from careledger.chain import Role, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.node import Node
from careledger.records import Resource
from careledger.testdata import CARE, PASSPHRASE, founding_node
from careledger.trials import SiteEnrolment, TrialProtocol, forecast, load_protocol

SMOKE = os.environ.get("CARELEDGER_BENCH_SMOKE") == "1"
PARTICIPANTS = 6 if SMOKE else 60
TRANSFERS = 4 if SMOKE else 20
SITES = 50
ROUNDS = 5
EXAMPLE = Path(__file__).parent.parent / "src/careledger/trials/examples/hypertension-trial.json"
TODAY = datetime.now(UTC).date()
_DRAWS: int = inspect.signature(forecast).parameters["draws"].default  # what a forecast draws unless told


@dataclass(frozen=True, slots=True)
class Site:
    """The one node and who acts on it: the sponsor's and the board's wallet names, the staff's accessor, the
    trial's id and definition, and the participants' Patient record ids."""

    node: Node
    sponsor: str
    board: str
    staff: Accessor
    trial_id: int
    protocol: TrialProtocol
    patients: list[str]


def bench_trials() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, open_chain("anvil", chain_dir=Path(tmp) / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        node = founding_node(Path(tmp) / "site", settings)
        try:
            site = _trial(node)
            randomisation = _randomised(site)
            transfers = _transfers(site)
            crfs, observations = _crfs(site)
            payments = _payments(site)
        finally:
            node.close()
    fit, draw = _forecast_times()
    return [
        *_crf_results(crfs, observations),
        *_gas_results(randomisation, payments, transfers),
        *_forecast_results(fit, draw),
    ]


def _trial(node: Node) -> Site:
    """The sponsor, the board and the staff registered; the example trial registered with this node as its site
    and its budget sized to `PARTICIPANTS`, approved, its seed committed; `PARTICIPANTS` eligible patients charted."""
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    for name, role in (("sponsor", Role.RESEARCHER), ("irb", Role.ORG), ("drlee", Role.PRACTITIONER)):
        wallet = node.wallets.create(name, role, PASSPHRASE)
        registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
    registry.attest(node.wallets.get("irb").address, "research-ethics-approval", 2**40)
    staff = node.wallets.get("drlee").address
    registry.attest(staff, AFFILIATION, int(time.time()) + 30 * 86_400)
    example = load_protocol(EXAMPLE.read_bytes())
    per_participant = len(example.visits) * (example.site_fee + example.stipend)
    protocol = dataclasses.replace(
        example, sites=(node.address,), target=PARTICIPANTS, budget=PARTICIPANTS * per_participant
    )
    node.contracts.token(as_wallet=NODE_WALLET).mint(node.wallets.get("sponsor").address, protocol.budget + 100 * CARE)
    trial_id = node.trial_registry.register("sponsor", protocol).trial_id
    node.trial_registry.approve("irb", trial_id)
    node.trial_registry.commit_seed("sponsor", trial_id)
    patients = [_chart(node, n) for n in range(PARTICIPANTS)]
    return Site(node, "sponsor", "irb", Accessor(staff), trial_id, protocol, patients)


def _chart(node: Node, n: int) -> str:
    """An eligible patient (custodial): essential hypertension, 40-75 years old, an eGFR of 78 a month ago; her
    Patient record id."""
    born = date(TODAY.year - 40 - n % 36, 1 + n % 12, 1 + n % 28)
    patient = node.maintenance.write(
        {
            "resourceType": "Patient",
            "name": [{"family": f"Trial{n:03d}", "given": ["Pat"]}],
            "gender": ("female", "male")[n % 2],
            "birthDate": born.isoformat(),
        }
    )
    subject = {"reference": f"Patient/{patient.record_id}"}
    node.maintenance.write(
        {
            "resourceType": "Condition",
            "subject": subject,
            "clinicalStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
            "verificationStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
            "code": _coded("http://snomed.info/sct", "59621000", "Essential hypertension"),
            "onsetDateTime": (TODAY - timedelta(days=800)).isoformat(),
        }
    )
    node.maintenance.write(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [_coded("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
            "code": _coded("http://loinc.org", "98979-8", "eGFR (CKD-EPI 2021)"),
            "subject": subject,
            "effectiveDateTime": (TODAY - timedelta(days=30)).isoformat(),
            "valueQuantity": {
                "value": 78,
                "unit": "mL/min/1.73m2",
                "system": "http://unitsofmeasure.org",
                "code": "mL/min/{1.73_m2}",
            },
        }
    )
    return patient.record_id


def _fresh_address(n: int) -> str:
    """An address nobody holds and nothing has paid yet: a payee as a participant is advised to give one."""
    return "0x" + f"{n:040x}"


def _coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    return {"coding": [coding]}


@dataclass(frozen=True, slots=True)
class Randomisation:
    """The gas of each enrolment, and of the allocation transactions of all of them."""

    enrolments: list[int]
    allocations: list[int]

    @property
    def per_participant(self) -> float:
        """Her enrolment (the median) and her share of the allocations."""
        return statistics.median(self.enrolments) + sum(self.allocations) / len(self.enrolments)


def _randomised(site: Site) -> Randomisation:
    """Every patient enrolled by the staff (each a transaction of the site), then all randomised by the sponsor."""
    node = site.node
    since = node.chain.w3.eth.block_number
    for n, patient in enumerate(site.patients):
        node.trial_site.enrol(site.staff, site.trial_id, patient, payee=_fresh_address(0xBEEF0000 + n))
    enrolments = _gas(node, since, node.address)
    since = node.chain.w3.eth.block_number
    if node.trial_registry.randomise(site.sponsor, site.trial_id) != len(site.patients):
        raise RuntimeError("randomise did not allocate every participant")
    allocations = _gas(node, since, node.wallets.get(site.sponsor).address)
    if len(enrolments) != len(site.patients):
        raise RuntimeError(f"{len(enrolments)} enrolment transactions for {len(site.patients)} participants")
    return Randomisation(enrolments, allocations)


def _transfers(site: Site) -> list[int]:
    """`TRANSFERS` CareToken transfers of one CARE by the sponsor, each to an address holding none yet (as a first
    stipend is): the gas of each."""
    node = site.node
    token = node.contracts.token(as_wallet=site.sponsor)
    since = node.chain.w3.eth.block_number
    for n in range(TRANSFERS):
        token.transfer(_fresh_address(0xC0FFEE00 + n), CARE)
    return _gas(node, since, node.wallets.get(site.sponsor).address)


@dataclass(frozen=True, slots=True)
class Stored:
    """Resources written through the door and then anchored: how many, the seconds each part took."""

    count: int
    writing: float
    anchoring: float

    @property
    def rate(self) -> float:
        """Resources stored and anchored per second."""
        return self.count / (self.writing + self.anchoring)


def _crfs(site: Site) -> tuple[Stored, Stored]:
    """Visit by visit: every participant's CRF entered by the staff through the site service, then anchored (the
    records' batch and the site's batch of visit leaves, which its payments prove); and as many Observations of the
    same patients by the same staff through the same door, then anchored (the records' batch); in turns, so both meet
    the same load and the same database size."""
    node = site.node
    door = node.access.for_caller(site.staff)
    crf, plain = Stored(0, 0.0, 0.0), Stored(0, 0.0, 0.0)
    for visit in site.protocol.visits:
        enter = partial(_enter, site, visit.number, _response(visit.questionnaire))
        entries = [partial(enter, patient) for patient in site.patients]
        crf = _stored(entries, (node.anchorer, node.trial_anchorer), crf)
        writes = [partial(door.write, _observation(patient, visit.number)) for patient in site.patients]
        plain = _stored(writes, (node.anchorer,), plain)
    return crf, plain


def _stored(writes: Sequence[Callable[[], object]], anchorers: Sequence[Anchorer], so_far: Stored) -> Stored:
    """`writes` one at a time, then everything waiting for `anchorers` anchored; each anchorer must have taken a leaf
    for every write at least."""
    started = time.perf_counter()
    for write in writes:
        write()
    written = time.perf_counter()
    for anchorer in anchorers:
        anchored = sum(batch.leaf_count for batch in anchorer.anchor_pending())
        if anchored < len(writes):
            raise RuntimeError(f"{anchored} leaves anchored for {len(writes)} writes")
    took = time.perf_counter() - written
    return Stored(so_far.count + len(writes), so_far.writing + written - started, so_far.anchoring + took)


def _enter(site: Site, visit: int, response: Resource, patient: str) -> None:
    entry = site.node.trial_site.enter_crf(site.staff, site.trial_id, patient, visit, response)
    if not entry.complete:
        raise RuntimeError(f"a CRF entered incomplete: {entry}")


def _response(questionnaire: Resource) -> Resource:
    """A completed QuestionnaireResponse answering every item of the CRF with a value it accepts."""
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire["url"],
        "status": "completed",
        "authored": datetime.now(UTC).isoformat(timespec="seconds"),
        "item": _answers(questionnaire.get("item", [])),
    }


_VALUES: dict[str, Any] = {"systolic": 138, "diastolic": 86, "heart-rate": 72}


def _answers(items: Sequence[Resource]) -> list[Resource]:
    answered = []
    for item in items:
        link, kind = item["linkId"], item["type"]
        if kind == "group":
            answered.append({"linkId": link, "item": _answers(item.get("item", []))})
        elif kind == "display":
            continue
        else:
            answered.append({"linkId": link, "answer": [_answer(link, kind, item)]})
    return answered


def _answer(link: str, kind: str, item: Resource) -> dict[str, Any]:
    if kind == "integer":
        return {"valueInteger": _VALUES.get(link, 1)}
    if kind == "decimal":
        return {"valueDecimal": 81.5}
    if kind == "boolean":
        return {"valueBoolean": False}
    if kind in ("choice", "open-choice"):
        return {"valueCoding": item["answerOption"][0]["valueCoding"]}
    if kind in ("string", "text"):
        return {"valueString": "no complaints"}
    if kind == "date":
        return {"valueDate": TODAY.isoformat()}
    raise RuntimeError(f"the benchmark does not answer a {kind} item ({link})")


def _observation(patient: str, n: int) -> Resource:
    """A seated systolic blood pressure of the patient, as a CRF's vitals are: the plain create beside a CRF."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [_coded("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")],
        "code": _coded("http://loinc.org", "8480-6", "Systolic blood pressure"),
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": (datetime.now(UTC) - timedelta(minutes=n)).isoformat(timespec="seconds"),
        "valueQuantity": {"value": 138, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
    }


def _payments(site: Site) -> list[int]:
    """Every visit paid by the site's settlement: the gas of each pay_visit."""
    paid = site.node.trial_site.settle(site.trial_id)
    expected = len(site.patients) * len(site.protocol.visits)
    if len(paid) != expected:
        raise RuntimeError(f"settle paid {len(paid)} visits, not {expected}")
    receipts = site.node.chain.w3.eth
    return [int(receipts.get_transaction_receipt(HexStr(payment.tx_hash))["gasUsed"]) for payment in paid]


def _gas(node: Node, since: int, sender: str) -> list[int]:
    """The gas of each transaction `sender` sent in the blocks after `since`."""
    w3 = node.chain.w3
    used = []
    for number in range(since + 1, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if not isinstance(tx, bytes) and tx["from"] == sender:
                used.append(int(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]))
    return used


def _forecast_times() -> tuple[float, float]:
    """Best of `ROUNDS`: the forecast (fit + its default draws) of `SITES` simulated sites, and numpy drawing as many
    Poisson numbers (draws x sites) with the same generator."""
    rng = np.random.default_rng(42)
    opened = rng.integers(30, 200, size=SITES)
    rates = rng.gamma(2.0, 0.03 / 2.0, size=SITES)
    sites = [
        SiteEnrolment(f"site-{i}", TODAY - timedelta(days=int(days)), int(rng.poisson(rate * days)))
        for i, (days, rate) in enumerate(zip(opened, rates, strict=True))
    ]
    target = sum(s.enrolled for s in sites) + 300
    draws = _DRAWS
    fit = draw = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        forecast(sites, target, TODAY)
        fit = min(fit, time.perf_counter() - started)
        started = time.perf_counter()
        np.random.default_rng(0).poisson(rates, size=(draws, SITES))
        draw = min(draw, time.perf_counter() - started)
    return fit, draw


def _crf_results(crfs: Stored, observations: Stored) -> list[Result]:
    where = f"{PARTICIPANTS} participants x {crfs.count // PARTICIPANTS} visits, one node, SQLite, anvil"
    return [
        Result(
            "CRF responses stored and anchored",
            "responses/s",
            crfs.rate,
            f"{crfs.count} QuestionnaireResponses entered one at a time by the site's staff (validated, source-checked,"
            f" through the door), anchored after each visit round, the records' batch and the visit leaves'"
            f" ({crfs.anchoring:.1f} s of"
            f" {crfs.writing + crfs.anchoring:.1f} s); {where}",
        ),
        Result(
            "beside it: Observations stored and anchored",
            "resources/s",
            observations.rate,
            f"{observations.count} Observations of the same patients by the same staff through the same door,"
            f" anchored after each visit round, the records' batch ({observations.anchoring:.1f} s of"
            f" {observations.writing + observations.anchoring:.1f} s); interleaved per visit round",
        ),
        Result("CRF rate / Observation rate", "x", crfs.rate / observations.rate, "same run"),
    ]


def _gas_results(randomisation: Randomisation, payments: list[int], transfers: list[int]) -> list[Result]:
    allocations = f"{len(randomisation.allocations)} allocation transaction(s) for {PARTICIPANTS}"
    return [
        Result(
            "gas per randomisation",
            "gas",
            randomisation.per_participant,
            f"her enrolment (median {statistics.median(randomisation.enrolments):,.0f}) + her share of"
            f" {allocations} ({sum(randomisation.allocations):,} gas in all)",
        ),
        Result(
            "gas per milestone payment (pay_visit)",
            "gas",
            statistics.median(payments),
            f"median of {len(payments)}: the visit leaf's Merkle proof checked, the site's fee and her stipend"
            " transferred (to a payee she named, a fresh address)",
        ),
        Result(
            "beside them: gas per CareToken transfer",
            "gas",
            statistics.median(transfers),
            f"median of {len(transfers)} ERC-20 transfers by the sponsor, each to an address holding none yet",
        ),
    ]


def _forecast_results(fit: float, draw: float) -> list[Result]:
    draws = _DRAWS
    return [
        Result(
            "forecast fit time, 50 sites",
            "ms",
            fit * 1e3,
            f"Poisson-gamma ML fit + {draws:,} draws of the target date, {SITES} simulated sites, best of {ROUNDS}",
        ),
        Result(
            "beside it: numpy Poisson draw of the same size",
            "ms",
            draw * 1e3,
            f"default_rng().poisson, {draws:,} x {SITES} numbers, best of {ROUNDS}",
        ),
    ]


BENCHMARKS = [bench_trials]
