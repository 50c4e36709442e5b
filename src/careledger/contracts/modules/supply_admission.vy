# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Supply chain: admissions
@custom:contract-name supply_admission
@license GNU Affero General Public License v3.0 or later
@notice A regulator (`REGULATOR_ROLE`, granted by the admin) admits a
        manufacturer: its GS1 company prefix, the hash of its
        manufacturing licence and when the admission lapses. Only an
        admitted manufacturer, before its admission lapses and unless
        a regulator revoked it, commissions serials, and only of GTINs
        inside its prefix. Admitting again renews (or replaces) an
        admission. Two manufacturers' prefixes never overlap (one
        extending the other would let each commission the other's
        GTINs), and a regulator does not admit itself. Addresses, a
        prefix, a hash and a time are stored: nothing names a patient.
"""


from snekmate.auth import access_control
uses: access_control

from . import supply_gs1 as gs1


# @dev May admit manufacturers, revoke admissions and recall any lot.
REGULATOR_ROLE: public(constant(bytes32)) = keccak256("REGULATOR_ROLE")


# @dev Offsets and widths of an admission's word (below).
_EXPIRES: constant(uint256) = 160
_PREFIX: constant(uint256) = 208
_DIGITS: constant(uint256) = 248
_REVOKED: constant(uint256) = 252
_U4: constant(uint256) = 2**4 - 1
_MIN_DIGITS: constant(uint256) = 4
_MAX_DIGITS: constant(uint256) = 12
_U40: constant(uint256) = 2**40 - 1
_U48: constant(uint256) = 2**48 - 1
_U160: constant(uint256) = 2**160 - 1


# @dev An admission, as the `admission` view returns it (all zero if
#      the manufacturer was never admitted).
struct Admission:
    regulator: address
    company_prefix: uint64
    prefix_digits: uint8
    licence: bytes32
    expires_at: uint64
    revoked: bool


# @dev A regulator admitted (or re-admitted) a manufacturer.
event Admitted:
    manufacturer: indexed(address)
    regulator: indexed(address)
    company_prefix: uint64
    prefix_digits: uint8
    licence: bytes32
    expires_at: uint64


# @dev A regulator revoked a manufacturer's admission.
event AdmissionRevoked:
    manufacturer: indexed(address)
    by: indexed(address)


# @dev Per manufacturer: regulator (bits 0-159) | expires_at (160-207) |
#      company prefix (208-247) | its digits (248-251) | revoked (252-255).
_admissions: HashMap[address, uint256]

# @dev Per manufacturer: the hash of its licence.
_licences: HashMap[address, bytes32]

# @dev Per prefix (`_node` of its digits and value): the manufacturer
#      whose admission holds it; empty once revoked or replaced.
_prefix_holders: HashMap[uint256, address]

# @dev Per prefix: how many prefixes held extend it (0614141 is
#      extended by 06141411 and by 061414123).
_extensions: HashMap[uint256, uint256]


@external
def admit(manufacturer: address, company_prefix: uint64, prefix_digits: uint8, licence: bytes32, expires_at: uint64):
    """
    @notice Admit `manufacturer` to commission GTINs of its GS1 company
            prefix until `expires_at` (a regulator only); renews or
            replaces an earlier admission.
    @param manufacturer The manufacturer's node address.
    @param company_prefix Its GS1 company prefix, as a number.
    @param prefix_digits How many digits the prefix has, 4 to 12
           (its leading zeros count).
    @param licence The hash of its manufacturing licence.
    @param expires_at When the admission lapses (unix seconds); in the future.
    @dev An admission holds its prefix until a regulator revokes it or
         admits the manufacturer with another prefix; one that lapsed
         still holds it (its packs are still about, and it may be
         renewed): a regulator revokes it to give the prefix to another.
         Refuses `supply: company prefix overlaps another manufacturer's`
         for a prefix equal to, extending or extended by one another
         manufacturer's admission holds, and `supply: a regulator may not
         admit itself`.
    """
    access_control._check_role(REGULATOR_ROLE, msg.sender)
    assert manufacturer != empty(address), "supply: no manufacturer"
    assert manufacturer != msg.sender, "supply: a regulator may not admit itself"
    digits: uint256 = convert(prefix_digits, uint256)
    assert digits >= _MIN_DIGITS and digits <= _MAX_DIGITS, "supply: a company prefix has 4 to 12 digits"
    assert convert(company_prefix, uint256) < 10**digits, "supply: company prefix longer than its digits"
    assert licence != empty(bytes32), "supply: no licence"
    assert convert(expires_at, uint256) > block.timestamp, "supply: expiry in the past"
    assert convert(expires_at, uint256) <= _U48, "supply: expiry too far"
    self._release(self._admissions[manufacturer])
    prefix: uint256 = convert(company_prefix, uint256)
    for length: uint256 in range(_MIN_DIGITS, digits + 1, bound=_MAX_DIGITS - _MIN_DIGITS + 1):
        held: address = self._prefix_holders[self._node(prefix // 10 ** (digits - length), length)]
        assert held == empty(address), "supply: company prefix overlaps another manufacturer's"
    assert self._extensions[self._node(prefix, digits)] == 0, "supply: company prefix overlaps another manufacturer's"
    self._mark(prefix, digits, manufacturer)
    self._admissions[manufacturer] = (
        convert(msg.sender, uint256)
        | (convert(expires_at, uint256) << _EXPIRES)
        | (convert(company_prefix, uint256) << _PREFIX)
        | (digits << _DIGITS)
    )
    self._licences[manufacturer] = licence
    log Admitted(
        manufacturer=manufacturer,
        regulator=msg.sender,
        company_prefix=company_prefix,
        prefix_digits=prefix_digits,
        licence=licence,
        expires_at=expires_at,
    )


@external
def revoke_admission(manufacturer: address):
    """
    @notice Revoke a manufacturer's admission (a regulator only): it
            commissions nothing more; what it commissioned stays, and
            its company prefix may be admitted to another.
    @param manufacturer The manufacturer.
    """
    access_control._check_role(REGULATOR_ROLE, msg.sender)
    word: uint256 = self._admissions[manufacturer]
    assert word != 0 and (word >> _REVOKED) == 0, "supply: not admitted"
    self._release(word)
    self._admissions[manufacturer] = word | (1 << _REVOKED)
    log AdmissionRevoked(manufacturer=manufacturer, by=msg.sender)


@external
@view
def admission(manufacturer: address) -> Admission:
    """
    @notice A manufacturer's admission, lapsed or revoked ones included.
    @param manufacturer The manufacturer.
    @return The admission (all zero if there never was one).
    """
    word: uint256 = self._admissions[manufacturer]
    return Admission(
        regulator=convert(convert(word & _U160, uint160), address),
        company_prefix=convert((word >> _PREFIX) & _U40, uint64),
        prefix_digits=convert((word >> _DIGITS) & _U4, uint8),
        licence=self._licences[manufacturer],
        expires_at=convert((word >> _EXPIRES) & _U48, uint64),
        revoked=(word >> _REVOKED) != 0,
    )


@external
@view
def is_admitted(manufacturer: address) -> bool:
    """
    @notice Whether `manufacturer` may commission serials now.
    @param manufacturer The manufacturer.
    @return True if admitted, not revoked and not lapsed.
    """
    return self._admitted(self._admissions[manufacturer])


@internal
@view
def _admitted(word: uint256) -> bool:
    """
    @dev Whether an admission's word is one in force.
    """
    return word != 0 and (word >> _REVOKED) == 0 and ((word >> _EXPIRES) & _U48) > block.timestamp


@internal
@view
def _check_commission(manufacturer: address, gtin: uint64):
    """
    @dev Refuse a commission by a manufacturer not admitted now, or of
         a GTIN that is malformed or outside its company prefix.
    @param manufacturer Who commissions.
    @param gtin The GTIN-14 of the packs.
    """
    word: uint256 = self._admissions[manufacturer]
    assert self._admitted(word), "supply: not admitted"
    gs1._check_gtin(gtin)
    assert gs1._in_prefix(gtin, (word >> _PREFIX) & _U40, (word >> _DIGITS) & _U4), "supply: gtin outside the company prefix"


@internal
@view
def _is_regulator(account: address) -> bool:
    """
    @dev Whether `account` holds `REGULATOR_ROLE`.
    """
    return access_control.hasRole[REGULATOR_ROLE][account]


@internal
def _release(word: uint256):
    """
    @dev Free the prefix of an admission's word, unless there is none
         or it was revoked (and so freed) before.
    """
    if word != 0 and (word >> _REVOKED) == 0:
        self._mark((word >> _PREFIX) & _U40, (word >> _DIGITS) & _U4, empty(address))


@internal
def _mark(prefix: uint256, digits: uint256, holder: address):
    """
    @dev Record that `holder`'s admission holds a prefix (or, for an
         empty holder, that it no longer does): the prefix's holder,
         and one more (or one fewer) extension of each shorter prefix
         it extends, those of its first 4 to `digits - 1` digits.
    """
    self._prefix_holders[self._node(prefix, digits)] = holder
    for length: uint256 in range(_MIN_DIGITS, digits, bound=_MAX_DIGITS - _MIN_DIGITS):
        shorter: uint256 = self._node(prefix // 10 ** (digits - length), length)
        if holder == empty(address):
            self._extensions[shorter] -= 1
        else:
            self._extensions[shorter] += 1


@internal
@pure
def _node(prefix: uint256, digits: uint256) -> uint256:
    """
    @dev A prefix's key in `_prefix_holders` and `_extensions`: its
         digits beside its value, since 0614 and 614 are two prefixes.
    """
    return (digits << 64) | prefix
