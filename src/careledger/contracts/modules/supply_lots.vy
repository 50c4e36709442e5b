# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Supply chain: lots and recalls
@custom:contract-name supply_lots
@license GNU Affero General Public License v3.0 or later
@notice A lot is opened by its first commission: its manufacturer, its
        GTIN and its expiry (YYYYMMDD) are remembered, so every later
        commission of the lot must agree, and each pack's one storage
        word names the lot by a small id instead of repeating them.
        The lot's manufacturer, or a regulator, recalls a lot; every
        pack of it reads recalled at once, and the `LotRecalled` log
        is what pharmacies' nodes follow. A lot is recalled once: a
        second recall reverts `supply: lot already recalled`.
"""


from . import supply_admission as admissions
uses: admissions

from . import supply_gs1 as gs1


# @dev Offsets and widths of a lot's word (below).
_GTIN: constant(uint256) = 160
_EXPIRY: constant(uint256) = 208
_RECALLED: constant(uint256) = 240
_U32: constant(uint256) = 2**32 - 1
_U40: constant(uint256) = 2**40 - 1
_U48: constant(uint256) = 2**48 - 1
_U160: constant(uint256) = 2**160 - 1


# @dev A lot, as the `lot` view returns it (all zero if unknown).
struct Lot:
    manufacturer: address
    gtin: uint64
    expiry: uint32
    recalled: bool


# @dev The lot's manufacturer or a regulator recalled a lot.
event LotRecalled:
    lot: indexed(bytes32)
    gtin: indexed(uint64)
    by: indexed(address)


# @dev The number of lots opened; lot ids are 1..lot_count.
lot_count: public(uint256)

# @dev Per lot key: its id (0 for a lot never commissioned).
_lot_ids: HashMap[bytes32, uint256]

# @dev Per lot id: its key.
_lot_keys: HashMap[uint256, bytes32]

# @dev Per lot id: manufacturer (bits 0-159) | GTIN (160-207) |
#      expiry YYYYMMDD (208-239) | recalled (240-247).
_lots: HashMap[uint256, uint256]


@external
def recall(gtin: uint64, lot: String[20]):
    """
    @notice Recall a lot (its manufacturer or a regulator): every pack
            of it reads recalled from now on.
    @param gtin The lot's GTIN-14, as a number.
    @param lot Its lot number.
    """
    key: bytes32 = gs1._lot_key(gtin, lot)
    lot_id: uint256 = self._lot_ids[key]
    assert lot_id != 0, "supply: no such lot"
    word: uint256 = self._lots[lot_id]
    if msg.sender != convert(convert(word & _U160, uint160), address):
        assert admissions._is_regulator(msg.sender), "supply: not the lot's manufacturer"
    assert (word >> _RECALLED) == 0, "supply: lot already recalled"
    self._lots[lot_id] = word | (1 << _RECALLED)
    log LotRecalled(lot=key, gtin=gtin, by=msg.sender)


@external
@view
def lot(key: bytes32) -> Lot:
    """
    @notice A lot's manufacturer, GTIN, expiry and whether it is recalled.
    @param key The lot's key (`lot_key`).
    @return The lot (all zero if no pack of it was commissioned).
    """
    return self._lot(self._lot_ids[key])


@internal
@view
def _lot(lot_id: uint256) -> Lot:
    """
    @dev A lot by its id, unpacked.
    """
    word: uint256 = self._lots[lot_id]
    return Lot(
        manufacturer=convert(convert(word & _U160, uint160), address),
        gtin=convert((word >> _GTIN) & _U48, uint64),
        expiry=convert((word >> _EXPIRY) & _U32, uint32),
        recalled=(word >> _RECALLED) != 0,
    )


@internal
@view
def _key_of(lot_id: uint256) -> bytes32:
    """
    @dev A lot's key by its id.
    """
    return self._lot_keys[lot_id]


@internal
def _lot_for(gtin: uint64, lot: String[20], expiry: uint32, manufacturer: address) -> (uint256, bytes32):
    """
    @dev The id and key of the lot a commission adds packs to, opening
         it on its first commission. Refuses a lot of another
         manufacturer, an expiry other than the lot's, a recalled lot.
    @param gtin The packs' GTIN-14 (checked by the caller).
    @param lot The lot number; not empty.
    @param expiry The packs' expiry, YYYYMMDD.
    @param manufacturer Who commissions.
    @return The lot's id and key.
    """
    assert len(lot) != 0, "supply: no lot number"
    key: bytes32 = gs1._lot_key(gtin, lot)
    lot_id: uint256 = self._lot_ids[key]
    if lot_id == 0:
        gs1._check_expiry(expiry)
        lot_id = self.lot_count + 1
        assert lot_id <= _U40, "supply: too many lots"
        self.lot_count = lot_id
        self._lot_ids[key] = lot_id
        self._lot_keys[lot_id] = key
        self._lots[lot_id] = (
            convert(manufacturer, uint256)
            | (convert(gtin, uint256) << _GTIN)
            | (convert(expiry, uint256) << _EXPIRY)
        )
        return lot_id, key
    word: uint256 = self._lots[lot_id]
    assert convert(convert(word & _U160, uint160), address) == manufacturer, "supply: lot of another manufacturer"
    assert (word >> _EXPIRY) & _U32 == convert(expiry, uint256), "supply: expiry differs from the lot's"
    assert (word >> _RECALLED) == 0, "supply: lot recalled"
    return lot_id, key
