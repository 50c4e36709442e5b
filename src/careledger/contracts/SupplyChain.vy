# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Supply Chain
@custom:contract-name SupplyChain
@license GNU Affero General Public License v3.0 or later
@notice Serialised medicine packs from their manufacturer to the
        pharmacy that dispenses them (DESIGN.md section 13, the US
        DSCSA's and the EU FMD's product identifier: GTIN, serial,
        lot, expiry).

        A regulator admits a manufacturer with its GS1 company prefix
        and a licence hash (modules/supply_admission.vy); an admitted
        manufacturer commissions serials of GTINs inside its prefix
        (no two manufacturers' prefixes overlap), each pack one
        storage word (modules/supply_custody.vy) naming its lot
        (modules/supply_lots.vy); the holder packs packs into
        cases and pallets named by their SSCCs, ships them and the
        receiver receives them (modules/supply_shipments.vy); the holder
        decommissions a pack once, dispensed, destroyed or otherwise
        (a recalled lot's packs are not dispensed); the lot's
        manufacturer or a regulator recalls a lot. Each step is a log
        with the keys indexed, so a pack's history is read from logs.
        The signed EPCIS events behind each step are off chain, in the
        EIP-712 domain of this contract ("CareLedger SupplyChain", "1").

        The deployer holds DEFAULT_ADMIN_ROLE (snekmate access_control)
        and grants REGULATOR_ROLE. No patient data is stored: a
        dispense records the pack and the pharmacy only.
"""


from ethereum.ercs import IERC165
implements: IERC165

from snekmate.auth.interfaces import IAccessControl
implements: IAccessControl

from snekmate.auth import access_control
initializes: access_control

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

from .modules import supply_gs1 as gs1

from .modules import supply_admission as admissions
initializes: admissions[access_control := access_control]

from .modules import supply_lots as lots
initializes: lots[admissions := admissions]

from .modules import supply_custody as custody
initializes: custody[lots := lots]

from .modules import supply_shipments as shipments
initializes: shipments[custody := custody]


exports: (
    access_control.__interface__,
    eip712.eip712Domain,
    admissions.__interface__,
    lots.__interface__,
    custody.__interface__,
    shipments.__interface__,
)


# @dev What `status` tells of a pack or container, custody resolved: the
#      state and holder of the outermost container it is packed in (the
#      receiver too while that is in transit), its lot's facts, the
#      container it is packed in, why and in which block it was
#      decommissioned (2**32 - 1: in that block or after).
struct Status:
    state: uint8
    holder: address
    receiver: address
    manufacturer: address
    lot: bytes32
    gtin: uint64
    expiry: uint32
    recalled: bool
    container: bytes32
    reason: uint8
    is_container: bool
    decommissioned_in: uint64


@deploy
def __init__():
    """
    @dev The deployer becomes the admin, who grants REGULATOR_ROLE.
    """
    access_control.__init__()
    eip712.__init__("CareLedger SupplyChain", "1")


@external
def commission(gtin: uint64, lot: String[20], expiry: uint32, serials: DynArray[String[20], custody.MAX_ITEMS]):
    """
    @notice Commission serialised packs of one lot (an admitted
            manufacturer, of a GTIN inside its company prefix): each
            becomes active, held by the caller.
    @param gtin The packs' GTIN-14, as a number (check digit verified).
    @param lot Their lot number (AI 10); a lot keeps its first
           commission's manufacturer and expiry, and a recalled lot
           takes no more packs.
    @param expiry Their expiry date as the number YYYYMMDD.
    @param serials Their serial numbers (AI 21); none commissioned before.
    @dev Refuses `supply: not admitted` (never, revoked or lapsed),
         `supply: gtin is longer than 14 digits`, `supply: gtin check
         digit is wrong`, `supply: gtin outside the company prefix`,
         `supply: no lot number`, for a new lot `supply: expiry is not a
         YYYYMMDD date`, for a lot opened before `supply: lot of another
         manufacturer`, `supply: expiry differs from the lot's`,
         `supply: lot recalled`, and for a serial `supply: empty serial`,
         `supply: serial already commissioned`.
    """
    admissions._check_commission(msg.sender, gtin)
    lot_id: uint256 = 0
    lot_key: bytes32 = empty(bytes32)
    lot_id, lot_key = lots._lot_for(gtin, lot, expiry, msg.sender)
    custody._commission(gtin, lot_id, lot_key, serials)


@external
@view
def status(key: bytes32) -> Status:
    """
    @notice Where a pack or container is, in one call: its state and
            holder resolved through the containers it is packed in (up to
            3), the receiver while in transit, its lot's manufacturer,
            expiry and recall, the container it is packed in, and why it
            was decommissioned, and in which block.
    @param key The pack's or container's key.
    @return Its status (state 0, all empty, for a key never commissioned).
    """
    word: uint256 = custody._items[key]
    result: Status = empty(Status)
    if word == 0:
        return result
    result.is_container = (word >> custody.KIND) & custody.U8 == custody.CONTAINER
    if not result.is_container:
        lot_id: uint256 = (word >> custody.REF) & custody.U40
        lot: lots.Lot = lots._lot(lot_id)
        result.lot = lots._key_of(lot_id)
        result.manufacturer = lot.manufacturer
        result.gtin = lot.gtin
        result.expiry = lot.expiry
        result.recalled = lot.recalled
    result.container = custody._container_of(word)
    state: uint256 = (word >> custody.STATE) & custody.U8
    root: uint256 = custody._root(word)
    if state == convert(custody.DECOMMISSIONED, uint256):
        root = word
        result.reason = convert((word >> custody.AUX) & custody.U8, uint8)
        result.decommissioned_in = convert(word >> custody.LINK, uint64)
    result.state = convert((root >> custody.STATE) & custody.U8, uint8)
    result.holder = convert(convert(root & custody.U160, uint160), address)
    if result.state == custody.IN_TRANSIT:
        result.receiver = shipments._receiver_of(root >> custody.LINK)
    return result


@external
@pure
def pack_key(gtin: uint64, serial: String[20]) -> bytes32:
    """
    @notice A pack's key: keccak256(abi_encode(gtin, keccak256(serial))).
    @param gtin Its GTIN-14, as a number.
    @param serial Its serial number.
    @return The key.
    """
    return gs1._pack_key(gtin, serial)


@external
@pure
def lot_key(gtin: uint64, lot: String[20]) -> bytes32:
    """
    @notice A lot's key: keccak256(abi_encode(gtin, keccak256(lot))).
    @param gtin Its GTIN-14, as a number.
    @param lot Its lot number.
    @return The key.
    """
    return gs1._lot_key(gtin, lot)


@external
@pure
def container_key(sscc: uint256) -> bytes32:
    """
    @notice A case's or pallet's key: keccak256(abi_encode(uint64(0), sscc)).
    @param sscc Its SSCC, as a number.
    @return The key.
    """
    return gs1._container_key(sscc)
