"""The federated models a node may use: registered on chain by their study's sponsor, kept here, checked on each load.

```
register(sponsor's wallet, study, weights, card)
  card + its citation (model id, version) ─► canonical JSON ─► keccak ─┐
  weights ───────────────────────────────────────────────────► keccak ─┴─► ModelRegistry.register ─► kept here
load(model id) ─► kept weights and card ─► keccak of each = the chain's, model not retired? ─► weights, else refused
```

A model's id is keccak(study id, version) (`model_id_of`), so the card names its own id and version before it is
hashed: the hash on chain covers the citation. A row edited in this node's database, a model retired by its
sponsor, or one the registry never saw is refused with `IntegrityError`, never used.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eth_utils import is_address
from sqlalchemy import select

from careledger.chain import ModelRecord, ModelRegistry, ModelTerms, Research, model_id_of
from careledger.crypto import canonical_json, keccak
from careledger.errors import AccessDenied, Conflict, IntegrityError, NotFound, ValidationError
from careledger.store import Database, InsightModel

Status = Literal["usable", "retired", "unregistered", "altered"]
_CITATION = ("model_id", "version")  # what `register` writes into the card


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model this node keeps, with what the chain says of it; `status` is "usable" only if a load would pass."""

    model_id: str  # 0x-hex
    study_id: int
    version: int
    card: dict[str, Any]
    weights_hash: str
    status: Status
    sponsor: str | None = None
    retired_at: int = 0


class Models:
    """Registers models as a study's sponsor, keeps their weights and cards, and hands out only verified weights."""

    def __init__(
        self,
        db: Database,
        registry: Callable[..., ModelRegistry],
        research: Callable[..., Research],
        *,
        address_of: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._registry = registry
        self._research = research
        self._address_of = address_of
        self._clock = clock

    def register(self, as_wallet: str, study_id: int, weights: bytes, card: Mapping[str, Any]) -> RegisteredModel:
        """Register `weights` as the study's next model version, signing as `as_wallet` (the study's sponsor).

        `card` is the model card (`federated.model_card`): `nodes`, `rounds`, `privacy.epsilon`, `features` and
        `metrics` are read from it; `study` and `weights_hash`, if given, must match. The card kept and hashed is
        it with `model_id` and `version` filled in.
        """
        nodes, rounds, epsilon = _card_terms(card, study_id, weights)
        self._check_sponsor(self._address_of(as_wallet), study_id, epsilon)
        registry = self._registry(as_wallet=as_wallet)
        latest = registry.latest(study_id)
        version = 1 if latest is None else latest.terms.version + 1
        model_id = model_id_of(study_id, version)
        cited = canonical_json({**card, "study": study_id, "model_id": _hex(model_id), "version": version})
        terms = ModelTerms(study_id, version, keccak(weights), keccak(cited), nodes, rounds, epsilon)
        registry.register(terms)
        self._keep(registry.address, model_id, study_id, version, weights, cited)
        return _registered(model_id, cited, registry.model(model_id), "usable")

    def adopt(self, weights: bytes, card: Mapping[str, Any]) -> RegisteredModel:
        """Keep a model another node registered (its sponsor sent the weights and card), once the chain vouches
        for both; `IntegrityError` otherwise, and nothing kept."""
        model_id = parse_model_id(str(card.get("model_id", "")))
        cited = canonical_json(dict(card))
        registry = self._registry()
        record = _on_chain(registry, model_id)
        _check(record, weights, cited)
        self._keep(registry.address, model_id, record.terms.study_id, record.terms.version, weights, cited)
        return _registered(model_id, cited, record, "usable")

    def load(self, model_id: str) -> bytes:
        """The weights of a model this node keeps, if the chain vouches for them now: `NotFound` if not kept here,
        `IntegrityError` if retired, unknown to the registry, or not the weights or card it registered."""
        row, record = self._verified(parse_model_id(model_id))
        _check(record, row.weights, row.card.encode())
        return row.weights

    def card(self, model_id: str) -> dict[str, Any]:
        """The card of a model this node keeps, checked as `load` checks the weights."""
        row, record = self._verified(parse_model_id(model_id))
        _check(record, row.weights, row.card.encode())
        card: dict[str, Any] = json.loads(row.card)
        return card

    def all(self) -> list[RegisteredModel]:
        """Every model this node keeps on the current registry, by study and version, each with its status now."""
        registry = self._registry()
        with self._db.session() as session:
            rows = session.scalars(
                select(InsightModel)
                .where(InsightModel.contract == registry.address)
                .order_by(InsightModel.study_id, InsightModel.version)
            ).all()
        return [self._described(registry, row) for row in rows]

    def retire(self, as_wallet: str, model_id: str) -> RegisteredModel:
        """Retire a model as its sponsor: from the next block no node loads it. `AccessDenied` for anyone else,
        `Conflict` if it was retired already, `NotFound` if the registry has no such model."""
        wanted = parse_model_id(model_id)
        record = self._registry().model(wanted)
        if record.sponsor != self._address_of(as_wallet):
            raise AccessDenied(f"only study {record.terms.study_id}'s sponsor retires its models")
        if record.retired:
            raise Conflict(f"model {_hex(wanted)} was retired already")
        registry = self._registry(as_wallet=as_wallet)
        registry.retire(wanted)
        with self._db.session() as session:
            row = session.get(InsightModel, (registry.address, _hex(wanted)))
            card = row.card.encode() if row is not None else b"{}"
        return _registered(wanted, card, registry.model(wanted), "retired")

    def _check_sponsor(self, address: str, study_id: int, epsilon: float) -> None:
        """What the registry would refuse, said first: not the sponsor, not approved, ended, or a model that spent
        more privacy than the ethics board approved for the study."""
        study = self._research().study(study_id)
        if study.sponsor != address:
            raise AccessDenied(f"only study {study_id}'s sponsor registers its models")
        if study.approved_by is None:
            raise Conflict(f"study {study_id} is not approved: no model is registered before an ethics board does")
        if study.terms.ends < self._clock():
            raise Conflict(f"study {study_id} has ended: its models can no longer be registered")
        if round(epsilon * 1_000_000) > round(study.terms.epsilon * 1_000_000):
            raise ValidationError(
                f"the model's epsilon {epsilon} is above study {study_id}'s approved privacy budget "
                f"{study.terms.epsilon}"
            )

    def _keep(self, contract: str, model_id: bytes, study_id: int, version: int, weights: bytes, card: bytes) -> None:
        with self._db.session() as session:
            session.merge(
                InsightModel(
                    contract=contract,
                    model_id=_hex(model_id),
                    study_id=study_id,
                    version=version,
                    weights=weights,
                    card=card.decode(),
                    stored_at=self._clock(),
                )
            )

    def _verified(self, model_id: bytes) -> tuple[InsightModel, ModelRecord]:
        registry = self._registry()
        with self._db.session() as session:
            row = session.get(InsightModel, (registry.address, _hex(model_id)))
            if row is None:
                raise NotFound(f"this node keeps no model {_hex(model_id)}")
            session.expunge(row)
        return row, _on_chain(registry, model_id)

    def _described(self, registry: ModelRegistry, row: InsightModel) -> RegisteredModel:
        model_id = bytes.fromhex(row.model_id[2:])
        card = row.card.encode()
        try:
            record = registry.model(model_id)
        except NotFound:
            return RegisteredModel(row.model_id, row.study_id, row.version, json.loads(card), "", "unregistered")
        try:
            _check(record, row.weights, card)
        except IntegrityError:
            return _registered(model_id, card, record, "retired" if record.retired else "altered")
        return _registered(model_id, card, record, "usable")


def parse_model_id(text: str) -> bytes:
    """A model id from its 0x-hex form (as `insight models` lists it); `ValidationError` for anything else."""
    body = text.strip().lower().removeprefix("0x")
    if len(body) != 64 or any(c not in "0123456789abcdef" for c in body):
        raise ValidationError(f"{text[:80]!r} is not a model id (0x and 64 hex digits)")
    return bytes.fromhex(body)


def _card_terms(card: Mapping[str, Any], study_id: int, weights: bytes) -> tuple[tuple[str, ...], int, float]:
    """The training nodes, rounds and epsilon a card states; `ValidationError` for a card that misses or
    contradicts one (the chain would record what the card does not say)."""
    if not weights:
        raise ValidationError("a model has weights: none were given")
    missing = [key for key in ("nodes", "rounds", "privacy", "features", "metrics") if not card.get(key)]
    if missing:
        raise ValidationError(f"the model card has no {', '.join(missing)}")
    if card.get("study") not in (None, study_id):
        raise ValidationError(f"the model card is of study {card['study']}, not {study_id}")
    given = card.get("weights_hash")
    if given is not None and given != _hex(keccak(weights)):
        raise ValidationError("the model card's weights_hash is not the keccak of the weights given")
    if any(card.get(key) is not None for key in _CITATION):
        raise ValidationError("the model card already cites a model id or version: a registered model's card")
    privacy = card["privacy"]
    nodes, rounds = card["nodes"], card["rounds"]
    epsilon = privacy.get("epsilon") if isinstance(privacy, Mapping) else None
    if not isinstance(nodes, list) or not all(isinstance(node, str) and is_address(node) for node in nodes):
        raise ValidationError("the model card's nodes are not a list of addresses")
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ValidationError("the model card's rounds are not a positive whole number")
    if not isinstance(epsilon, int | float) or isinstance(epsilon, bool) or not 0 < epsilon < math.inf:
        raise ValidationError("the model card's privacy has no finite, positive epsilon")
    return tuple(nodes), rounds, float(epsilon)


def _on_chain(registry: ModelRegistry, model_id: bytes) -> ModelRecord:
    try:
        return registry.model(model_id)
    except NotFound:
        raise IntegrityError(f"model {_hex(model_id)} is not registered on chain: it is not used") from None


def _check(record: ModelRecord, weights: bytes, card: bytes) -> None:
    name = f"model {_hex(record.model_id)}"
    if record.retired:
        raise IntegrityError(f"{name} was retired by its sponsor: it is not used")
    if keccak(weights) != record.terms.weights_hash:
        raise IntegrityError(f"{name}'s weights are not those registered on chain: they are not used")
    if keccak(card) != record.terms.card_hash:
        raise IntegrityError(f"{name}'s card is not the one registered on chain: it is not used")


def _registered(model_id: bytes, card: bytes, record: ModelRecord, status: Status) -> RegisteredModel:
    terms = record.terms
    return RegisteredModel(
        _hex(model_id),
        terms.study_id,
        terms.version,
        json.loads(card),
        _hex(terms.weights_hash),
        status,
        record.sponsor,
        record.retired_at,
    )


def _hex(value: bytes) -> str:
    return "0x" + value.hex()
