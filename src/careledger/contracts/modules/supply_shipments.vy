# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Supply chain: shipments
@custom:contract-name supply_shipments
@license GNU Affero General Public License v3.0 or later
@notice Custody moves by both parties' transactions: the holder ships
        items (packs, cases, pallets) to a receiver under a shipment id
        (the EPCIS event's despatch advice); the items are in transit,
        still the sender's, until that receiver receives the shipment
        with the same items (their keccak256 is kept), which makes them
        the receiver's. A receive with no shipment of that id
        reverts `supply: no such shipment` (`supply: shipment already
        received` once it was), one by anyone else `supply: not the
        receiver`. Only received items are shipped on, packed
        or decommissioned by their new holder.
"""


from . import supply_custody as custody
uses: custody


# @dev Offsets and widths of a shipment's word (below).
_INDEX: constant(uint256) = 160
_OPEN: constant(uint256) = 192
_BLOCK: constant(uint256) = 200
_U32: constant(uint256) = 2**32 - 1
_U56: constant(uint256) = 2**56 - 1
_U160: constant(uint256) = 2**160 - 1


# @dev A shipment, as the `shipment` view returns it (all zero if none).
struct Shipment:
    sender: address
    receiver: address
    items_hash: bytes32
    open: bool
    shipped_in: uint64


# @dev An item shipped, in transit from `sender` to `receiver`.
event Shipped:
    shipment: indexed(bytes32)
    item: indexed(bytes32)
    sender: indexed(address)
    receiver: address


# @dev An item received: `receiver` holds it now.
event Received:
    shipment: indexed(bytes32)
    item: indexed(bytes32)
    receiver: indexed(address)


# @dev The number of shipments; shipment indexes are 1..shipment_count.
shipment_count: public(uint256)

# @dev Per shipment id: sender (bits 0-159) | index (160-191) | open
#      (192-199) | the block it was shipped in (200-255), so its items
#      are read from that block's logs alone.
_shipments: HashMap[bytes32, uint256]

# @dev Per shipment id: keccak256(abi_encode(items)).
_items_hashes: HashMap[bytes32, bytes32]

# @dev Per shipment index: the receiver (what a status in transit shows).
_receivers: HashMap[uint256, address]


@external
def ship(shipment: bytes32, receiver: address, items: DynArray[bytes32, custody.MAX_ITEMS]):
    """
    @notice Ship items the caller holds to `receiver` under a new
            shipment id; they are in transit until it receives them.
    @dev Refuses `supply: no shipment id`, `supply: shipment id already
         used`, `supply: ship to someone else`, `supply: nothing to
         ship`, and for an item `supply: unknown item`, `supply: already
         decommissioned`, `supply: in transit` (listed twice, too),
         `supply: packed in a container`, `supply: not the holder`.
    @param shipment The shipment's id (never used before).
    @param receiver Who is to receive them; not the caller.
    @param items The items' keys; each held, unpacked, not in transit, not
           decommissioned.
    """
    assert shipment != empty(bytes32), "supply: no shipment id"
    assert self._shipments[shipment] == 0, "supply: shipment id already used"
    assert receiver != empty(address) and receiver != msg.sender, "supply: ship to someone else"
    assert len(items) != 0, "supply: nothing to ship"
    index: uint256 = self.shipment_count + 1
    assert index <= _U32, "supply: too many shipments"
    self.shipment_count = index
    self._shipments[shipment] = (
        convert(msg.sender, uint256) | (index << _INDEX) | (1 << _OPEN) | (min(block.number, _U56) << _BLOCK)
    )
    self._items_hashes[shipment] = keccak256(abi_encode(items))
    self._receivers[index] = receiver
    in_transit: uint256 = (convert(custody.IN_TRANSIT, uint256) << custody.STATE) | (index << custody.LINK)
    cleared: uint256 = ~(custody.U8 << custody.STATE)
    for item: bytes32 in items:
        word: uint256 = custody._items[item]
        custody._check_movable(word)
        custody._items[item] = (word & cleared) | in_transit
        log Shipped(shipment=shipment, item=item, sender=msg.sender, receiver=receiver)


@external
def receive(shipment: bytes32, items: DynArray[bytes32, custody.MAX_ITEMS]):
    """
    @notice Receive an open shipment to the caller, naming the same
            items in the same order as its ship: the caller holds them.
            Refused: `supply: no such shipment` (none was shipped under
            that id), `supply: shipment already received`, `supply: not
            the receiver` (the caller is not the one it was shipped to),
            `supply: items differ from the shipment's` (other items, fewer,
            more, or in another order).
    @dev The items need no check of their own: a shipment's items are
         in transit from its ship to its receive, and nothing moves an
         item in transit.
    @param shipment The shipment's id.
    @param items The items shipped.
    """
    word: uint256 = self._shipments[shipment]
    assert word != 0, "supply: no such shipment"
    assert (word >> _OPEN) & 1 != 0, "supply: shipment already received"
    index: uint256 = (word >> _INDEX) & _U32
    assert self._receivers[index] == msg.sender, "supply: not the receiver"
    assert keccak256(abi_encode(items)) == self._items_hashes[shipment], "supply: items differ from the shipment's"
    self._shipments[shipment] = word & ~(1 << _OPEN)
    active: uint256 = (convert(custody.ACTIVE, uint256) << custody.STATE) | convert(msg.sender, uint256)
    kept: uint256 = ~(custody.U8 << custody.STATE) & ~(_U32 << custody.LINK) & ~_U160
    for item: bytes32 in items:
        custody._items[item] = (custody._items[item] & kept) | active
        log Received(shipment=shipment, item=item, receiver=msg.sender)


@external
@view
def shipment(shipment: bytes32) -> Shipment:
    """
    @notice A shipment's parties, the hash of its items, whether it is
            still to be received, and the block it was shipped in.
    @param shipment The shipment's id.
    @return The shipment (all zero if there is none).
    """
    word: uint256 = self._shipments[shipment]
    return Shipment(
        sender=convert(convert(word & _U160, uint160), address),
        receiver=self._receivers[(word >> _INDEX) & _U32],
        items_hash=self._items_hashes[shipment],
        open=(word >> _OPEN) & 1 != 0,
        shipped_in=convert(word >> _BLOCK, uint64),
    )


@internal
@view
def _receiver_of(index: uint256) -> address:
    """
    @dev The receiver of the shipment at `index`.
    """
    return self._receivers[index]
