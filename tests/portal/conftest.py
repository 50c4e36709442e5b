"""One node for the portal's tests: its anvil chain, `careledger serve` as a process, and a real Chromium.

The node is set up as an operator would, with the CLI: a practitioner on its care team
(drbob, with a medical licence for break-glass), a clinic organization a patient may
consent to, and carol, a patient with her own wallet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser, sync_playwright

from careledger.api import NodeProcess, free_port
from careledger.config import Home
from tests.outside_wallet import signed_in_message
from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS, keystore_account

PASSPHRASE = "test passphrase"

pytestmark = pytest.mark.anvil


@dataclass
class Clinic:
    """The node under test: where it serves, and the keys of the wallets its people hold."""

    home: Path
    url: str
    server: NodeProcess

    def cli(self, *args: str, json_out: bool = True) -> Any:
        """Run `careledger` (with `--json`) against the home, a separate process as an operator would; its JSON."""
        done = subprocess.run(
            [sys.executable, "-m", "careledger", "--home", str(self.home), *args, *(["--json"] if json_out else [])],
            env={**os.environ, "CARELEDGER_PASSPHRASE": PASSPHRASE},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"careledger {' '.join(args)}: {done.stderr}"
        return json.loads(done.stdout) if json_out and done.stdout.strip() else None

    def account(self, wallet: str) -> LocalAccount:
        """The key of a wallet this node holds, as the person's own wallet would hold it."""
        return keystore_account(self.home / "keystore" / f"{wallet}.json", PASSPHRASE)

    def signed_in_message(self, wallet: str) -> tuple[str, str]:
        """A Sign-In with Ethereum message for this node (a fresh nonce) and a held wallet's signature of it,
        made with the siwe library and eth-account, as a wallet outside the project makes them."""
        return signed_in_message(self.url, self.account(wallet))

    def address(self, wallet: str) -> str:
        """A held wallet's address."""
        return self.account(wallet).address


def _set_up(clinic: Clinic) -> None:
    clinic.cli("chain", "deploy")
    for name, role in (("drbob", "practitioner"), ("clinic", "org"), ("carol", "patient")):
        clinic.cli("wallet", "new", name, "--role", role)
        clinic.cli("identity", "register", name)
    clinic.cli("identity", "attest", "node", "drbob", "--type", "affiliation", "--days", "30")
    clinic.cli("identity", "attest", "node", "drbob", "--type", "medical-licence", "--days", "30")


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """A node with its chain and its server process, for the module."""
    home = tmp_path_factory.mktemp("portal") / "home"
    setup = Clinic(home, "", NodeProcess(Home(home), 0, passphrase=PASSPHRASE))
    setup.cli("init", "--light-kdf")
    setup.cli("chain", "up", "--detach", json_out=False)
    try:
        _set_up(setup)
        port = free_port()
        server = NodeProcess(Home(home), port, passphrase=PASSPHRASE).start()
        try:
            yield Clinic(home, server.url, server)
        finally:
            assert server.stop() == 0, server.log_tail()
    finally:
        setup.cli("chain", "down", json_out=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make setup` (it installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
