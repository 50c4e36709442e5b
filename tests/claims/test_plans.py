"""Plans: creating one with its escrow is all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from careledger.chain import Role
from careledger.config import NODE_WALLET, Settings
from careledger.errors import Conflict, NotFound
from careledger.node import Node
from careledger.testdata import CARE, example_plan_terms, scratch_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A node on the memory chain with a registered insurer holding 50 CARE."""
    with scratch_node(tmp_path / "home", Settings(chain="memory", light_kdf=True)) as node:
        insurer = node.wallets.create("insurer", Role.INSURER, "pw")
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.register_actor(insurer.address, insurer.role, insurer.encryption_key)
        node.payments.mint(NODE_WALLET, insurer.address, 50 * CARE)
        yield node


def test_a_plan_the_insurer_cannot_fund_is_not_created(node: Node) -> None:
    terms = example_plan_terms(node.payments.currency().token)
    with pytest.raises(Conflict, match="insurer holds 50 CARE, less than the 100 asked for: nothing was done"):
        node.plans.create("insurer", terms, fund=100 * CARE)
    with pytest.raises(NotFound, match="no plan 1"):
        node.plans.show(1)
    view = node.plans.create("insurer", terms, fund=50 * CARE)
    assert (view.plan.plan_id, view.plan.escrow) == (1, 50 * CARE)
    assert node.payments.balance(view.plan.insurer) == 0
