"""`careledger governance ...` on three member homes sharing one anvil chain: bootstrap by the deployer only,
then a node admitted by 2 of 3 after the timelock, each refusal in words with its exit code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from careledger.chain import Chain
from careledger.config import NODE_WALLET, Settings
from careledger.node import Node
from careledger.testdata import founding_node, joining_node
from tests.cli.conftest import Cli, Homes, anvil_homes, clis
from tests.governance.nodes import registered_node


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homes]:
    tmp = tmp_path_factory.mktemp("governance-cli")

    def make(settings: Settings, chain: Chain) -> dict[str, Node]:
        a = founding_node(tmp / "a", settings)
        b, c = (joining_node(tmp / n, settings, a) for n in "bc")
        return {"a": a, "b": b, "c": c, "d": registered_node(tmp / "d", settings, a, chain)}

    with anvil_homes(tmp, make) as homes:
        yield homes


@pytest.fixture
def run(homes: Homes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Cli]:
    return clis(homes.homes, capsys, monkeypatch)


def test_bootstrap_then_two_of_three_admit_a_node_and_refusals_in_words(homes: Homes, run: dict[str, Cli]) -> None:
    a, b, c, d = (run[n] for n in "abcd")
    address = homes.addresses
    missing = b("governance", "members")
    assert missing.code == 4
    assert "no council yet" in missing.err
    seats = [arg for n in "abc" for arg in ("--member", address[n])]
    refused = c("governance", "bootstrap", *seats, "--threshold", "2", "--delay", "1h")
    assert refused.code == 5
    assert "the node that deployed them bootstraps the council" in refused.err
    assert a("governance", "bootstrap", *seats, "--threshold", "4", "--delay", "1h").code == 2
    done = a("governance", "bootstrap", *seats, "--threshold", "2", "--delay", "1h", "--json")
    assert done.code == 0, done.err
    assert all(step["done_now"] for step in done.json()["steps"])
    [issuer] = [kept for kept in done.json()["kept"] if "ISSUER_ROLE" in kept]  # said plainly: its licences stay
    assert "the credentials this node attested" in issuer
    assert "stay valid" in issuer
    council = b("governance", "members", "--json").json()
    assert (council["members"], council["threshold"], council["delay"], council["member"]) == (
        [address["a"], address["b"], address["c"]],
        2,
        3600,
        True,
    )
    assert "2 of 3 votes" in b("governance", "members").said

    proposed = a("governance", "propose", "admit", address["d"], "--reason", "Riverside joins", "--json")
    assert proposed.code == 0, proposed.err
    proposal = proposed.json()
    number = str(proposal["proposal_id"])
    assert [call["words"] for call in proposal["calls"]] == [
        f"IdentityRegistry: grant REGISTRAR_ROLE to {address['d']}",
        f"RecordAnchor: grant ANCHORER_ROLE to {address['d']}",
    ]
    assert b("governance", "vote", number).code == 0
    again = b("governance", "vote", number)
    assert (again.code, "already voted" in again.err) == (6, True)
    stranger = d("governance", "vote", number)
    assert (stranger.code, "is not a member of the council" in stranger.err) == (5, True)
    short = c("governance", "execute", number)
    assert (short.code, "has 1 of the 2 votes it needs" in short.err) == (6, True)
    assert a("wallet", "new", "olivia", "--role", "practitioner").code == 0
    assert a("identity", "register", "olivia").code == 0
    not_officer = a("governance", "vote", number, "--as", "olivia")
    assert (not_officer.code, "governance-officer credential" in not_officer.err) == (5, True)
    assert a("identity", "attest", "node", "olivia", "--type", "governance-officer", "--days", "30").code == 0
    queued = a("governance", "vote", number, "--as", "olivia", "--json").json()  # she votes as the node
    assert queued["state"] == "queued"
    early = c("governance", "execute", number)
    assert early.code == 6
    assert "too early, it may be executed from" in early.err
    assert "(in 1 h)" in early.err
    listed = c("governance", "proposals")
    assert "queued" in listed.said
    assert "Riverside joins" in listed.said
    homes.travel(3_601)
    executed = c("governance", "execute", number, "--json")
    assert executed.code == 0, executed.err
    assert executed.json()["state"] == "executed"
    assert "no pending proposals" in a("governance", "proposals").said
    shown = d("governance", "show", number)
    assert f"votes: 2 of the 2 needed ({address['b']}, {address['a']})" in shown.said
    assert [p["state"] for p in d("governance", "proposals", "--all", "--json").json()] == ["executed"]

    # Checked against the chain before anything is sent.
    assert a("governance", "propose", "grant-minter", homes.addresses["b"], "--cap", "0", "--reason", "x").code == 2
    too_many = a("governance", "propose", "threshold", "5", "--reason", "everyone and more")
    assert (too_many.code, "the threshold is 1 to the 3 members, not 5" in too_many.err) == (2, True)
    assert a("governance", "propose", "delay", "a fortnight", "--reason", "slower").code == 2
    assert a("governance", "show", "99").code == 4
    granted = a("governance", "propose", "grant-minter", NODE_WALLET, "--cap", "1000", "--reason", "rewards")
    assert granted.code == 0, granted.err
    assert f"let {homes.addresses['a']} mint up to 1000 CARE" in granted.said
