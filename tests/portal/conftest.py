"""One node for the portal's tests: its anvil chain, `careledger serve` as a process, and a real Chromium.

The node is set up as an operator would, with the CLI: a practitioner on its care team
(drbob, with a medical licence for break-glass), a clinic organization a patient may
consent to, and carol, a patient with her own wallet.

For visits over video, Chromium gets a fake camera and microphone it may use without asking
(`media_browser`); for what happens after a visit's window, the node is served again with its clock
ahead (`Clinic.restarted` under `clock_ahead`, Debian's libfaketime) and its chain's time moved on
(`Clinic.mine_at`, anvil's own RPC).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser, Page, sync_playwright

from careledger.api import NodeProcess, free_port
from careledger.cli import run
from careledger.config import Home
from tests.outside_wallet import signed_in_message
from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS, keystore_account, wallet_context

PASSPHRASE = "test passphrase"
FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# Debian's libfaketime (`make setup` installs it): preloaded, it moves a program's clock.
FAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"), Path("/usr/lib/faketime/libfaketime.so.1"))

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

    def bearer(self, wallet: str) -> dict[str, str]:
        """The `Authorization` header of a token the API's own SIWE login gives a held wallet."""
        message, signature = self.signed_in_message(wallet)
        login = httpx.post(f"{self.url}/auth/login", json={"message": message, "signature": signature})
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    def restarted(self, *prefix: str) -> None:
        """Serve the node from a new process (on a new port) run under `prefix`, such as `clock_ahead`'s; the
        fixture stops whichever process serves it last."""
        assert self.server.stop() == 0, self.server.log_tail()
        self.server = NodeProcess(Home(self.home), free_port(), passphrase=PASSPHRASE, prefix=prefix).start()
        self.url = self.server.url

    def mine_at(self, timestamp: int) -> None:
        """Move the node's chain on to `timestamp` (a block mined then), unless its latest block is that late."""
        endpoint = json.loads((self.home / "chain" / "endpoint.json").read_text())["url"]

        def rpc(method: str, *params: Any) -> Any:
            reply = httpx.post(endpoint, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
            assert "error" not in reply.json(), reply.text
            return reply.json()["result"]

        if int(rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) < timestamp:
            rpc("evm_setNextBlockTimestamp", timestamp)
            rpc("evm_mine")


def clock_ahead(seconds: int) -> tuple[str, ...]:
    """The command prefix that runs a program with its clock `seconds` ahead of this machine's: `env` execs it
    (a signal to stop it reaches it, as faketime's own wrapper, which forks, would not pass on)."""
    if not FAKETIME.exists():
        pytest.fail("Debian's libfaketime is not installed: run `make setup` (it installs it)")
    return ("env", f"LD_PRELOAD={FAKETIME}", f"FAKETIME=+{seconds}")


def signed_in(browser: Browser, clinic: Clinic, wallet: str) -> Page:
    """A page of a fresh profile whose wallet extension holds `wallet`'s key (camera and microphone allowed),
    signed in to the portal with it."""
    context = wallet_context(browser, clinic.account(wallet))
    context.grant_permissions(["camera", "microphone"], origin=clinic.url)
    page = context.new_page()
    page.goto(f"{clinic.url}/portal/signin")
    page.get_by_role("button", name="Sign in with the browser's wallet").click()
    page.wait_for_url(re.compile(r"/portal/(staff|records)"))
    return page


class Commands(Protocol):
    """Runs one `careledger` command against a home (with `--json` unless `json_out` is False); its JSON."""

    def __call__(self, *args: str, json_out: bool = True) -> Any: ...


def in_process(home: Path) -> Commands:
    """`careledger` commands run in this process (`careledger.cli.run`), not each in a new one: the same commands
    and code, without an interpreter and its imports started for each (seconds apiece on a loaded machine)."""

    def cli(*args: str, json_out: bool = True) -> Any:
        with pytest.MonkeyPatch.context() as env, redirect_stdout(io.StringIO()) as out:
            env.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
            code = run(["--home", str(home), *args, *(["--json"] if json_out else [])])
        assert code == 0, f"careledger {' '.join(args)}: exit {code}"
        return json.loads(out.getvalue()) if json_out and out.getvalue().strip() else None

    return cli


@contextmanager
def served(home: Path, cli: Commands, *more: tuple[str, ...]) -> Iterator[Clinic]:
    """A node at `home` set up as an operator would, with `cli`: a practitioner on its care team (drbob, with a
    medical licence for break-glass), a clinic organization and carol, a patient; then `more` commands. Served by
    `careledger serve` as a process; the server, then its chain, stopped after."""
    cli("init", "--light-kdf")
    cli("chain", "up", "--detach", json_out=False)
    try:
        cli("chain", "deploy")
        for name, role in (("drbob", "practitioner"), ("clinic", "org"), ("carol", "patient")):
            cli("wallet", "new", name, "--role", role)
            cli("identity", "register", name)
        cli("identity", "attest", "node", "drbob", "--type", "affiliation", "--days", "30")
        cli("identity", "attest", "node", "drbob", "--type", "medical-licence", "--days", "30")
        for command in more:
            cli(*command)
        server = NodeProcess(Home(home), free_port(), passphrase=PASSPHRASE).start()
        clinic = Clinic(home, server.url, server)
        try:
            yield clinic
        finally:
            assert clinic.server.stop() == 0, clinic.server.log_tail()
    finally:
        cli("chain", "down", json_out=False)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """A node with its chain and its server process, for the module (each command of its set-up a process)."""
    home = tmp_path_factory.mktemp("portal") / "home"
    with served(home, Clinic(home, "", NodeProcess(Home(home), 0, passphrase=PASSPHRASE)).cli) as clinic:
        yield clinic


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make setup` (it installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def media_browser() -> Iterator[Browser]:
    """Debian's Chromium with a fake camera and microphone it may use without asking."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *FAKE_MEDIA])
        yield launched
        launched.close()
