"""The supply routes over HTTP: verify, dispense, recall, quarantine, trace and stock as a pharmacy's staff use them,
and every refusal a body that says why, in the order the routes judge: a stranger (401, whatever he sent, a huge
body too), a patient who is not staff or a token whose scopes do not cover the action (403, audited, before her body
or query is read), then what was sent: a parameter unknown or given twice (400 naming it), a body not JSON (415
naming `application/json`), a malformed scan or wrong check digit (400 naming the field); and a pack the verdict
refuses (409)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from careledger.api._limits import SUPPLY_BODY_BYTES
from careledger.audit import Outcome
from tests.api.supply import Counter, counter
from tests.supplychain.conftest import SupplyNetwork, supply_network  # noqa: F401 - the network fixture, shared


@pytest.fixture(scope="module")
def pharmacy(supply_network: SupplyNetwork) -> Iterator[Counter]:  # noqa: F811 - the imported fixture
    with counter(supply_network, supply_network.pharmacy_a, "petra") as served:
        yield served


@pytest.fixture(scope="module")
def maker(supply_network: SupplyNetwork) -> Iterator[Counter]:  # noqa: F811
    with counter(supply_network, supply_network.manufacturer, "maud") as served:
        yield served


def _refused(answer: httpx.Response, status: int, *, says: str) -> str:
    """`answer` is an OperationOutcome of `status` whose diagnostics say `says`; those diagnostics."""
    assert answer.status_code == status, answer.text
    (issue,) = answer.json()["issue"]
    diagnostics: str = issue["diagnostics"]
    assert says in diagnostics, diagnostics
    return diagnostics


def test_a_pack_that_came_the_whole_way_verifies_and_is_dispensed_once(
    supply_network: SupplyNetwork,  # noqa: F811
    pharmacy: Counter,
) -> None:
    (pack,) = supply_network.at_pharmacy()
    scanned = f"]d201{pack.gtin}17{pack.expiry:%y%m%d}10{pack.lot}\x1d21{pack.serial}"  # as a scanner types it
    verdict = pharmacy.staff.post("/supply/verify", json={"scan": scanned})
    assert verdict.status_code == 200, verdict.text
    assert (verdict.json()["dispensable"], verdict.json()["code"]) == (True, "ok")
    assert verdict.json()["pack"]["epc"] == pack.epc

    order = {"scan": pack.element_string, "patient": f"Patient/{pharmacy.patient_id}"}
    done = pharmacy.staff.post("/supply/dispense", json=order)
    assert done.status_code == 201, done.text
    record_id = done.json()["id"]
    assert done.headers["Location"] == f"{pharmacy.url}/MedicationDispense/{record_id}"
    assert (done.json()["record"], done.json()["pending"]) == (f"MedicationDispense/{record_id}", None)
    assert done.json()["tx"].startswith("0x")
    hers = pharmacy.stranger.get(f"/MedicationDispense/{record_id}")  # she reads her own dispense
    assert hers.status_code == 200, hers.text
    assert hers.json()["subject"] == {"reference": f"Patient/{pharmacy.patient_id}"}

    again = pharmacy.staff.post("/supply/dispense", json=order)
    _refused(again, 409, says="dispensed here")
    assert pharmacy.staff.post("/supply/verify", json={"scan": pack.epc}).json()["code"] == "already-dispensed"


def test_a_pack_the_verdict_refuses_is_200_to_verify_and_409_to_dispense(
    supply_network: SupplyNetwork,  # noqa: F811
    pharmacy: Counter,
) -> None:
    (diverted,) = supply_network.commission(1)  # still at the manufacturer: never received here
    (unknown,) = supply_network.packs(1)  # never commissioned: a counterfeit's serial
    for pack, code in ((diverted, "diverted"), (unknown, "unknown-serial")):
        verdict = pharmacy.staff.post("/supply/verify", json={"scan": pack.element_string})
        assert verdict.status_code == 200
        assert (verdict.json()["dispensable"], verdict.json()["code"]) == (False, code)
        order = {"scan": pack.element_string, "patient": pharmacy.patient_id}
        _refused(pharmacy.staff.post("/supply/dispense", json=order), 409, says=verdict.json()["reason"])
        entry = SupplyNetwork.audited(pharmacy.node, "supply.dispense")
        assert entry.access.outcome == Outcome.DENIED
        assert entry.access.detail.startswith(f"{code}: {pack.epc}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scan": "(01)00614141123453(21)S1"}, "gtin"),  # a wrong check digit
        ({"scan": "(01)00614141123452(17)251340(21)S1"}, "expiry"),
        ({"scan": "hello"}, "element string"),
        ({"scan": ""}, "scan"),
        ({"scan": "x" * 3000}, "scan"),
        ({"scn": "(01)00614141123452(21)S1"}, "scan"),
        ({"scan": "(01)00614141123452(21)S1", "patient": "p"}, "patient"),
        ({"scan": 42}, "scan"),
    ],
)
def test_a_malformed_scan_is_400_naming_the_field(pharmacy: Counter, body: dict[str, Any], field: str) -> None:
    diagnostics = _refused(pharmacy.staff.post("/supply/verify", json=body), 400, says=field)
    assert diagnostics.startswith(field) or f"{field}:" in diagnostics


def test_a_body_that_is_not_json_is_400(pharmacy: Counter) -> None:
    answer = pharmacy.staff.post("/supply/verify", content=b"{scan", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400


def test_a_recall_reaches_the_pharmacys_stock(supply_network: SupplyNetwork, pharmacy: Counter, maker: Counter) -> None:  # noqa: F811
    packs = supply_network.at_pharmacy(2, lot="RECALL-1")
    lot = {"gtin": packs[0].gtin, "lot": "RECALL-1"}
    _refused(pharmacy.operator.post("/supply/recall", json=lot), 403, says="")  # not the lot's manufacturer
    _refused(maker.staff.post("/supply/recall", json=lot), 403, says="supply-officer")  # staff, no officer
    recalled = maker.operator.post("/supply/recall", json=lot)
    assert recalled.status_code == 200, recalled.text
    assert recalled.json()["tx"].startswith("0x")
    assert isinstance(recalled.json()["block"], int)
    pharmacy.node.dispensary.follow_recalls()  # the leader's round
    flagged = pharmacy.staff.get("/supply/stock", params={"flagged": "true"}).json()["items"]
    assert {p.epc for p in packs} <= {item["pack"]["epc"] for item in flagged if "recalled" in item["flags"]}
    assert pharmacy.staff.post("/supply/verify", json={"scan": packs[0].epc}).json()["code"] == "recalled"
    for bad in ({"gtin": "00614141123453", "lot": "RECALL-1"}, {"gtin": packs[0].gtin}, {"gtin": "x", "lot": ""}):
        assert maker.operator.post("/supply/recall", json=bad).status_code == 400, bad


def test_a_suspect_pack_is_quarantined_and_released(supply_network: SupplyNetwork, pharmacy: Counter) -> None:  # noqa: F811
    (pack,) = supply_network.at_pharmacy()
    scan = {"scan": pack.element_string}
    held = pharmacy.staff.post("/supply/quarantine", json={**scan, "reason": "torn seal"})
    assert held.json() == {"quarantined": True, "changed": True, "reason": "torn seal"}
    assert pharmacy.staff.post("/supply/quarantine", json={**scan, "reason": "torn seal"}).json()["changed"] is False
    verdict = pharmacy.staff.post("/supply/verify", json=scan).json()
    assert (verdict["code"], verdict["reason"]) == ("quarantined", "quarantined here: torn seal")
    flagged = pharmacy.staff.get("/supply/stock?flagged=true").json()["items"]
    assert {"quarantined": "torn seal"} in [item["flags"] for item in flagged if item["pack"]["epc"] == pack.epc]
    assert pharmacy.staff.post("/supply/quarantine", json={**scan, "reason": "  "}).status_code == 400
    assert pharmacy.staff.post("/supply/release", json=scan).json() == {"quarantined": False, "changed": True}
    assert pharmacy.staff.post("/supply/verify", json=scan).json()["code"] == "ok"
    stock = pharmacy.staff.get("/supply/stock").json()["items"]
    assert pack.epc in {item["pack"]["epc"] for item in stock}


def test_a_trace_shows_each_custody_step(supply_network: SupplyNetwork, pharmacy: Counter) -> None:  # noqa: F811
    (pack,) = supply_network.at_pharmacy()
    pharmacy.node.supply_anchorer.anchor_pending()  # the leader's round: this node's events anchored
    for named in (pack.epc, pack.element_string):
        answer = pharmacy.staff.get("/supply/trace", params={"id": named})
        assert answer.status_code == 200, answer.text
        steps = answer.json()["steps"]
        assert [step["kind"] for step in steps] == ["commissioned", "shipped", "received", "shipped", "received"]
        assert all(step["tx"].startswith("0x") and step["actor"] for step in steps)
        here = steps[-1]  # received here: this node's own event, signed and anchored
        assert (here["signer"], here["signatureVerified"]) == (pharmacy.node.address, True)
        assert here["anchor"]["verified"] is True
    _refused(pharmacy.staff.get("/supply/trace", params={"id": "(01)00614141123453(21)S1"}), 400, says="gtin")
    assert pharmacy.staff.get("/supply/trace").status_code == 400


ROUTES = [
    ("POST", "/supply/verify"),
    ("POST", "/supply/dispense"),
    ("POST", "/supply/recall"),
    ("POST", "/supply/quarantine"),
    ("POST", "/supply/release"),
    ("GET", "/supply/trace?id=(01)00614141123452(21)S000001"),
    ("GET", "/supply/stock"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_stranger_is_401_before_his_body_is_read(pharmacy: Counter, method: str, path: str) -> None:
    for token in (None, "Bearer forged.token.here"):
        headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
        with pharmacy.anonymous() as anonymous:
            answer = anonymous.request(
                method, path, content=b"{not json" if method == "POST" else None, headers=headers
            )
        _refused(answer, 401, says="")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_patient_is_not_staff(supply_network: SupplyNetwork, pharmacy: Counter, method: str, path: str) -> None:  # noqa: F811
    (pack,) = supply_network.commission(1)
    body = {"scan": pack.element_string, "patient": pharmacy.patient_id, "reason": "r", "gtin": pack.gtin, "lot": "L1"}
    wanted = {
        "/supply/verify": ["scan"],
        "/supply/dispense": ["scan", "patient"],
        "/supply/recall": ["gtin", "lot"],
        "/supply/quarantine": ["scan", "reason"],
        "/supply/release": ["scan"],
    }.get(path, [])
    sent = {name: body[name] for name in wanted} if method == "POST" else None
    answer = pharmacy.stranger.request(method, path, json=sent)
    _refused(answer, 403, says="supply-officer" if path == "/supply/recall" else "staff")
    entry = pharmacy.node.audit.entries(newest_first=True, limit=1)[0]
    assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, pharmacy.stranger_address)
    assert entry.access.interaction.startswith("supply.")


@pytest.mark.parametrize("path", [path for method, path in ROUTES if method == "POST"])
def test_a_stranger_is_401_even_for_a_huge_body(pharmacy: Counter, path: str) -> None:
    huge = b"{" + b" " * (SUPPLY_BODY_BYTES * 4) + b"}"
    with pharmacy.anonymous() as anonymous:
        answer = anonymous.post(path, content=huge, headers={"Content-Type": "text/plain"})
    _refused(answer, 401, says="sign in")
    too_big = pharmacy.staff.post(path, content=huge, headers={"Content-Type": "application/json"})
    _refused(too_big, 413, says=f"{SUPPLY_BODY_BYTES:,}")  # the caller known: only then is the size judged


@pytest.mark.parametrize(
    ("method", "path", "sent"),
    [
        ("POST", "/supply/verify", b"{junk"),  # not JSON
        ("POST", "/supply/quarantine", b"<scan/>"),  # not JSON either, and of another type
        ("GET", "/supply/trace?id=(01)00614141123453(21)S1", None),  # a wrong check digit
        ("GET", "/supply/trace?id=a&id=b&colour=red", None),
        ("GET", "/supply/stock?flagged=maybe", None),
    ],
)
def test_a_patient_is_403_before_what_she_sent_is_read(
    pharmacy: Counter, method: str, path: str, sent: bytes | None
) -> None:
    kind = "application/xml" if sent == b"<scan/>" else "application/json"
    answer = pharmacy.stranger.request(method, path, content=sent, headers={"Content-Type": kind})
    _refused(answer, 403, says="staff")
    entry = pharmacy.node.audit.entries(newest_first=True, limit=1)[0]
    assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, pharmacy.stranger_address)


def test_a_token_whose_scopes_do_not_cover_the_action_is_403_and_audited(pharmacy: Counter) -> None:
    pack = {"scan": "(01)00614141123452(17)310131(10)L1(21)NO-SUCH"}
    with pharmacy.scoped(pharmacy.staff, "user/Patient.rs") as app:  # an app she granted her patients' records only
        _refused(app.post("/supply/verify", json=pack), 403, says="scopes")
        entry = SupplyNetwork.audited(pharmacy.node, "supply.verify")
        assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, pharmacy.staff_address)
        assert entry.access.detail == "beyond the token's scopes"
        _refused(app.get("/supply/stock"), 403, says="scopes")
    with pharmacy.scoped(pharmacy.operator, "user/SupplyEvent.rs") as reader:  # the operator's own, read only
        assert reader.post("/supply/verify", json=pack).json()["code"] == "unknown-serial"
        assert reader.get("/supply/stock").status_code == 200
        _refused(reader.post("/supply/quarantine", json={**pack, "reason": "torn"}), 403, says="supply.quarantine")
        assert SupplyNetwork.audited(pharmacy.node, "supply.quarantine").access.outcome == Outcome.DENIED
    order = {**pack, "patient": pharmacy.patient_id}
    with pharmacy.scoped(pharmacy.staff, "user/SupplyEvent.cruds") as writer:  # no MedicationDispense: no dispense
        _refused(writer.post("/supply/dispense", json=order), 403, says="supply.dispense")
        assert SupplyNetwork.audited(pharmacy.node, "supply.dispense").access.detail == "beyond the token's scopes"


def test_what_a_route_does_not_take_is_refused_by_name(pharmacy: Counter) -> None:
    scan = "(01)00614141123452(17)310131(10)L1(21)NO-SUCH"
    _refused(pharmacy.staff.get("/supply/stock", params={"foo": "1"}), 400, says="foo: not a parameter")
    _refused(pharmacy.staff.get("/supply/stock", params={"flagged": "maybe"}), 400, says="flagged")
    _refused(pharmacy.staff.get("/supply/trace", params={"id": scan, "foo": "bar"}), 400, says="foo")
    _refused(pharmacy.staff.get("/supply/trace", params=[("id", scan), ("id", scan)]), 400, says="id: given more")
    _refused(pharmacy.staff.get("/supply/trace"), 400, says="id")
    _refused(pharmacy.staff.post("/supply/verify?dry=1", json={"scan": scan}), 400, says="dry")
    plain = pharmacy.staff.post("/supply/verify", content=scan.encode(), headers={"Content-Type": "text/plain"})
    _refused(plain, 415, says="application/json")
