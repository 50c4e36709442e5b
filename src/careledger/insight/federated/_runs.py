"""A sponsor's federated run from its own node: every node of the network that serves (an endpoint on chain) takes
part, this one in process and the others over HTTP; the trained model is registered on chain as the study's next
version."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from careledger.errors import AccessDenied, ValidationError
from careledger.insight._models import Models, RegisteredModel
from careledger.insight.federated._card import register_trained
from careledger.insight.federated._client import Participant, study_site
from careledger.insight.federated._dataset import task_named
from careledger.insight.federated._remote import remote_site
from careledger.insight.federated._training import (
    CLIPPING_NORM,
    MAX_ROUNDS,
    NOISE_MULTIPLIER,
    ROUNDS,
    TrainedModel,
    epsilon,
    train,
)
from careledger.research import StudyDesk

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from careledger.chain import IdentityRegistry, Research


class FederatedRuns:
    """Runs a study's training as its sponsor, from this node."""

    def __init__(
        self,
        desk: StudyDesk,
        models: Callable[[], Models],
        identity: Callable[[], IdentityRegistry],
        research: Callable[[], Research],
        account: Callable[[str], LocalAccount],
    ) -> None:
        self._desk = desk
        self._models = models
        self._identity = identity
        self._research = research
        self._account = account

    def train(
        self,
        as_wallet: str,
        study_id: int,
        *,
        task: str = "breast-cancer",
        rounds: int = ROUNDS,
        noise_multiplier: float = NOISE_MULTIPLIER,
        clipping_norm: float = CLIPPING_NORM,
    ) -> tuple[TrainedModel, RegisteredModel]:
        """Train on every serving node's participants, signed as `as_wallet` (the study's sponsor), and register
        the model; `ValidationError` for an unknown task, rounds outside 1 to `MAX_ROUNDS`, no noise or clipping,
        a run that would spend more ε than the study's approved budget (said before any node opens a record), or
        a run that failed at a node; `AccessDenied` when `as_wallet` is not the study's sponsor."""
        learnt = task_named(task)
        if not 1 <= rounds <= MAX_ROUNDS:
            raise ValidationError(f"rounds must be from 1 to {MAX_ROUNDS}, not {rounds}")
        if not noise_multiplier > 0 or not clipping_norm > 0:
            raise ValidationError("the noise multiplier and the clipping norm must be positive: no run without DP")
        study = self._research().study(study_id)
        account = self._account(as_wallet)
        if account.address != study.sponsor:
            raise AccessDenied(f"{as_wallet} ({account.address}) is not study {study_id}'s sponsor ({study.sponsor})")
        budget = study.terms.epsilon
        if (spent := epsilon(noise_multiplier, rounds)) > budget:
            raise ValidationError(
                f"{rounds} rounds at noise multiplier {noise_multiplier} spend epsilon {spent:.2f}, above study "
                f"{study_id}'s approved budget {budget}: fewer rounds or more noise"
            )
        identity = self._identity()
        chain_id = identity.chain.chain_id
        sites: list[Participant] = [study_site(self._desk, study_id, learnt)]
        for node in identity.nodes():
            if node.address != self._desk.address:
                sites.append(
                    remote_site(study_id, node.address, node.endpoint, learnt, account, chain_id, identity.address)
                )
        model = train(study_id, sites, rounds=rounds, noise_multiplier=noise_multiplier, clipping_norm=clipping_norm)
        return model, register_trained(self._models(), as_wallet, model)
