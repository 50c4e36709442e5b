"""A node for governance tests: one that joined the chain and registered itself, and that no one admitted."""

from __future__ import annotations

import shutil
from pathlib import Path

from careledger.chain import Chain, Role
from careledger.config import NODE_WALLET, Home, Settings
from careledger.homes import init_home
from careledger.node import Node
from careledger.testdata import PASSPHRASE


def registered_node(path: Path, settings: Settings, founder: Node, chain: Chain) -> Node:
    """A node that joined the chain and registered its organisation, and that no one admitted."""
    home = Home(path)
    init_home(home, settings, PASSPHRASE)
    shutil.copytree(founder.home.deployments_dir, home.deployments_dir, dirs_exist_ok=True)
    node = Node(home, settings, lambda _wallet: PASSPHRASE, lazy=True)
    node.__dict__["chain"] = chain
    key = node.wallets.get(NODE_WALLET).encryption_key
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register(Role.ORG, key)
    return node
