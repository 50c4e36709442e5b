# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Consent: grants
@custom:contract-name consent_grants
@license GNU Affero General Public License v3.0 or later
@notice A grant lets one grantee see some categories of a patient's
        records for some purposes (HL7 PurposeOfUse) between two times,
        until revoked. The patient (or whoever manages her consents)
        grants directly, or signs an EIP-712 consent that anyone
        submits, so she needs no gas; a signed revocation, a signed
        care team restriction and a signed emergency access setting
        (break-glass on or off) work the same way.

        A grant lives in one storage slot. Its id is the pair's base
        (keccak256 of patient and grantee with the low byte cleared)
        plus its index among the pair's grants (1..255), so checking a
        pair reads only that pair's slots and needs no list.
"""


from snekmate.utils import ecdsa

from snekmate.utils import eip712_domain_separator as eip712
uses: eip712

from . import consent_managers as managers
uses: managers

from . import packing


# @dev Purposes of use (HL7 v3 PurposeOfUse), one bit each.
TREAT: public(constant(uint8)) = 1
ETREAT: public(constant(uint8)) = 2
HPAYMT: public(constant(uint8)) = 4
HOPERAT: public(constant(uint8)) = 8
HRESCH: public(constant(uint8)) = 16
PATRQT: public(constant(uint8)) = 32
_ALL_PURPOSES: constant(uint8) = 63


# @dev Grants per (patient, grantee) pair; index 0 is never used.
_MAX_GRANTS: constant(uint256) = 255


# @dev A grant's slot: categories (16 bits) | purposes (8) | not before
#      (64) | expiry (64) | the revoked bit.
_PURPOSES: constant(uint256) = 16
_NOT_BEFORE: constant(uint256) = 24
_EXPIRY: constant(uint256) = 88
_REVOKED_BIT: constant(uint256) = 1 << 152


# @dev The EIP-712 type of a signed consent.
CONSENT_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Consent(address patient,address grantee,uint16 categories,uint8 purposes,uint64 notBefore,uint64 expiry,uint256 nonce,uint256 deadline)"
)


# @dev The EIP-712 type of a signed revocation; it spends the same nonce.
REVOCATION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Revocation(address patient,address grantee,uint256 grantId,uint256 nonce,uint256 deadline)"
)


# @dev The EIP-712 type of a signed care team restriction; the same nonce again.
RESTRICTION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "CareTeamRestriction(address patient,address custodian,uint16 categories,uint256 nonce,uint256 deadline)"
)


# @dev The EIP-712 type of a signed emergency access setting; the same nonce again.
EMERGENCY_ACCESS_TYPEHASH: public(constant(bytes32)) = keccak256(
    "EmergencyAccessSetting(address patient,bool allowed,uint256 nonce,uint256 deadline)"
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


# @dev Grant slots by grant id (pair base | index).
_grants: HashMap[uint256, uint256]


# @dev The next nonce of each patient's signed consents.
nonces: public(HashMap[address, uint256])


@external
def grant(
    patient: address, grantee: address, categories: uint16, purposes: uint8, not_before: uint64, expiry: uint64
) -> uint256:
    """
    @notice Grant `grantee` access; the caller manages the patient's
            consents for `categories`.
    @param patient The patient.
    @param grantee Who may see the records.
    @param categories The record categories (a bitmask).
    @param purposes The purposes of use (a bitmask).
    @param not_before When the grant starts.
    @param expiry When it ends.
    @return The grant's id.
    """
    managers._check_manager(patient, msg.sender, categories)
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
    @notice Submit a consent that whoever manages the patient's consents
            signed as EIP-712 typed data with her next nonce; anyone may
            submit it, once, before `deadline`.
    @param patient The patient.
    @param grantee Who may see the records.
    @param categories The record categories (a bitmask).
    @param purposes The purposes of use (a bitmask).
    @param not_before When the grant starts.
    @param expiry When it ends.
    @param deadline The last second the signature may be submitted.
    @param signature The 65-byte signature of the `Consent` typed data.
    @return The grant's id.
    """
    nonce: uint256 = self.nonces[patient]
    struct_hash: bytes32 = keccak256(
        abi_encode(CONSENT_TYPEHASH, patient, grantee, categories, purposes, not_before, expiry, nonce, deadline)
    )
    signer: address = self._signer_of(struct_hash, deadline, signature)
    managers._check_manager(patient, signer, categories)
    self.nonces[patient] = nonce + 1
    return self._grant(patient, grantee, categories, purposes, not_before, expiry, signer)


@external
def revoke(patient: address, grantee: address, grant_id: uint256):
    """
    @notice Revoke a grant; the caller manages the patient's consents for
            the grant's categories. Every check from the next block on
            sees it.
    @param patient The patient.
    @param grantee The grantee.
    @param grant_id The grant.
    """
    self._revoke(patient, grantee, grant_id, msg.sender)


@external
def revoke_by_signature(
    patient: address, grantee: address, grant_id: uint256, deadline: uint256, signature: Bytes[65]
):
    """
    @notice Submit a revocation that whoever manages the patient's consents
            signed as EIP-712 typed data with her next nonce; anyone may
            submit it, once, before `deadline`.
    @param patient The patient.
    @param grantee The grantee.
    @param grant_id The grant.
    @param deadline The last second the signature may be submitted.
    @param signature The 65-byte signature of the `Revocation` typed data.
    """
    nonce: uint256 = self.nonces[patient]
    struct_hash: bytes32 = keccak256(abi_encode(REVOCATION_TYPEHASH, patient, grantee, grant_id, nonce, deadline))
    signer: address = self._signer_of(struct_hash, deadline, signature)
    self.nonces[patient] = nonce + 1
    self._revoke(patient, grantee, grant_id, signer)


@external
def restrict_care_team_by_signature(
    patient: address, custodian: address, categories: uint16, deadline: uint256, signature: Bytes[65]
):
    """
    @notice Submit a care team restriction (`restrict_care_team`) that the
            patient, or a delegate for every category, signed as EIP-712
            typed data with her next nonce; anyone may submit it, once,
            before `deadline`.
    @param patient The patient.
    @param custodian The node whose care team is restricted.
    @param categories The restricted categories (a bitmask; 0 lifts it).
    @param deadline The last second the signature may be submitted.
    @param signature The 65-byte signature of the `CareTeamRestriction`.
    """
    nonce: uint256 = self.nonces[patient]
    struct_hash: bytes32 = keccak256(abi_encode(RESTRICTION_TYPEHASH, patient, custodian, categories, nonce, deadline))
    signer: address = self._signer_of(struct_hash, deadline, signature)
    self.nonces[patient] = nonce + 1
    managers._restrict(patient, custodian, categories, signer)


@external
def set_emergency_access_by_signature(patient: address, allowed: bool, deadline: uint256, signature: Bytes[65]):
    """
    @notice Submit an emergency access setting (`set_emergency_access`)
            that the patient, or a delegate for every category, signed
            as EIP-712 typed data with her next nonce; anyone may submit
            it, once, before `deadline`. A patient whose wallet holds no
            gas turns break-glass off (or on again) this way.
    @param patient The patient.
    @param allowed On (True) or off (False).
    @param deadline The last second the signature may be submitted.
    @param signature The 65-byte signature of the `EmergencyAccessSetting`.
    """
    nonce: uint256 = self.nonces[patient]
    struct_hash: bytes32 = keccak256(abi_encode(EMERGENCY_ACCESS_TYPEHASH, patient, allowed, nonce, deadline))
    signer: address = self._signer_of(struct_hash, deadline, signature)
    self.nonces[patient] = nonce + 1
    managers._set_emergency_access(patient, allowed, signer)


@external
@view
def is_allowed(patient: address, grantee: address, category: uint16, purpose: uint8) -> bool:
    """
    @notice Whether a live grant (not revoked, started, unexpired) lets
            `grantee` see `category` for `purpose`.
    @param patient The patient.
    @param grantee The grantee.
    @param category One category bit, or several one grant must all cover.
    @param purpose One purpose bit, or several one grant must all cover.
    @return True if one grant covers them.
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
    @notice The terms of a grant.
    @param grant_id The grant.
    @return Its terms (all zero if there is none).
    """
    terms: uint256 = self._grants[grant_id]
    return Grant(
        categories=convert(terms & packing.U16, uint16),
        purposes=convert((terms >> _PURPOSES) & 255, uint8),
        not_before=convert((terms >> _NOT_BEFORE) & packing.U64, uint64),
        expiry=convert((terms >> _EXPIRY) & packing.U64, uint64),
        revoked=terms & _REVOKED_BIT != 0,
    )


@external
@view
def pair_base(patient: address, grantee: address) -> uint256:
    """
    @notice The base of a pair's grant ids: grant n is `base | n`.
    @param patient The patient.
    @param grantee The grantee.
    @return The base.
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
    assert categories != 0 and categories <= managers.ALL_CATEGORIES, "consent: invalid categories"
    assert purposes != 0 and purposes <= _ALL_PURPOSES, "consent: invalid purposes"
    assert not_before < expiry and convert(expiry, uint256) > block.timestamp, "consent: invalid period"
    base: uint256 = self._pair_base(patient, grantee)
    for index: uint256 in range(1, _MAX_GRANTS + 1):
        grant_id: uint256 = base | index
        if self._grants[grant_id] == 0:
            self._grants[grant_id] = (
                convert(categories, uint256)
                | (convert(purposes, uint256) << _PURPOSES)
                | (convert(not_before, uint256) << _NOT_BEFORE)
                | (convert(expiry, uint256) << _EXPIRY)
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
def _signer_of(struct_hash: bytes32, deadline: uint256, signature: Bytes[65]) -> address:
    """
    @dev Who signed the typed data of `struct_hash` in this contract's
         domain, if it is not past `deadline`.
    """
    assert block.timestamp <= deadline, "consent: signature past its deadline"
    signer: address = ecdsa._recover_sig(eip712._hash_typed_data_v4(struct_hash), signature)
    assert signer != empty(address), "consent: invalid signature"
    return signer


@internal
def _revoke(patient: address, grantee: address, grant_id: uint256, by: address):
    """
    @dev Mark a grant revoked if `by` manages the patient's consents for
         its categories.
    """
    assert grant_id & ~255 == self._pair_base(patient, grantee), "consent: grant is not of this patient and grantee"
    terms: uint256 = self._grants[grant_id]
    assert terms != 0, "consent: no such grant"
    assert terms & _REVOKED_BIT == 0, "consent: already revoked"
    managers._check_manager(patient, by, convert(terms & packing.U16, uint16))
    self._grants[grant_id] = terms | _REVOKED_BIT
    log ConsentRevoked(grant_id=grant_id, patient=patient, grantee=grantee, revoked_by=by)


@internal
@view
def _covers(terms: uint256, category: uint16, purpose: uint8) -> bool:
    if terms & _REVOKED_BIT != 0:
        return False
    if (terms >> _NOT_BEFORE) & packing.U64 > block.timestamp or (terms >> _EXPIRY) & packing.U64 <= block.timestamp:
        return False
    categories: uint256 = convert(category, uint256)
    purposes: uint256 = convert(purpose, uint256)
    return terms & categories == categories and (terms >> _PURPOSES) & purposes == purposes


@internal
@pure
def _pair_base(patient: address, grantee: address) -> uint256:
    return convert(keccak256(abi_encode(patient, grantee)), uint256) & ~255
