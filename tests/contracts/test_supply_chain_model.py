"""SupplyChain.vy's custody against a model: random commissions, packings, unpackings, shipments, receipts,
decommissions and a recall by three parties, each predicted to pass or revert, and the chain's status of every
key compared with the model's after each step.

Invariants: each item's state, custody holder, receiver in transit and container are the model's; no receive passes
without an open shipment to its caller of the same items; a pack is decommissioned once, and a recalled lot's pack is
not dispensed; nesting stays within 3 levels; no key is both a pack and a container, and no key can be made one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import boa
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from careledger.chain import container_key, pack_key
from tests.contracts.supply import (
    ACTIVE,
    DECOMMISSIONED,
    DESTROYED,
    DISPENSED,
    EXPIRY,
    GTIN,
    IN_TRANSIT,
    ZERO,
    World,
    deploy_world,
    sscc,
)

PARTIES = ("maker", "wholesaler", "pharmacy")
SERIALS = tuple(f"S{n}" for n in range(8))
SSCCS = tuple(sscc(n) for n in range(1, 5))
PACK_KEYS = tuple(pack_key(GTIN, s) for s in SERIALS)
CONTAINER_KEYS = tuple(container_key(s) for s in SSCCS)
MAX_DEPTH = 3

parties = st.sampled_from(PARTIES)
boxes = st.sampled_from(range(len(SSCCS)))
ALL_KEYS = PACK_KEYS + CONTAINER_KEYS


@dataclass
class Item:
    """What the model holds of a pack or container: its word's holder, state, container (or shipment)."""

    kind: str  # pack | container
    holder: str
    lot: int = 0  # a pack's: LOT<n>
    state: int = ACTIVE
    parent: bytes | None = None  # the container it is packed in, while active
    shipment: bytes | None = None  # while in transit
    height: int = 0  # a container's levels below it


@dataclass
class Shipment:
    sender: str
    receiver: str
    items: tuple[bytes, ...]
    open: bool = True


class Custody(RuleBasedStateMachine):
    """One example: a fresh chain state (an anchor on the module's deployment), rolled back at its end."""

    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.items: dict[bytes, Item] = {}
        self.shipments: dict[bytes, Shipment] = {}
        self.lot = 1  # the lot commissioned into; the lots before it were recalled
        self._checked: dict[bytes, tuple[Any, ...]] = {}  # what the chain said of each key when last read

    def teardown(self) -> None:
        try:
            for key in self.items:
                self._check(key, self._expected(key))
        finally:
            self._anchor.__exit__(None, None, None)

    # The model ------------------------------------------------------------------------------------------------------

    def _address(self, party: str) -> Any:
        return getattr(self.world, party)

    def _root(self, key: bytes) -> Item:
        item = self.items[key]
        while item.state == ACTIVE and item.parent is not None:
            item = self.items[item.parent]
        return item

    def _movable(self, key: bytes, party: str) -> bool:
        item = self.items.get(key)
        return item is not None and item.state == ACTIVE and item.parent is None and item.holder == party

    def _recalled(self, key: bytes) -> bool:
        item = self.items[key]
        return item.kind == "pack" and item.lot < self.lot

    def _in_custody(self, key: bytes, party: str) -> bool:
        root = self._root(key)
        return root.state == ACTIVE and root.holder == party

    def _attempt(self, party: str, function: str, *args: Any, ok: bool) -> None:
        """Call as `party`; the call must pass if the model says `ok`, and revert otherwise."""
        with boa.env.prank(self._address(party)):
            if ok:
                getattr(self.world.supply, function)(*args)
            else:
                with boa.reverts():
                    getattr(self.world.supply, function)(*args)

    def _choose(self, data: st.DataObject, fitting: list[bytes], *, most: int = 3) -> list[bytes]:
        """Keys for a step: mostly some of those the model says fit it (when there are), else any, fit or not."""
        if fitting and data.draw(st.integers(0, 4), label="fitting?") > 0:
            return data.draw(st.lists(st.sampled_from(fitting), unique=True, min_size=1, max_size=most), label="keys")
        return data.draw(st.lists(st.sampled_from(ALL_KEYS), unique=True, max_size=most), label="keys")

    def _party(self, data: st.DataObject, likely: list[str]) -> str:
        """A party for a step: mostly one of `likely` (who holds something, who is to receive), else anyone."""
        return data.draw(st.sampled_from(likely * 8 + list(PARTIES)) if likely else parties, label="party")

    def _holders(self) -> list[str]:
        return sorted({item.holder for item in self.items.values() if item.state == ACTIVE and item.parent is None})

    # The steps ------------------------------------------------------------------------------------------------------

    @initialize(serials=st.lists(st.sampled_from(SERIALS), unique=True, min_size=2, max_size=4))
    def start(self, serials: list[str]) -> None:
        """The manufacturer's first packs."""
        self._commission(serials)

    @rule(data=st.data())
    def commission(self, data: st.DataObject) -> None:
        """Mostly serials not commissioned yet."""
        fresh = [serial for serial in SERIALS if pack_key(GTIN, serial) not in self.items]
        pool = fresh * 4 + list(SERIALS)
        serials = data.draw(st.lists(st.sampled_from(pool), unique=True, min_size=1, max_size=2), label="serials")
        self._commission(serials)

    def _commission(self, serials: list[str]) -> None:
        keys = [pack_key(GTIN, serial) for serial in serials]
        ok = not any(key in self.items for key in keys)
        self._attempt("maker", "commission", int(GTIN), f"LOT{self.lot}", EXPIRY, serials, ok=ok)
        if ok:
            self.items.update((key, Item("pack", "maker", lot=self.lot)) for key in keys)

    @rule(box=boxes, data=st.data())
    def pack(self, box: int, data: st.DataObject) -> None:
        party = self._party(data, self._holders())
        key = CONTAINER_KEYS[box]
        children = self._choose(data, [k for k in self.items if k != key and self._movable(k, party)])
        existing = self.items.get(key)
        height = existing.height if existing else 0
        ok = bool(children) and (existing is None or self._movable(key, party))
        for child in children:
            ok = ok and child != key and self._movable(child, party)
            if ok:
                item = self.items[child]
                height = max(height, item.height + 1 if item.kind == "container" else 1)
        ok = ok and height <= MAX_DEPTH
        self._attempt(party, "pack", int(SSCCS[box]), children, ok=ok)
        if ok:
            self.items.setdefault(key, Item("container", party)).height = height
            for child in children:
                self.items[child].parent = key

    @precondition(lambda self: any(key in self.items for key in CONTAINER_KEYS))
    @rule(data=st.data())
    def unpack(self, data: st.DataObject) -> None:
        box = data.draw(boxes, label="box")
        key = CONTAINER_KEYS[box]
        inside = [k for k, item in self.items.items() if item.parent == key and item.state == ACTIVE]
        party = self._party(data, [self._root(key).holder] if key in self.items else [])
        children = self._choose(data, inside)
        ok = key in self.items and self._in_custody(key, party)
        for child in children:
            item = self.items.get(child)
            ok = ok and item is not None and item.state == ACTIVE and item.parent == key
        self._attempt(party, "unpack", int(SSCCS[box]), children, ok=ok)
        if ok:
            for child in children:
                self.items[child].parent, self.items[child].holder = None, party

    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        party = self._party(data, self._holders())
        receiver = self._party(data, [p for p in PARTIES if p != party])
        items = self._choose(data, [k for k in self.items if self._movable(k, party)])
        shipment = keccak(f"shipment {len(self.shipments)}".encode())
        ok = receiver != party and bool(items) and all(self._movable(key, party) for key in items)
        self._attempt(party, "ship", shipment, self._address(receiver), items, ok=ok)
        if ok:
            self.shipments[shipment] = Shipment(party, receiver, tuple(items))
            for key in items:
                self.items[key].state, self.items[key].shipment = IN_TRANSIT, shipment

    @precondition(lambda self: self.shipments)
    @rule(variant=st.sampled_from(("same", "same", "same", "reversed", "fewer")), data=st.data())
    def receive(self, variant: str, data: st.DataObject) -> None:
        """A shipment made (mostly an open one; or one never made), received by its receiver or another, with its
        items, reversed or fewer."""
        open_ = [key for key, record in self.shipments.items() if record.open]
        known = open_ * 3 + list(self.shipments) + [keccak(b"never shipped")]
        shipment = data.draw(st.sampled_from(known), label="shipment")
        record = self.shipments.get(shipment)
        party = self._party(data, [record.receiver] if record else [])
        shipped = list(record.items) if record else [PACK_KEYS[0]]
        items = {"same": shipped, "reversed": shipped[::-1], "fewer": shipped[:-1]}[variant]
        ok = record is not None and record.open and record.receiver == party and tuple(items) == record.items
        self._attempt(party, "receive", shipment, items, ok=ok)
        if ok and record is not None:
            record.open = False
            for key in items:
                self.items[key].state, self.items[key].holder, self.items[key].shipment = ACTIVE, party, None

    @rule(reason=st.sampled_from((DISPENSED, DESTROYED)), data=st.data())
    def decommission(self, reason: int, data: st.DataObject) -> None:
        party = self._party(data, self._holders())
        fitting = [k for k, i in self.items.items() if i.kind == "pack" and i.state == ACTIVE]
        keys = self._choose(data, [k for k in fitting if self._in_custody(k, party)], most=2)
        ok = True
        for key in keys:
            item = self.items.get(key)
            ok = ok and item is not None and item.kind == "pack" and item.state != DECOMMISSIONED
            ok = ok and self._in_custody(key, party) and not (reason == DISPENSED and self._recalled(key))
        self._attempt(party, "decommission", keys, reason, ok=ok)
        if ok:
            for key in keys:
                self.items[key].state, self.items[key].holder, self.items[key].parent = DECOMMISSIONED, party, None

    @precondition(lambda self: any(item.lot == self.lot for item in self.items.values()))
    @rule()
    def recall(self) -> None:
        """The lot commissioned into is recalled; the next commission opens another."""
        self._attempt("maker", "recall", int(GTIN), f"LOT{self.lot}", ok=True)
        self.lot += 1

    @rule(party=parties, key=st.sampled_from(PACK_KEYS), child=st.sampled_from(PACK_KEYS))
    def squat(self, party: str, key: bytes, child: bytes) -> None:
        """Whatever one holds, no key is taken as a container's: `pack` takes an SSCC and computes the key."""
        self._attempt(party, "pack", int.from_bytes(key, "big"), [child], ok=False)

    # The invariants -------------------------------------------------------------------------------------------------

    @invariant()
    def the_chain_agrees_with_the_model(self) -> None:
        """Each key the step may have changed (by the model: its expected status changed), read from the chain; every
        key is read at the example's end (`teardown`), which catches a change the model did not expect."""
        for key in self.items:
            expected = self._expected(key)
            if self._checked.get(key) != expected:
                self._check(key, expected)

    def _expected(self, key: bytes) -> tuple[Any, ...]:
        """What `status(key)` should say: state, holder, receiver, container, is_container, recalled."""
        item, root = self.items[key], self._root(key)
        receiver = self.shipments[root.shipment].receiver if root.shipment else None
        return (
            root.state,
            self._address(root.holder),
            self._address(receiver) if receiver else ZERO,
            item.parent if item.state == ACTIVE and item.parent else bytes(32),
            item.kind == "container",
            self._recalled(key),
        )

    def _check(self, key: bytes, expected: tuple[Any, ...]) -> None:
        status = self.world.supply.status(key)
        found = (status.state, status.holder, status.receiver, status.container, status.is_container, status.recalled)
        assert found == expected, f"0x{key.hex()}"
        self._checked[key] = expected

    @invariant()
    def nesting_stays_within_three_levels(self) -> None:
        for key in self.items:
            depth, item = 0, self.items[key]
            while item.parent is not None and item.state == ACTIVE:
                depth, item = depth + 1, self.items[item.parent]
            assert depth <= MAX_DEPTH
            assert self.items[key].height <= MAX_DEPTH

    @invariant()
    def no_key_is_both_a_pack_and_a_container(self) -> None:
        packs = {key for key, item in self.items.items() if item.kind == "pack"}
        assert packs <= set(PACK_KEYS)
        assert set(self.items) - packs <= set(CONTAINER_KEYS)


@pytest.fixture(scope="module")
def model_world(chain_of_its_own: None) -> World:
    return deploy_world(boa.env.generate_address("admin"))


def test_custody_follows_its_model(model_world: World) -> None:
    Custody.world = model_world
    run_state_machine_as_test(
        Custody,
        settings=settings(
            max_examples=30, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
