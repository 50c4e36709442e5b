"""The SupplyChain facade against a real chain (memory and anvil): a lot from its manufacturer to a pharmacy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from biip.checksums import gs1_standard_check_digit
from eth_account import Account
from eth_utils import keccak

from careledger.chain import (
    Chain,
    Contracts,
    Deployer,
    PackState,
    Reason,
    Signer,
    SupplyChain,
    container_key,
    items_hash,
    lot_key,
    pack_key,
    supply_refusal,
)
from careledger.chain import _supply_chain as supply_module
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError

PREFIX = "0614141"
EXPIRY = date(2027, 12, 31)
LICENCE = keccak(b"manufacturing licence 42")


def _gtin(body: str) -> str:
    return body + str(gs1_standard_check_digit(body))


def _sscc(serial: int) -> str:
    body = f"1{PREFIX}{serial:09d}"
    return body + str(gs1_standard_check_digit(body))


GTIN = _gtin("0" + PREFIX + "12345")


@dataclass
class Parties:
    admin: SupplyChain
    regulator: SupplyChain
    maker: SupplyChain
    wholesaler: SupplyChain
    pharmacy: SupplyChain
    deployed_in: int  # the block of the contract's deployment


def _as(supply: SupplyChain, chain: Chain) -> SupplyChain:
    return SupplyChain(chain, supply.address, chain.signer(Account.create()))


@pytest.fixture
def parties(any_chain: Chain, signer: Signer) -> Parties:
    deployed = Deployer(any_chain, None).deploy(signer, "SupplyChain").deployment
    admin = SupplyChain(any_chain, deployed.address, signer)
    regulator, maker, wholesaler, pharmacy = (_as(admin, any_chain) for _ in range(4))
    assert regulator.signer is not None
    assert maker.signer is not None
    admin.grant_regulator(regulator.signer.address)
    regulator.admit(maker.signer.address, PREFIX, LICENCE, any_chain.timestamp() + 86_400)
    return Parties(admin, regulator, maker, wholesaler, pharmacy, deployed.block)


def _address(facade: SupplyChain) -> str:
    assert facade.signer is not None
    return facade.signer.address


def test_a_lot_travels_in_cases_from_its_manufacturer_to_a_pharmacy(parties: Parties, any_chain: Chain) -> None:
    maker, wholesaler, pharmacy = parties.maker, parties.wholesaler, parties.pharmacy
    serials = [f"SN{i:05d}" for i in range(320)]
    receipts = maker.commission(GTIN, "LOT-7", EXPIRY, serials)
    assert len(receipts) == 3  # 150 + 150 + 20: chunks of CHUNK, pipelined
    per_pack = receipts[0].gas_used // supply_module.CHUNK
    print(f"\nSupplyChain.commission on {any_chain.kind}: {receipts[0].gas_used:,} gas a chunk, {per_pack:,} a pack")
    packs = [pack_key(GTIN, s) for s in serials]
    ssccs = [_sscc(n) for n in range(2)]
    cases = [container_key(sscc) for sscc in ssccs]
    maker.pack(ssccs[0], packs[:160])
    maker.pack(ssccs[1], packs[160:])
    shipment = keccak(b"despatch advice 1")
    shipped = maker.ship(shipment, _address(wholesaler), cases)
    assert maker.shipment_items(shipment) == cases
    record = maker.shipment(shipment)
    assert record is not None
    assert (record.receiver, record.items_hash, record.open, record.shipped_in) == (
        _address(wholesaler),
        items_hash(cases),
        True,
        shipped.block,
    )
    moving = pharmacy.status(packs[5])
    assert (moving.state, moving.holder, moving.receiver) == (
        PackState.IN_TRANSIT,
        _address(maker),
        _address(wholesaler),
    )
    wholesaler.receive(shipment, cases)
    wholesaler.unpack(ssccs[0], packs[:2])
    onward = keccak(b"despatch advice 2")
    wholesaler.ship(onward, _address(pharmacy), packs[:2])
    pharmacy.receive(onward, packs[:2])
    status = pharmacy.status(packs[0])
    assert (status.state, status.holder, status.manufacturer, status.container) == (
        PackState.ACTIVE,
        _address(pharmacy),
        _address(maker),
        None,
    )
    assert (status.lot, status.expiry, status.gtin, status.recalled) == (lot_key(GTIN, "LOT-7"), EXPIRY, GTIN, False)
    assert pharmacy.status(packs[200]).holder == _address(wholesaler)  # still in its case
    assert pharmacy.status(packs[200]).container == cases[1]
    unknown = pack_key(GTIN, "never")
    read = [packs[0], packs[200], unknown]
    assert pharmacy.statuses(read) == [pharmacy.status(key) for key in read]  # one batch, the same answers
    (dispensed,) = pharmacy.decommission([packs[0]], Reason.DISPENSED)
    print(
        f"SupplyChain.decommission of one pack on {any_chain.kind}: {dispensed.gas_used:,} gas (with the 21,000 base)"
    )
    done = pharmacy.status(packs[0])
    assert (done.state, done.reason, done.holder) == (PackState.DECOMMISSIONED, Reason.DISPENSED, _address(pharmacy))
    assert done.decommissioned_in == dispensed.block
    assert pharmacy.status(packs[1]).decommissioned_in is None
    history = [(e.name, e.args.get("container"), e.args.get("receiver")) for e in pharmacy.history(packs[0])]
    assert [name for name, _, _ in history] == [
        "Commissioned",
        "Packed",
        "Shipped",  # its case
        "Received",
        "Unpacked",
        "Shipped",  # itself
        "Received",
        "Decommissioned",
    ]
    assert history[1][1] == cases[0]
    assert history[2][2] == history[3][2] == _address(wholesaler)


def test_the_contracts_refusals_are_careledger_errors(parties: Parties, any_chain: Chain) -> None:
    maker, wholesaler, pharmacy = parties.maker, parties.wholesaler, parties.pharmacy
    with pytest.raises(AccessDenied, match="supply: not admitted"):
        wholesaler.commission(GTIN, "LOT-1", EXPIRY, ["A"])
    with pytest.raises(Conflict, match="supply: gtin outside the company prefix"):
        maker.commission(_gtin("0061414212345"), "LOT-1", EXPIRY, ["A"])
    with pytest.raises(ValidationError, match="supply: gtin check digit is wrong"):
        maker.commission(GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10), "LOT-1", EXPIRY, ["A"])
    maker.commission(GTIN, "LOT-1", EXPIRY, ["A", "B"])
    a, b = pack_key(GTIN, "A"), pack_key(GTIN, "B")
    with pytest.raises(Conflict, match="supply: serial already commissioned"):
        maker.commission(GTIN, "LOT-1", EXPIRY, ["A"])
    with pytest.raises(NotFound, match="supply: no such shipment"):
        wholesaler.receive(keccak(b"never shipped"), [a])
    shipment = keccak(b"s1")
    maker.ship(shipment, _address(wholesaler), [a])
    with pytest.raises(AccessDenied, match="supply: not the receiver"):
        pharmacy.receive(shipment, [a])
    with pytest.raises(Conflict, match="supply: in transit"):
        wholesaler.decommission([a], Reason.DISPENSED)  # a custody step skipped: shipped here, never received
    with pytest.raises(AccessDenied, match="supply: not the holder"):
        pharmacy.decommission([b], Reason.DISPENSED)
    maker.decommission([b], Reason.DESTROYED)
    with pytest.raises(Conflict, match="supply: already decommissioned"):
        maker.decommission([b], Reason.DESTROYED)
    with pytest.raises(AccessDenied, match="supply: not the lot's manufacturer"):
        pharmacy.recall(GTIN, "LOT-1")
    with pytest.raises(NotFound, match="supply: no such lot"):
        maker.recall(GTIN, "LOT-2")
    with pytest.raises(AccessDenied, match="only a regulator"):
        pharmacy.admit(_address(pharmacy), PREFIX, LICENCE, any_chain.timestamp() + 60)
    with pytest.raises(Conflict, match="supply: company prefix overlaps another manufacturer's"):
        parties.regulator.admit(_address(pharmacy), PREFIX + "1", LICENCE, any_chain.timestamp() + 60)
    with pytest.raises(AccessDenied, match="supply: a regulator may not admit itself"):
        parties.regulator.admit(_address(parties.regulator), "4012345", LICENCE, any_chain.timestamp() + 60)
    with pytest.raises(ValidationError, match="supply: sscc check digit is wrong"):
        maker.pack(_sscc(1)[:-1] + str((int(_sscc(1)[-1]) + 1) % 10), [a])
    maker.commission(GTIN, "LOT-1", EXPIRY, ["C"])
    maker.recall(GTIN, "LOT-1")
    with pytest.raises(Conflict, match="supply: lot recalled"):
        maker.decommission([pack_key(GTIN, "C")], Reason.DISPENSED)
    maker.decommission([pack_key(GTIN, "C")], Reason.DESTROYED)


def test_malformed_input_is_refused_before_anything_is_sent(parties: Parties) -> None:
    maker = parties.maker
    with pytest.raises(ValidationError, match=r"^gtin: "):
        maker.commission("0614141-12345", "LOT-1", EXPIRY, ["A"])
    with pytest.raises(ValidationError, match=r"^serial: "):
        maker.commission(GTIN, "LOT-1", EXPIRY, ["S" * 21])
    with pytest.raises(ValidationError, match=r"^lot: "):
        maker.commission(GTIN, "", EXPIRY, ["A"])
    with pytest.raises(ValidationError, match=r"^serial: 'A' is listed twice"):
        maker.commission(GTIN, "LOT-1", EXPIRY, ["A", "B", "A"])
    with pytest.raises(ValidationError, match=r"^sscc: "):
        container_key("12345")
    with pytest.raises(ValidationError, match=r"^sscc: "):
        maker.pack("1" * 19, [pack_key(GTIN, "A")])
    with pytest.raises(ValidationError, match=r"^items: "):
        maker.ship(keccak(b"s"), _address(parties.pharmacy), [])
    with pytest.raises(ValidationError, match=r"^company prefix: "):
        parties.regulator.admit(_address(maker), "61-4141", LICENCE, 2**40)
    assert maker.status(pack_key(GTIN, "A")).state == PackState.UNKNOWN


def test_admission_lots_and_recalls_read_back(parties: Parties, any_chain: Chain) -> None:
    maker, regulator = parties.maker, parties.regulator
    admission = maker.admission(_address(maker))
    assert admission is not None
    assert (admission.company_prefix, admission.licence, admission.regulator) == (PREFIX, LICENCE, _address(regulator))
    assert admission.in_force(any_chain.timestamp())
    assert regulator.is_regulator(_address(regulator))
    assert not regulator.is_regulator(_address(maker))
    assert maker.admission(_address(parties.pharmacy)) is None
    assert maker.lot(GTIN, "LOT-1") is None
    maker.commission(GTIN, "LOT-1", EXPIRY, ["A"])
    start = any_chain.block_number()
    regulator.recall(GTIN, "LOT-1")
    lot = maker.lot(GTIN, "LOT-1")
    assert lot is not None
    assert (lot.manufacturer, lot.expiry, lot.recalled) == (_address(maker), EXPIRY, True)
    (recalled,) = maker.recalls(start)
    assert (bytes(recalled.args["lot"]), recalled.args["by"]) == (lot_key(GTIN, "LOT-1"), _address(regulator))
    assert maker.status(pack_key(GTIN, "A")).recalled
    assert [e.name for e in maker.history(pack_key(GTIN, "A"))] == ["Commissioned", "LotRecalled"]
    with pytest.raises(Conflict, match="supply: lot already recalled"):
        maker.recall(GTIN, "LOT-1")
    regulator.revoke_admission(_address(maker))
    revoked = maker.admission(_address(maker))
    assert revoked is not None
    assert revoked.revoked
    assert not revoked.in_force(any_chain.timestamp())


def test_history_follows_a_pack_through_its_case_and_pallet_while_it_was_in_them(parties: Parties) -> None:
    maker, wholesaler = parties.maker, parties.wholesaler
    maker.commission(GTIN, "LOT-1", EXPIRY, ["A", "B"])
    a, b = pack_key(GTIN, "A"), pack_key(GTIN, "B")
    case, pallet = container_key(_sscc(1)), container_key(_sscc(2))
    maker.pack(_sscc(1), [b])  # the case's packing before A joined it is not A's history
    maker.pack(_sscc(1), [a])
    maker.pack(_sscc(2), [case])
    shipment = keccak(b"pallet shipment")
    maker.ship(shipment, _address(wholesaler), [pallet])
    wholesaler.receive(shipment, [pallet])
    wholesaler.unpack(_sscc(2), [case])
    wholesaler.unpack(_sscc(1), [a])
    wholesaler.ship(keccak(b"after"), _address(parties.pharmacy), [case])  # A left the case: not its history
    steps = [(e.name, e.args.get("child", e.args.get("item", e.args.get("key")))) for e in wholesaler.history(a)]
    assert steps == [
        ("Commissioned", a),
        ("Packed", a),
        ("Packed", case),
        ("Shipped", pallet),
        ("Received", pallet),
        ("Unpacked", case),
        ("Unpacked", a),
    ]
    status = wholesaler.status(a)
    assert (status.holder, status.container) == (_address(wholesaler), None)


def test_logs_are_read_in_spans_from_the_deployment_block(
    parties: Parties, any_chain: Chain, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hosted RPC caps eth_getLogs' range: no request spans more than `log_span` blocks or starts before the
    contract was deployed (its record's block, which the node's `Contracts` passes on)."""
    maker, wholesaler = parties.maker, parties.wholesaler
    maker.commission(GTIN, "LOT-1", EXPIRY, ["A"])
    a = pack_key(GTIN, "A")
    maker.pack(_sscc(1), [a])
    shipment = keccak(b"s1")
    maker.ship(shipment, _address(wholesaler), [container_key(_sscc(1))])
    wholesaler.receive(shipment, [container_key(_sscc(1))])
    whole = [(e.name, e.block) for e in wholesaler.history(a)]
    spanned = SupplyChain(any_chain, maker.address, signer, first_block=parties.deployed_in)
    asked: list[tuple[int, int]] = []
    get_logs = any_chain.w3.eth.get_logs

    def counted(query: dict[str, int]) -> object:
        asked.append((query["fromBlock"], query["toBlock"]))
        return get_logs(query)  # type: ignore[arg-type]

    monkeypatch.setattr(SupplyChain, "log_span", 2)
    monkeypatch.setattr(any_chain.w3.eth, "get_logs", counted)
    assert [(e.name, e.block) for e in spanned.history(a)] == whole
    assert asked
    assert all(parties.deployed_in <= start <= end < start + 2 for start, end in asked)
    asked.clear()
    assert spanned.shipment_items(shipment) == [container_key(_sscc(1))]
    shipped = spanned.shipment(shipment)
    assert shipped is not None
    assert asked == [(shipped.shipped_in, shipped.shipped_in)]  # its one block, whatever the chain's age


def test_the_nodes_contracts_read_from_the_deployment_record(any_chain: Chain, signer: Signer) -> None:
    deployer = Deployer(any_chain, None)
    deployed = deployer.deploy(signer, "SupplyChain").deployment
    contracts = Contracts(any_chain, deployer, lambda _wallet: signer, "node")
    assert contracts.supply_chain().first_block == deployed.block > 0


def test_a_date_no_calendar_has_reads_as_none() -> None:
    """Status is read whatever a lot holds (a deployment from before the contract checked days): never a 500."""
    assert supply_module._date(20270230) is None
    assert supply_module._date(0) is None
    assert supply_module._date(20280229) == date(2028, 2, 29)


def test_a_supply_refusal_is_one_error_whether_the_chain_or_a_dry_run_found_it() -> None:
    """One map for the contract's reverts and the node's dry run of a step: the words it may say besides."""
    outside = supply_refusal("supply: gtin outside the company prefix", "supply: gtin outside the company prefix (x)")
    assert (type(outside), str(outside)) == (Conflict, "supply: gtin outside the company prefix (x)")
    assert type(supply_refusal("supply: not the holder")) is AccessDenied
    assert type(supply_refusal("supply: unknown item")) is NotFound
    unforeseen = supply_refusal("supply: not a pack")
    assert (type(unforeseen), str(unforeseen)) == (ValidationError, "supply: not a pack")
