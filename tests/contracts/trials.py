"""What the Trials.vy tests share: the contract deployed beside an IdentityRegistry, a CareToken and a RecordAnchor,
its parties (a sponsor, an ethics board, two sites, a stranger), and the steps they take (register, approve, commit
the seed, enrol, allocate, anchor a visit's CRF) as the world's methods."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import boa
import pytest
from eth_utils import keccak, to_checksum_address

from careledger.crypto import MerkleTree, PrivateKey
from tests.contracts.conftest import contract

ORG, RESEARCHER = 1, 8
YEAR = 365 * 86_400
KEY = PrivateKey.generate().public_key.raw
ETHICS = keccak(text="research-ethics-approval")
CARE = 10**18
SITE_FEE = 30 * CARE
STIPEND = 10 * CARE
VISITS = 3
PER_PARTICIPANT = VISITS * (SITE_FEE + STIPEND)
PROTOCOL = keccak(b"protocol v1")
CONSENT = keccak(b"consent document v1")
RECORDS, AUDIT = 1, 2  # RecordAnchor.KIND_RECORDS, KIND_AUDIT
ZERO = "0x" + "00" * 20


def participant_id(n: int) -> bytes:
    """The n-th test participant's on-chain id (a salted commitment: any 32 bytes to the contract)."""
    return keccak(b"participant %d" % n)


def commitment(seed: bytes, trial_id: int, participant: bytes, arm: int) -> bytes:
    """An allocation's commitment: keccak256(seed ‖ uint256(trial) ‖ participant ‖ uint8(arm)), as the spec says."""
    return keccak(seed + trial_id.to_bytes(32, "big") + participant + bytes([arm]))


@dataclass
class World:
    """Trials deployed by `admin`, with a sponsor holding CARE, an ethics board, two sites and a stranger."""

    trials: Any
    token: Any
    anchor: Any
    identity: Any
    admin: Any
    sponsor: Any
    board: Any
    sites: list[Any]
    stranger: Any
    seed: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def register(self, *, target: int = 10, budget: int = 5 * PER_PARTICIPANT, **terms: Any) -> int:
        """Register a trial as the sponsor (2 arms 1:1, blocks of 1 or 2 multiples, 3 visits) at both sites; its id."""
        args = {
            "protocol_hash": PROTOCOL,
            "consent_hash": CONSENT,
            "target": target,
            "ratios": [1, 1],
            "block_multiples": [1, 2],
            "visits": VISITS,
            "site_fee": SITE_FEE,
            "stipend": STIPEND,
            "budget": budget,
            "sites": self.sites,
        }
        args.update(terms)
        with boa.env.prank(self.sponsor):
            self.token.approve(self.trials.address, budget)
            return int(self.trials.register_trial(*args.values()))

    def approve(self, trial_id: int, version: int = 1) -> None:
        """Approve `version` as the ethics board."""
        with boa.env.prank(self.board):
            self.trials.approve_version(trial_id, version)

    def commit_seed(self, trial_id: int) -> None:
        """Commit keccak256 of the world's seed as the sponsor."""
        with boa.env.prank(self.sponsor):
            self.trials.commit_seed(trial_id, keccak(self.seed))

    def open_trial(self, **terms: Any) -> int:
        """A trial registered, approved and with its seed committed: ready to enrol; its id."""
        trial_id = self.register(**terms)
        self.approve(trial_id)
        self.commit_seed(trial_id)
        return trial_id

    def enrol(
        self, trial_id: int, n: int, *, site: int = 0, stratum: int = 0, version: int = 1, held: bool = False
    ) -> bytes:
        """Enrol participant `n` at site `site` with a consent to `version`, paying her stipends to `payee(n)` (or
        holding them, `held`); her id."""
        participant = participant_id(n)
        payee = ZERO if held else self.payee(n)
        with boa.env.prank(self.sites[site]):
            self.trials.enrol(trial_id, participant, stratum, version, keccak(b"signature %d" % n), payee)
        return participant

    def allocate(self, trial_id: int, participants: list[bytes]) -> None:
        """Allocate `participants` as the sponsor, alternating arms."""
        commitments = [commitment(self.seed, trial_id, p, i % 2) for i, p in enumerate(participants)]
        with boa.env.prank(self.sponsor):
            self.trials.allocate(trial_id, participants, commitments)

    def anchor_crfs(self, leaves: list[bytes], *, site: int = 0, kind: int = RECORDS) -> MerkleTree:
        """Anchor a batch of visit leaves in the RecordAnchor as site `site`'s node (a batch of records unless
        `kind` says otherwise); its tree."""
        tree = MerkleTree(leaves)
        with boa.env.prank(self.sites[site]):
            self.anchor.anchor(tree.root, len(leaves), kind)
        return tree

    def pay(self, trial_id: int, participant: bytes, visit: int, tree: MerkleTree, leaf: bytes, site: int = 0) -> None:
        """Pay a visit as the participant's site, proving its CRF leaf is in the anchored `tree`."""
        with boa.env.prank(self.sites[site]):
            self.trials.pay_visit(trial_id, participant, visit, leaf, tree.root, tree.proof_for(leaf))

    def organisation(self, name: str) -> Any:
        """A new active ORG actor named `name` (a clinic that may become a site)."""
        return _register(self.identity, self.admin, name, ORG)

    def events(self, name: str) -> list[Any]:
        """The last call's logs named `name`."""
        return [e for e in self.trials.get_logs() if type(e).__name__ == name]

    @staticmethod
    def payee(n: int) -> str:
        """Participant `n`'s payee address (the same on every call)."""
        return to_checksum_address(keccak(b"payee %d" % n)[-20:])


def _register(identity: Any, admin: Any, name: str, role: int) -> Any:
    account = boa.env.generate_address(name)
    with boa.env.prank(admin):
        identity.register_actor(account, role, KEY, 1, "", bytes(32))
    return account


def deploy_world(identity: Any, admin: Any) -> World:
    """A fresh Trials contract and its parties."""
    with boa.env.prank(admin):
        token = contract("CareToken").deploy()
        anchor = contract("RecordAnchor").deploy()
        trials = contract("Trials").deploy(identity.address, token.address, anchor.address)
        identity.grantRole(identity.ISSUER_ROLE(), admin)
    sponsor = _register(identity, admin, "sponsor", RESEARCHER)
    board = _register(identity, admin, "ethics board", ORG)
    sites = [_register(identity, admin, f"site {i}", ORG) for i in range(2)]
    now = int(boa.env.evm.patch.timestamp)
    with boa.env.prank(admin):
        identity.attest(board, ETHICS, now + YEAR, True)
        token.mint(sponsor, 10_000 * CARE)
        for site in sites:  # every node anchors its own records
            anchor.grantRole(anchor.ANCHORER_ROLE(), site)
    return World(trials, token, anchor, identity, admin, sponsor, board, sites, boa.env.generate_address("stranger"))


@pytest.fixture(name="world")
def world_fixture(identity: Any, admin: Any) -> World:
    """The world of a test (import this in a test module: `world` is its fixture's name)."""
    return deploy_world(identity, admin)
