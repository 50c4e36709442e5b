"""A study across two nodes for tests and benchmarks: a sponsor, an ethics board, and patients on both nodes."""

from __future__ import annotations

from dataclasses import dataclass

from careledger.chain import Role
from careledger.config import NODE_WALLET
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Category, Resource
from careledger.research import StudyState, protocol_hash
from careledger.testdata._generator import synthetic_patients
from careledger.testdata._insurance import CARE
from careledger.testdata._nodes import PASSPHRASE

PROTOCOL = b"Resting heart rate and sleep: an observational study. Protocol v1."
REWARD = 10 * CARE


@dataclass(frozen=True, slots=True)
class StudySetUp:
    """The study (not yet approved), who runs it, and the patients charted on each node."""

    study: StudyState
    sponsor: Wallet  # "lab", kept by the clinic
    board: Wallet  # "irb", kept by the hospital, with a research-ethics-approval credential
    carol: Wallet  # a patient with her own wallet, kept by the clinic
    hospital_patients: list[str]  # custodial
    clinic_patients: list[str]  # carol first, then custodial


def set_up_study(
    hospital: Node, clinic: Node, *, per_node: int, budget: int, marks: dict[int, float] | None = None
) -> StudySetUp:
    """Register the actors, mint the sponsor's CARE, chart `per_node` patients on each node (all in one
    quasi-identifier class, so k-anonymity keeps them; hospital patient `i` gets value `marks[i]` on every
    quantity), and register the study: labs and vitals of any date, 30 days, epsilon 1, `REWARD` each."""
    registry = hospital.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.grant_role("REGISTRAR_ROLE", clinic.address)
    sponsor = _registered(clinic, hospital, "lab", Role.RESEARCHER)
    carol = _registered(clinic, hospital, "carol", Role.PATIENT)
    board = _registered(hospital, hospital, "irb", Role.ORG)
    registry.attest(board.address, "research-ethics-approval", 2**40)
    hospital.contracts.token(as_wallet=NODE_WALLET).mint(sponsor.address, budget)
    hospital_patients = _chart(hospital, per_node, seed=31, marks=marks or {})
    clinic_patients = _chart(clinic, per_node, seed=32, wallet=carol)
    terms = clinic.studies.terms(
        protocol_hash(PROTOCOL),
        categories=[Category.LABS, Category.VITALS],
        data_from=0,
        data_to=2**33,
        days=30,
        epsilon=1.0,
        reward=REWARD,
        budget=budget,
    )
    study = clinic.studies.create(sponsor.name, terms)
    return StudySetUp(study, sponsor, board, carol, hospital_patients, clinic_patients)


def _registered(node: Node, registrar: Node, name: str, role: Role) -> Wallet:
    wallet = node.wallets.create(name, role, PASSPHRASE)
    registrar.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        wallet.address, wallet.role, wallet.encryption_key
    )
    return wallet


def _chart(
    node: Node, count: int, seed: int, *, wallet: Wallet | None = None, marks: dict[int, float] | None = None
) -> list[str]:
    addresses = []
    for i, patient in enumerate(synthetic_patients(count, seed=seed)):
        own = wallet.address if wallet is not None and i == 0 else None
        stored = node.maintenance.write(_same_class(patient.patient), patient_address=own)
        addresses.append(stored.patient_address)
        for record in patient.records:
            node.maintenance.write(_marked(record, (marks or {}).get(i)))
    return addresses


def _same_class(patient: Resource) -> Resource:
    """Born 1985, female, no ZIP: one quasi-identifier class."""
    return {**patient, "birthDate": "1985-06-01", "gender": "female"}


def _marked(record: Resource, mark: float | None) -> Resource:
    if mark is None or "valueQuantity" not in record:
        return record
    return {**record, "valueQuantity": {**record["valueQuantity"], "value": mark}}
