"""`careledger chain admit NODE --issuer` on two homes sharing one anvil chain: the deployer lets a joined node
attest, so that node's own pharmacist is of its staff; another node is refused saying who decides; once the
council is bootstrapped the deployer is refused too, told what to propose."""

from __future__ import annotations

import pytest
from eth_account import Account

from careledger.chain import open_chain
from careledger.config import Settings
from careledger.identity import AFFILIATION
from careledger.testdata import PASSPHRASE, founding_node, joining_node
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


def test_the_deployer_lets_a_joined_node_attest_its_staff_until_the_council_decides(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("COLUMNS", "200")
    tmp = tmp_path_factory.mktemp("chain-admit-cli")
    with open_chain("anvil", chain_dir=tmp / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        with (
            founding_node(tmp / "a", settings) as deployer,
            joining_node(tmp / "b", settings, deployer) as pharmacy,
        ):
            a, b = Cli(deployer.home.path, capsys), Cli(pharmacy.home.path, capsys)
            registry = deployer.contracts.identity_registry()
            assert b("wallet", "new", "pat", "--role", "pharmacy").code == 0
            assert b("identity", "register", "pat").code == 0
            pat = pharmacy.wallets.get("pat").address
            staff = ("identity", "attest", "node", "pat", "--type", AFFILIATION, "--days", "365")
            assert b(*staff).code == 5  # no ISSUER_ROLE: a joined pharmacy has no staff yet

            refused = b("chain", "admit", pharmacy.address, "--issuer")
            said = _words(refused.err)
            assert refused.code == 5
            assert f"this node ({pharmacy.address}) does not administer IdentityRegistry" in said
            assert "the node that deployed the contracts admits nodes until it bootstraps the council" in said

            admitted = a("chain", "admit", pharmacy.address, "--issuer", "--json")
            assert admitted.code == 0, admitted.err
            assert admitted.json() == {
                "node": pharmacy.address,
                "anchor": deployer.contracts.record_anchor().address,
                "registry": registry.address,
                "admitted_now": False,  # joining_node let it anchor already
                "issuer_now": True,
                "anchorer": True,
                "issuer": True,
            }
            assert b(*staff).code == 0
            assert registry.valid_credential_from(pat, AFFILIATION, pharmacy.address)
            assert a("chain", "issuers", "--json").json() == [deployer.address, pharmacy.address]
            again = a("chain", "admit", pharmacy.address, "--issuer").said
            assert f"{pharmacy.address} could already attest credentials" in again

            seat = ("--member", deployer.address, "--threshold", "1", "--delay", "1h")
            assert a("governance", "bootstrap", *seat).code == 0
            newcomer = Account.create().address
            late = a("chain", "admit", newcomer, "--issuer")
            said = _words(late.err)
            assert late.code == 5
            assert "the council administers RecordAnchor and IdentityRegistry since it was bootstrapped" in said
            assert f"`careledger governance propose admit {newcomer} --reason …`, then " in said
            assert f"`careledger governance propose appoint-issuer {newcomer} --reason …`" in said
            assert not registry.is_role_holder("ISSUER_ROLE", newcomer)


def _words(text: str) -> str:
    """A refusal's words one space apart, however the console wrapped them."""
    return " ".join(text.split())
