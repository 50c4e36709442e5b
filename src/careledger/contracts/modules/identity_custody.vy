# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Identity: custody, claiming and recovery
@custom:contract-name identity_custody
@license GNU Affero General Public License v3.0 or later
@notice A node registers a patient who arrives without a wallet as a
        custodial identity whose key it holds. She later claims it with
        her own wallet; from then on that wallet acts for the identity
        (her records and consents keep naming the identity's address),
        she may hand it to another wallet of hers, and guardians she
        names may together hand it to a new wallet if she loses hers.
"""


from snekmate.auth import access_control
uses: access_control

from . import identity_actors as actors
uses: actors

from . import roles


# @dev The most guardians an identity may name.
MAX_GUARDIANS: constant(uint256) = 7


# @dev Emitted when a custodian registers a patient whose key it holds.
event CustodialRegistered:
    actor: indexed(address)
    custodian: indexed(address)


# @dev Emitted when the patient claims her custodial identity with
#      her own wallet: the custodian no longer acts for it.
event CustodialClaimed:
    actor: indexed(address)
    owner: indexed(address)
    custodian: indexed(address)


# @dev Emitted when a claimed identity passes to another wallet:
#      rotated by its owner, or recovered by its guardians.
event OwnerChanged:
    actor: indexed(address)
    old_owner: indexed(address)
    new_owner: indexed(address)
    recovered: bool


# @dev Emitted when an identity's owner names its guardians.
event GuardiansSet:
    actor: indexed(address)
    guardians: DynArray[address, MAX_GUARDIANS]
    threshold: uint8


# @dev Emitted when a guardian approves handing an identity to `new_owner`.
event RecoveryApproved:
    actor: indexed(address)
    guardian: indexed(address)
    new_owner: indexed(address)
    approvals: uint8


# @dev The node holding the key of a custodial patient; empty for
#      every other actor.
custodian_of: public(HashMap[address, address])


# @dev The wallet that claimed a custodial identity and controls it now
#      (empty while it is custodial, and for every other actor).
claimed_by: public(HashMap[address, address])


# @dev The claimed identity a wallet controls (the reverse of
#      `claimed_by`): what a node signs that wallet in as.
identity_of: public(HashMap[address, address])


# @dev Each claimed identity's guardians, and how many of them must
#      agree to hand it to a new wallet.
_guardians: HashMap[address, DynArray[address, MAX_GUARDIANS]]
recovery_threshold: public(HashMap[address, uint8])


# @dev Bumped whenever the guardians or the controlling wallet change,
#      so approvals given before do not count after.
_recovery_round: HashMap[address, uint256]


# @dev keccak(identity, round, new wallet) -> guardian -> approved.
_approved: HashMap[bytes32, HashMap[address, bool]]
_approvals: HashMap[bytes32, uint8]


@external
def register_custodial(actor: address, encryption_key: Bytes[actors.KEY_BOUND], suite: uint8, metadata_hash: bytes32):
    """
    @notice Register `actor` as a custodial PATIENT whose key the caller
            (her custodian node) holds, as a hospital registers a patient
            who arrives without a wallet; `REGISTRAR_ROLE` only.
    @dev The registration says who holds the key: anyone can tell a
         custodial identity from one its patient holds.
    @param actor The custodial identity's address.
    @param encryption_key The raw public encryption key.
    @param suite The key's encryption suite.
    @param metadata_hash A hash of off-chain metadata, or zero.
    """
    access_control._check_role(actors.REGISTRAR_ROLE, msg.sender)
    assert actor != empty(address), "identity: zero address"
    actors._register(actor, roles.PATIENT, encryption_key, suite, "", metadata_hash)
    self.custodian_of[actor] = msg.sender
    log CustodialRegistered(actor=actor, custodian=msg.sender)


@external
def claim_custodial(actor: address, owner: address, encryption_key: Bytes[actors.KEY_BOUND], suite: uint8):
    """
    @notice Hand a custodial identity to the wallet of the patient who
            claimed it (she showed her custodian a one-time code and
            signed with `owner`); the identity's custodian only, once.
    @dev From now on `owner` acts for `actor` and the custodian does not.
         Her records stay under `actor`; its encryption key becomes hers.
    @param actor The custodial identity.
    @param owner The patient's own wallet.
    @param encryption_key The patient's raw public encryption key.
    @param suite The key's encryption suite.
    """
    custodian: address = self.custodian_of[actor]
    assert custodian != empty(address) and custodian == msg.sender, "identity: not this identity's custodian"
    actors._check_active(actor)
    self.custodian_of[actor] = empty(address)
    self._set_owner(actor, owner)
    actors._set_key(actor, encryption_key, suite)
    log CustodialClaimed(actor=actor, owner=owner, custodian=custodian)


@external
def rotate_owner(actor: address, new_owner: address):
    """
    @notice Hand a claimed identity to another wallet of its patient,
            signed by the wallet that controls it now.
    @param actor The claimed identity.
    @param new_owner The wallet that acts for it from now on.
    """
    self._check_owner(actor)
    self._set_owner(actor, new_owner)
    log OwnerChanged(actor=actor, old_owner=msg.sender, new_owner=new_owner, recovered=False)


@external
def rotate_key_of(actor: address, encryption_key: Bytes[actors.KEY_BOUND], suite: uint8):
    """
    @notice Replace a claimed identity's encryption key (after a new
            wallet took it over, say); her custodian re-seals to it.
    @param actor The claimed identity.
    @param encryption_key The new raw public encryption key.
    @param suite The new key's encryption suite.
    """
    self._check_owner(actor)
    actors._check_active(actor)
    actors._set_key(actor, encryption_key, suite)


@external
def set_guardians(actor: address, guardians: DynArray[address, MAX_GUARDIANS], threshold: uint8):
    """
    @notice Name the guardians who may together hand a claimed identity
            to a new wallet if its patient loses hers.
    @param actor The claimed identity.
    @param guardians Distinct addresses, neither the identity nor its owner.
    @param threshold How many of them must agree (0 with no guardians).
    """
    self._check_owner(actor)
    assert convert(threshold, uint256) <= len(guardians), "identity: threshold above the guardians"
    assert threshold > 0 or len(guardians) == 0, "identity: a threshold of at least one"
    for i: uint256 in range(len(guardians), bound=MAX_GUARDIANS):
        guardian: address = guardians[i]
        assert guardian != empty(address) and guardian != actor and guardian != msg.sender, "identity: invalid guardian"
        for j: uint256 in range(i, bound=MAX_GUARDIANS):
            assert guardians[j] != guardian, "identity: duplicate guardian"
    self._guardians[actor] = guardians
    self.recovery_threshold[actor] = threshold
    self._recovery_round[actor] += 1
    log GuardiansSet(actor=actor, guardians=guardians, threshold=threshold)


@external
def approve_recovery(actor: address, new_owner: address):
    """
    @notice One guardian's approval to hand `actor` to `new_owner`; the
            one that reaches the threshold hands it over.
    @param actor The claimed identity.
    @param new_owner The patient's new wallet.
    """
    assert msg.sender in self._guardians[actor], "identity: not a guardian"
    key: bytes32 = keccak256(abi_encode(actor, self._recovery_round[actor], new_owner))
    assert not self._approved[key][msg.sender], "identity: already approved"
    self._approved[key][msg.sender] = True
    approvals: uint8 = self._approvals[key] + 1
    self._approvals[key] = approvals
    log RecoveryApproved(actor=actor, guardian=msg.sender, new_owner=new_owner, approvals=approvals)
    if approvals >= self.recovery_threshold[actor]:
        old_owner: address = self.claimed_by[actor]
        self._set_owner(actor, new_owner)
        log OwnerChanged(actor=actor, old_owner=old_owner, new_owner=new_owner, recovered=True)


@external
@view
def guardians_of(actor: address) -> DynArray[address, MAX_GUARDIANS]:
    """
    @notice The guardians `actor`'s owner named.
    @param actor A claimed identity.
    @return The guardians' addresses (empty if none).
    """
    return self._guardians[actor]


@external
@view
def manager_of(actor: address) -> address:
    """
    @notice Who acts for `actor` besides `actor` itself: the wallet that
            claimed it, else its custodian while it is custodial, else
            no one.
    @param actor Any address.
    @return The owner, the custodian, or the empty address.
    """
    owner: address = self.claimed_by[actor]
    if owner != empty(address):
        return owner
    return self.custodian_of[actor]


@internal
@view
def _check_owner(actor: address):
    assert self.claimed_by[actor] == msg.sender and msg.sender != empty(address), "identity: not the owner"


@internal
def _set_owner(actor: address, owner: address):
    """
    @dev Makes `owner` the wallet acting for `actor`: one identity per
         wallet, and approvals given to an earlier owner lapse.
    """
    assert owner != empty(address) and owner != actor, "identity: invalid owner"
    assert self.identity_of[owner] == empty(address), "identity: this wallet already holds an identity"
    role: uint8 = actors.actors[owner].role
    assert role == 0 or role == roles.PATIENT, "identity: the wallet of another actor"
    old: address = self.claimed_by[actor]
    if old != empty(address):
        self.identity_of[old] = empty(address)
    self.claimed_by[actor] = owner
    self.identity_of[owner] = actor
    self._recovery_round[actor] += 1
