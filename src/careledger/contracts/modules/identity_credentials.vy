# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Identity: credentials
@custom:contract-name identity_credentials
@license GNU Affero General Public License v3.0 or later
@notice Issuers (`ISSUER_ROLE`, e.g. a licensing board) attest that an
        actor holds a credential, such as a practitioner's licence,
        until an expiry; a revocable one may be revoked early.
"""


from snekmate.auth import access_control
uses: access_control

from . import identity_actors as actors
uses: actors


# @dev May attest and revoke credentials.
ISSUER_ROLE: public(constant(bytes32)) = keccak256("ISSUER_ROLE")


# @dev One attested credential.
struct Credential:
    subject: address
    credential_type: bytes32
    issuer: address
    expires_at: uint64
    revocable: bool
    revoked: bool


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


# @dev Credentials by id; ids start at 1.
credentials: public(HashMap[uint256, Credential])


# @dev The number of credentials attested so far.
credential_count: public(uint256)


# @dev The newest credential of each type per subject.
latest_credential: public(HashMap[address, HashMap[bytes32, uint256]])


@external
def attest(subject: address, credential_type: bytes32, expires_at: uint64, revocable: bool) -> uint256:
    """
    @notice Attest that `subject`, an active actor, holds a credential of
            `credential_type` until `expires_at`; `ISSUER_ROLE` only.
    @param subject The actor.
    @param credential_type The credential's type (a keccak256 of its name).
    @param expires_at When it lapses; in the future.
    @param revocable Whether its issuer may revoke it early.
    @return The credential's id.
    """
    access_control._check_role(ISSUER_ROLE, msg.sender)
    actors._check_active(subject)
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
    @notice Revoke a revocable credential: its issuer, or an admin. An
            irrevocable credential simply expires.
    @param credential_id The credential.
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
def has_valid_credential(subject: address, credential_type: bytes32) -> bool:
    """
    @notice Whether `subject` holds a valid credential of a type: its
            newest one is unexpired, unrevoked, from an issuer that still
            holds `ISSUER_ROLE`, and `subject` is active.
    @param subject The actor.
    @param credential_type The credential's type.
    @return True if it does.
    """
    credential_id: uint256 = self.latest_credential[subject][credential_type]
    if credential_id == 0 or not actors.actors[subject].active:
        return False
    credential: Credential = self.credentials[credential_id]
    return (
        not credential.revoked
        and convert(credential.expires_at, uint256) > block.timestamp
        and access_control.hasRole[ISSUER_ROLE][credential.issuer]
    )
