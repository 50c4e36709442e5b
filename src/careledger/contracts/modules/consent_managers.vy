# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Consent: who manages a patient's consents, and break-glass
@custom:contract-name consent_managers
@license GNU Affero General Public License v3.0 or later
@notice A patient manages her own consents; so does whoever acts for
        her identity in the IdentityRegistry (her custodian while it
        holds her key, the wallet that claimed it), and a delegate she
        names for some categories until an expiry. She may keep a
        node's care team from some categories, and turn break-glass
        off; practitioners with a valid licence record a break-glass
        access otherwise.
"""


from . import packing
from . import roles


# @dev Record categories (careledger.records.Category), one bit each, ten in all.
ALL_CATEGORIES: constant(uint16) = 1023


# @dev The credential break-glass needs.
MEDICAL_LICENCE: public(constant(bytes32)) = keccak256("medical-licence")


# @dev A delegation's word: categories (16 bits) | expiry (64).
_EXPIRY: constant(uint256) = 16


event Delegation:
    patient: indexed(address)
    delegate: indexed(address)
    categories: uint16
    expiry: uint64


event CareTeamRestricted:
    patient: indexed(address)
    custodian: indexed(address)
    categories: uint16


event EmergencyAccessSetting:
    patient: indexed(address)
    allowed: bool


event EmergencyAccess:
    patient: indexed(address)
    practitioner: indexed(address)
    reason_hash: bytes32
    timestamp: uint64


# @dev The IdentityRegistry consulted for managers and break-glass.
IDENTITY: public(immutable(address))


# @dev patient -> custodian node -> the categories its care team may not
#      use without a consent (0 restricts nothing).
care_team_restrictions: public(HashMap[address, HashMap[address, uint16]])


# @dev patient -> delegate -> categories | expiry.
_delegations: HashMap[address, HashMap[address, uint256]]


# @dev Patients who turned break-glass off (it is on by default).
emergency_access_disabled: public(HashMap[address, bool])


@deploy
def __init__(identity: address):
    """
    @dev Bind consents to the IdentityRegistry that says who acts for whom.
    @param identity The IdentityRegistry's address.
    """
    assert identity != empty(address), "consent: no identity registry"
    IDENTITY = identity


@external
def delegate(delegate: address, categories: uint16, expiry: uint64):
    """
    @notice Let `delegate` grant and revoke for the caller (a patient) in
            `categories` until `expiry`; categories 0 ends a delegation.
    @param delegate The guardian or proxy.
    @param categories The categories it may manage (a bitmask).
    @param expiry When the delegation lapses.
    """
    assert delegate != empty(address) and delegate != msg.sender, "consent: invalid delegate"
    assert categories <= ALL_CATEGORIES, "consent: unknown category"
    assert categories == 0 or convert(expiry, uint256) > block.timestamp, "consent: expiry in the past"
    self._delegations[msg.sender][delegate] = convert(categories, uint256) | (convert(expiry, uint256) << _EXPIRY)
    log Delegation(patient=msg.sender, delegate=delegate, categories=categories, expiry=expiry)


@external
def restrict_care_team(patient: address, custodian: address, categories: uint16):
    """
    @notice Keep the care team of `custodian` (the actors that node
            attested an affiliation to) from `patient`'s records of
            `categories` unless a consent names them; 0 lifts every
            restriction. The patient, or a delegate for every category.
    @dev Nodes honour it from the block that records it.
    @param patient The patient whose records are restricted.
    @param custodian The node whose care team is restricted.
    @param categories The restricted categories (a bitmask).
    """
    self._restrict(patient, custodian, categories, msg.sender)


@external
def set_emergency_access(patient: address, allowed: bool):
    """
    @notice Turn break-glass for `patient` on or off (the patient, or a
            delegate for every category).
    @param patient The patient.
    @param allowed On (True) or off (False).
    """
    self._set_emergency_access(patient, allowed, msg.sender)


@external
def record_emergency_access(patient: address, reason_hash: bytes32):
    """
    @notice Record a break-glass access to `patient`'s records by the
            caller, a registered practitioner with a valid medical licence.
    @param patient The patient.
    @param reason_hash A salted hash of the reason, which stays in the
           node's audit log.
    """
    assert reason_hash != empty(bytes32), "consent: a reason is required"
    registry: roles.IIdentityRegistry = roles.IIdentityRegistry(IDENTITY)
    assert staticcall registry.role_of(msg.sender) == roles.PRACTITIONER, "consent: not a practitioner"
    assert staticcall registry.has_valid_credential(msg.sender, MEDICAL_LICENCE), "consent: no valid medical licence"
    assert not self.emergency_access_disabled[patient], "consent: the patient turned emergency access off"
    log EmergencyAccess(
        patient=patient, practitioner=msg.sender, reason_hash=reason_hash, timestamp=convert(block.timestamp, uint64)
    )


@external
@view
def delegation(patient: address, delegate: address) -> (uint16, uint64):
    """
    @notice A delegation's scope.
    @param patient The patient.
    @param delegate The delegate.
    @return The categories and the expiry (zero if none).
    """
    packed: uint256 = self._delegations[patient][delegate]
    return convert(packed & packing.U16, uint16), convert(packed >> _EXPIRY, uint64)


@internal
def _restrict(patient: address, custodian: address, categories: uint16, by: address):
    """
    @dev Set `custodian`'s care team restriction on `patient` if `by`
         manages all her consents.
    """
    assert categories <= ALL_CATEGORIES, "consent: unknown category"
    self._check_manager(patient, by, ALL_CATEGORIES)
    self.care_team_restrictions[patient][custodian] = categories
    log CareTeamRestricted(patient=patient, custodian=custodian, categories=categories)


@internal
def _set_emergency_access(patient: address, allowed: bool, by: address):
    """
    @dev Turn break-glass for `patient` on or off if `by` manages all her
         consents.
    """
    self._check_manager(patient, by, ALL_CATEGORIES)
    self.emergency_access_disabled[patient] = not allowed
    log EmergencyAccessSetting(patient=patient, allowed=allowed)


@internal
@view
def _check_manager(patient: address, actor: address, categories: uint16):
    """
    @dev The patient herself, whoever acts for her identity in the
         IdentityRegistry (the custodian of a custodial patient, on
         her documented instruction; the wallet that claimed it), or
         a live delegate for every one of `categories`.
    """
    if actor == patient:
        return
    if staticcall roles.IIdentityRegistry(IDENTITY).manager_of(patient) == actor:
        return
    packed: uint256 = self._delegations[patient][actor]
    scope: uint256 = packed & packing.U16
    wanted: uint256 = convert(categories, uint256)
    assert (
        scope != 0 and scope & wanted == wanted and packed >> _EXPIRY > block.timestamp
    ), "consent: not the patient or a live delegate"
