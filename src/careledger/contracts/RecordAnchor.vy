# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Record and Audit Anchor
@custom:contract-name RecordAnchor
@license GNU Affero General Public License v3.0 or later
@notice Stores the Merkle roots of batches of salted commitments
        (record versions, audit-log heads), so anyone can check that
        a commitment existed at anchoring time without trusting the
        node that wrote it. Only roots, counts, a kind, the anchorer
        and a time are stored: no protected health information ever
        reaches this contract. A batch is identified by its root and
        fits one storage slot, so anchoring 1,024 records costs under
        50 gas each. Leaves are verified with snekmate's sorted-pair
        keccak256 `merkle_proof_verification`, the scheme of
        OpenZeppelin's MerkleProof. Anchoring is restricted to
        accounts holding `ANCHORER_ROLE` (snekmate's `access_control`).
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


# @dev One anchored batch, as the `batch` view returns it.
struct Batch:
    root: bytes32
    leaf_count: uint32
    kind: uint8
    anchorer: address
    timestamp: uint40


# @dev Anchored batches by root, packed into one slot
# (see `_pack`); zero means not anchored.
_batches: HashMap[bytes32, uint256]


# @dev Emitted once per anchored batch.
event Anchored:
    root: indexed(bytes32)
    anchorer: indexed(address)
    leaf_count: uint32
    kind: uint8


@deploy
def __init__():
    """
    @dev Makes the deployer admin and first anchorer.
    """
    access_control.__init__()
    access_control._grant_role(ANCHORER_ROLE, msg.sender)


@external
def anchor(root: bytes32, leaf_count: uint32, kind: uint8):
    """
    @dev Records `root` as an anchored batch of `leaf_count` leaves.
    @notice Only an account with `ANCHORER_ROLE` may call it.
            Refuses an empty root, an empty batch, an unknown
            kind and a root that is already anchored.
    @param root The Merkle root of the batch; also its id.
    @param leaf_count The number of leaves in the batch.
    @param kind `KIND_RECORDS` or `KIND_AUDIT`.
    """
    access_control._check_role(ANCHORER_ROLE, msg.sender)
    self._check_batch(root, leaf_count, kind)
    self._batches[root] = self._pack(msg.sender, convert(block.timestamp, uint40), leaf_count, kind)
    log Anchored(root=root, anchorer=msg.sender, leaf_count=leaf_count, kind=kind)


@external
@view
def batch(root: bytes32) -> Batch:
    """
    @notice The batch anchored under `root`.
    @param root The batch's Merkle root.
    @return The batch (all zero if none).
    """
    packed: uint256 = self._batches[root]
    if packed == 0:
        return empty(Batch)
    return Batch(
        root=root,
        leaf_count=convert((packed >> 8) & convert(max_value(uint32), uint256), uint32),
        kind=convert(packed & 255, uint8),
        anchorer=convert(convert(packed >> 96, uint160), address),
        timestamp=convert((packed >> 40) & convert(max_value(uint40), uint256), uint40),
    )


@external
@view
def is_anchored(root: bytes32) -> bool:
    """
    @notice Whether `root` has been anchored.
    @param root A Merkle root.
    @return True if it has.
    """
    return self._batches[root] != 0


@external
@view
def verify(root: bytes32, proof: DynArray[bytes32, _PROOF_BOUND], leaf: bytes32) -> bool:
    """
    @dev Tells whether `leaf` belongs to the anchored batch `root`.
    @notice Anyone may call it. Returns `False` for a root that
            was never anchored rather than reverting, so a
            verifier reads one answer.
    @param root The batch to check against.
    @param proof The sibling hashes from the leaf to the root.
    @param leaf The 32-byte leaf (a commitment).
    @return bool `True` if the batch is anchored and the proof
            leads from `leaf` to its root.
    """
    if self._batches[root] == 0:
        return False
    return merkle_proof_verification._verify(proof, root, leaf)


@internal
@view
def _check_batch(root: bytes32, leaf_count: uint32, kind: uint8):
    """
    @dev Reverts unless the batch can be anchored.
    """
    assert root != empty(bytes32), "anchor: empty root"
    assert leaf_count != 0, "anchor: empty batch"
    assert kind == KIND_RECORDS or kind == KIND_AUDIT, "anchor: unknown kind"
    assert self._batches[root] == 0, "anchor: root already anchored"


@internal
@pure
def _pack(anchorer: address, timestamp: uint40, leaf_count: uint32, kind: uint8) -> uint256:
    """
    @dev anchorer << 96 | timestamp << 40 | leaf_count << 8 | kind;
         never zero, since `kind` is not.
    """
    return (
        (convert(convert(anchorer, uint160), uint256) << 96)
        | (convert(timestamp, uint256) << 40)
        | (convert(leaf_count, uint256) << 8)
        | convert(kind, uint256)
    )
