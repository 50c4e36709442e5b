"""`careledger drug ...` on the homes of a supply network sharing one anvil chain (tests/supplychain/conftest.py):
commission with --json, pack, ship, receive by scans or by the sender's notice (in a file, or delivered by the
sender's node), verify (ok, and each refusal with
exit 6 and its code), dispense to a patient, recall (asked to confirm), trace with signatures and anchored proofs,
and scans that are not GS1 codes refused with exit 2 naming their field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from biip.checksums import gs1_standard_check_digit

from careledger.supplychain import Container, Pack
from tests.api.supply import reachable
from tests.cli.conftest import Cli, clis
from tests.supplychain.conftest import EXPIRY, SupplyNetwork, supply_network

__all__ = ["supply_network"]  # the network fixture, shared with tests/supplychain

pytestmark = pytest.mark.anvil

GS = "\x1d"


@dataclass(frozen=True)
class Homes:
    """The network and a patient of pharmacy A's to dispense to."""

    net: SupplyNetwork
    patient_id: str


@pytest.fixture(scope="module")
def homes(supply_network: SupplyNetwork) -> Homes:
    supply_network.patient(supply_network.pharmacy_a, "erin")
    return Homes(supply_network, "erin")


@pytest.fixture
def run(homes: Homes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Cli]:
    net = homes.net
    nodes = {"r": net.regulator, "m": net.manufacturer, "w": net.wholesaler, "a": net.pharmacy_a, "b": net.pharmacy_b}
    return clis({name: node.home.path for name, node in nodes.items()}, capsys, monkeypatch)


def _scan(pack: Pack) -> str:
    """What a scanner types for the pack's DataMatrix: `]d2`, then 01, 17, 10 (GS-terminated) and 21."""
    assert pack.expiry is not None
    assert pack.lot is not None
    return f"]d201{pack.gtin}17{pack.expiry:%y%m%d}10{pack.lot}{GS}21{pack.serial}"


def test_commission_pack_ship_receive_verify_dispense_and_trace(
    homes: Homes, run: dict[str, Cli], tmp_path: Path
) -> None:
    net = homes.net
    m, w, a = run["m"], run["w"], run["a"]
    made = m(
        "drug", "commission", "--gtin", net.gtin, "--lot", "L1", "--expiry", f"{EXPIRY}", "--count", "10",
        "--first-serial", "900001", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    done = made.json()
    assert (done["count"], done["gtin"], done["lot"], done["expiry"]) == (10, net.gtin, "L1", EXPIRY.isoformat())
    [event] = done["events"]
    assert event["bizStep"].endswith("commissioning")
    assert event["epcList"] == [f"https://id.gs1.org/01/{net.gtin}/21/{n}" for n in range(900001, 900011)]
    assert done["transactions"]
    assert all(tx.startswith("0x") for tx in done["transactions"])
    assert made.err == ""  # no progress bar on --json, nor off a terminal
    packs = [Pack(net.gtin, str(n), "L1", EXPIRY) for n in range(900001, 900011)]

    case = net.case()
    packed = m("drug", "pack", f"(00){case.sscc}", *(p.epc for p in packs[:4]))  # HRI and Digital Links
    assert packed.code == 0, packed.err
    assert f"packed 4 into {case.sscc}" in packed.said
    notice = tmp_path / "notice.json"
    shipped = m("drug", "ship", "--to", net.wholesaler.address, case.epc, "--notice", str(notice), "--json")
    assert shipped.code == 0, shipped.err
    shipment = shipped.json()["shipment"]
    assert shipped.json()["items"] == [case.epc]
    received = w("drug", "receive", shipment, "--notice", str(notice), "--json")  # named by the sender's notice
    assert received.code == 0, received.err
    assert [item["epc"] for item in received.json()["items"]] == [case.epc]
    again = w("drug", "receive", shipment)
    assert (again.code, "no open shipment" in again.err) == (4, True)

    onward = w("drug", "ship", "--to", net.pharmacy_a.address, f"00{case.sscc}", "--json").json()["shipment"]
    arrived = a("drug", "receive", onward, f"]C100{case.sscc}")  # the case scanned on arrival
    assert arrived.code == 0, arrived.err
    assert f"received 1 item of {onward}" in arrived.said
    assert a("drug", "unpack", case.epc, packs[0].epc).code == 0

    ok = a("drug", "verify", _scan(packs[0]))
    assert ok.code == 0, ok.err
    assert "ok: dispensable" in ok.said
    in_case = a("drug", "verify", _scan(packs[1]), "--json")  # custody follows its case, still packed
    assert (in_case.code, in_case.json()["code"]) == (0, "ok")
    dispensed = a("drug", "dispense", _scan(packs[0]), "--patient", f"Patient/{homes.patient_id}", "--json")
    assert dispensed.code == 0, dispensed.err
    record = dispensed.json()["record"]
    assert record.startswith("MedicationDispense/")
    assert dispensed.json()["pending"] is None
    assert a("record", "get", record).code == 0

    twice = a("drug", "dispense", _scan(packs[0]), "--patient", homes.patient_id)
    assert (twice.code, "cloned serial" in twice.err) == (6, True)
    clone = run["b"]("drug", "verify", _scan(packs[0]), "--json")
    assert clone.code == 6
    assert clone.json()["code"] == "already-dispensed"
    assert "error: already-dispensed: cloned serial" in clone.err

    unanchored = a("drug", "trace", packs[0].epc)
    assert unanchored.code == 0, unanchored.err
    assert "not anchored yet" in unanchored.said
    anchored = a("drug", "anchor", "--json")
    assert anchored.code == 0, anchored.err
    assert sum(batch["events"] for batch in anchored.json()) >= 3
    traced = a("drug", "trace", _scan(packs[0]))
    assert traced.code == 0, traced.err
    for step in ("commissioned by", "packed by", "shipped by", "received by", "unpacked by", "dispensed by"):
        assert step in traced.said
    assert f"dispensed by {net.pharmacy_a.address}" in traced.said
    assert "item this one" in traced.said  # the pack; its case's steps name the case by its key
    assert "signature ✓" in traced.said
    assert "Merkle proof ✓" in traced.said
    assert "signature ✗" not in traced.said
    whole = a("drug", "trace", packs[0].epc, "--json").json()
    kinds = [step["kind"] for step in whole["steps"]]
    assert (kinds[0], kinds[-1]) == ("commissioned", "dispensed")
    assert whole["status"]["state"] == "decommissioned"
    mine = [step for step in whole["steps"] if step["actor"] == net.pharmacy_a.address]
    assert mine
    assert all(step["signatureVerified"] and step["anchor"]["verified"] for step in mine)

    shipping = w("drug", "events", "--biz-step", "shipping", "--json").json()  # the notice, and its own
    assert len(shipping) == 2
    assert all(e["bizStep"].endswith("shipping") for e in shipping)
    named = a("drug", "events", "--epc", _scan(packs[0]), "--json").json()
    assert [e["bizStep"].rsplit("-", 1)[-1] for e in named][-2:] == ["unpacking", "dispensing"]


def test_each_refusal_of_verify_exits_6_with_its_code(homes: Homes, run: dict[str, Cli]) -> None:
    net = homes.net
    a, b = run["a"], run["b"]
    (pack,) = net.at_pharmacy()
    diverted = b("drug", "verify", _scan(pack))
    assert diverted.code == 6
    assert "NOT dispensable (diverted)" in diverted.said
    assert f"error: diverted: diverted: held by {net.pharmacy_a.address}" in diverted.err

    (skipped,) = net.commission(1)
    net.transfer(net.manufacturer, net.wholesaler, [skipped])
    net.wholesaler.supply.ship([skipped], net.pharmacy_a.address, by=net.wholesaler.address)
    in_transit = a("drug", "verify", _scan(skipped), "--json")
    assert (in_transit.code, in_transit.json()["code"]) == (6, "in-transit")

    unknown = a("drug", "verify", _scan(Pack(net.gtin, "NEVER-MADE", "L1", EXPIRY)), "--json")
    assert (unknown.code, unknown.json()["code"]) == (6, "unknown-serial")

    assert "quarantined: torn seal" in a("drug", "quarantine", pack.epc, "--reason", "torn seal").said
    assert "was quarantined already" in a("drug", "quarantine", _scan(pack), "--reason", "again").said
    held = a("drug", "verify", _scan(pack), "--json")
    assert (held.code, held.json()["code"]) == (6, "quarantined")
    flagged = a("drug", "stock", "--flagged", "--json").json()
    assert {"quarantined": "torn seal"} in [item["flags"] for item in flagged if item["pack"]["serial"] == pack.serial]
    released = a("drug", "release", _scan(pack), "--json")
    assert (released.code, released.json()["quarantined"], released.json()["changed"]) == (0, False, True)
    assert "was not quarantined" in a("drug", "release", _scan(pack)).said
    unasked = a("drug", "ask", _scan(pack))  # the manufacturer's node published no endpoint to ask at
    assert (unasked.code, "has no node endpoint on chain to ask" in unasked.err) == (4, True)
    assert a("drug", "verify", _scan(pack)).code == 0
    for spelled in ("<GS>", "{GS}", "[gs]", "^]"):  # a scanner set to spell the separator out, as in the portal
        assert a("drug", "verify", _scan(pack).replace(GS, spelled)).code == 0, spelled
    lost = a("drug", "verify", _scan(pack).replace(GS, ""))
    assert (lost.code, "a group separator (GS) is probably missing" in lost.err) == (2, True)
    assert pack.serial in a("drug", "stock").said


def test_recall_asks_first_then_flags_the_pharmacys_stock(homes: Homes, run: dict[str, Cli]) -> None:
    net = homes.net
    m, a = run["m"], run["a"]
    packs = net.commission(1, lot="L-RECALL")
    net.transfer(net.manufacturer, net.wholesaler, packs)
    net.transfer(net.wholesaler, net.pharmacy_a, packs)
    unasked = m("drug", "recall", "--gtin", net.gtin, "--lot", "L-RECALL")  # no terminal to ask in
    assert unasked.code == 2
    assert "This recalls lot L-RECALL" in " ".join(unasked.err.split())
    assert "nothing recalled: confirm in a terminal, or pass --yes" in unasked.err
    assert a("drug", "verify", _scan(packs[0])).code == 0
    stranger = a("drug", "recall", "--gtin", net.gtin, "--lot", "L-RECALL", "--yes")
    assert stranger.code == 5  # neither the lot's manufacturer nor a regulator
    assert "supply: " in stranger.err

    recalled = m("drug", "recall", "--gtin", net.gtin, "--lot", "L-RECALL", "--yes", "--json")
    assert recalled.code == 0, recalled.err
    assert recalled.json()["tx"].startswith("0x")
    net.pharmacy_a.dispensary.follow_recalls()  # the leader's round, as `serve` runs it
    refused = a("drug", "verify", _scan(packs[0]), "--json")
    assert (refused.code, refused.json()["code"]) == (6, "recalled")
    flagged = a("drug", "stock", "--flagged", "--json").json()
    assert [item["pack"]["serial"] for item in flagged if "recalled" in item["flags"]] == [packs[0].serial]


def test_admit_and_commission_refusals(homes: Homes, run: dict[str, Cli]) -> None:
    net = homes.net
    r, b = run["r"], run["b"]
    unadmitted = b("drug", "commission", "--gtin", net.gtin, "--lot", "X", "--expiry", "2031-01-31", "--serial", "1")
    assert (unadmitted.code, unadmitted.err) == (5, "error: supply: not admitted\n")
    prefix = "0614142"
    body = f"0{prefix}00001"
    own_gtin = body + str(gs1_standard_check_digit(body))
    admitted = r("drug", "admit", net.pharmacy_b.address, "--prefix", prefix, "--licence", "WDA-7", "--until",
                 "2036-01-01", "--json")  # fmt: skip
    assert admitted.code == 0, admitted.err
    assert (admitted.json()["prefix"], admitted.json()["until"]) == (prefix, "2036-01-01")
    not_regulator = b("drug", "admit", net.wholesaler.address, "--prefix", "0614143", "--licence", "x", "--until",
                      "2036-01-01")  # fmt: skip
    assert not_regulator.code == 5
    assert "supply: only a regulator" in not_regulator.err
    outside = b("drug", "commission", "--gtin", net.gtin, "--lot", "X", "--expiry", "2031-01-31", "--serial", "1")
    assert (outside.code, outside.err) == (6, "error: supply: gtin outside the company prefix\n")
    made = b("drug", "commission", "--gtin", own_gtin, "--lot", "X", "--expiry", "2031-01-31", "--serial", "A1",
             "--serial", "A2")  # fmt: skip
    assert made.code == 0, made.err
    assert f"commissioned 2 packs of {own_gtin}, lot X" in made.said
    twice = b("drug", "commission", "--gtin", own_gtin, "--lot", "X", "--expiry", "2031-01-31", "--serial", "A1")
    said = f"error: supply: serial already commissioned (https://id.gs1.org/01/{own_gtin}/21/A1)\n"
    assert (twice.code, twice.err) == (6, said)


# `drug commission` of a GTIN, lot and expiry, whose serials each case adds (or not).
_LOT = ("commission", "--gtin", "00614141123452", "--lot", "L", "--expiry", "2031-01-31")
_ADMIT = ("admit", "0x0000000000000000000000000000000000000001", "--licence", "x", "--until", "2030-01-01")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("verify", "]d2010061414112345917310131101L1\x1d21S1"), "gtin: check digit"),
        (("verify", "(01)00614141123452(17)311340(21)S1"), "expiry:"),
        (("verify", "(00)106141412345678908"), "is a case's or pallet's SSCC, not a pack"),
        (("trace", "hello"), "(scan 'hello')"),
        (("pack", "(01)00614141123452(21)S1", "(01)00614141123452(21)S2"), "sscc:"),
        (("pack", "(00)106141412345678908"), "scan: name at least one pack or SSCC"),
        (("commission", "--gtin", "00614141123453", "--lot", "L", "--expiry", "2031-01-31", "--count", "2"), "gtin:"),
        (("commission", "--gtin", "00614141123452", "--lot", "L", "--expiry", "31/01/2031"), "--expiry"),
        (_LOT, "serial: name them"),
        ((*_LOT, "--count", "2", "--serial", "S9"), "serial: name them"),
        ((*_LOT, "--serial", "é"), "serial:"),
        ((*_LOT, "--serial", "S1", "--serial", "S1"), "serial: 'S1' is given twice"),
        ((*_LOT, "--lot", "", "--count", "1"), "lot: 1 to 20 characters"),
        (("receive", "5b0b7f8e-0000-4000-8000-000000000000", "--notice", "/no/such/notice.json"), "cannot be read"),
        (("events", "--biz-step", "shipping|"), "--biz-step: an empty value"),
        (("events", "--since", "last week"), "--since"),
        ((*_ADMIT, "--prefix", "12"), "prefix:"),
    ],
)
def test_bad_input_exits_2_naming_the_field(run: dict[str, Cli], args: tuple[str, ...], said: str) -> None:
    refused = run["a"]("drug", *args)
    assert refused.code == 2, (refused.out, refused.err)
    assert said in " ".join(refused.err.split())
    assert "Traceback" not in refused.err


def test_a_shipment_that_is_not_a_uuid_or_not_here_is_refused(run: dict[str, Cli]) -> None:
    assert run["a"]("drug", "receive", "not-a-shipment").code == 2
    missing = run["a"]("drug", "receive", "5b0b7f8e-0000-4000-8000-000000000000")
    assert (missing.code, "no open shipment" in missing.err) == (4, True)


def test_scans_from_a_file_and_a_notice_never_overwritten(homes: Homes, run: dict[str, Cli], tmp_path: Path) -> None:
    net = homes.net
    packs = net.commission(3)
    scans = tmp_path / "scans.txt"
    scans.write_text("".join(_scan(p) + "\n" for p in packs) + "\n")
    case: Container = net.case()
    packed = run["m"]("drug", "pack", case.epc, "--from-file", str(scans), "--json")
    assert packed.code == 0, packed.err
    [event] = packed.json()["events"]
    assert event["childEPCs"] == [p.epc for p in packs]
    taken = tmp_path / "taken.json"
    taken.write_text(json.dumps({}))
    refused = run["m"]("drug", "ship", "--to", net.wholesaler.address, case.epc, "--notice", str(taken))
    assert refused.code == 2
    assert json.loads(taken.read_text()) == {}


def test_receive_needs_no_file_when_the_senders_node_delivered_its_notice(homes: Homes, run: dict[str, Cli]) -> None:
    net = homes.net
    packs = net.commission(2)
    case = net.case()
    net.manufacturer.supply.pack(case, packs, by=net.manufacturer.address)
    with reachable(net.wholesaler):
        shipped = run["m"]("drug", "ship", "--to", net.wholesaler.address, case.epc)
    assert shipped.code == 0, shipped.err
    assert "its notice was delivered to the receiver's node" in shipped.said
    shipment = shipped.said.split("shipment ", 1)[1].split()[0]
    received = run["w"]("drug", "receive", shipment)  # on the wholesaler's home: no scans, no file
    assert received.code == 0, received.err
    assert f"received 1 item of {shipment}" in received.said
    assert case.epc in received.said
    assert packs[0].serial in run["w"]("drug", "stock").said  # inside the case, known here by its serial
    onward = run["w"]("drug", "ship", "--to", net.pharmacy_a.address, case.epc, "--json")  # A: no endpoint on chain
    assert onward.code == 0, onward.err
    assert onward.json()["notice"]["delivered"] is False
    assert onward.json()["notice"]["waiting"].startswith(f"notice waiting for {net.pharmacy_a.address}: ")
