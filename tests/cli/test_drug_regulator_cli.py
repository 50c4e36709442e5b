"""`careledger drug regulator ...` on two homes sharing one anvil chain: the deployer appoints a regulator, who then
admits a manufacturer, and removes it; a node that does not administer SupplyChain is refused (exit 5) saying who
does; once the council is bootstrapped the deployer is refused too, told to propose it, and the council appoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from careledger.chain import Chain
from careledger.config import Settings
from careledger.node import Node
from careledger.testdata import founding_node, joining_node
from tests.cli.conftest import Cli, Homes, anvil_homes, clis

pytestmark = pytest.mark.anvil

DELAY = 3_600


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homes]:
    tmp = tmp_path_factory.mktemp("drug-regulator-cli")

    def make(settings: Settings, _chain: Chain) -> dict[str, Node]:
        a = founding_node(tmp / "a", settings)  # deployed the contracts: SupplyChain's admin until bootstrap
        return {"a": a, "b": joining_node(tmp / "b", settings, a)}

    with anvil_homes(tmp, make) as homes:
        yield homes


@pytest.fixture
def run(homes: Homes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Cli]:
    return clis(homes.homes, capsys, monkeypatch)


def _admit(cli: Cli, manufacturer: str, prefix: str) -> int:
    licence = ("--licence", "MIA-2026-0042", "--until", "2036-12-31")
    return cli("drug", "admit", manufacturer, "--prefix", prefix, *licence).code


def test_the_deployer_appoints_a_regulator_and_no_other_node_may(homes: Homes, run: dict[str, Cli]) -> None:
    a, b = run["a"], run["b"]
    address = homes.addresses
    assert a("drug", "regulator", "list", "--json").json() == []
    assert "no regulators" in b("drug", "regulator", "list").said
    assert _admit(b, address["a"], "0614141") == 5  # b is no regulator yet

    refused = b("drug", "regulator", "appoint", address["a"])
    assert refused.code == 5
    assert f"this node ({address['b']}) does not administer SupplyChain" in refused.err
    assert "the node that deployed the contracts appoints regulators until it bootstraps the council" in refused.err

    appointed = a("drug", "regulator", "appoint", address["b"], "--json")
    assert appointed.code == 0, appointed.err
    assert appointed.json() == {"regulator": address["b"], "appointed": True, "regulators": [address["b"]]}
    again = a("drug", "regulator", "appoint", address["b"])
    assert (again.code, f"{address['b']} is a regulator already" in again.err) == (6, True)
    assert b("drug", "regulator", "list").said == address["b"]  # any node reads who regulates
    assert _admit(b, address["a"], "0614141") == 0  # the regulator's own act

    assert b("drug", "regulator", "remove", address["b"]).code == 5
    removed = a("drug", "regulator", "remove", address["b"])
    assert removed.code == 0, removed.err
    assert f"{address['b']} is no longer a regulator" in removed.said
    assert a("drug", "regulator", "list", "--json").json() == []
    assert _admit(b, address["b"], "0614142") == 5
    gone = a("drug", "regulator", "remove", address["b"])
    assert (gone.code, "is not a regulator already" in gone.err) == (6, True)
    assert a("drug", "regulator", "appoint", "not-an-address").code == 4  # neither a wallet here nor an address


def test_after_bootstrap_the_council_appoints_and_the_deployer_is_told_so(homes: Homes, run: dict[str, Cli]) -> None:
    a, b = run["a"], run["b"]
    address = homes.addresses
    seats = [arg for n in "ab" for arg in ("--member", address[n])]
    assert a("governance", "bootstrap", *seats, "--threshold", "1", "--delay", "1h").code == 0

    refused = a("drug", "regulator", "appoint", address["b"])
    assert refused.code == 5
    assert "the council holds SupplyChain's admin role since it was bootstrapped: propose it there" in refused.err
    assert f"careledger governance propose appoint-regulator {address['b']} --reason" in refused.err

    proposed = a("governance", "propose", "appoint-regulator", address["b"], "--reason", "the agency regulates")
    assert proposed.code == 0, proposed.err
    assert f"1. SupplyChain: grant REGULATOR_ROLE to {address['b']}" in proposed.said
    assert b("governance", "vote", "1").code == 0
    homes.travel(DELAY + 1)
    executed = b("governance", "execute", "1", "--json")
    assert executed.code == 0, executed.err
    assert executed.json()["calls"][0]["args"] == {"role": "REGULATOR_ROLE", "account": address["b"]}
    assert a("drug", "regulator", "list", "--json").json() == [address["b"]]
    twice = a("governance", "propose", "appoint-regulator", address["b"], "--reason", "again")
    assert (twice.code, "is a regulator already" in twice.err) == (6, True)
    ended = a("governance", "propose", "remove-regulator", address["b"], "--reason", "mandate ended", "--json")
    assert ended.code == 0, ended.err
    assert [call["words"] for call in ended.json()["calls"]] == [
        f"SupplyChain: revoke REGULATOR_ROLE from {address['b']}"
    ]
