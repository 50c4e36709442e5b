"""The council on three member nodes of one in-process chain: bootstrap leaves the deployer no admin role;
2 of 3 admit a fourth node after the timelock, 1 of 3 never; a removed node is refused by the exchange and
the anchor; minting beyond a cap is refused; double votes and strangers are refused; the council appoints a
supply chain regulator, who then admits a manufacturer, and removes it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from careledger.api import NodeServer, free_port
from careledger.chain import AnchorKind, Call, Chain, ContractFacade, ProposalState, Role, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.errors import AccessDenied, Conflict, NotFound, TransactionReverted, ValidationError
from careledger.governance import (
    Action,
    AdmitNode,
    AppointIssuer,
    AppointRegulator,
    Pause,
    ProposalView,
    RemoveNode,
    SetDelay,
    SetMember,
    SetMinter,
    SetThreshold,
)
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Category
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients
from tests.governance.nodes import registered_node

DELAY = 3_600
VOTING = 86_400
MEMBER_ROLES = {"REGISTRAR_ROLE", "ANCHORER_ROLE"}  # every member node's, granted and revoked by the council
# Roles the council grants and revokes: a member node's, an issuer's (the founder stays one, appointed), and
# SupplyChain's regulator's (a member node here).
APPOINTED_ROLES = MEMBER_ROLES | {"ISSUER_ROLE", "REGULATOR_ROLE"}


@dataclass
class Network:
    chain: Chain
    a: Node  # deployed the contracts; a member like the others after bootstrap
    b: Node
    c: Node
    d: Node  # registered itself, not admitted
    alice: Wallet  # a patient of a's, who lets c's node fetch her labs

    def travel(self, seconds: int) -> None:
        tester = self.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        tester.time_travel(self.chain.timestamp() + seconds)
        tester.mine_blocks(1)

    def passed(self, action: Action, reason: str) -> ProposalView:
        """Proposed by a, voted by a and b, executed by c after the delay."""
        proposal = self.a.governance.propose(action, reason)
        self.a.governance.vote(proposal.proposal_id)
        self.b.governance.vote(proposal.proposal_id)
        self.travel(DELAY)
        return self.c.governance.execute(proposal.proposal_id)

    def fetch_labs(self) -> Any:
        wallet = self.c.unlock(NODE_WALLET)
        return self.c.requester.fetch(
            wallet.account, wallet.encryption_key(), self.a.address, self.alice.address, [Category.LABS], Purpose.TREAT
        )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    tmp = tmp_path_factory.mktemp("council")
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    port = free_port()
    with open_chain("memory") as chain:
        a = founding_node(tmp / "a", settings, f"http://127.0.0.1:{port}", chain=chain)
        b, c = (joining_node(tmp / n, settings, a, chain=chain) for n in "bc")
        d = registered_node(tmp / "d", settings, a, chain)
        server = NodeServer(a, port=port)
        try:
            alice = _patient_with_labs(a, c)
            for member in (b, c):  # what `propose admit` gives a node admitted after bootstrap
                a.contracts.identity_registry(as_wallet=NODE_WALLET).grant_role("REGISTRAR_ROLE", member.address)
            server.start()
            a.governance.bootstrap([a.address, b.address, c.address], 2, DELAY, VOTING)
            yield Network(chain, a, b, c, d, alice)
        finally:
            server.stop()
            for node in (a, b, c, d):
                node.close()


def _patient_with_labs(custodian: Node, requester: Node) -> Wallet:
    alice = custodian.wallets.create("alice", Role.PATIENT, PASSPHRASE)
    custodian.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        alice.address, alice.role, alice.encryption_key
    )
    patient = synthetic_patients(1, seed=21)[0]
    custodian._records.write(patient.patient, patient_address=alice.address)
    for resource in patient.records:
        custodian._records.write(resource)
    custodian.anchorer.anchor_pending()
    terms = custodian.consent.terms(alice.address, requester.address, [Category.LABS], [Purpose.TREAT], days=30)
    custodian.consent.grant("alice", terms)
    return alice


def _holders(facade: ContractFacade) -> dict[bytes, set[str]]:
    """Who holds each role of an access-controlled contract, replayed from its RoleGranted and RoleRevoked events."""
    events = [
        *facade.contract.events.RoleGranted().get_logs(from_block=0),
        *facade.contract.events.RoleRevoked().get_logs(from_block=0),
    ]
    holders: dict[bytes, set[str]] = {}
    for event in sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"])):
        held = holders.setdefault(bytes(event["args"]["role"]), set())
        (held.add if event["event"] == "RoleGranted" else held.discard)(str(event["args"]["account"]))
    return holders


def test_after_bootstrap_the_council_alone_holds_every_admin_role(network: Network) -> None:
    a, b = network.a, network.b
    council = a.contracts.council()
    facades = [f for d in a.deployer.deployments() if (f := _facade(a, d.name)) is not None]
    assert {f.contract_name for f in facades} >= {"IdentityRegistry", "RecordAnchor", "Claims", "CareToken"}
    nodes = {a.address, b.address, network.c.address}
    refused = []
    for facade in facades:
        names = {item["name"] for item in facade.contract.abi if item["type"] == "function"}
        if "hasRole" in names:
            roles = {facade._call(n): n for n in names if n.endswith("_ROLE")}
            assert "DEFAULT_ADMIN_ROLE" in roles.values()
            for role, holders in _holders(facade).items():
                if role in roles:
                    allowed = nodes if roles[role] in APPOINTED_ROLES else {council.address}
                    assert holders <= allowed, f"{facade.contract_name}.{roles[role]}: {holders}"
            assert facade._call("hasRole", bytes(32), council.address), facade.contract_name
            for role in roles:
                refused.append(Call.of(facade, "grantRole", role, network.d.address))
                refused.append(Call.of(facade, "revokeRole", role, council.address if role == bytes(32) else b.address))
        if "owner" in names:
            assert facade._call("owner") == council.address
            refused.append(Call.of(facade, "transfer_ownership", a.address))
        if "set_minter" in names:
            refused += [Call.of(facade, "set_minter", a.address, 1), Call.of(facade, "mint", a.address, 1)]
        if "pause" in names:
            refused.append(Call.of(facade, "pause"))
    identity = a.contracts.identity_registry()
    refused += [Call.of(council, "add_member", a.address), Call.of(council, "set_threshold", 1)]
    # A member node's REGISTRAR_ROLE removes only the actors it registered: not another node, nor its patients.
    refused += [Call.of(identity, "deactivate", who) for who in (b.address, network.c.address, network.d.address)]
    for call in refused:
        with pytest.raises(TransactionReverted):
            a.contracts.send([call], as_wallet=NODE_WALLET)
    for who in (a.address, network.alice.address):
        with pytest.raises(TransactionReverted, match="only the actor, its registrar or the admin"):
            b.contracts.send([Call.of(identity, "deactivate", who)], as_wallet=NODE_WALLET)
    assert all(identity.require_actor(who).active for who in (*nodes, network.d.address, network.alice.address))
    assert identity.is_role_holder("ISSUER_ROLE", a.address)  # its licences stay valid (test_officers_and_issuers)
    assert identity.is_role_holder("REGISTRAR_ROLE", a.address)  # a member node's role, as b's and c's
    with pytest.raises(Conflict, match="bootstrapped already"):
        a.governance.bootstrap([a.address], 1, DELAY, VOTING)


def _facade(node: Node, name: str) -> ContractFacade | None:
    getters = {
        "IdentityRegistry": node.contracts.identity_registry,
        "RecordAnchor": node.contracts.record_anchor,
        "Claims": node.contracts.claims,
        "CareToken": node.contracts.token,
        "ConsentRegistry": node.contracts.consent_registry,
        "Research": node.contracts.research,
        "VisitEscrow": node.contracts.visit_escrow,
        "ModelRegistry": node.contracts.model_registry,
        "SupplyChain": node.contracts.supply_chain,
        "Trials": node.contracts.trials,
        "Council": node.contracts.council,
    }
    return getters[name]()


def test_two_of_three_admit_a_fourth_node_after_the_timelock_one_never(network: Network) -> None:
    a, b, c, d = network.a, network.b, network.c, network.d
    with pytest.raises(TransactionReverted, match="missing role"):
        d.contracts.record_anchor(write=True).anchor(os.urandom(32), 1, AnchorKind.RECORDS)
    proposal = a.governance.propose(AdmitNode(d.address), "Riverside Clinic joins the network")
    assert [call.words for call in proposal.calls] == [
        f"IdentityRegistry: grant REGISTRAR_ROLE to {d.address}",
        f"RecordAnchor: grant ANCHORER_ROLE to {d.address}",
    ]
    a.governance.vote(proposal.proposal_id)
    with pytest.raises(Conflict, match="has 1 of the 2 votes it needs"):
        c.governance.execute(proposal.proposal_id)
    network.travel(DELAY)
    with pytest.raises(Conflict, match="has 1 of the 2 votes it needs"):
        c.governance.execute(proposal.proposal_id)  # the delay alone admits no one
    assert not d.contracts.record_anchor().is_anchorer(d.address)
    queued = b.governance.vote(proposal.proposal_id)
    assert queued.state is ProposalState.QUEUED
    assert queued.voters == [a.address, b.address]
    assert queued.eta == network.chain.timestamp() + DELAY
    with pytest.raises(Conflict, match="is queued: only an open proposal is cancelled"):
        a.governance.cancel(proposal.proposal_id)  # two members voted it through: its proposer alone undoes nothing
    with pytest.raises(TransactionReverted, match="council: proposal already queued"):
        a.contracts.council(as_wallet=NODE_WALLET).cancel(proposal.proposal_id)
    with pytest.raises(Conflict, match=r"too early, it may be executed from .* UTC \(in 1 h\)"):
        d.governance.execute(proposal.proposal_id)
    network.travel(DELAY)
    done = d.governance.execute(proposal.proposal_id)  # anyone executes: d itself here
    assert done.state is ProposalState.EXECUTED
    with pytest.raises(Conflict, match="is executed"):
        c.governance.execute(proposal.proposal_id)
    d.contracts.record_anchor(write=True).anchor(os.urandom(32), 1, AnchorKind.RECORDS)
    assert d.contracts.identity_registry().is_role_holder("REGISTRAR_ROLE", d.address)
    assert [p.proposal_id for p in a.governance.proposals()] == []
    assert proposal.proposal_id in [p.proposal_id for p in a.governance.proposals(pending_only=False)]


def test_a_proposal_with_one_vote_of_three_expires_unexecuted(network: Network) -> None:
    a, c = network.a, network.c
    proposal = a.governance.propose(AppointIssuer(network.d.address), "d's board attests licences")
    a.governance.vote(proposal.proposal_id)
    assert [p.proposal_id for p in c.governance.proposals()] == [proposal.proposal_id]
    network.travel(VOTING + 1)
    assert c.governance.show(proposal.proposal_id).state is ProposalState.EXPIRED
    with pytest.raises(Conflict, match="takes no more votes: it is expired"):
        c.governance.vote(proposal.proposal_id)
    with pytest.raises(Conflict, match="is expired"):
        c.governance.execute(proposal.proposal_id)
    assert not a.contracts.identity_registry().is_role_holder("ISSUER_ROLE", network.d.address)


def test_votes_are_one_per_member_and_for_members_only(network: Network) -> None:
    a, d = network.a, network.d
    proposal = a.governance.propose(Pause(), "an emergency drill")
    a.governance.vote(proposal.proposal_id)
    with pytest.raises(Conflict, match="already voted"):
        a.governance.vote(proposal.proposal_id)
    with pytest.raises(TransactionReverted, match="council: already voted"):  # the contract refuses it too
        a.contracts.council(as_wallet=NODE_WALLET).vote(proposal.proposal_id)
    with pytest.raises(AccessDenied, match="not a member of the council"):
        d.governance.vote(proposal.proposal_id)
    with pytest.raises(AccessDenied, match="not a member of the council"):
        d.governance.propose(Pause(), "strangers propose nothing")
    with pytest.raises(TransactionReverted, match="council: not a member"):
        d.contracts.council(as_wallet=NODE_WALLET).vote(proposal.proposal_id)
    with pytest.raises(NotFound):
        a.governance.show(999)
    assert a.governance.show(proposal.proposal_id).votes == 1
    a.governance.cancel(proposal.proposal_id)
    assert a.governance.show(proposal.proposal_id).state is ProposalState.CANCELLED


def test_minting_beyond_the_cap_is_refused(network: Network) -> None:
    a, b = network.a, network.b
    token = b.contracts.token(as_wallet=NODE_WALLET)
    with pytest.raises(TransactionReverted, match="token: caller is not a minter"):
        a.contracts.token(as_wallet=NODE_WALLET).mint(a.address, 1)  # the deployer's own minting ended
    done = network.passed(SetMinter(b.address, 100), "b pays study rewards")
    assert done.calls[0].words == f"CareToken: let {b.address} mint up to 0.0000000000000001 CARE"
    token.mint(network.alice.address, 60)
    with pytest.raises(TransactionReverted, match="token: mint exceeds the minter's cap"):
        token.mint(network.alice.address, 41)
    token.mint(network.alice.address, 40)
    assert token.balance_of(network.alice.address) == 100
    assert token.mint_allowance(b.address) == 0


def test_a_removed_node_is_refused_by_the_exchange_and_the_anchor(network: Network) -> None:
    a, c = network.a, network.c
    assert network.fetch_labs().stored  # c's node fetches alice's labs while it is a member
    network.passed(AppointIssuer(network.b.address), "b's board attests its members' standing")
    network.b.contracts.identity_registry(as_wallet=NODE_WALLET).attest(c.address, "member-in-good-standing", 2**40)
    assert c.contracts.identity_registry().has_valid_credential(c.address, "member-in-good-standing")
    done = network.passed(RemoveNode(c.address), "c left the consortium")
    assert [call.words for call in done.calls][-1] == f"IdentityRegistry: deactivate actor {c.address}"
    registry = c.contracts.identity_registry()
    assert not registry.has_valid_credential(c.address, "member-in-good-standing")
    with pytest.raises(AccessDenied):
        network.fetch_labs()
    with pytest.raises(TransactionReverted, match="missing role"):
        c.contracts.record_anchor(write=True).anchor(os.urandom(32), 1, AnchorKind.RECORDS)
    registrar = c.contracts.identity_registry(as_wallet=NODE_WALLET)
    with pytest.raises(TransactionReverted, match="missing role"):
        registrar.register_actor(Account.create().address, Role.PATIENT, network.alice.encryption_key)
    with pytest.raises(Conflict, match="deactivated"):
        a.governance.propose(AdmitNode(c.address), "back again")


def test_council_changes_are_checked_before_anything_is_sent(network: Network) -> None:
    a = network.a
    sent = network.chain.transaction_count(a.address)
    with pytest.raises(ValidationError, match="the threshold is 1 to the 3 members, not 4"):
        a.governance.propose(SetThreshold(4), "unanimity and more")
    with pytest.raises(Conflict, match="the threshold is 2 already"):
        a.governance.propose(SetThreshold(2), "no change")
    with pytest.raises(Conflict, match="is a member already"):
        a.governance.propose(SetMember(network.b.address), "seat b twice")
    with pytest.raises(ValidationError, match="give a reason"):
        a.governance.propose(SetThreshold(3), "  ")
    with pytest.raises(ValidationError, match=r"the delay is an hour to 30 days .*, not 60$"):
        a.governance.propose(SetDelay(60), "decide faster")  # a timelock is no formality
    with pytest.raises(ValidationError, match=r"the delay is an hour to 30 days .*, not 0$"):
        a.governance.bootstrap([a.address], 1, 0, VOTING)
    assert network.chain.transaction_count(a.address) == sent
    with pytest.raises(TransactionReverted, match="council: delay out of bounds"):  # the contract refuses it too
        network.d.contracts.deploy_council([network.d.address], 1, 60, VOTING)


def test_the_council_appoints_a_regulator_who_admits_a_manufacturer(network: Network) -> None:
    a, b, d = network.a, network.b, network.d
    supply = a.contracts.supply_chain()
    until = network.chain.timestamp() + 365 * 86_400
    sent = network.chain.transaction_count(a.address)
    with pytest.raises(AccessDenied, match=r"the council holds SupplyChain's admin role .* propose it there"):
        a.governance.appoint_regulator(b.address)  # the deployer appoints no one once the council is seated
    with pytest.raises(AccessDenied, match="only a regulator"):
        b.supply.admit(d.address, "0614141", "MIA-2026-0042", until, by=b.address)
    assert network.chain.transaction_count(a.address) == sent
    done = network.passed(AppointRegulator(b.address), "the medicines agency's node admits manufacturers")
    assert done.state is ProposalState.EXECUTED
    assert [(call.words, call.args) for call in done.calls] == [
        (
            f"SupplyChain: grant REGULATOR_ROLE to {b.address}",
            {"role": "REGULATOR_ROLE", "account": b.address},
        )
    ]
    assert d.governance.regulators() == [b.address]
    with pytest.raises(Conflict, match="is a regulator already"):
        a.governance.propose(AppointRegulator(b.address), "twice")

    b.supply.admit(d.address, "0614141", "MIA-2026-0042", until, by=b.address)  # the regulator's own act
    admission = supply.admission(d.address)
    assert admission is not None
    assert (admission.regulator, admission.company_prefix, admission.expires_at) == (b.address, "0614141", until)

    removed = network.passed(AppointRegulator(b.address, appoint=False), "the agency's mandate ended")
    assert [call.words for call in removed.calls] == [f"SupplyChain: revoke REGULATOR_ROLE from {b.address}"]
    assert d.governance.regulators() == []
    with pytest.raises(AccessDenied, match="only a regulator"):
        b.supply.admit(network.c.address, "0614142", "MIA-2026-0043", until, by=b.address)
    assert supply.admission(d.address) == admission  # what it admitted stands until a regulator revokes it
    with pytest.raises(Conflict, match="is not a regulator already"):
        a.governance.propose(AppointRegulator(b.address, appoint=False), "again")
