"""Facade of ModelRegistry.vy: each version of a study's federated model, by the hashes of its weights and card.

A model's id is keccak256(abi(study id, version)), worked out here as the contract does, so a card can cite the id
before the model is registered. The privacy budget travels in millionths of epsilon; `ModelTerms` holds a float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from careledger.chain._facades import ContractFacade
from careledger.chain._signer import TxRequest
from careledger.errors import NotFound

MAX_NODES = 32  # training nodes one model may name (ModelRegistry.MAX_NODES)
_MICRO = 1_000_000


def model_id_of(study_id: int, version: int) -> bytes:
    """A model's id on chain: keccak256(abi_encode(study_id uint256, version uint32)), as ModelRegistry.vy makes it."""
    return keccak(study_id.to_bytes(32, "big") + version.to_bytes(32, "big"))


@dataclass(frozen=True, slots=True)
class ModelTerms:
    """What a study's sponsor registers of one model version: hashes, who trained it, how, at what privacy cost."""

    study_id: int
    version: int
    weights_hash: bytes
    card_hash: bytes
    nodes: tuple[str, ...]
    rounds: int
    epsilon: float


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A model as the chain holds it; `retired_at` 0 while nodes may use it."""

    model_id: bytes
    terms: ModelTerms
    sponsor: str
    registered_at: int
    retired_at: int

    @property
    def retired(self) -> bool:
        """Whether its sponsor retired it (nodes refuse it then)."""
        return self.retired_at != 0


class ModelRegistry(ContractFacade):
    """The registry of federated models: registered and retired by a study's sponsor, read by every node."""

    contract_name = "ModelRegistry"

    def register(self, terms: ModelTerms) -> bytes:
        """Register a model version as the signer (the study's sponsor); its id."""
        (event,) = self.events_in(self._transact(self.register_request(terms)), "ModelRegistered")
        return bytes(event.args["model_id"])

    def register_request(self, terms: ModelTerms) -> TxRequest:
        """The transaction of `register`, for a wallet elsewhere to send; training nodes go in ascending order."""
        return self._request(
            "register",
            terms.study_id,
            terms.version,
            terms.weights_hash,
            terms.card_hash,
            _ascending(terms.nodes),
            terms.rounds,
            round(terms.epsilon * _MICRO),
        )

    def retire(self, model_id: bytes) -> None:
        """Retire a model as the signer, its sponsor."""
        self._transact(self._request("retire", model_id))

    def model(self, model_id: bytes) -> ModelRecord:
        """A registered model; `NotFound` if there is none."""
        study_id, version, sponsor, weights, card, nodes, rounds, epsilon, registered_at, retired_at = self._call(
            "model", model_id
        )
        if registered_at == 0:
            raise NotFound(f"no model 0x{model_id.hex()} on chain")
        trained_by = tuple(to_checksum_address(node) for node in nodes)
        terms = ModelTerms(study_id, version, bytes(weights), bytes(card), trained_by, rounds, epsilon / _MICRO)
        return ModelRecord(model_id, terms, to_checksum_address(sponsor), registered_at, retired_at)

    def latest(self, study_id: int) -> ModelRecord | None:
        """The newest version registered for a study, if any (retired or not)."""
        model_id = bytes(self._call("latest_of", study_id))
        return None if model_id == bytes(32) else self.model(model_id)


def _ascending(nodes: Sequence[str]) -> list[str]:
    # The contract takes them ascending, which rules out a node named twice without a quadratic search.
    return sorted((to_checksum_address(node) for node in nodes), key=lambda address: int(address, 16))
