"""Visit escrow: gas per escrowed telehealth visit, each movement apart.

A node in a temporary home on a managed anvil chain, and patients whose wallets are outside it
(eth-account keys) holding CARE. Gas is the receipt's `gasUsed`, intrinsic gas and calldata
included, of the transaction the node sends through `VisitPayments`: `hold` with the
patient's permit and signed terms (a patient's first booking writes her escrow nonce from
zero; a later one changes it), then one settlement each: `release`, `refund` (the provider
cancels), her signed cancellation relayed, and a no-show split (after the chain's clock is
moved past the slot).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from benchmarks import Result
from careledger.config import NODE_WALLET, Settings
from careledger.crypto import sign_typed_data
from careledger.node import Node
from careledger.telehealth import VisitPayment
from careledger.testdata import CARE, scratch_node

PATIENTS = 10
FEE = 80 * CARE


def bench_visit_escrow() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", Settings(light_kdf=True)) as node:
        patients: list[LocalAccount] = [Account.create() for _ in range(PATIENTS)]
        token = node.contracts.token(as_wallet=NODE_WALLET)
        for patient in patients:
            token.mint(patient.address, 1_000 * CARE)
        gas: dict[str, list[int]] = {}
        for i, patient in enumerate(patients):
            for visit in ("released", "refunded", "cancelled", "missed"):
                paid = _hold(node, patient, f"bench-{visit}-{i}", in_progress=visit == "released")
                gas.setdefault("first hold" if visit == "released" else "hold", []).append(_gas(paid))
            gas.setdefault("release", []).append(_gas(node.visit_payments.release(f"bench-released-{i}")))
            gas.setdefault("refund", []).append(_gas(node.visit_payments.refund(f"bench-refunded-{i}")))
            gas.setdefault("cancel", []).append(_gas(_cancel(node, patient, f"bench-cancelled-{i}")))
        _pass_the_slots(node)
        gas["no-show"] = [_gas(node.visit_payments.no_show(f"bench-missed-{i}")) for i in range(PATIENTS)]
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


BENCHMARKS = [bench_visit_escrow]
