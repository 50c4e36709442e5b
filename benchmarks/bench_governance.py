"""Governance: gas per council proposal, vote, queueing vote and execution of an admission, against the deployer
admitting a node alone (the same two role grants, before the council exists).

Three member nodes on one in-process chain, a council of 2 of 3 with an hour's delay. Each round admits an
organisation registered on chain (`governance propose admit`): node a proposes, a votes (a vote that queues
nothing), b votes (the vote that reaches the threshold and queues the batch in the timelock), c executes after
the delay (the two grants, REGISTRAR_ROLE and ANCHORER_ROLE). Gas is each transaction's receipt `gasUsed`,
intrinsic gas and calldata included; the baseline is `chain admit`'s grants sent directly by the deployer.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks import Result, registered_wallet
from careledger.chain import Chain, Role, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.governance import AdmitNode
from careledger.node import Node
from careledger.testdata import founding_node, joining_node

ROUNDS = 3
DELAY = 3_600


def bench_governance() -> list[Result]:
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    with tempfile.TemporaryDirectory() as tmp, open_chain("memory") as chain:
        a = founding_node(Path(tmp) / "a", settings, chain=chain)
        b, c = (joining_node(Path(tmp) / n, settings, a, chain=chain) for n in "bc")
        try:
            direct = [_direct_admission(a, chain, i) for i in range(ROUNDS)]
            a.governance.bootstrap([a.address, b.address, c.address], 2, DELAY, 7 * 86_400)
            rounds = [_admission(a, b, c, chain, i) for i in range(ROUNDS)]
        finally:
            for node in (c, b, a):
                node.close()
    propose, vote, queue, execute = (statistics.mean(r[i] for r in rounds) for i in range(4))
    whole = propose + vote + queue + execute
    conditions = f"admit-node proposal, 2 of 3, mean of {ROUNDS}"
    return [
        Result("gas per governance proposal", "gas", propose, f"{conditions}; two calls in its event"),
        Result("gas per governance vote", "gas", vote, f"{conditions}; a vote that queues nothing"),
        Result("gas per queueing vote", "gas", queue, f"{conditions}; the k-th vote, scheduled in the timelock"),
        Result("gas per governance execution", "gas", execute, f"{conditions}; REGISTRAR_ROLE and ANCHORER_ROLE"),
        Result("gas per admission by the council", "gas", whole, "propose, 2 votes, execute"),
        Result(
            "baseline: admission by the deployer alone",
            "gas",
            statistics.mean(direct),
            f"the same two grants sent directly, before bootstrap; mean of {ROUNDS}",
        ),
    ]


def _gas(chain: Chain) -> int:
    """The gas the latest block's one transaction used (the in-process chain mines one per block)."""
    block = chain.w3.eth.get_block("latest")
    (tx_hash,) = block["transactions"]
    return int(chain.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])


def _direct_admission(a: Node, chain: Chain, i: int) -> int:
    organisation = registered_wallet(a, f"direct-{i}", Role.ORG)
    a.contracts.identity_registry(as_wallet=NODE_WALLET).grant_role("REGISTRAR_ROLE", organisation.address)
    gas = _gas(chain)
    a.contracts.record_anchor(write=True).grant_anchorer(organisation.address)
    return gas + _gas(chain)


def _admission(a: Node, b: Node, c: Node, chain: Chain, i: int) -> tuple[int, int, int, int]:
    organisation = registered_wallet(a, f"admitted-{i}", Role.ORG)
    proposal = a.governance.propose(AdmitNode(organisation.address), f"organisation {i} joins")
    propose = _gas(chain)
    a.governance.vote(proposal.proposal_id)
    vote = _gas(chain)
    b.governance.vote(proposal.proposal_id)
    queue = _gas(chain)
    tester = chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    tester.time_travel(chain.timestamp() + DELAY)
    tester.mine_blocks(1)
    c.governance.execute(proposal.proposal_id)
    return propose, vote, queue, _gas(chain)


BENCHMARKS = [bench_governance]
