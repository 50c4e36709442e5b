"""Nodes of one network on a shared chain, as separate homes: for tests, benchmarks and the demo.

The first node deploys the contracts; a node that joins adopts its deployments (the
network's address book), registers its wallet, and is let anchor by the founder (who
administers RecordAnchor). The shared chain is an anvil reached by
its URL, which funds the nodes' wallets as they sign, or one in-process
memory chain handed to every node (`chain=`), for tests that need several
nodes and many transactions fast.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from careledger.chain import Chain, Role
from careledger.config import NODE_WALLET, Home, Settings
from careledger.homes import init_home
from careledger.node import Node
from careledger.testdata._nodes import PASSPHRASE


def founding_node(
    path: Path, settings: Settings, endpoint: str = "", *, passphrase: str = PASSPHRASE, chain: Chain | None = None
) -> Node:
    """A new home whose node deploys the contracts and registers itself (an organisation)."""
    home = Home(path)
    init_home(home, settings, passphrase)
    node = _node(home, settings, passphrase, chain)
    node.deploy()
    _register(node, endpoint)
    return node


def joining_node(
    path: Path,
    settings: Settings,
    founder: Node,
    endpoint: str = "",
    *,
    passphrase: str = PASSPHRASE,
    chain: Chain | None = None,
) -> Node:
    """A new home on the founder's chain: deployments adopted, wallet registered, let anchor by the founder."""
    home = Home(path)
    init_home(home, settings, passphrase)
    shutil.copytree(founder.home.deployments_dir, home.deployments_dir, dirs_exist_ok=True)
    node = _node(home, settings, passphrase, chain)
    _register(node, endpoint)
    founder.contracts.record_anchor(write=True).grant_anchorer(node.address)
    return node


def _node(home: Home, settings: Settings, passphrase: str, chain: Chain | None) -> Node:
    """The home's node on the chain its settings name, or on `chain`, shared with other nodes of this process."""
    if chain is None:
        return Node(home, settings, lambda _wallet: passphrase)
    node = Node(home, settings, lambda _wallet: passphrase, lazy=True)
    node.__dict__["chain"] = chain  # before anything opens the home's own: the cached property is never computed
    return node


def _register(node: Node, endpoint: str) -> None:
    wallet = node.wallets.get(NODE_WALLET)
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register(Role.ORG, wallet.encryption_key, endpoint)
