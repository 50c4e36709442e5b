# pragma version ~=0.4.3
"""
@title Supply chain: GS1 identifiers
@custom:contract-name supply_gs1
@license GNU Affero General Public License v3.0 or later
@notice The keys the supply chain stores packs, lots and containers
        under, and the checks of a GTIN, an SSCC and an expiry that
        every module shares. A key is the same in Python (careledger.chain's
        `pack_key`, `lot_key`, `container_key`): a pack is its GTIN and
        the keccak256 of its serial (AI 21), a lot its GTIN and the
        keccak256 of its lot number (AI 10), a case or pallet its SSCC
        (AI 00) beside a GTIN of 0, so no container key is a pack key:
        the contract computes both from the identifiers it is given,
        never takes a key to create an item at.
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
         right GS1 check digit.
    @param gtin The GTIN-14, as a number.
    """
    number: uint256 = convert(gtin, uint256)
    assert number < 10 * _TEN_13, "supply: gtin is longer than 14 digits"
    assert self._check_digit(number // 10, 13) == number % 10, "supply: gtin check digit is wrong"


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
def _check_sscc(sscc: uint256):
    """
    @dev Refuse an SSCC that is not 18 digits (left-padded) with a right
         GS1 check digit: what makes a container's key one no pack key
         can be (a pack key hashes a GTIN beside a 32-byte hash, a
         container key 0 beside a number below 10**18).
    @param sscc The SSCC, as a number.
    """
    assert sscc < 10**18, "supply: sscc is longer than 18 digits"
    assert self._check_digit(sscc // 10, 17) == sscc % 10, "supply: sscc check digit is wrong"


@internal
@pure
def _check_digit(data: uint256, digits: uint256) -> uint256:
    """
    @dev The GS1 check digit of `digits` data digits: weighted 3, 1,
         3, … from the right, it brings their sum to a multiple of 10.
    @param data The data digits, as a number.
    @param digits How many there are (13 for a GTIN-14, 17 for an SSCC).
    @return The check digit.
    """
    rest: uint256 = data
    total: uint256 = 0
    weight: uint256 = 3
    for _: uint256 in range(digits, bound=17):
        total += (rest % 10) * weight
        rest //= 10
        weight = 4 - weight
    return (10 - total % 10) % 10


@internal
@pure
def _check_expiry(expiry: uint32):
    """
    @dev Refuse an expiry that is not a date of the Gregorian calendar
         written YYYYMMDD, year 2000-9999: the month 1-12 and the day
         within the month's length (30 days hath September…; February
         29 days in a year divisible by 4 but not by 100 unless by 400).
         The node reads this date back, so the chain takes no date it
         cannot read (20270230 and 20270431 are refused, 20280229 is not).
    @param expiry The date, as the number YYYYMMDD.
    """
    value: uint256 = convert(expiry, uint256)
    year: uint256 = value // 10_000
    month: uint256 = value // 100 % 100
    day: uint256 = value % 100
    assert year >= 2000 and year <= 9999 and month >= 1 and month <= 12, "supply: expiry is not a YYYYMMDD date"
    last: uint256 = 31
    if month == 2:
        last = 28
        if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
            last = 29
    elif month == 4 or month == 6 or month == 9 or month == 11:
        last = 30
    assert day >= 1 and day <= last, "supply: expiry is not a YYYYMMDD date"
