# pragma version ~=0.4.3
"""
@title Supply chain: GS1 identifiers
@custom:contract-name supply_gs1
@license GNU Affero General Public License v3.0 or later
@notice The keys the supply chain stores packs, lots and containers
        under, and the checks of a GTIN and an expiry that every module
        shares. A key is the same in Python (careledger.chain's
        `pack_key`, `lot_key`, `container_key`): a pack is its GTIN and
        the keccak256 of its serial (AI 21), a lot its GTIN and the
        keccak256 of its lot number (AI 10), a case or pallet its SSCC
        (AI 00) beside a GTIN of 0, so no container key is a pack key.
        Serials, lot numbers and GTINs are product data: nothing here
        names a patient.
"""


# @dev 10**13: a GTIN-14 without its indicator digit is below this.
_TEN_13: constant(uint256) = 10**13


@internal
@pure
def _pack_key(gtin: uint64, serial: String[20]) -> bytes32:
    """
    @dev A serialised pack's key: keccak256(abi_encode(gtin, keccak256(serial))).
    @param gtin The pack's GTIN-14, as a number.
    @param serial Its serial number.
    @return The key.
    """
    return keccak256(abi_encode(gtin, keccak256(serial)))


@internal
@pure
def _lot_key(gtin: uint64, lot: String[20]) -> bytes32:
    """
    @dev A lot's key: keccak256(abi_encode(gtin, keccak256(lot))).
    @param gtin The lot's GTIN-14, as a number.
    @param lot Its lot number.
    @return The key.
    """
    return keccak256(abi_encode(gtin, keccak256(lot)))


@internal
@pure
def _container_key(sscc: uint256) -> bytes32:
    """
    @dev A case's or pallet's key: keccak256(abi_encode(uint64(0), sscc)).
    @param sscc Its SSCC, as a number.
    @return The key.
    """
    return keccak256(abi_encode(empty(uint64), sscc))


@internal
@pure
def _check_gtin(gtin: uint64):
    """
    @dev Refuse a GTIN that is not 14 digits (left-padded) with a
         right GS1 check digit: the data digits are weighted 3, 1, 3, …
         from the right, and the check digit brings their sum to a
         multiple of 10.
    @param gtin The GTIN-14, as a number.
    """
    number: uint256 = convert(gtin, uint256)
    assert number < 10 * _TEN_13, "supply: gtin is longer than 14 digits"
    data: uint256 = number // 10
    total: uint256 = 0
    weight: uint256 = 3
    for _: uint256 in range(13):
        total += (data % 10) * weight
        data //= 10
        weight = 4 - weight
    assert (10 - total % 10) % 10 == number % 10, "supply: gtin check digit is wrong"


@internal
@pure
def _in_prefix(gtin: uint64, prefix: uint256, digits: uint256) -> bool:
    """
    @dev Whether a GTIN-14 belongs to a GS1 company prefix: the digits
         after the indicator digit start with the prefix's `digits`
         digits (leading zeros included).
    @param gtin The GTIN-14, as a number.
    @param prefix The company prefix, as a number.
    @param digits How many digits the prefix has.
    @return True if the GTIN is the prefix's.
    """
    return (convert(gtin, uint256) % _TEN_13) // 10 ** (13 - digits) == prefix


@internal
@pure
def _check_expiry(expiry: uint32):
    """
    @dev Refuse an expiry that is not a YYYYMMDD date (month 1-12,
         day 1-31, year 2000-9999).
    @param expiry The date, as the number YYYYMMDD.
    """
    value: uint256 = convert(expiry, uint256)
    month: uint256 = value // 100 % 100
    day: uint256 = value % 100
    assert value >= 20000101 and value <= 99991231, "supply: expiry is not a YYYYMMDD date"
    assert month >= 1 and month <= 12 and day >= 1 and day <= 31, "supply: expiry is not a YYYYMMDD date"
