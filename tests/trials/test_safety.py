"""Safety reports: a serious adverse event reaches the sponsor's and the ethics board's nodes over HTTP by itself
(kept and sent again while they cannot be reached), signed by the site, with no name or patient reference in it;
only the sponsor and the board read it. A forged report, or one from a node that is no site of the trial, is refused
(4xx, audited) and nothing is kept. A site fetches the definition it lacks from the sponsor's node."""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import date

import httpx
import pytest
from eth_account import Account
from sqlalchemy import select

from careledger.access import AFFILIATION
from careledger.audit import Outcome
from careledger.config import NODE_WALLET
from careledger.crypto import sign_typed_data
from careledger.errors import AccessDenied, NotFound
from careledger.exchange import LIFETIME
from careledger.node import Node
from careledger.store import TrialSafetyReport
from careledger.trials import AdverseEventInput, SafetyReportRequest, SignedSafetyReport
from careledger.trials._safety import MAX_WAIT
from tests.trials.conftest import SPONSOR, TrialNetwork

JSON_TYPE = {"Content-Type": "application/json"}
EVENT = AdverseEventInput(
    "http://snomed.info/sct", "267038008", "Oedema", True, "severe", date(2026, 12, 1), "ankles, both", "hospitalised"
)


def _participant(net: TrialNetwork, trial_id: int) -> str:
    patient = net.patient(net.site_a)
    net.site_a.trial_site.enrol(net.staff(net.site_a), trial_id, patient)
    return patient


def _reports(node: Node, trial_id: int, reader: str) -> list[dict[str, object]]:
    return node.trial_registry.safety_reports(trial_id, reader)


def test_a_serious_adverse_event_reaches_the_sponsor_and_the_board(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    patient = _participant(net, trial_id)
    with net.served():
        reported = net.site_a.trial_site.report_adverse_event(net.staff(net.site_a), trial_id, patient, EVENT)
        mild = AdverseEventInput("http://snomed.info/sct", "25064002", "Headache", False, "mild", date(2026, 12, 2))
        not_serious = net.site_a.trial_site.report_adverse_event(net.staff(net.site_a), trial_id, patient, mild)
    assert reported.event["subject"] == {"reference": f"Patient/{patient}"}  # her record names her; the report not
    assert reported.to_json()["safety_report"] == [
        {"reader": reader, "delivered": True, "waiting": None}
        for reader in sorted((net.sponsor_address, net.board_address))
    ]
    assert (not_serious.deliveries, not_serious.to_json()["adverse_event"]["id"]) == ((), not_serious.event["id"])
    (report,) = _reports(net.sponsor, trial_id, net.sponsor_address)
    assert report["event"] == {"system": "http://snomed.info/sct", "code": "267038008", "display": "Oedema"}
    assert (report["serious"], report["severity"], report["narrative"]) == (True, "severe", "hospitalised")
    assert report["site"] == net.site_a.address
    told = json.dumps(report)
    assert "Trialist" not in told
    assert "Patient/" not in told
    assert "ankles" not in told  # her record's description stays in her record
    (seen_by_board,) = _reports(net.board, trial_id, net.board_address)
    assert _without_received(seen_by_board) == _without_received(report)
    with pytest.raises(AccessDenied, match=f"only trial {trial_id}'s sponsor and the ethics boards"):
        _reports(net.sponsor, trial_id, net.staff_a)
    with net.sponsor.db.session() as session:  # kept sealed
        (row,) = session.scalars(select(TrialSafetyReport).where(TrialSafetyReport.trial_id == trial_id))
        assert b"267038008" not in bytes(row.sealed)
        assert row.site == net.site_a.address


def _without_received(report: dict[str, object]) -> dict[str, object]:
    """A report as its site sent it (each node says when it received it)."""
    return {key: value for key, value in report.items() if key != "received"}


def test_a_report_waits_for_an_unreachable_node_and_arrives_later(
    trial_network: TrialNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    net = trial_network
    trial_id = net.trial()
    patient = _participant(net, trial_id)
    with caplog.at_level(logging.INFO):
        reported = net.site_a.trial_site.report_adverse_event(net.staff(net.site_a), trial_id, patient, EVENT)
        assert net.site_a.trial_site.retry_reports(at=time.time() + MAX_WAIT) == 0  # still unreachable
    assert {d.reader for d in reported.waiting} == {net.sponsor_address, net.board_address}
    assert all("has no node endpoint on chain" in str(d.waiting) for d in reported.deliveries)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.endswith("_safety")]
    assert len(warned) == 2, warned  # once per reader when kept; the round's attempts say no more
    assert all(f"trial {trial_id}'s safety report did not reach" in w for w in warned)
    attempts = [r.getMessage() for r in caplog.records if "waits (attempt" in r.getMessage()]
    assert len(attempts) == 2, attempts  # the first attempts only: the second ones are DEBUG
    assert _reports(net.sponsor, trial_id, net.sponsor_address) == []
    waiting = [w for w in net.site_a.trial_site.reports_waiting() if w["trial"] == trial_id]
    assert {w["reader"] for w in waiting} == {net.sponsor_address, net.board_address}
    assert all("no node endpoint" in str(w["why"]) for w in waiting)
    with net.served():
        assert net.site_a.trial_site.retry_reports() == 0  # not due yet: each waits a minute, then twice as long
        assert net.site_a.trial_site.retry_reports(at=time.time() + 2 * MAX_WAIT) == 2
    assert len(_reports(net.sponsor, trial_id, net.sponsor_address)) == 1
    assert len(_reports(net.board, trial_id, net.board_address)) == 1
    assert [w for w in net.site_a.trial_site.reports_waiting() if w["trial"] == trial_id] == []


def _report(trial_id: int, site: str, /, **changed: object) -> dict[str, object]:
    """A report as a site builds it (`safety_report`), with keys `changed` (None: left out)."""
    report = {
        "trial_id": trial_id,
        "participant": "0x" + "ab" * 32,
        "site": site,
        "event": {"system": "http://snomed.info/sct", "code": "267038008", "display": "Oedema"},
        "serious": True,
        "severity": "severe",
        "date": "2026-12-01",
        **changed,
    }
    return {key: value for key, value in report.items() if value is not None}


def _signed(
    account: object,
    net: TrialNetwork,
    trial_id: int,
    site: str,
    report: dict[str, object] | None = None,
    receiver: str | None = None,
) -> dict[str, object]:
    report = _report(trial_id, site) if report is None else report
    nonce, expiry = int.from_bytes(os.urandom(32), "big"), int(time.time()) + LIFETIME
    request = SafetyReportRequest(trial_id, site, receiver or net.sponsor.address, report, nonce, expiry)
    registry = net.sponsor.contracts.identity_registry().address
    signature = sign_typed_data(account, request.typed_data(net.sponsor.chain_id, registry))  # type: ignore[arg-type]
    return SignedSafetyReport(request, signature).to_json()


def test_a_forged_report_or_one_from_no_site_of_the_trial_is_refused(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    with net.served():
        endpoint = net.sponsor.contracts.identity_registry().require_actor(net.sponsor.address).endpoint
        post = f"{endpoint}/trials/safety-reports"
        forger = Account.create()
        forged = httpx.post(post, json=_signed(forger, net, trial_id, net.site_a.address))
        assert forged.status_code == 401, forged.text
        assert "not by " + net.site_a.address in forged.text
        board = net.board.unlock().account
        stranger = httpx.post(post, json=_signed(board, net, trial_id, net.board.address))
        assert stranger.status_code == 403, stranger.text
        assert f"is not a site of trial {trial_id}" in stranger.text
        assert httpx.post(post, json={"request": {}, "signature": "0x00"}).status_code == 400
        huge = httpx.post(post, content='{"request": {"trial": ' + "9" * 5001 + "}}", headers=JSON_TYPE)
        assert huge.status_code == 400, huge.text
        assert "a number too large: 5,001 digits" in huge.text  # our words, not Python's
        assert "set_int_max_str_digits" not in huge.text
        typed = httpx.post(post, content="{}", headers={"Content-Type": "text/plain"})
        assert typed.status_code == 415, typed.text
        assert "/trials/safety-reports takes application/json, not text/plain" in typed.text
        genuine = _signed(net.site_a.unlock().account, net, trial_id, net.site_a.address)
        assert httpx.post(post, json=genuine).status_code == 202
        assert httpx.post(post, json=genuine).status_code == 401  # the same nonce again: a replay
        elsewhere = _signed(net.site_a.unlock().account, net, trial_id, net.site_a.address, receiver=net.board_address)
        misaddressed = httpx.post(post, json=elsewhere)
        assert misaddressed.status_code == 400, misaddressed.text
        neither = f"is for {net.board_address}, neither this node ({net.sponsor.address}) nor a wallet"
        assert neither in misaddressed.text
        narrated = _report(trial_id, net.site_a.address, narrative="to the wallet")
        site_key = net.site_a.unlock().account
        to_wallet = _signed(site_key, net, trial_id, net.site_a.address, narrated, net.sponsor_address)
        assert httpx.post(post, json=to_wallet).status_code == 202  # a wallet kept here: it chose this node
    assert len(_reports(net.sponsor, trial_id, net.sponsor_address)) == 2
    refused = [
        e
        for e in net.sponsor.audit.entries(newest_first=True, limit=50)
        if e.access.interaction == "trial.safety-report" and e.access.outcome == Outcome.DENIED
    ]
    agents = [net.site_a.address, net.site_a.address, "anonymous", net.board.address, forger.address]
    assert [e.access.agent for e in refused[:5]] == agents


def test_a_report_that_is_not_what_a_site_builds_is_refused_and_nothing_kept(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site = net.site_a.address
    refused = {
        "holds no 'name', 'patient'": _report(trial_id, site, patient="Patient/b6d590d2", name="Ada Okafor"),
        "has no date, event, participant, serious, severity, site, trial_id": {},
        "has no severity": _report(trial_id, site, severity=None),
        f"trial_id 999 is not its request's trial {trial_id}": _report(trial_id, site, trial_id=999),
        f"site is not its request's site {site}": _report(trial_id, site, site=net.site_b.address),
        "participant is 0x and 64 lower-case hex digits": _report(trial_id, site, participant="Patient/b6d590d2"),
        "event is a coding": _report(trial_id, site, event={"system": "s", "code": "c", "text": "Ada fainted"}),
        "code is a string of 1 to 64 characters": _report(trial_id, site, event={"system": "s", "code": "9" * 65}),
        "serious is true": _report(trial_id, site, serious="yes"),
        "severity is one of mild, moderate, severe": _report(trial_id, site, severity="fatal"),
        "date is a day, YYYY-MM-DD": _report(trial_id, site, date="2026-12-01T10:00:00Z"),
        "narrative is words, at most 2000": _report(trial_id, site, narrative="x" * 2001),
    }
    account = net.site_a.unlock().account
    with net.served():
        endpoint = net.sponsor.contracts.identity_registry().require_actor(net.sponsor.address).endpoint
        for why, report in refused.items():
            answer = httpx.post(f"{endpoint}/trials/safety-reports", json=_signed(account, net, trial_id, site, report))
            assert answer.status_code == 400, (why, answer.text)
            assert why in answer.text, answer.text
        huge = _signed(account, net, trial_id, site)  # its hash cannot be taken: a number JSON does not carry
        huge["request"]["report"]["trial_id"] = 2**255  # type: ignore[index]
        answer = httpx.post(f"{endpoint}/trials/safety-reports", json=huge)
        assert answer.status_code == 400, answer.text
        assert "trial_id is a positive integer, not a number too large" in answer.text
        narrated = _report(trial_id, site, narrative="hospitalised overnight")
        kept = httpx.post(f"{endpoint}/trials/safety-reports", json=_signed(account, net, trial_id, site, narrated))
        assert kept.status_code == 202, kept.text
    (report,) = _reports(net.sponsor, trial_id, net.sponsor_address)
    assert report == {
        **{key: value for key, value in narrated.items() if key != "trial_id"},
        "trial": trial_id,
        "received": report["received"],
    }
    assert str(report["received"]).endswith("+00:00")


def test_a_site_fetches_the_definition_it_lacks_from_the_sponsors_node(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.sponsor.trial_registry.register(SPONSOR, net.protocol(title="HT-3b")).trial_id
    lacking = f"holds no definition of trial {trial_id} version 1, and cannot ask the sponsor's node for it: .*endpoint"
    with pytest.raises(NotFound, match=lacking):
        net.site_b.trial_registry.protocol(trial_id)
    with net.served():
        assert net.site_b.trial_registry.protocol(trial_id).title == "HT-3b"
    assert net.site_b.trial_registry.show(trial_id).title == "HT-3b"  # kept once its hash matched the chain


def test_a_report_goes_only_to_the_node_its_reader_chose(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    patient = _participant(net, trial_id)
    until = int(time.time()) + 86_400
    rogue = net.site_b.contracts.identity_registry(as_wallet=NODE_WALLET)
    rogue.attest(net.sponsor_address, AFFILIATION, until)  # any issuer may attest anyone, without her say
    with net.served():
        net.site_a.trial_site.report_adverse_event(net.staff(net.site_a), trial_id, patient, EVENT)
    assert len(_reports(net.sponsor, trial_id, net.sponsor_address)) == 1  # the node that registered her wallet
    with net.site_b.db.session() as session:
        assert list(session.scalars(select(TrialSafetyReport).where(TrialSafetyReport.trial_id == trial_id))) == []


def test_a_definitions_path_that_is_no_trial_or_version_is_a_400(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    with net.served():
        endpoint = net.sponsor.contracts.identity_registry().require_actor(net.sponsor.address).endpoint
        found = httpx.get(f"{endpoint}/trials/{trial_id}/definitions/1")
        assert (found.status_code, found.json()["version"]) == (200, 1)
        for path in ("abc/definitions/1", f"{trial_id}/definitions/x", f"{trial_id}/definitions/0", "-1/definitions/1"):
            refused = httpx.get(f"{endpoint}/trials/{path}")
            assert refused.status_code == 400, (path, refused.text)
            assert "a trial id and a version are positive integers" in refused.text
