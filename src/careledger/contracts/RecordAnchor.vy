# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Record and Audit Anchor
@custom:contract-name RecordAnchor
@license GNU Affero General Public License v3.0 or later
@notice Stores the Merkle roots of batches of salted commitments
        (record versions, audit-log heads), so anyone can check that
        a commitment existed at anchoring time without trusting the
        node that wrote it. Only roots and counts are stored: no
        protected health information ever reaches this contract.
        Leaves are verified with snekmate's sorted-pair keccak256
        `merkle_proof_verification`, the scheme of OpenZeppelin's
        MerkleProof. Anchoring is restricted to accounts holding
        `ANCHORER_ROLE`, granted through snekmate's `access_control`.
"""


from ethereum.ercs import IERC165
implements: IERC165

from snekmate.auth.interfaces import IAccessControl
implements: IAccessControl

from snekmate.auth import access_control
initializes: access_control

exports: access_control.__interface__

from snekmate.utils import merkle_proof_verification


# @dev The role allowed to anchor batches.
ANCHORER_ROLE: public(constant(bytes32)) = keccak256("ANCHORER_ROLE")


# @dev Batch kind for record-version commitments.
KIND_RECORDS: public(constant(uint8)) = 1


# @dev Batch kind for audit-log heads.
KIND_AUDIT: public(constant(uint8)) = 2


# @dev The upper bound of a proof's length; 255 levels
# cover any tree a batch can build.
_PROOF_BOUND: constant(uint8) = max_value(uint8)


# @dev One anchored batch.
struct Batch:
    root: bytes32
    leaf_count: uint64
    kind: uint8
    anchorer: address
    timestamp: uint64


# @dev Anchored batches by id; ids start at 1, so an
# empty `root` means "no such batch".
batches: public(HashMap[uint256, Batch])


# @dev The number of batches anchored so far, which is
# also the id of the latest batch.
batch_count: public(uint256)


# @dev The batch that anchored a root, so a root is
# anchored at most once.
batch_of_root: public(HashMap[bytes32, uint256])


# @dev Emitted once per anchored batch.
event Anchored:
    batch_id: indexed(uint256)
    root: indexed(bytes32)
    leaf_count: uint64
    kind: uint8
    anchorer: indexed(address)


@deploy
def __init__():
    """
    @dev Makes the deployer admin and first anchorer.
    """
    access_control.__init__()
    access_control._grant_role(ANCHORER_ROLE, msg.sender)


@external
def anchor(root: bytes32, leaf_count: uint64, kind: uint8) -> uint256:
    """
    @dev Records `root` as a new batch of `leaf_count` leaves.
    @notice Only an account with `ANCHORER_ROLE` may call it.
            Refuses an empty root, an empty batch, an unknown
            kind and a root that is already anchored.
    @param root The Merkle root of the batch.
    @param leaf_count The number of leaves in the batch.
    @param kind `KIND_RECORDS` or `KIND_AUDIT`.
    @return uint256 The id of the new batch.
    """
    access_control._check_role(ANCHORER_ROLE, msg.sender)
    self._check_batch(root, leaf_count, kind)
    batch_id: uint256 = self.batch_count + 1
    self.batch_count = batch_id
    self.batches[batch_id] = Batch(
        root=root,
        leaf_count=leaf_count,
        kind=kind,
        anchorer=msg.sender,
        timestamp=convert(block.timestamp, uint64),
    )
    self.batch_of_root[root] = batch_id
    log Anchored(batch_id=batch_id, root=root, leaf_count=leaf_count, kind=kind, anchorer=msg.sender)
    return batch_id


@external
@view
def verify(batch_id: uint256, proof: DynArray[bytes32, _PROOF_BOUND], leaf: bytes32) -> bool:
    """
    @dev Tells whether `leaf` belongs to batch `batch_id`.
    @notice Anyone may call it. Returns `False` for an
            unknown batch rather than reverting, so a verifier
            reads one answer.
    @param batch_id The batch to check against.
    @param proof The sibling hashes from the leaf to the root.
    @param leaf The 32-byte leaf (a commitment).
    @return bool `True` if the proof leads to the batch root.
    """
    root: bytes32 = self.batches[batch_id].root
    if root == empty(bytes32):
        return False
    return merkle_proof_verification._verify(proof, root, leaf)


@internal
@view
def _check_batch(root: bytes32, leaf_count: uint64, kind: uint8):
    """
    @dev Reverts unless the batch can be anchored.
    """
    assert root != empty(bytes32), "anchor: empty root"
    assert leaf_count != 0, "anchor: empty batch"
    assert kind == KIND_RECORDS or kind == KIND_AUDIT, "anchor: unknown kind"
    assert self.batch_of_root[root] == 0, "anchor: root already anchored"
