"""Who acts for a node on the council (the node itself, or its governance officer as the chain holds her), and the
credentials the founder attested before bootstrap (valid after it, until the council removes the founder as an
issuer), on two member nodes of one in-process chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from careledger.chain import Call, Chain, ProposalState, Role, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.errors import AccessDenied, TransactionReverted, ValidationError
from careledger.governance import AppointIssuer, Pause
from careledger.identity import GOVERNANCE_OFFICER, MEDICAL_LICENCE, PRIVACY_OFFICER
from careledger.node import Node
from careledger.testdata import PASSPHRASE, founding_node, joining_node

DELAY = 3_600
MONTH = 30 * 86_400


@dataclass
class World:
    chain: Chain
    a: Node  # deployed the contracts and attested its staff's credentials before bootstrap
    b: Node
    people: dict[str, str]  # olivia: a's governance officer; mallory: a's privacy officer; drbob: licensed by a
    credentials: dict[str, int]
    kept: list[str]  # what bootstrap said the founder keeps

    def travel(self, seconds: int) -> None:
        tester = self.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        tester.time_travel(self.chain.timestamp() + seconds)
        tester.mine_blocks(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("officers")
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    with open_chain("memory") as chain:
        a = founding_node(tmp / "a", settings, chain=chain)
        b = joining_node(tmp / "b", settings, a, chain=chain)
        try:
            registry = a.contracts.identity_registry(as_wallet=NODE_WALLET)
            people: dict[str, str] = {}
            credentials: dict[str, int] = {}
            until = chain.timestamp() + MONTH
            staff = {"olivia": GOVERNANCE_OFFICER, "mallory": PRIVACY_OFFICER, "drbob": MEDICAL_LICENCE}
            for name, kind in staff.items():
                wallet = a.wallets.create(name, Role.PRACTITIONER, PASSPHRASE)
                registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
                credentials[name] = registry.attest(wallet.address, kind, until).credential_id
                people[name] = wallet.address
            done = a.governance.bootstrap([a.address, b.address], 1, DELAY, 86_400)
            yield World(chain, a, b, people, credentials, done.kept)
        finally:
            a.close()
            b.close()


def test_the_node_and_its_governance_officer_act_for_it_and_no_one_else(world: World) -> None:
    a, b, olivia, mallory = world.a.governance, world.b.governance, world.people["olivia"], world.people["mallory"]
    assert a.may_act(world.a.address)
    assert a.may_act(olivia.lower())
    assert not a.may_act(mallory)  # reviewing break-glass is not voting for the node
    assert not b.may_act(olivia)  # a's officer is not b's
    assert not b.may_act(world.a.address)
    with pytest.raises(ValidationError, match="not an address"):
        a.may_act("olivia")
    proposal = a.propose(Pause(), "an emergency drill", by=olivia).proposal_id
    sent = world.chain.transaction_count(world.a.address)
    for refused in (a.vote, a.cancel, a.execute):
        with pytest.raises(AccessDenied, match="governance-officer credential"):
            refused(proposal, by=mallory)
    with pytest.raises(AccessDenied, match="governance-officer credential"):
        a.propose(Pause(), "mallory's own drill", by=mallory)
    assert world.chain.transaction_count(world.a.address) == sent  # refused before anything is sent
    assert a.vote(proposal, by=olivia).state is ProposalState.QUEUED
    world.travel(DELAY)
    world.a.contracts.identity_registry(as_wallet=NODE_WALLET).revoke_credential(world.credentials["olivia"])
    assert not a.may_act(olivia)  # the chain's word, at once
    with pytest.raises(AccessDenied):
        a.execute(proposal, by=olivia)
    assert a.execute(proposal).state is ProposalState.EXECUTED  # the node itself, its operator


def test_bootstrap_keeps_the_founders_credentials_until_the_council_removes_it(world: World) -> None:
    a, drbob = world.a, world.people["drbob"]
    identity = a.contracts.identity_registry()
    assert identity.has_valid_credential(drbob, MEDICAL_LICENCE)  # what break-glass asks of a practitioner
    assert identity.is_role_holder("ISSUER_ROLE", a.address)
    [issuer] = [words for words in world.kept if "ISSUER_ROLE" in words]
    assert "stay valid" in issuer
    assert f"governance propose remove-issuer {a.address}" in issuer
    with pytest.raises(TransactionReverted):  # an issuer, not an admin: it appoints no one
        a.contracts.send([Call.of(identity, "grantRole", identity._call("ISSUER_ROLE"), drbob)], as_wallet=NODE_WALLET)
    proposal = a.governance.propose(AppointIssuer(a.address, appoint=False), "the licensing board attests now")
    a.governance.vote(proposal.proposal_id)
    world.travel(DELAY)
    world.b.governance.execute(proposal.proposal_id)
    assert not identity.is_role_holder("ISSUER_ROLE", a.address)
    assert not identity.has_valid_credential(drbob, MEDICAL_LICENCE)
