# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Identity: actors
@custom:contract-name identity_actors
@license GNU Affero General Public License v3.0 or later
@notice Each actor is an address with a role, a public encryption key
        (and its HPKE suite), a node endpoint and a hash of off-chain
        metadata. Actors register themselves, or a registrar registers
        them; they rotate their key, update their endpoint, and are
        deactivated by themselves, their registrar or the admin.
"""


from snekmate.auth import access_control
uses: access_control

from . import roles


# @dev May register actors on their behalf, and deactivate those it registered.
REGISTRAR_ROLE: public(constant(bytes32)) = keccak256("REGISTRAR_ROLE")


# @dev Encryption suites (careledger.crypto.Suite).
SUITE_X25519: public(constant(uint8)) = 1
SUITE_MLKEM768_X25519: public(constant(uint8)) = 2


# @dev The longest raw public key: ML-KEM-768 (1,184) + X25519 (32).
KEY_BOUND: constant(uint16) = 1216


# @dev The longest endpoint URL.
URL_BOUND: constant(uint16) = 256


# @dev One registered actor.
struct Actor:
    role: uint8
    encryption_key: Bytes[KEY_BOUND]
    suite: uint8
    key_version: uint32
    endpoint: String[URL_BOUND]
    metadata_hash: bytes32
    active: bool
    registered_at: uint64


# @dev Emitted when an actor is registered.
event ActorRegistered:
    actor: indexed(address)
    role: uint8
    suite: uint8
    encryption_key: Bytes[KEY_BOUND]
    endpoint: String[URL_BOUND]
    metadata_hash: bytes32
    registrar: indexed(address)


# @dev Emitted when an actor's encryption key changes.
event KeyRotated:
    actor: indexed(address)
    key_version: uint32
    old_suite: uint8
    old_key: Bytes[KEY_BOUND]
    new_suite: uint8
    new_key: Bytes[KEY_BOUND]


# @dev Emitted when an actor's endpoint or metadata changes.
event ActorUpdated:
    actor: indexed(address)
    endpoint: String[URL_BOUND]
    metadata_hash: bytes32


# @dev Emitted when an actor is deactivated.
event ActorDeactivated:
    actor: indexed(address)
    by: indexed(address)


# @dev Actors by address.
actors: HashMap[address, Actor]


# @dev Who registered each actor on its behalf (a hospital its patient, a
#      clinic its practitioners): read by a node deciding whose custodian
#      it is without scanning the events; empty for one that registered
#      itself.
registrar_of: public(HashMap[address, address])


@external
def register(
    role: uint8,
    encryption_key: Bytes[KEY_BOUND],
    suite: uint8,
    endpoint: String[URL_BOUND],
    metadata_hash: bytes32,
):
    """
    @notice Register the caller as an actor. Anyone may register once; a
            role claims nothing by itself: credentials from issuers do.
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
    encryption_key: Bytes[KEY_BOUND],
    suite: uint8,
    endpoint: String[URL_BOUND],
    metadata_hash: bytes32,
):
    """
    @notice Register `actor` on its behalf (a hospital enrolling a device,
            a clinic its practitioners); `REGISTRAR_ROLE` only.
    @param actor The actor's address.
    @param role One of the role constants.
    @param encryption_key The raw public encryption key.
    @param suite The key's encryption suite.
    @param endpoint The actor's node URL, or empty.
    @param metadata_hash A hash of off-chain metadata, or zero.
    """
    access_control._check_role(REGISTRAR_ROLE, msg.sender)
    assert actor != empty(address), "identity: zero address"
    self._register(actor, role, encryption_key, suite, endpoint, metadata_hash)


@external
def rotate_key(encryption_key: Bytes[KEY_BOUND], suite: uint8):
    """
    @notice Replace the caller's encryption key (active actors only).
    @dev The event keeps the old key, so data sealed to it can still be found.
    @param encryption_key The new raw public encryption key.
    @param suite The new key's encryption suite.
    """
    self._check_active(msg.sender)
    self._set_key(msg.sender, encryption_key, suite)


@external
def update(endpoint: String[URL_BOUND], metadata_hash: bytes32):
    """
    @notice Change the caller's endpoint and metadata hash (active actors only).
    @param endpoint The actor's node URL, or empty.
    @param metadata_hash A hash of off-chain metadata, or zero.
    """
    self._check_active(msg.sender)
    self.actors[msg.sender].endpoint = endpoint
    self.actors[msg.sender].metadata_hash = metadata_hash
    log ActorUpdated(actor=msg.sender, endpoint=endpoint, metadata_hash=metadata_hash)


@external
def deactivate(actor: address):
    """
    @notice Mark `actor` inactive: its credentials stop being valid and it
            can no longer rotate or update. The actor itself; the
            registrar that registered it, while it holds `REGISTRAR_ROLE`
            (a node its own patients and practitioners); or
            `DEFAULT_ADMIN_ROLE` (the council, which removes nodes). No
            member node removes another, nor another's actors.
    @param actor The actor.
    """
    if msg.sender != actor and not access_control.hasRole[access_control.DEFAULT_ADMIN_ROLE][msg.sender]:
        assert (
            self.registrar_of[actor] == msg.sender and access_control.hasRole[REGISTRAR_ROLE][msg.sender]
        ), "identity: only the actor, its registrar or the admin deactivates it"
    self._check_active(actor)
    self.actors[actor].active = False
    log ActorDeactivated(actor=actor, by=msg.sender)


@external
@view
def actor(account: address) -> Actor:
    """
    @notice The registration of `account`.
    @param account Any address.
    @return The actor (role 0 if none).
    """
    return self.actors[account]


@external
@view
def role_of(account: address) -> uint8:
    """
    @notice The role of `account` if it is registered and active.
    @param account Any address.
    @return The role, else 0.
    """
    if not self.actors[account].active:
        return 0
    return self.actors[account].role


@external
@view
def is_active(account: address) -> bool:
    """
    @notice Whether `account` is a registered, active actor.
    @param account Any address.
    @return True if it is.
    """
    return self.actors[account].active


@internal
def _register(
    actor: address,
    role: uint8,
    encryption_key: Bytes[KEY_BOUND],
    suite: uint8,
    endpoint: String[URL_BOUND],
    metadata_hash: bytes32,
):
    assert self.actors[actor].role == 0, "identity: already registered"
    assert role >= roles.ORG and role <= roles.REGULATOR, "identity: unknown role"
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
    if msg.sender != actor:
        self.registrar_of[actor] = msg.sender
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
def _set_key(actor: address, encryption_key: Bytes[KEY_BOUND], suite: uint8):
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
@view
def _check_active(account: address):
    assert self.actors[account].active, "identity: not an active actor"


@internal
@pure
def _check_key(encryption_key: Bytes[KEY_BOUND], suite: uint8):
    if suite == SUITE_X25519:
        assert len(encryption_key) == 32, "identity: bad key length"
    else:
        assert suite == SUITE_MLKEM768_X25519, "identity: unknown suite"
        assert len(encryption_key) == 1216, "identity: bad key length"
