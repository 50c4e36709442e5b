"""The Trials facade on the memory chain (py-evm): a trial from registration to unblinding through `Contracts.trials`,
its log readers, and the contract's refusals as careledger.errors."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_utils import keccak

from careledger.chain import (
    AnchorKind,
    CareToken,
    Chain,
    Contracts,
    Deployer,
    EnrolmentEvent,
    IdentityRegistry,
    RecordAnchor,
    Role,
    Signer,
    Trials,
    TrialTerms,
    trial_refusal,
)
from careledger.crypto import MerkleTree, PrivateKey
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from tests.contracts.trials import commitment

CARE = 10**18
SITE_FEE, STIPEND, VISITS = 30 * CARE, 10 * CARE, 3
PER_PARTICIPANT = VISITS * (SITE_FEE + STIPEND)
RATIOS, MULTIPLES = (1, 1), (1, 2)


def seed_commitment(seed: bytes) -> bytes:
    """What the sponsor commits: keccak256(seed)."""
    return keccak(seed)


def arms_of(enrolments: list[EnrolmentEvent]) -> list[int]:
    """Arms as a sponsor's randomisation might give them (the facade carries any; trials/ draws the real ones)."""
    return [(e.index + e.stratum) % 2 for e in enrolments]


@dataclass
class Network:
    """A chain with every contract deployed by `admin`, and the trial's parties' facades (`Contracts.trials`)."""

    chain: Chain
    contracts: Contracts
    token: CareToken
    anchors: list[RecordAnchor]  # each site's node anchoring its own records
    sponsor: Trials
    board: Trials
    sites: list[Trials]
    stranger: Trials
    deployed_in: int

    def address(self, party: Trials) -> str:
        """The wallet a party's facade signs as."""
        assert party.signer is not None
        return party.signer.address

    def terms(self, *, target: int = 10, budget: int = 4 * PER_PARTICIPANT) -> TrialTerms:
        """A 1:1 trial of three visits at both sites."""
        return TrialTerms(
            keccak(b"protocol v1"),
            keccak(b"consent v1"),
            target,
            RATIOS,
            MULTIPLES,
            VISITS,
            SITE_FEE,
            STIPEND,
            budget,
            tuple(self.address(site) for site in self.sites),
        )

    def open_trial(self, seed: bytes, **terms: int) -> int:
        """A trial registered, approved and with `seed` committed; its id."""
        trial_id = self.sponsor.register_trial(self.terms(**terms))
        self.board.approve_version(trial_id, 1)
        self.sponsor.commit_seed(trial_id, seed_commitment(seed))
        return trial_id

    def enrol(
        self, trial_id: int, n: int, *, site: int = 0, stratum: int = 0, version: int = 1, held: bool = False
    ) -> bytes:
        """Enrol the n-th patient at a site, her stipends paid to `payee(n)` (or `held`); her participant id,
        keccak256(salt ‖ uint256(trial) ‖ her address)."""
        participant = keccak(os.urandom(32) + trial_id.to_bytes(32, "big") + Account.create().address.encode())
        paid_to = None if held else payee(n)
        self.sites[site].enrol(trial_id, participant, stratum, version, keccak(b"sig %d" % n), paid_to)
        return participant

    def anchor(self, leaves: list[bytes], *, site: int) -> MerkleTree:
        """Anchor visit leaves as a batch of records, as site `site`'s node; its tree."""
        tree = MerkleTree(leaves)
        self.anchors[site].anchor(tree.root, len(leaves), AnchorKind.RECORDS)
        return tree


def payee(n: int) -> str:
    """Participant n's payee address."""
    return Account.from_key(keccak(b"payee %d" % n)).address


@pytest.fixture
def network(memory_chain: Chain, account: Account) -> Network:
    admin = memory_chain.signer(account)
    deployer = Deployer(memory_chain, None)
    deployer.deploy_all(admin)
    wallets: dict[str, Signer] = {"admin": admin}
    for name in ("sponsor", "board", "site 0", "site 1", "stranger"):
        wallets[name] = memory_chain.signer(Account.create())
    contracts = Contracts(memory_chain, deployer, wallets.__getitem__, "admin")
    identity = IdentityRegistry(memory_chain, deployer.address("IdentityRegistry"), admin)
    roles = {"sponsor": Role.RESEARCHER, "board": Role.ORG, "site 0": Role.ORG, "site 1": Role.ORG}
    for name, role in roles.items():
        identity.register_actor(wallets[name].address, role, PrivateKey.generate().public_key)
    identity.attest(wallets["board"].address, "research-ethics-approval", memory_chain.timestamp() + 86_400)
    token = contracts.token(as_wallet="admin")
    token.mint(wallets["sponsor"].address, 1_000 * PER_PARTICIPANT)
    record = deployer.current("Trials")
    assert record is not None
    anchor = contracts.record_anchor(write=True)
    for name in ("site 0", "site 1"):  # every node anchors its own records
        anchor.grant_anchorer(wallets[name].address)
    return Network(
        memory_chain,
        contracts,
        token,
        [RecordAnchor(memory_chain, anchor.address, wallets[name]) for name in ("site 0", "site 1")],
        contracts.trials(as_wallet="sponsor"),
        contracts.trials(as_wallet="board"),
        [contracts.trials(as_wallet="site 0"), contracts.trials(as_wallet="site 1")],
        contracts.trials(as_wallet="stranger"),
        record.block,
    )


def test_a_trial_from_registration_to_unblinding(network: Network) -> None:
    sponsor, board, sites = network.sponsor, network.board, network.sites
    assert sponsor.first_block == network.deployed_in > 0
    seed = os.urandom(32)
    trial_id = sponsor.register_trial(network.terms())
    state = sponsor.trial(trial_id)
    assert (state.sponsor, state.escrow, state.current_version, state.latest_version) == (
        network.address(sponsor),
        4 * PER_PARTICIPANT,
        0,
        1,
    )
    assert not state.seed_committed
    assert sponsor.version(trial_id, 1).approved_by is None
    assert sponsor.sites(trial_id) == tuple(network.address(site) for site in sites)
    assert (sponsor.ratios(trial_id), sponsor.block_multiples(trial_id)) == (RATIOS, MULTIPLES)
    board.approve_version(trial_id, 1)
    assert board.version(trial_id, 1).approved_by == network.address(board)
    sponsor.commit_seed(trial_id, seed_commitment(seed))
    people = [network.enrol(trial_id, n, site=n % 2, stratum=n // 2) for n in range(4)]
    enrolments = sponsor.enrolments(trial_id)
    assert [(e.index, e.participant, e.site, e.stratum, e.version) for e in enrolments] == [
        (n, people[n], network.address(sites[n % 2]), n // 2, 1) for n in range(4)
    ]
    committed = [(p, commitment(seed, trial_id, p, arm)) for p, arm in zip(people, arms_of(enrolments), strict=True)]
    assert len(sponsor.allocate(trial_id, committed)) == 1
    assert [(a.participant, a.commitment) for a in sponsor.allocations(trial_id)] == committed
    her = people[1]
    assert sponsor.may_visit(trial_id, her)
    leaves = [keccak(b"crf %d" % n) for n in range(4)]
    tree = network.anchor(leaves, site=1)
    paid = sites[1].pay_visit(trial_id, her, 1, leaves[0], tree.root, tree.proof_for(leaves[0]))
    assert (paid.participant, paid.site, paid.visit, paid.site_fee, paid.stipend, paid.crf_leaf, paid.held) == (
        her,
        network.address(sites[1]),
        1,
        SITE_FEE,
        STIPEND,
        leaves[0],
        False,
    )
    assert network.token.balance_of(payee(1)) == STIPEND
    assert network.token.balance_of(network.address(sites[1])) == SITE_FEE
    assert sponsor.crf_paid(leaves[0])
    record = sponsor.participant(trial_id, her)
    assert record is not None
    assert (record.index, record.site, record.payee, record.visits_paid, record.consent_digest) == (
        1,
        network.address(sites[1]),
        payee(1),
        1,
        keccak(b"sig 1"),
    )
    assert sponsor.participant(trial_id, keccak(b"nobody")) is None
    sponsor.amend(trial_id, keccak(b"protocol v2"), keccak(b"consent v2"), True)
    board.approve_version(trial_id, 2)
    assert not sponsor.may_visit(trial_id, her)
    with pytest.raises(Conflict, match="re-consent needed"):
        sites[1].pay_visit(trial_id, her, 2, leaves[1], tree.root, tree.proof_for(leaves[1]))
    sites[1].reconsent(trial_id, her, 2, keccak(b"sig 1 v2"))
    sites[1].pay_visit(trial_id, her, 2, leaves[1], tree.root, tree.proof_for(leaves[1]))
    sites[0].withdraw(trial_id, people[0])
    assert [(p.participant, p.visit) for p in sponsor.payments(trial_id)] == [(her, 1), (her, 2)]
    assert sponsor.payments(trial_id, people[2]) == []
    sponsor.reveal(trial_id, seed)
    state = sponsor.trial(trial_id)
    assert (state.blinded, state.seed, state.allocated, state.enrolled, state.withdrawn) == (False, seed, 4, 4, 1)
    owed = 3 * PER_PARTICIPANT - 2 * (SITE_FEE + STIPEND)
    assert state.owed == owed
    before = network.token.balance_of(network.address(sponsor))
    assert sponsor.return_escrow(trial_id) == state.escrow - owed == state.held
    assert network.token.balance_of(network.address(sponsor)) == before + state.held
    # Anyone recomputes every allocation from the revealed seed and the enrolment order on chain.
    revealed, order = network.stranger.trial(trial_id).seed, network.stranger.enrolments(trial_id)
    recomputed = [commitment(revealed, trial_id, e.participant, a) for e, a in zip(order, arms_of(order), strict=True)]
    assert recomputed == [a.commitment for a in network.stranger.allocations(trial_id)]


def test_allocations_go_in_batches_of_64_and_logs_are_read_in_spans(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = os.urandom(32)
    trial_id = network.open_trial(seed, target=70, budget=70 * PER_PARTICIPANT)
    people = [network.enrol(trial_id, n, site=n % 2) for n in range(70)]
    receipts = network.sponsor.allocate(trial_id, [(p, keccak(p)) for p in people])
    assert len(receipts) == 2  # 64 + 6
    print(f"\nTrials.allocate on memory: {receipts[0].gas_used:,} gas for 64, {receipts[0].gas_used // 64:,} each")
    monkeypatch.setattr(Trials, "log_span", 7)
    assert [e.participant for e in network.sponsor.enrolments(trial_id)] == people
    assert len(network.sponsor.allocations(trial_id)) == 70
    with pytest.raises(ValidationError, match="listed twice"):
        network.sponsor.allocate(trial_id, [(people[0], keccak(b"a")), (people[0], keccak(b"b"))])


def test_held_stipends_go_to_the_payee_her_site_names_and_a_removed_site_enrols_no_one(network: Network) -> None:
    trial_id = network.open_trial(os.urandom(32))
    her = network.enrol(trial_id, 0, held=True)
    network.sponsor.allocate(trial_id, [(her, keccak(her))])
    on_chain = network.sponsor.participant(trial_id, her)
    assert on_chain is not None
    assert on_chain.payee is None
    leaves = [keccak(b"visit 1"), keccak(b"visit 2")]
    tree = network.anchor(leaves, site=0)
    paid = [
        network.sites[0].pay_visit(trial_id, her, v, leaves[v - 1], tree.root, tree.proof_for(leaves[v - 1]))
        for v in (1, 2)
    ]
    assert [p.held for p in paid] == [True, True]
    assert network.sponsor.held(trial_id, her) == 2 * STIPEND
    with pytest.raises(AccessDenied, match="not the participant's site"):
        network.sites[1].set_payee(trial_id, her, payee(0))
    assert network.sites[0].set_payee(trial_id, her, payee(0)) == 2 * STIPEND
    assert (network.token.balance_of(payee(0)), network.sponsor.held(trial_id, her)) == (2 * STIPEND, 0)
    assert network.sites[0].set_payee(trial_id, her, payee(1)) == 0
    theirs = network.anchor([keccak(b"visit 3"), keccak(b"another")], site=1)
    with pytest.raises(ValidationError, match="CRF batch anchored by another node: a site is paid only"):
        network.sites[0].pay_visit(
            trial_id, her, 3, keccak(b"visit 3"), theirs.root, theirs.proof_for(keccak(b"visit 3"))
        )
    network.sponsor.remove_site(trial_id, network.address(network.sites[1]))
    assert network.sponsor.sites(trial_id) == (network.address(network.sites[0]),)
    with pytest.raises(AccessDenied, match="not a site of the trial"):
        network.enrol(trial_id, 1, site=1)


def test_the_contracts_refusals_come_back_as_careledger_errors(network: Network) -> None:
    seed = os.urandom(32)
    with pytest.raises(AccessDenied, match="not a researcher"):
        network.board.register_trial(network.terms())
    with pytest.raises(NotFound, match="no trial 9"):
        network.sponsor.trial(9)
    trial_id = network.sponsor.register_trial(network.terms(budget=PER_PARTICIPANT))
    with pytest.raises(NotFound, match="has no version 2"):
        network.sponsor.version(trial_id, 2)
    with pytest.raises(AccessDenied, match="the sponsor cannot approve its own trial"):
        network.sponsor.approve_version(trial_id, 1)
    network.board.approve_version(trial_id, 1)
    with pytest.raises(Conflict, match="seed not committed: the sponsor commits"):
        network.enrol(trial_id, 0)
    network.sponsor.commit_seed(trial_id, seed_commitment(seed))
    with pytest.raises(AccessDenied, match="not a site of the trial"):
        network.stranger.enrol(trial_id, keccak(b"p"), 0, 1, keccak(b"sig"), payee(0))
    with pytest.raises(Conflict, match="not the current version"):
        network.enrol(trial_id, 0, version=2)
    her = network.enrol(trial_id, 0)
    with pytest.raises(Conflict, match="escrow short"):
        network.enrol(trial_id, 1)
    with pytest.raises(AccessDenied, match="not the sponsor"):
        network.board.allocate(trial_id, [(her, keccak(her))])
    with pytest.raises(Conflict, match="not every participant is allocated"):
        network.sponsor.reveal(trial_id, seed)
    network.sponsor.allocate(trial_id, [(her, keccak(her))])
    with pytest.raises(ValidationError, match="CRF not anchored"):
        network.sites[0].pay_visit(trial_id, her, 1, keccak(b"crf"), keccak(b"root"), [])
    with pytest.raises(ValidationError, match="seed does not match"):
        network.sponsor.reveal(trial_id, os.urandom(32))
    with pytest.raises(ValidationError, match="at most 8"):
        network.sponsor.register_trial(replace(network.terms(), ratios=(1,) * 9))


def test_a_refused_registration_or_top_up_leaves_no_allowance(network: Network) -> None:
    sponsor = network.address(network.sponsor)
    stranger_site = replace(network.terms(), sites=(network.address(network.stranger),))
    with pytest.raises(ValidationError, match="site is not an active organisation"):
        network.sponsor.register_trial(stranger_site)
    assert network.token.allowance(sponsor, network.sponsor.address) == 0
    with pytest.raises(NotFound, match="no such trial"):
        network.sponsor.top_up(99, PER_PARTICIPANT)
    assert network.token.allowance(sponsor, network.sponsor.address) == 0
    trial_id = network.sponsor.register_trial(network.terms())
    network.sponsor.top_up(trial_id, PER_PARTICIPANT)
    assert network.token.allowance(sponsor, network.sponsor.address) == 0  # each call took what it was approved
    assert network.sponsor.trial(trial_id).budget == 5 * PER_PARTICIPANT


def test_a_refusal_is_named_by_its_reason_whoever_found_it() -> None:
    assert isinstance(trial_refusal("trials: no such trial"), NotFound)
    assert isinstance(trial_refusal("trials: not the participant's site"), AccessDenied)
    assert isinstance(trial_refusal("trials: target reached"), Conflict)
    unknown = trial_refusal("trials: visits are 1 to 16")
    assert type(unknown) is ValidationError
    assert str(unknown) == "trials: visits are 1 to 16"
    assert str(trial_refusal("trials: escrow short")).startswith("trials: escrow short: ")
    assert str(trial_refusal("trials: escrow short", "participant 7: top the escrow up")) == (
        "participant 7: top the escrow up"
    )
