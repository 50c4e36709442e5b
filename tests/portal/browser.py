"""A real Chromium (Debian's, driven by Playwright), a wallet injected into it, axe-core and screenshots.

The injected wallet is an EIP-1193 provider whose keys stay in this test process and sign
with eth-account, as a wallet extension signs outside the page: nothing of ours signs.
axe-core is the npm package the project's set-up installs, evaluated in the page by the
test (DevTools evaluation, which the page's Content-Security-Policy does not govern).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules/axe-core/axe.min.js"
ARTIFACTS = Path(os.environ.get("CARELEDGER_ARTIFACTS", ROOT / "artifacts")) / "portal"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

_PROVIDER = """
window.ethereum = {
  isCareLedgerTestWallet: true,
  request: async ({ method, params }) => {
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [ADDRESS];
    if (method === "personal_sign") return await window.testWalletSignMessage(params[0]);
    if (method === "eth_signTypedData_v4") return await window.testWalletSignTyped(params[1]);
    throw new Error(`the test wallet does not do ${method}`);
  },
};
"""

# The most video frames the visit room's connection (`static/room.js`) decoded from the other side, per getStats().
_FRAMES_DECODED = """async () => {
  const peer = window.careledgerRoom && window.careledgerRoom.peer();
  if (!peer) return 0;
  let frames = 0;
  (await peer.getStats()).forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "video") frames = Math.max(frames, report.framesDecoded || 0);
  });
  return frames;
}"""


def wallet_context(browser: Browser, account: LocalAccount | None = None) -> BrowserContext:
    """A fresh browser profile; with `account`, a wallet extension holding its key."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(30_000)
    if account is not None:
        context.expose_function("testWalletSignMessage", lambda hex_message: _sign_message(account, hex_message))
        context.expose_function("testWalletSignTyped", lambda typed: _sign_typed(account, typed))
        context.add_init_script(_PROVIDER.replace("ADDRESS", json.dumps(account.address)))
    return context


def keystore_account(path: Path, passphrase: str) -> LocalAccount:
    """The account of a keystore v3 file, decrypted as any wallet would."""
    account: LocalAccount = Account.from_key(Account.decrypt(json.loads(path.read_text()), passphrase))
    return account


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document)).violations
             .filter(v => v.impact === "serious" || v.impact === "critical")
             .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}))"""
    )
    return found


def check_page(page: Page, name: str) -> None:
    """Screenshots of the page at desktop and phone width (artefacts), and no serious axe violation at either."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        violations = serious_violations(page)
        assert violations == [], f"{name} at {label} width: {violations}"
    page.set_viewport_size(DESKTOP)


def frames_decoded(page: Page) -> int:
    """The video frames a visit room's page has decoded from the other side, once there are some (at most a
    minute)."""
    deadline = time.monotonic() + 60
    while (frames := int(page.evaluate(_FRAMES_DECODED))) == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    return frames


def _sign_message(account: LocalAccount, hex_message: str) -> str:
    signed = account.sign_message(encode_defunct(hexstr=hex_message))
    return "0x" + bytes(signed.signature).hex()


def _sign_typed(account: LocalAccount, typed: str) -> str:
    signed = account.sign_typed_data(full_message=json.loads(typed))
    return "0x" + bytes(signed.signature).hex()
