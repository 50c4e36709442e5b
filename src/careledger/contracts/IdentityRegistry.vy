# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Identity Registry
@custom:contract-name IdentityRegistry
@license GNU Affero General Public License v3.0 or later
@notice Who is who in a CareLedger network: each actor (organisation,
        practitioner, patient, device, insurer, pharmacy, lab,
        researcher, regulator) is an address with a role, a public
        encryption key (and its HPKE suite), a node endpoint and a
        hash of off-chain metadata. Issuers (`ISSUER_ROLE`, e.g. a
        licensing board) attest credentials such as a practitioner's
        licence, with an expiry, optionally revocable. Nothing here
        is protected health information: addresses, keys, URLs of
        organisations' nodes, hashes and codes only.
        Roles are managed with snekmate's `access_control`; the
        deployer is the first admin, registrar and issuer.
"""


from ethereum.ercs import IERC165
implements: IERC165

from snekmate.auth.interfaces import IAccessControl
implements: IAccessControl

from snekmate.auth import access_control
initializes: access_control

exports: access_control.__interface__


# @dev May register actors on their behalf and deactivate them.
REGISTRAR_ROLE: public(constant(bytes32)) = keccak256("REGISTRAR_ROLE")


# @dev May attest and revoke credentials.
ISSUER_ROLE: public(constant(bytes32)) = keccak256("ISSUER_ROLE")


# @dev Actor roles (DESIGN.md section 3); 0 means unregistered.
ORG: public(constant(uint8)) = 1
PRACTITIONER: public(constant(uint8)) = 2
PATIENT: public(constant(uint8)) = 3
DEVICE: public(constant(uint8)) = 4
INSURER: public(constant(uint8)) = 5
PHARMACY: public(constant(uint8)) = 6
LAB: public(constant(uint8)) = 7
RESEARCHER: public(constant(uint8)) = 8
REGULATOR: public(constant(uint8)) = 9


# @dev Encryption suites (careledger.crypto.Suite).
SUITE_X25519: public(constant(uint8)) = 1
SUITE_MLKEM768_X25519: public(constant(uint8)) = 2


# @dev The longest raw public key: ML-KEM-768 (1,184) + X25519 (32).
_KEY_BOUND: constant(uint16) = 1216


# @dev The longest endpoint URL.
_URL_BOUND: constant(uint16) = 256


# @dev One registered actor.
struct Actor:
    role: uint8
    encryption_key: Bytes[_KEY_BOUND]
    suite: uint8
    key_version: uint32
    endpoint: String[_URL_BOUND]
    metadata_hash: bytes32
    active: bool
    registered_at: uint64


# @dev One attested credential.
struct Credential:
    subject: address
    credential_type: bytes32
    issuer: address
    expires_at: uint64
    revocable: bool
    revoked: bool


# @dev Actors by address.
actors: HashMap[address, Actor]


# @dev Credentials by id; ids start at 1.
credentials: public(HashMap[uint256, Credential])


# @dev The number of credentials attested so far.
credential_count: public(uint256)


# @dev The newest credential of each type per subject.
latest_credential: public(HashMap[address, HashMap[bytes32, uint256]])


# @dev The node holding the key of a custodial patient (a patient
#      registered by her custodian before she has a wallet of her own);
#      empty for every other actor.
custodian_of: public(HashMap[address, address])


# @dev The wallet that claimed a custodial identity and controls it
#      now (empty while it is custodial, and for every other actor).
#      The identity's address stays what her records and consents
#      name; the wallet that acts for it can change (rotation, or
#      recovery by her guardians).
claimed_by: public(HashMap[address, address])


# @dev The claimed identity a wallet controls (the reverse of
#      `claimed_by`): what a node signs that wallet in as.
identity_of: public(HashMap[address, address])


# @dev The most guardians an identity may name.
_MAX_GUARDIANS: constant(uint256) = 7


# @dev Each claimed identity's guardians, and how many of them must
#      agree to hand it to a new wallet.
_guardians: HashMap[address, DynArray[address, _MAX_GUARDIANS]]
recovery_threshold: public(HashMap[address, uint8])


# @dev Bumped whenever the guardians or the controlling wallet change,
#      so approvals given before do not count after.
_recovery_round: HashMap[address, uint256]


# @dev keccak(identity, round, new wallet) -> guardian -> approved.
_approved: HashMap[bytes32, HashMap[address, bool]]
_approvals: HashMap[bytes32, uint8]


# @dev Emitted when an actor is registered.
event ActorRegistered:
    actor: indexed(address)
    role: uint8
    suite: uint8
    encryption_key: Bytes[_KEY_BOUND]
    endpoint: String[_URL_BOUND]
    metadata_hash: bytes32
    registrar: indexed(address)


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
    guardians: DynArray[address, _MAX_GUARDIANS]
    threshold: uint8


# @dev Emitted when a guardian approves handing an identity to `new_owner`.
event RecoveryApproved:
    actor: indexed(address)
    guardian: indexed(address)
    new_owner: indexed(address)
    approvals: uint8


# @dev Emitted when an actor's encryption key changes.
event KeyRotated:
    actor: indexed(address)
    key_version: uint32
    old_suite: uint8
    old_key: Bytes[_KEY_BOUND]
    new_suite: uint8
    new_key: Bytes[_KEY_BOUND]


# @dev Emitted when an actor's endpoint or metadata changes.
event ActorUpdated:
    actor: indexed(address)
    endpoint: String[_URL_BOUND]
    metadata_hash: bytes32


# @dev Emitted when an actor is deactivated.
event ActorDeactivated:
    actor: indexed(address)
    by: indexed(address)


# @dev Emitted when an issuer attests a credential.
event CredentialAttested:
    credential_id: indexed(uint256)
    subject: indexed(address)
    credential_type: indexed(bytes32)
    issuer: address
    expires_at: uint64
    revocable: bool


# @dev Emitted when a credential is revoked.
event CredentialRevoked:
    credential_id: indexed(uint256)
    subject: indexed(address)
    by: address


@deploy
def __init__():
    """
    @dev Makes the deployer admin, registrar and issuer.
    """
    access_control.__init__()
    access_control._grant_role(REGISTRAR_ROLE, msg.sender)
    access_control._grant_role(ISSUER_ROLE, msg.sender)


@external
def register(
    role: uint8,
    encryption_key: Bytes[_KEY_BOUND],
    suite: uint8,
    endpoint: String[_URL_BOUND],
    metadata_hash: bytes32,
):
    """
    @dev Registers the caller as an actor.
    @notice Anyone may register themselves once; a role claims
            nothing by itself: credentials from issuers do.
    @param role One of the role constants.
    @param encryption_key The raw public encryption key.
    @param suite The key's encryption suite.
    @param endpoint The actor's node URL, or empty.
    @param metadata_hash A hash of off-chain metadata, or zero.
    """
    self._register(msg.sender, role, encryption_key, suite, endpoint, metadata_hash)


@external
def register_actor(
    actor: address,
    role: uint8,
    encryption_key: Bytes[_KEY_BOUND],
    suite: uint8,
    endpoint: String[_URL_BOUND],
    metadata_hash: bytes32,
):
    """
    @dev Registers `actor` on its behalf (a hospital enrolling a
         device, a clinic its practitioners).
    @notice Only an account with `REGISTRAR_ROLE` may call it.
    """
    access_control._check_role(REGISTRAR_ROLE, msg.sender)
    assert actor != empty(address), "identity: zero address"
    self._register(actor, role, encryption_key, suite, endpoint, metadata_hash)


@external
def register_custodial(actor: address, encryption_key: Bytes[_KEY_BOUND], suite: uint8, metadata_hash: bytes32):
    """
    @dev Registers `actor` as a custodial PATIENT whose key the caller
         (her custodian node) holds, as a hospital registers a patient
         who arrives without a wallet.
    @notice Only an account with `REGISTRAR_ROLE` may call it. The
            registration says who holds the key: anyone can tell a
            custodial identity from one its patient holds.
    @param actor The custodial identity's address.
    @param encryption_key The raw public encryption key.
    @param suite The key's encryption suite.
    @param metadata_hash A hash of off-chain metadata, or zero.
    """
    access_control._check_role(REGISTRAR_ROLE, msg.sender)
    assert actor != empty(address), "identity: zero address"
    self._register(actor, PATIENT, encryption_key, suite, "", metadata_hash)
    self.custodian_of[actor] = msg.sender
    log CustodialRegistered(actor=actor, custodian=msg.sender)


@external
def rotate_key(encryption_key: Bytes[_KEY_BOUND], suite: uint8):
    """
    @dev Replaces the caller's encryption key; the event keeps
         the old one, so data sealed to it can still be found.
    @notice Only an active actor may rotate its own key.
    @param encryption_key The new raw public encryption key.
    @param suite The new key's encryption suite.
    """
    self._check_active(msg.sender)
    self._set_key(msg.sender, encryption_key, suite)


@external
def claim_custodial(actor: address, owner: address, encryption_key: Bytes[_KEY_BOUND], suite: uint8):
    """
    @dev Hands a custodial identity to the wallet of the patient who
         claimed it (she showed her custodian a one-time code and
         signed with `owner`): from now on `owner` acts for `actor`
         and the custodian does not. Her records stay under `actor`;
         its encryption key becomes hers.
    @notice Only the identity's custodian may call it, once.
    @param actor The custodial identity.
    @param owner The patient's own wallet.
    @param encryption_key The patient's raw public encryption key.
    @param suite The key's encryption suite.
    """
    custodian: address = self.custodian_of[actor]
    assert custodian != empty(address) and custodian == msg.sender, "identity: not this identity's custodian"
    self._check_active(actor)
    self.custodian_of[actor] = empty(address)
    self._set_owner(actor, owner)
    self._set_key(actor, encryption_key, suite)
    log CustodialClaimed(actor=actor, owner=owner, custodian=custodian)


@external
def rotate_owner(actor: address, new_owner: address):
    """
    @dev Hands a claimed identity to another wallet of its patient,
         signed by the wallet that controls it now.
    @param actor The claimed identity.
    @param new_owner The wallet that acts for it from now on.
    """
    assert self.claimed_by[actor] == msg.sender and msg.sender != empty(address), "identity: not the owner"
    self._set_owner(actor, new_owner)
    log OwnerChanged(actor=actor, old_owner=msg.sender, new_owner=new_owner, recovered=False)


@external
def rotate_key_of(actor: address, encryption_key: Bytes[_KEY_BOUND], suite: uint8):
    """
    @dev Replaces a claimed identity's encryption key (after a new
         wallet took it over, say); her custodian re-seals to it.
    @param actor The claimed identity.
    @param encryption_key The new raw public encryption key.
    @param suite The new key's encryption suite.
    """
    assert self.claimed_by[actor] == msg.sender and msg.sender != empty(address), "identity: not the owner"
    self._check_active(actor)
    self._set_key(actor, encryption_key, suite)


@external
def set_guardians(actor: address, guardians: DynArray[address, _MAX_GUARDIANS], threshold: uint8):
    """
    @dev Names the guardians who may together hand a claimed identity
         to a new wallet if its patient loses hers.
    @param actor The claimed identity.
    @param guardians Distinct addresses, neither the identity nor its owner.
    @param threshold How many of them must agree (0 with no guardians).
    """
    owner: address = self.claimed_by[actor]
    assert owner == msg.sender and owner != empty(address), "identity: not the owner"
    assert convert(threshold, uint256) <= len(guardians), "identity: threshold above the guardians"
    assert threshold > 0 or len(guardians) == 0, "identity: a threshold of at least one"
    for i: uint256 in range(len(guardians), bound=_MAX_GUARDIANS):
        guardian: address = guardians[i]
        assert guardian != empty(address) and guardian != actor and guardian != owner, "identity: invalid guardian"
        for j: uint256 in range(i, bound=_MAX_GUARDIANS):
            assert guardians[j] != guardian, "identity: duplicate guardian"
    self._guardians[actor] = guardians
    self.recovery_threshold[actor] = threshold
    self._recovery_round[actor] += 1
    log GuardiansSet(actor=actor, guardians=guardians, threshold=threshold)


@external
def approve_recovery(actor: address, new_owner: address):
    """
    @dev One guardian's approval to hand `actor` to `new_owner`; the
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
def update(endpoint: String[_URL_BOUND], metadata_hash: bytes32):
    """
    @dev Changes the caller's endpoint and metadata hash.
    @notice Only an active actor may update itself.
    """
    self._check_active(msg.sender)
    self.actors[msg.sender].endpoint = endpoint
    self.actors[msg.sender].metadata_hash = metadata_hash
    log ActorUpdated(actor=msg.sender, endpoint=endpoint, metadata_hash=metadata_hash)


@external
def deactivate(actor: address):
    """
    @dev Marks `actor` inactive: its credentials stop being valid
         and it can no longer rotate or update.
    @notice The actor itself or an account with `REGISTRAR_ROLE`.
    """
    if msg.sender != actor:
        access_control._check_role(REGISTRAR_ROLE, msg.sender)
    self._check_active(actor)
    self.actors[actor].active = False
    log ActorDeactivated(actor=actor, by=msg.sender)


@external
def attest(subject: address, credential_type: bytes32, expires_at: uint64, revocable: bool) -> uint256:
    """
    @dev Attests that `subject` holds a credential of
         `credential_type` until `expires_at`.
    @notice Only an account with `ISSUER_ROLE`; the subject must
            be an active actor and the expiry in the future.
    @return uint256 The credential id.
    """
    access_control._check_role(ISSUER_ROLE, msg.sender)
    self._check_active(subject)
    assert credential_type != empty(bytes32), "identity: empty credential type"
    assert convert(expires_at, uint256) > block.timestamp, "identity: expiry in the past"
    credential_id: uint256 = self.credential_count + 1
    self.credential_count = credential_id
    self.credentials[credential_id] = Credential(
        subject=subject,
        credential_type=credential_type,
        issuer=msg.sender,
        expires_at=expires_at,
        revocable=revocable,
        revoked=False,
    )
    self.latest_credential[subject][credential_type] = credential_id
    log CredentialAttested(
        credential_id=credential_id,
        subject=subject,
        credential_type=credential_type,
        issuer=msg.sender,
        expires_at=expires_at,
        revocable=revocable,
    )
    return credential_id


@external
def revoke_credential(credential_id: uint256):
    """
    @dev Revokes a revocable credential.
    @notice Only its issuer, or an admin; an irrevocable credential
            simply expires.
    """
    credential: Credential = self.credentials[credential_id]
    assert credential.issuer != empty(address), "identity: no such credential"
    if msg.sender != credential.issuer:
        access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    assert credential.revocable, "identity: credential not revocable"
    assert not credential.revoked, "identity: credential already revoked"
    self.credentials[credential_id].revoked = True
    log CredentialRevoked(credential_id=credential_id, subject=credential.subject, by=msg.sender)


@external
@view
def actor(account: address) -> Actor:
    """
    @dev The registration of `account` (role 0 if none).
    """
    return self.actors[account]


@external
@view
def guardians_of(actor: address) -> DynArray[address, _MAX_GUARDIANS]:
    """
    @dev The guardians `actor`'s owner named (empty if none).
    @param actor A claimed identity.
    @return The guardians' addresses.
    """
    return self._guardians[actor]


@external
@view
def manager_of(actor: address) -> address:
    """
    @dev Who acts for `actor` besides `actor` itself: the wallet that
         claimed it, else its custodian while it is custodial, else
         no one.
    @param actor Any address.
    @return The owner, the custodian, or the empty address.
    """
    owner: address = self.claimed_by[actor]
    if owner != empty(address):
        return owner
    return self.custodian_of[actor]


@external
@view
def role_of(account: address) -> uint8:
    """
    @dev The role of `account` if it is registered and active, else 0.
    """
    if not self.actors[account].active:
        return 0
    return self.actors[account].role


@external
@view
def is_active(account: address) -> bool:
    """
    @dev True if `account` is a registered, active actor.
    """
    return self.actors[account].active


@external
@view
def has_valid_credential(subject: address, credential_type: bytes32) -> bool:
    """
    @dev True if the newest credential of `credential_type` for
         `subject` is unexpired, unrevoked, from an issuer that still
         holds `ISSUER_ROLE`, and `subject` is active.
    """
    credential_id: uint256 = self.latest_credential[subject][credential_type]
    if credential_id == 0 or not self.actors[subject].active:
        return False
    credential: Credential = self.credentials[credential_id]
    return (
        not credential.revoked
        and convert(credential.expires_at, uint256) > block.timestamp
        and access_control.hasRole[ISSUER_ROLE][credential.issuer]
    )


@internal
def _register(
    actor: address,
    role: uint8,
    encryption_key: Bytes[_KEY_BOUND],
    suite: uint8,
    endpoint: String[_URL_BOUND],
    metadata_hash: bytes32,
):
    assert self.actors[actor].role == 0, "identity: already registered"
    assert role >= ORG and role <= REGULATOR, "identity: unknown role"
    self._check_key(encryption_key, suite)
    self.actors[actor] = Actor(
        role=role,
        encryption_key=encryption_key,
        suite=suite,
        key_version=1,
        endpoint=endpoint,
        metadata_hash=metadata_hash,
        active=True,
        registered_at=convert(block.timestamp, uint64),
    )
    log ActorRegistered(
        actor=actor,
        role=role,
        suite=suite,
        encryption_key=encryption_key,
        endpoint=endpoint,
        metadata_hash=metadata_hash,
        registrar=msg.sender,
    )


@internal
def _set_key(actor: address, encryption_key: Bytes[_KEY_BOUND], suite: uint8):
    self._check_key(encryption_key, suite)
    old: Actor = self.actors[actor]
    version: uint32 = old.key_version + 1
    self.actors[actor].encryption_key = encryption_key
    self.actors[actor].suite = suite
    self.actors[actor].key_version = version
    log KeyRotated(
        actor=actor,
        key_version=version,
        old_suite=old.suite,
        old_key=old.encryption_key,
        new_suite=suite,
        new_key=encryption_key,
    )


@internal
def _set_owner(actor: address, owner: address):
    """
    @dev Makes `owner` the wallet acting for `actor`: one identity per
         wallet, and approvals given to an earlier owner lapse.
    """
    assert owner != empty(address) and owner != actor, "identity: invalid owner"
    assert self.identity_of[owner] == empty(address), "identity: this wallet already holds an identity"
    assert self.actors[owner].role == 0 or self.actors[owner].role == PATIENT, "identity: the wallet of another actor"
    old: address = self.claimed_by[actor]
    if old != empty(address):
        self.identity_of[old] = empty(address)
    self.claimed_by[actor] = owner
    self.identity_of[owner] = actor
    self._recovery_round[actor] += 1


@internal
@view
def _check_active(account: address):
    assert self.actors[account].active, "identity: not an active actor"


@internal
@pure
def _check_key(encryption_key: Bytes[_KEY_BOUND], suite: uint8):
    if suite == SUITE_X25519:
        assert len(encryption_key) == 32, "identity: bad key length"
    else:
        assert suite == SUITE_MLKEM768_X25519, "identity: unknown suite"
        assert len(encryption_key) == 1216, "identity: bad key length"
