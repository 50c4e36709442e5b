# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Model Registry
@custom:contract-name ModelRegistry
@license GNU Affero General Public License v3.0 or later
@notice The models federated training made, so that a node uses only a
        model it can prove: the sponsor of an approved, running study
        (Research.vy) registers each version of the study's combined
        model by the keccak256 of its weights and of its card (features,
        training nodes, rounds, epsilon, each node's held-out metrics),
        naming the nodes that trained it (each an organisation of the
        IdentityRegistry, never a patient: taking part in a study can
        itself be sensitive), the rounds and the privacy budget spent,
        which may not exceed the budget the study was approved with. A
        model's id is keccak256(study id, version), so the card can cite
        it before it is registered and the hash on chain covers the
        citation. The sponsor retires a model; nodes then refuse it.
        Modelled on the registries of model cards (Mitchell et al. 2019)
        kept by hash, as RecordAnchor keeps records.

        No protected health information is stored: hashes, addresses,
        counts and times.
"""


from .modules import roles

from .modules import research_studies as studies


# @dev The training nodes one model may name.
MAX_NODES: public(constant(uint256)) = 32


# @dev One registered model. `retired_at` is 0 while nodes may use it.
struct Model:
    study_id: uint256
    version: uint32
    sponsor: address
    weights_hash: bytes32
    card_hash: bytes32
    nodes: DynArray[address, MAX_NODES]
    rounds: uint32
    epsilon_micro: uint64
    registered_at: uint64
    retired_at: uint64


# @dev A model's version registered: what nodes may now load, who
#      registered it and its training terms (an indexer needs no call).
event ModelRegistered:
    model_id: indexed(bytes32)
    study_id: indexed(uint256)
    sponsor: indexed(address)
    version: uint32
    weights_hash: bytes32
    card_hash: bytes32
    nodes: DynArray[address, MAX_NODES]
    rounds: uint32
    epsilon_micro: uint64


# @dev A model retired by its sponsor: nodes refuse it from this block.
event ModelRetired:
    model_id: indexed(bytes32)
    study_id: indexed(uint256)


# @dev The Research contract whose studies' sponsors register models.
RESEARCH: public(immutable(address))

# @dev The IdentityRegistry that says which training nodes are active actors.
IDENTITY: public(immutable(address))

# @dev Every model registered, by id.
_models: HashMap[bytes32, Model]

# @dev The id of each study's newest version (empty if it has none).
latest_of: public(HashMap[uint256, bytes32])


@deploy
def __init__(research: address):
    """
    @dev Bind models to the studies of `research` and to its IdentityRegistry.
    @param research The Research contract.
    """
    assert research != empty(address), "models: no research contract"
    RESEARCH = research
    IDENTITY = staticcall studies.__interface__(research).IDENTITY()


@external
def register(
    study_id: uint256,
    version: uint32,
    weights_hash: bytes32,
    card_hash: bytes32,
    nodes: DynArray[address, MAX_NODES],
    rounds: uint32,
    epsilon_micro: uint64,
) -> bytes32:
    """
    @dev Store the model under keccak256(study id, version), make it the
         study's latest and log its terms.
    @notice Register a version of a study's model: the caller is the
            sponsor of the study, approved and not ended. Refuses a
            version not above the study's latest, an empty hash, no
            rounds, no privacy budget or one above the study's approved
            budget, and training nodes that are none, not in ascending
            order (so none twice) or not organisations.
    @param study_id The study (Research.vy).
    @param version The version, above every earlier one of the study.
    @param weights_hash keccak256 of the model's serialized weights.
    @param card_hash keccak256 of the model's card (canonical JSON citing the model's id).
    @param nodes The nodes that trained it, in ascending order.
    @param rounds The federated rounds.
    @param epsilon_micro The differential-privacy epsilon spent, in millionths.
    @return The model's id, keccak256(abi_encode(study_id, version)).
    """
    study_epsilon_milli: uint32 = self._check_sponsor(study_id)
    # A study with no model reads the empty id's all-zero entry: version 0, which no version is below.
    assert version > self._models[self.latest_of[study_id]].version, "models: version not above the latest"
    assert weights_hash != empty(bytes32) and card_hash != empty(bytes32), "models: no hash"
    assert rounds != 0, "models: no rounds"
    assert epsilon_micro != 0, "models: no privacy budget"
    assert epsilon_micro <= convert(study_epsilon_milli, uint64) * 1000, "models: epsilon above the study's budget"
    self._check_nodes(nodes)
    model_id: bytes32 = keccak256(abi_encode(study_id, version))
    self._models[model_id] = Model(
        study_id=study_id,
        version=version,
        sponsor=msg.sender,
        weights_hash=weights_hash,
        card_hash=card_hash,
        nodes=nodes,
        rounds=rounds,
        epsilon_micro=epsilon_micro,
        registered_at=convert(block.timestamp, uint64),
        retired_at=0,
    )
    self.latest_of[study_id] = model_id
    log ModelRegistered(
        model_id=model_id,
        study_id=study_id,
        sponsor=msg.sender,
        version=version,
        weights_hash=weights_hash,
        card_hash=card_hash,
        nodes=nodes,
        rounds=rounds,
        epsilon_micro=epsilon_micro,
    )
    return model_id


@external
def retire(model_id: bytes32):
    """
    @dev Mark the model retired now; `is_usable` answers False from here.
    @notice Retire a model: only the sponsor who registered it, once.
    @param model_id The model.
    """
    model: Model = self._model(model_id)
    assert msg.sender == model.sponsor, "models: not the sponsor"
    assert model.retired_at == 0, "models: already retired"
    self._models[model_id].retired_at = convert(block.timestamp, uint64)
    log ModelRetired(model_id=model_id, study_id=model.study_id)


@external
@view
def model(model_id: bytes32) -> Model:
    """
    @dev Read one model's stored terms.
    @notice A registered model.
    @param model_id The model.
    @return The model (all zero if there is none).
    """
    return self._models[model_id]


@external
@view
def is_usable(model_id: bytes32, weights_hash: bytes32) -> bool:
    """
    @dev What a node asks before it loads weights: registered, not
         retired, and the same hash.
    @notice Whether a node may use these weights: they are a registered
            model's, and it is not retired.
    @param model_id The model.
    @param weights_hash keccak256 of the weights the node holds.
    @return True if it may.
    """
    model: Model = self._models[model_id]
    return model.registered_at != 0 and model.retired_at == 0 and model.weights_hash == weights_hash


@internal
@view
def _model(model_id: bytes32) -> Model:
    model: Model = self._models[model_id]
    assert model.registered_at != 0, "models: no such model"
    return model


@internal
@view
def _check_sponsor(study_id: uint256) -> uint32:
    """
    @dev The caller sponsors `study_id`, which an ethics board approved
         and which has not ended (Research.vy's terms); the study's
         approved privacy budget, in thousandths of epsilon.
    """
    study: studies.Study = staticcall studies.__interface__(RESEARCH).study(study_id)
    assert study.sponsor != empty(address), "models: no such study"
    assert msg.sender == study.sponsor, "models: not the sponsor"
    assert study.approved_at != 0, "models: the study is not approved"
    assert block.timestamp <= convert(study.ends, uint256), "models: the study has ended"
    return study.epsilon_milli


@internal
@view
def _check_nodes(nodes: DynArray[address, MAX_NODES]):
    """
    @dev Ascending order makes a repeated node impossible without a
         quadratic search; each must be an organisation now (a node is
         one; a patient named here would be public as a participant).
    """
    assert len(nodes) != 0, "models: no training nodes"
    registry: roles.IIdentityRegistry = roles.IIdentityRegistry(IDENTITY)
    previous: address = empty(address)
    for node: address in nodes:
        assert convert(node, uint160) > convert(previous, uint160), "models: training nodes not in ascending order"
        assert staticcall registry.role_of(node) == roles.ORG, "models: a training node is not an organisation"
        previous = node
