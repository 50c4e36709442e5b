"""Nodes of one network on a shared chain, as separate homes: for tests, benchmarks and the demo.

The first node deploys the contracts; a node that joins adopts its deployments (the
network's address book) and registers its wallet. The shared chain is an anvil reached by
its URL, which funds the nodes' wallets as they sign.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from careledger.chain import Role
from careledger.config import NODE_WALLET, Home, Settings
from careledger.node import Node, init_home
from careledger.testdata._nodes import PASSPHRASE


def founding_node(path: Path, settings: Settings, endpoint: str = "") -> Node:
    """A new home whose node deploys the contracts and registers itself (an organisation)."""
    home = Home(path)
    init_home(home, settings, PASSPHRASE)
    node = Node(home, settings, lambda _wallet: PASSPHRASE)
    node.deploy()
    _register(node, endpoint)
    return node


def joining_node(path: Path, settings: Settings, founder: Node, endpoint: str = "") -> Node:
    """A new home on the founder's chain: the network's deployments adopted, its wallet registered."""
    home = Home(path)
    init_home(home, settings, PASSPHRASE)
    shutil.copytree(founder.home.deployments_dir, home.deployments_dir, dirs_exist_ok=True)
    node = Node(home, settings, lambda _wallet: PASSPHRASE)
    _register(node, endpoint)
    return node


def _register(node: Node, endpoint: str) -> None:
    wallet = node.wallets.get(NODE_WALLET)
    node.identity_registry(as_wallet=NODE_WALLET).register(Role.ORG, wallet.encryption_key, endpoint)


def serve(home: Home, port: int, *, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """`careledger serve` for `home` as its own process, once it answers on `port`."""
    env = {**os.environ, "CARELEDGER_PASSPHRASE": PASSPHRASE}
    command = [sys.executable, "-m", "careledger", "--home", str(home.path), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = server.stderr.read().decode() if server.stderr else ""
            raise RuntimeError(f"the node at {home.path} did not start: {error}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the node at {home.path} did not answer on port {port} within 60 s")
