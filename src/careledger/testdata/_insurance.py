"""The worked example's insurance plan (docs/claims.md), set up on a node: for tests and benchmarks."""

from __future__ import annotations

import time

from careledger.chain import PlanTerms
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET
from careledger.identity import Wallet
from careledger.node import Node

CARE = 10**18
_DAY = 86_400

EXAMPLE_ALLOWED = {
    ServiceClass.OFFICE_VISIT: 150,
    ServiceClass.LAB: 80,
    ServiceClass.IMAGING: 1_200,
    ServiceClass.SURGERY: 8_000,
}


def example_plan_terms(token: str) -> PlanTerms:
    """Deductible 500 CARE, 20% coinsurance, out-of-pocket maximum 1,500; imaging needs prior
    authorization; claims allowed over 5,000 are reviewed; covering the last 30 days and the
    next 335."""
    allowed = [0] * 16
    for service_class, amount in EXAMPLE_ALLOWED.items():
        allowed[service_class] = amount * CARE
    start = int(time.time()) - 30 * _DAY
    return PlanTerms(
        token=token,
        allowed=tuple(allowed),
        deductible=500 * CARE,
        coinsurance_bps=2_000,
        oop_max=1_500 * CARE,
        coverage_start=start,
        coverage_end=start + 365 * _DAY,
        preauth_classes=ServiceClass.IMAGING.bit,
        review_threshold=5_000 * CARE,
    )


def insure(node: Node, insurer: Wallet, members: list[Wallet], *, escrow: int = 1_000_000 * CARE) -> int:
    """Register the node, insurer and members, and have the insurer create the example plan in
    CARE (minted to it), fund its escrow, admit the node to its network and enrol the members.
    The plan's id."""
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    for wallet in (node.wallets.get(NODE_WALLET), insurer, *members):
        if registry.actor(wallet.address) is None:
            registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
    node.contracts.token(as_wallet=NODE_WALLET).mint(insurer.address, escrow)
    token = node.contracts.token(as_wallet=insurer.name)
    claims = node.contracts.claims(as_wallet=insurer.name)
    token.approve(claims.address, escrow)
    terms = example_plan_terms(token.address)
    plan_id = claims.create_plan(terms)
    claims.fund(plan_id, escrow)
    claims.set_network(plan_id, node.address, True)
    for member in members:
        claims.enroll(member.address, plan_id, terms.coverage_start, terms.coverage_end)
    return plan_id
