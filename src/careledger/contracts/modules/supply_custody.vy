# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Supply chain: custody of packs and containers
@custom:contract-name supply_custody
@license GNU Affero General Public License v3.0 or later
@notice Every commissioned pack and every case or pallet is one storage
        word (gas: a pack costs one new slot to commission and one
        rewritten slot per later step). A pack's holder commissioned
        it or received it; its holder packs it into a container (a
        case, a pallet) and unpacks it; while packed, its custody is
        its container's (up to 3 levels: a pack in a case on a pallet
        in a container), so shipping a pallet moves every pack on it.
        Only an unpacked item held and not in transit is packed,
        shipped or decommissioned; the custody holder (the root
        container's holder) may decommission a packed pack, which
        leaves its container. A pack is decommissioned once, with a
        reason (dispensed, destroyed, other), and the block it was
        decommissioned in is kept in its word: a dispense names the
        pack and the pharmacy, never a patient, and a pack of a
        recalled lot may be destroyed but not dispensed. A container
        comes into being when first packed, at the key of the SSCC it
        is packed under (checked, and hashed here: no caller names a
        key a container is created at, so none squats a pack's).
        Shipping and receiving are in modules/supply_shipments.vy; it
        rewrites these words too.
"""


from . import supply_gs1 as gs1

from . import supply_lots as lots
uses: lots


# @dev The most items one call takes (the facade sends more in chunks).
MAX_ITEMS: public(constant(uint256)) = 500

# @dev How deep containers nest: a pack has at most 3 containers above it.
MAX_DEPTH: public(constant(uint256)) = 3

# @dev An item's states; 0 is a key never commissioned nor packed into.
ACTIVE: public(constant(uint8)) = 1
IN_TRANSIT: public(constant(uint8)) = 2
DECOMMISSIONED: public(constant(uint8)) = 3

# @dev Why a pack was decommissioned.
DISPENSED: public(constant(uint8)) = 1
DESTROYED: public(constant(uint8)) = 2
OTHER: public(constant(uint8)) = 3

# @dev The kinds of item.
PACK: constant(uint256) = 1
CONTAINER: constant(uint256) = 2

# @dev Offsets and widths of an item's word (below).
STATE: constant(uint256) = 160
AUX: constant(uint256) = 168
KIND: constant(uint256) = 176
REF: constant(uint256) = 184
LINK: constant(uint256) = 224
U8: constant(uint256) = 2**8 - 1
U32: constant(uint256) = 2**32 - 1
U40: constant(uint256) = 2**40 - 1
U160: constant(uint256) = 2**160 - 1


# @dev A pack commissioned by its manufacturer, into a lot.
event Commissioned:
    key: indexed(bytes32)
    lot: indexed(bytes32)
    manufacturer: indexed(address)


# @dev An item (a pack or a container) packed into a container.
event Packed:
    child: indexed(bytes32)
    container: indexed(bytes32)
    by: indexed(address)


# @dev An item taken out of its container.
event Unpacked:
    child: indexed(bytes32)
    container: indexed(bytes32)
    by: indexed(address)


# @dev A pack taken out of the supply chain by its holder.
event Decommissioned:
    key: indexed(bytes32)
    holder: indexed(address)
    reason: uint8


# @dev Per pack or container key: holder (bits 0-159) | state (160-167)
#      | reason a pack was decommissioned, or a container's height
#      (168-175) | kind (176-183) | a pack's lot id, or a container's
#      own id (184-223) | the id of the container it is packed in while
#      active, of its shipment while in transit, or the block a pack was
#      decommissioned in (224-255; 2**32 - 1 for every block after it).
_items: HashMap[bytes32, uint256]

# @dev Per container id: the container's key.
_container_keys: HashMap[uint256, bytes32]

# @dev The number of containers; container ids are 1..container_count.
container_count: public(uint256)


@external
def pack(sscc: uint256, children: DynArray[bytes32, MAX_ITEMS]):
    """
    @notice Pack items the caller holds (packs, or smaller containers)
            into the case or pallet of SSCC `sscc`, which the caller
            holds, creating it on its first packing. Only an unpacked
            container is packed into, and containers nest at most 3
            deep.
    @dev Refuses `supply: sscc is longer than 18 digits`, `supply: sscc
         check digit is wrong`, `supply: nothing to pack`, `supply: a
         container cannot hold itself`, `supply: containers nest at most
         3 deep`, and for the container or a child `supply: unknown
         item` (a child only), `supply: already decommissioned`,
         `supply: in transit`, `supply: packed in a container`, `supply:
         not the holder`. A container's height (the most levels below
         it) only grows: unpacking does not lower it.
    @param sscc The container's SSCC (AI 00), as a number.
    @param children The items' keys; each unpacked, held, not in transit.
    """
    assert len(children) != 0, "supply: nothing to pack"
    gs1._check_sscc(sscc)
    container: bytes32 = gs1._container_key(sscc)
    word: uint256 = self._items[container]
    if word == 0:
        container_id: uint256 = self.container_count + 1
        assert container_id <= U32, "supply: too many containers"
        self.container_count = container_id
        self._container_keys[container_id] = container
        word = convert(msg.sender, uint256) | (convert(ACTIVE, uint256) << STATE) | (CONTAINER << KIND) | (container_id << REF)
    else:
        self._check_movable(word)
    own_id: uint256 = (word >> REF) & U40
    height: uint256 = (word >> AUX) & U8
    for child: bytes32 in children:
        assert child != container, "supply: a container cannot hold itself"
        child_word: uint256 = self._items[child]
        self._check_movable(child_word)
        if (child_word >> KIND) & U8 == CONTAINER:
            height = max(height, ((child_word >> AUX) & U8) + 1)
        else:
            height = max(height, 1)
        self._items[child] = child_word | (own_id << LINK)
        log Packed(child=child, container=container, by=msg.sender)
    assert height <= MAX_DEPTH, "supply: containers nest at most 3 deep"
    self._items[container] = (word & ~(U8 << AUX)) | (height << AUX)


@external
def unpack(sscc: uint256, children: DynArray[bytes32, MAX_ITEMS]):
    """
    @notice Take items out of the case or pallet of SSCC `sscc`, whose
            custody is the caller's and not in transit (the container
            may itself be packed); the caller holds each item from now on.
    @dev Refuses `supply: unknown item` (a container never packed),
         `supply: in transit`, `supply: not the holder`, `supply: not
         packed in that container`.
    @param sscc The container's SSCC (AI 00), as a number.
    @param children The items' keys; each packed in that container.
    """
    container: bytes32 = gs1._container_key(sscc)
    word: uint256 = self._items[container]
    assert word != 0, "supply: unknown item"
    self._check_custody(self._root(word))
    own_id: uint256 = (word >> REF) & U40
    for child: bytes32 in children:
        child_word: uint256 = self._items[child]
        assert (child_word >> STATE) & U8 == convert(ACTIVE, uint256) and child_word >> LINK == own_id, "supply: not packed in that container"
        self._items[child] = (child_word & ~(U32 << LINK) & ~U160) | convert(msg.sender, uint256)
        log Unpacked(child=child, container=container, by=msg.sender)


@external
def decommission(keys: DynArray[bytes32, MAX_ITEMS], reason: uint8):
    """
    @notice Take packs out of the supply chain for good (their custody
            holder): dispensed to a patient (who is not named), destroyed,
            or another reason. A packed pack leaves its container.
    @dev Refuses `supply: unknown reason`, `supply: unknown item`,
         `supply: not a pack`, `supply: already decommissioned`,
         `supply: in transit`, `supply: not the holder`, and `supply: lot
         recalled` for a pack of a recalled lot dispensed (it may still
         be destroyed, or decommissioned for another reason). The block
         is kept in the pack's word, so a second presentation of a
         dispensed pack is dated without reading logs.
    @param keys The packs' keys; each held by the caller, not in transit,
           not decommissioned before.
    @param reason DISPENSED (1), DESTROYED (2) or OTHER (3).
    """
    assert reason >= DISPENSED and reason <= OTHER, "supply: unknown reason"
    done: uint256 = (
        convert(msg.sender, uint256)
        | (convert(DECOMMISSIONED, uint256) << STATE)
        | (convert(reason, uint256) << AUX)
        | (min(block.number, U32) << LINK)
    )
    for key: bytes32 in keys:
        word: uint256 = self._items[key]
        assert word != 0, "supply: unknown item"
        assert (word >> KIND) & U8 == PACK, "supply: not a pack"
        assert (word >> STATE) & U8 != convert(DECOMMISSIONED, uint256), "supply: already decommissioned"
        self._check_custody(self._root(word))
        if reason == DISPENSED:
            assert not lots._lot((word >> REF) & U40).recalled, "supply: lot recalled"
        self._items[key] = done | (word & (U8 << KIND)) | (word & (U40 << REF))
        log Decommissioned(key=key, holder=msg.sender, reason=reason)


@internal
def _commission(gtin: uint64, lot_id: uint256, lot_key: bytes32, serials: DynArray[String[20], MAX_ITEMS]):
    """
    @dev Store one word per new serial, held by the caller, active, of
         the lot `lot_id`. Refuses an empty serial and one commissioned
         before (in any lot: the key is GTIN and serial).
    """
    word: uint256 = convert(msg.sender, uint256) | (convert(ACTIVE, uint256) << STATE) | (PACK << KIND) | (lot_id << REF)
    for serial: String[20] in serials:
        assert len(serial) != 0, "supply: empty serial"
        key: bytes32 = keccak256(abi_encode(gtin, keccak256(serial)))
        assert self._items[key] == 0, "supply: serial already commissioned"
        self._items[key] = word
        log Commissioned(key=key, lot=lot_key, manufacturer=msg.sender)


@internal
@view
def _check_movable(word: uint256):
    """
    @dev Refuse an item that is unknown, decommissioned, in transit,
         packed in a container, or held by someone else than the caller.
    """
    assert word != 0, "supply: unknown item"
    state: uint256 = (word >> STATE) & U8
    assert state != convert(DECOMMISSIONED, uint256), "supply: already decommissioned"
    assert state == convert(ACTIVE, uint256), "supply: in transit"
    assert word >> LINK == 0, "supply: packed in a container"
    assert word & U160 == convert(msg.sender, uint256), "supply: not the holder"


@internal
@view
def _check_custody(root: uint256):
    """
    @dev Refuse unless the caller holds the custody `root` gives, and it
         is not in transit.
    """
    assert (root >> STATE) & U8 == convert(ACTIVE, uint256), "supply: in transit"
    assert root & U160 == convert(msg.sender, uint256), "supply: not the holder"


@internal
@view
def _root(word: uint256) -> uint256:
    """
    @dev The word custody is read from: the item's own, or that of the
         outermost container it is packed in (at most MAX_DEPTH above).
    """
    found: uint256 = word
    for _: uint256 in range(MAX_DEPTH):
        if (found >> STATE) & U8 != convert(ACTIVE, uint256) or found >> LINK == 0:
            break
        found = self._items[self._container_keys[found >> LINK]]
    return found


@internal
@view
def _container_of(word: uint256) -> bytes32:
    """
    @dev The key of the container an item is packed in, if any.
    """
    if (word >> STATE) & U8 != convert(ACTIVE, uint256) or word >> LINK == 0:
        return empty(bytes32)
    return self._container_keys[word >> LINK]
