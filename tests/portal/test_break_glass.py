"""The portal's break-glass pages over real HTTP: carol's switch, sent by her own wallet, and the review queue.

Carol and the staff sign in with the SIWE form as a browser posts it (origin and form token); carol's wallet
sends the transaction the node prepares as an outside wallet would, with eth-account over the chain's RPC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from eth_abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector

from careledger.cli import run
from tests.portal.conftest import PASSPHRASE, Clinic, in_process, served

pytestmark = pytest.mark.anvil

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
_SET_EMERGENCY_ACCESS = function_signature_to_4byte_selector("set_emergency_access(address,bool)")
REASON = "found unconscious; no consent on file"
_OFFICER = ("affiliation", "privacy-officer")


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """The portal's node (`served`), set up in this process, and olivia, its privacy officer (a practitioner on its
    care team who reviews break-glass uses)."""
    home = tmp_path_factory.mktemp("glass") / "home"
    officer = [("wallet", "new", "olivia", "--role", "practitioner"), ("identity", "register", "olivia")]
    officer += [("identity", "attest", "node", "olivia", "--type", kind, "--days", "30") for kind in _OFFICER]
    with served(home, in_process(home), *officer) as clinic:
        yield clinic


@contextmanager
def _session(clinic: Clinic, wallet: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the portal as `wallet`, through the sign-in form."""
    with httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url}) as client:
        message, signature = clinic.signed_in_message(wallet)
        form = {"csrf": _csrf(client.get("/portal/signin").text), "message": message, "signature": signature}
        assert client.post("/portal/signin", data=form).status_code == 303
        yield client


@pytest.fixture
def carol(people: Clinic) -> Iterator[httpx.Client]:
    with _session(people, "carol") as client:
        yield client


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no form token on the page"
    return found.group(1)


def _rpc(clinic: Clinic, method: str, *params: Any) -> Any:
    endpoint = json.loads((clinic.home / "chain" / "endpoint.json").read_text())["url"]
    reply = httpx.post(endpoint, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
    if "error" in reply:
        raise RuntimeError(reply["error"]["message"])
    return reply["result"]


def _prepared(client: httpx.Client, switch: str) -> httpx.Response:
    csrf = _csrf(client.get("/portal/consents").text)
    form = {"csrf": csrf, "break_glass": switch}
    return client.post("/portal/break-glass/prepare", data=form, headers={"Accept": "application/json"})


def _send(clinic: Clinic, account: LocalAccount, tx: dict[str, Any]) -> None:
    """Send `tx` from `account` as an outside wallet does (its own gas), and wait for it to be mined."""
    _rpc(clinic, "anvil_setBalance", account.address, hex(10**18))
    call = {"from": account.address, "to": tx["to"], "data": tx["data"]}
    signed = Account.sign_transaction(
        {
            **call,
            "chainId": tx["chainId"],
            "nonce": int(_rpc(clinic, "eth_getTransactionCount", account.address, "pending"), 16),
            "gas": int(_rpc(clinic, "eth_estimateGas", call), 16) * 2,
            "gasPrice": int(_rpc(clinic, "eth_gasPrice"), 16) * 2,
        },
        account.key,
    )
    sent = _rpc(clinic, "eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
    assert int(_rpc(clinic, "eth_getTransactionReceipt", sent)["status"], 16) == 1


def _emergency(clinic: Clinic, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Dr Bob breaks the glass on carol's records from the CLI, as the emergency department would: its exit code
    and what it said on stderr."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
        command = ["access", "emergency", "--patient", "carol", "--reason", REASON, "--as", "drbob"]
        code = run(["--home", str(clinic.home), *command])
    return code, capsys.readouterr().err


def test_her_wallet_turns_break_glass_off_and_on_and_no_one_else_can(
    people: Clinic, carol: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "Break-glass is <strong>on</strong>" in carol.get("/portal/consents").text
    prepared = _prepared(carol, "off")
    assert prepared.status_code == 200, prepared.text
    tx = prepared.json()
    data = bytes.fromhex(tx["data"].removeprefix("0x"))
    assert data[:4] == _SET_EMERGENCY_ACCESS
    assert decode(["address", "bool"], data[4:]) == (people.address("carol").lower(), False)  # hers, named by the node
    assert _prepared(carol, "maybe").status_code == 400
    with pytest.raises(RuntimeError, match="not the patient or a live delegate"):  # another wallet sending it
        _send(people, people.account("drbob"), tx)
    assert "Break-glass is <strong>on</strong>" in carol.get("/portal/consents").text

    _send(people, people.account("carol"), tx)
    assert "Break-glass is <strong>off</strong>" in carol.get("/portal/consents").text
    code, said = _emergency(people, capsys)
    assert code == 5
    assert "turned emergency access off" in said

    _send(people, people.account("carol"), _prepared(carol, "on").json())
    assert "Break-glass is <strong>on</strong>" in carol.get("/portal/consents").text
    code, said = _emergency(people, capsys)
    assert code == 0, said
    accounting = carol.get("/portal/accounting").text
    assert REASON in accounting
    assert "awaiting review" in accounting


def test_a_privacy_officer_reviews_each_use_once(
    people: Clinic, carol: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    if not _pending_entries(people):
        assert _emergency(people, capsys)[0] == 0
    with _session(people, "drbob") as drbob:  # on the care team, but no privacy officer
        assert drbob.get("/portal/break-glass/reviews").status_code == 403
    assert carol.get("/portal/break-glass/reviews").status_code == 403
    with _session(people, "olivia") as olivia:
        page = olivia.get("/portal/break-glass/reviews")
        assert page.status_code == 200
        assert REASON in page.text
        entry = _pending_entries(people)[-1]
        assert f'action="/portal/break-glass/reviews/{entry}"' in page.text
        csrf = _csrf(page.text)
        target = f"/portal/break-glass/reviews/{entry}"
        assert olivia.post(target, data={"csrf": csrf, "verdict": "maybe", "note": "x"}).status_code == 400
        assert olivia.post(target, data={"verdict": "justified", "note": "no token"}).status_code == 403
        done = olivia.post(target, data={"csrf": csrf, "verdict": "justified", "note": "unconscious, alone"})
        assert done.status_code == 303
        again = olivia.post(target, data={"csrf": csrf, "verdict": "unjustified", "note": "second thoughts"})
        assert again.status_code == 409
        after = olivia.get("/portal/break-glass/reviews").text
        assert "unconscious, alone" in after
        assert entry not in _pending_entries(people)
    assert "reviewed: justified" in carol.get("/portal/accounting").text


def _pending_entries(clinic: Clinic) -> list[str]:
    return [use["entry"] for use in in_process(clinic.home)("access", "break-glass", "reviews", "--pending")]
