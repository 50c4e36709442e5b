# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Consent Registry
@custom:contract-name ConsentRegistry
@license GNU Affero General Public License v3.0 or later
@notice Patients' consents to share their records: a grant lets one
        grantee see some categories of the patient's records for
        some purposes (HL7 PurposeOfUse) between two times, until
        revoked. The patient grants directly, or signs an EIP-712
        consent that anyone submits, so a patient needs no gas. A
        patient may delegate consent management for some categories
        to a guardian or proxy, until an expiry. Practitioners with a
        valid licence in the IdentityRegistry may record an emergency
        (break-glass) access, unless the patient turned it off.
        Only addresses, bitmasks, times and hashes are stored: no
        protected health information.

        A grant lives in one storage slot. Its id is the pair's base
        (keccak256 of patient and grantee with the low byte cleared)
        plus its index among the pair's grants (1..255), so checking a
        pair reads only that pair's slots and needs no list.
"""


from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

exports: eip712.eip712Domain

from snekmate.utils import ecdsa


interface IIdentityRegistry:
    def role_of(account: address) -> uint8: view
    def has_valid_credential(subject: address, credential_type: bytes32) -> bool: view
    def manager_of(actor: address) -> address: view


# @dev Purposes of use (HL7 v3 PurposeOfUse), one bit each.
TREAT: public(constant(uint8)) = 1
ETREAT: public(constant(uint8)) = 2
HPAYMT: public(constant(uint8)) = 4
HOPERAT: public(constant(uint8)) = 8
HRESCH: public(constant(uint8)) = 16
PATRQT: public(constant(uint8)) = 32
_ALL_PURPOSES: constant(uint8) = 63


# @dev Record categories (careledger.records.Category), one bit each, ten in all.
_ALL_CATEGORIES: constant(uint16) = 1023


# @dev IdentityRegistry's PRACTITIONER role and the credential break-glass needs.
_PRACTITIONER: constant(uint8) = 2
MEDICAL_LICENCE: public(constant(bytes32)) = keccak256("medical-licence")


# @dev Grants per (patient, grantee) pair; index 0 is never used.
_MAX_GRANTS: constant(uint256) = 255


# @dev Bit layout of a grant's slot.
_PURPOSES_SHIFT: constant(uint256) = 16
_NOT_BEFORE_SHIFT: constant(uint256) = 24
_EXPIRY_SHIFT: constant(uint256) = 88
_REVOKED_BIT: constant(uint256) = 1 << 152
_U64: constant(uint256) = 2**64 - 1


# @dev The EIP-712 type of a signed consent.
CONSENT_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Consent(address patient,address grantee,uint16 categories,uint8 purposes,uint64 notBefore,uint64 expiry,uint256 nonce,uint256 deadline)"
)


# @dev One grant, as the `grant_terms` view returns it.
struct Grant:
    categories: uint16
    purposes: uint8
    not_before: uint64
    expiry: uint64
    revoked: bool


event ConsentGranted:
    grant_id: indexed(uint256)
    patient: indexed(address)
    grantee: indexed(address)
    categories: uint16
    purposes: uint8
    not_before: uint64
    expiry: uint64
    granted_by: address


event ConsentRevoked:
    grant_id: indexed(uint256)
    patient: indexed(address)
    grantee: indexed(address)
    revoked_by: address


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


# @dev The IdentityRegistry consulted for break-glass.
IDENTITY: public(immutable(address))


# @dev Grant slots by grant id (pair base | index); 0 is an unused index.
_grants: HashMap[uint256, uint256]


# @dev patient -> custodian node -> the categories its care team may not
#      use without a consent (bits 0-15; 0 restricts nothing).
care_team_restrictions: public(HashMap[address, HashMap[address, uint16]])


# @dev patient -> delegate -> categories (bits 0-15) | expiry (bits 16-79).
_delegations: HashMap[address, HashMap[address, uint256]]


# @dev The next nonce of each patient's signed consents.
nonces: public(HashMap[address, uint256])


# @dev Patients who turned break-glass off (it is on by default).
emergency_access_disabled: public(HashMap[address, bool])


@deploy
def __init__(identity: address):
    assert identity != empty(address), "consent: no identity registry"
    eip712.__init__("CareLedger ConsentRegistry", "1")
    IDENTITY = identity


@external
def grant(
    patient: address, grantee: address, categories: uint16, purposes: uint8, not_before: uint64, expiry: uint64
) -> uint256:
    """
    @dev Grant `grantee` access; the caller is the patient or a live
         delegate whose scope covers `categories`. Returns the grant id.
    """
    self._check_manager(patient, msg.sender, categories)
    return self._grant(patient, grantee, categories, purposes, not_before, expiry, msg.sender)


@external
def grant_by_signature(
    patient: address,
    grantee: address,
    categories: uint16,
    purposes: uint8,
    not_before: uint64,
    expiry: uint64,
    deadline: uint256,
    signature: Bytes[65],
) -> uint256:
    """
    @dev Submit a consent the patient (or a live delegate) signed as
         EIP-712 typed data with the patient's next nonce; anyone may
         submit it, once, before `deadline`.
    """
    assert block.timestamp <= deadline, "consent: signature past its deadline"
    nonce: uint256 = self.nonces[patient]
    struct_hash: bytes32 = keccak256(
        abi_encode(CONSENT_TYPEHASH, patient, grantee, categories, purposes, not_before, expiry, nonce, deadline)
    )
    signer: address = ecdsa._recover_sig(eip712._hash_typed_data_v4(struct_hash), signature)
    assert signer != empty(address), "consent: invalid signature"
    self._check_manager(patient, signer, categories)
    self.nonces[patient] = nonce + 1
    return self._grant(patient, grantee, categories, purposes, not_before, expiry, signer)


@external
def revoke(patient: address, grantee: address, grant_id: uint256):
    """
    @dev Revoke a grant; the caller is the patient or a live delegate
         whose scope covers the grant's categories. Takes effect for
         every check from the next block on.
    """
    assert grant_id & ~255 == self._pair_base(patient, grantee), "consent: grant is not of this patient and grantee"
    terms: uint256 = self._grants[grant_id]
    assert terms != 0, "consent: no such grant"
    assert terms & _REVOKED_BIT == 0, "consent: already revoked"
    self._check_manager(patient, msg.sender, convert(terms & 65535, uint16))
    self._grants[grant_id] = terms | _REVOKED_BIT
    log ConsentRevoked(grant_id=grant_id, patient=patient, grantee=grantee, revoked_by=msg.sender)


@external
def delegate(delegate: address, categories: uint16, expiry: uint64):
    """
    @dev Let `delegate` grant and revoke for the caller (a patient) in
         `categories` until `expiry`; categories 0 ends a delegation.
    """
    assert delegate != empty(address) and delegate != msg.sender, "consent: invalid delegate"
    assert categories <= _ALL_CATEGORIES, "consent: unknown category"
    assert categories == 0 or convert(expiry, uint256) > block.timestamp, "consent: expiry in the past"
    self._delegations[msg.sender][delegate] = convert(categories, uint256) | (convert(expiry, uint256) << 16)
    log Delegation(patient=msg.sender, delegate=delegate, categories=categories, expiry=expiry)


@external
def restrict_care_team(patient: address, custodian: address, categories: uint16):
    """
    @dev Keep the care team of `custodian` (the actors that node
         attested an affiliation to) from `patient`'s records of
         `categories` unless a consent names them; 0 lifts every
         restriction. Nodes honour it from the block that records it.
    @notice The patient, or a delegate for every category.
    @param patient The patient whose records are restricted.
    @param custodian The node whose care team is restricted.
    @param categories The restricted categories (a bitmask).
    """
    self._check_manager(patient, msg.sender, _ALL_CATEGORIES)
    self.care_team_restrictions[patient][custodian] = categories
    log CareTeamRestricted(patient=patient, custodian=custodian, categories=categories)


@external
def set_emergency_access(patient: address, allowed: bool):
    """
    @dev Turn break-glass for `patient` on or off (the patient, or a
         delegate for every category).
    """
    self._check_manager(patient, msg.sender, _ALL_CATEGORIES)
    self.emergency_access_disabled[patient] = not allowed
    log EmergencyAccessSetting(patient=patient, allowed=allowed)


@external
def record_emergency_access(patient: address, reason_hash: bytes32):
    """
    @dev Record a break-glass access to `patient`'s records by the
         caller, who must be a registered practitioner with a valid
         medical licence. `reason_hash` is a salted hash of the
         reason, which stays in the node's audit log.
    """
    assert reason_hash != empty(bytes32), "consent: a reason is required"
    assert staticcall IIdentityRegistry(IDENTITY).role_of(msg.sender) == _PRACTITIONER, "consent: not a practitioner"
    assert staticcall IIdentityRegistry(IDENTITY).has_valid_credential(
        msg.sender, MEDICAL_LICENCE
    ), "consent: no valid medical licence"
    assert not self.emergency_access_disabled[patient], "consent: the patient turned emergency access off"
    log EmergencyAccess(
        patient=patient, practitioner=msg.sender, reason_hash=reason_hash, timestamp=convert(block.timestamp, uint64)
    )


@external
@view
def is_allowed(patient: address, grantee: address, category: uint16, purpose: uint8) -> bool:
    """
    @dev True if a live grant (not revoked, started, unexpired) lets
         `grantee` see `category` for `purpose` (one bit each, or
         several that must all be covered by one grant).
    """
    if category == 0 or purpose == 0:
        return False
    base: uint256 = self._pair_base(patient, grantee)
    for index: uint256 in range(1, _MAX_GRANTS + 1):
        terms: uint256 = self._grants[base | index]
        if terms == 0:
            return False
        if self._covers(terms, category, purpose):
            return True
    return False


@external
@view
def grant_terms(grant_id: uint256) -> Grant:
    """
    @dev The terms of a grant (all zero if there is none).
    """
    terms: uint256 = self._grants[grant_id]
    return Grant(
        categories=convert(terms & 65535, uint16),
        purposes=convert((terms >> _PURPOSES_SHIFT) & 255, uint8),
        not_before=convert((terms >> _NOT_BEFORE_SHIFT) & _U64, uint64),
        expiry=convert((terms >> _EXPIRY_SHIFT) & _U64, uint64),
        revoked=terms & _REVOKED_BIT != 0,
    )


@external
@view
def delegation(patient: address, delegate: address) -> (uint16, uint64):
    """
    @dev A delegation's categories and expiry (zero if none).
    """
    packed: uint256 = self._delegations[patient][delegate]
    return convert(packed & 65535, uint16), convert(packed >> 16, uint64)


@external
@view
def pair_base(patient: address, grantee: address) -> uint256:
    """
    @dev The base of the pair's grant ids: grant n is `base | n`.
    """
    return self._pair_base(patient, grantee)


@internal
def _grant(
    patient: address,
    grantee: address,
    categories: uint16,
    purposes: uint8,
    not_before: uint64,
    expiry: uint64,
    granted_by: address,
) -> uint256:
    assert grantee != empty(address) and grantee != patient, "consent: invalid grantee"
    assert categories != 0 and categories <= _ALL_CATEGORIES, "consent: invalid categories"
    assert purposes != 0 and purposes <= _ALL_PURPOSES, "consent: invalid purposes"
    assert not_before < expiry and convert(expiry, uint256) > block.timestamp, "consent: invalid period"
    base: uint256 = self._pair_base(patient, grantee)
    for index: uint256 in range(1, _MAX_GRANTS + 1):
        grant_id: uint256 = base | index
        if self._grants[grant_id] == 0:
            self._grants[grant_id] = (
                convert(categories, uint256)
                | (convert(purposes, uint256) << _PURPOSES_SHIFT)
                | (convert(not_before, uint256) << _NOT_BEFORE_SHIFT)
                | (convert(expiry, uint256) << _EXPIRY_SHIFT)
            )
            log ConsentGranted(
                grant_id=grant_id,
                patient=patient,
                grantee=grantee,
                categories=categories,
                purposes=purposes,
                not_before=not_before,
                expiry=expiry,
                granted_by=granted_by,
            )
            return grant_id
    raise "consent: too many grants for this pair"


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
    if staticcall IIdentityRegistry(IDENTITY).manager_of(patient) == actor:
        return
    packed: uint256 = self._delegations[patient][actor]
    scope: uint256 = packed & 65535
    assert (
        scope != 0 and scope & convert(categories, uint256) == convert(categories, uint256) and packed >> 16 > block.timestamp
    ), "consent: not the patient or a live delegate"


@internal
@view
def _covers(terms: uint256, category: uint16, purpose: uint8) -> bool:
    if terms & _REVOKED_BIT != 0:
        return False
    if (terms >> _NOT_BEFORE_SHIFT) & _U64 > block.timestamp or (terms >> _EXPIRY_SHIFT) & _U64 <= block.timestamp:
        return False
    categories: uint256 = convert(category, uint256)
    purposes: uint256 = convert(purpose, uint256)
    return terms & categories == categories and (terms >> _PURPOSES_SHIFT) & purposes == purposes


@internal
@pure
def _pair_base(patient: address, grantee: address) -> uint256:
    return convert(keccak256(abi_encode(patient, grantee)), uint256) & ~255
