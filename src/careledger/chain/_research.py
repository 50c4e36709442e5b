"""Facade of Research.vy: studies and their escrow, ethics approval, signed opt-in and out, releases and rewards.

Amounts are token base units; the privacy budget travels as thousandths of epsilon, which
`StudyTerms` and `StudyState` turn into a float for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from careledger.chain._facades import ContractFacade
from careledger.chain._signer import TxRequest
from careledger.crypto import typed_data
from careledger.errors import NotFound

if TYPE_CHECKING:
    from careledger.chain._backends import Receipt

# Research.vy's EIP-712 domain and its signed type.
DOMAIN = ("CareLedger Research", "1")
PARTICIPATION_TYPE = [
    {"name": "studyId", "type": "uint256"},
    {"name": "patient", "type": "address"},
    {"name": "join", "type": "bool"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
MAX_BATCH = 128  # participants per `record_release` (Research.MAX_BATCH)
MAX_CANDIDATES = 1000  # patients per `participants_among` (Research.MAX_CANDIDATES)


@dataclass(frozen=True, slots=True)
class StudyTerms:
    """What a sponsor registers: the protocol's hash, the data asked for, the privacy budget, the money."""

    protocol_hash: bytes
    categories: int  # bitmask of careledger.records.Category
    data_from: int
    data_to: int
    ends: int
    epsilon: float  # each node's budget for the study's aggregate queries
    reward: int
    budget: int


@dataclass(frozen=True, slots=True)
class StudyState:
    """A study as the chain holds it."""

    study_id: int
    sponsor: str
    terms: StudyTerms
    escrow: int
    approved_by: str | None
    approved_at: int
    participants: int
    unpaid: int  # participants taking part who were not paid yet: the escrow holds their rewards

    @property
    def places(self) -> int:
        """How many more participants not paid yet the escrow can take (the contract refuses a join past it)."""
        return max(self.escrow // self.terms.reward - self.unpaid, 0)


@dataclass(frozen=True, slots=True)
class Participation:
    joined_at: int
    left_at: int
    rewarded: bool


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    """A dataset delivery recorded under its Merkle root."""

    study_id: int
    custodian: str
    records: int
    patients: int
    released_at: int


class Research(ContractFacade):
    """The study registry and its reward escrow on chain."""

    contract_name = "Research"

    def register_study(self, terms: StudyTerms) -> int:
        """Register a study as the signer (a researcher who approved this contract for the budget); its id."""
        (event,) = self.events_in(self._transact(self.register_study_request(terms)), "StudyRegistered")
        return int(event.args["study_id"])

    def register_study_request(self, terms: StudyTerms) -> TxRequest:
        """The transaction of `register_study`, for a wallet elsewhere to send."""
        return self._request(
            "register_study",
            terms.protocol_hash,
            terms.categories,
            terms.data_from,
            terms.data_to,
            terms.ends,
            round(terms.epsilon * 1000),
            terms.reward,
            terms.budget,
        )

    def approve(self, study_id: int) -> None:
        """Approve a study as the signer, an ethics board."""
        self._transact(self.approve_request(study_id))

    def approve_request(self, study_id: int) -> TxRequest:
        """The transaction of `approve`, for a wallet elsewhere to send."""
        return self._request("approve", study_id)

    def top_up(self, study_id: int, amount: int) -> None:
        """Add `amount` to a study's escrow from the signer, who approved this contract for it."""
        self._transact(self.top_up_request(study_id, amount))

    def top_up_request(self, study_id: int, amount: int) -> TxRequest:
        """The transaction of `top_up`, for a wallet elsewhere to send."""
        return self._request("top_up", study_id, amount)

    def participate_by_signature(
        self, study_id: int, patient: str, join: bool, deadline: int, signature: bytes
    ) -> Receipt:
        """Submit a signed opt-in or opt-out (the signer pays the gas)."""
        return self._transact(
            self._request("participate_by_signature", study_id, to_checksum_address(patient), join, deadline, signature)
        )

    def record_release(self, study_id: int, root: bytes, records: int, patients: Sequence[str]) -> list[Receipt]:
        """Record a delivered dataset and pay its participants, in batches of `MAX_BATCH` (pipelined)."""
        addresses = [to_checksum_address(p) for p in patients]
        batches = [addresses[i : i + MAX_BATCH] for i in range(0, len(addresses), MAX_BATCH)] or [[]]
        return self._send_many([self._request("record_release", study_id, root, records, b) for b in batches])

    def collect(self, patient: str) -> None:
        """Pay the rewards held for a custodial identity to the wallet that claimed it."""
        self._transact(self._request("collect", to_checksum_address(patient)))

    def study(self, study_id: int) -> StudyState:
        """A study; `NotFound` if there is none."""
        (
            sponsor,
            protocol,
            categories,
            start,
            end,
            ends,
            epsilon,
            reward,
            budget,
            escrow,
            approver,
            approved_at,
            people,
            unpaid,
        ) = self._call("study", study_id)
        if int(sponsor, 16) == 0:
            raise NotFound(f"no study {study_id} on chain")
        terms = StudyTerms(bytes(protocol), categories, start, end, ends, epsilon / 1000, reward, budget)
        approved_by = None if int(approver, 16) == 0 else to_checksum_address(approver)
        sponsor = to_checksum_address(sponsor)
        return StudyState(study_id, sponsor, terms, escrow, approved_by, approved_at, people, unpaid)

    def study_count(self) -> int:
        """How many studies were ever registered (ids run 1..count)."""
        return int(self._call("study_count"))

    def participation(self, study_id: int, patient: str) -> Participation:
        """A patient's participation in a study."""
        joined_at, left_at, rewarded = self._call("participation", study_id, to_checksum_address(patient))
        return Participation(joined_at, left_at, rewarded)

    def participants_among(self, study_id: int, candidates: Sequence[str]) -> set[str]:
        """Those of `candidates` who are in the study now (one call per thousand)."""
        addresses = [to_checksum_address(c) for c in candidates]
        found: set[str] = set()
        for start in range(0, len(addresses), MAX_CANDIDATES):
            chunk = addresses[start : start + MAX_CANDIDATES]
            found.update(to_checksum_address(a) for a in self._call("participants_among", study_id, chunk))
        return found

    def release_of(self, root: bytes) -> ReleaseRecord | None:
        """The release recorded under a Merkle root, if any."""
        study_id, custodian, records, patients, released_at = self._call("release_of", root)
        if released_at == 0:
            return None
        return ReleaseRecord(study_id, to_checksum_address(custodian), records, patients, released_at)

    def nonce(self, patient: str) -> int:
        """The nonce the patient's next signed participation must carry."""
        return int(self._call("nonces", to_checksum_address(patient)))

    def held(self, patient: str) -> int:
        """Rewards held for an unclaimed custodial identity."""
        return int(self._call("held", to_checksum_address(patient)))

    def participation_typed_data(self, study_id: int, patient: str, join: bool, deadline: int) -> dict[str, Any]:
        """The EIP-712 `Participation` the patient (or whoever acts for her) signs, with her next nonce."""
        message = {
            "studyId": study_id,
            "patient": to_checksum_address(patient),
            "join": join,
            "nonce": self.nonce(patient),
            "deadline": deadline,
        }
        return typed_data(
            domain=DOMAIN,
            chain_id=self.chain.chain_id,
            contract=self.address,
            primary_type="Participation",
            fields=PARTICIPATION_TYPE,
            message=message,
        )
