"""Milestone payments: the escrow pays the site its fee and her payee her stipend for each visit whose CRF is complete
and whose visit leaf is anchored, in visit order, once; a payment for an incomplete CRF is refused, and so is one
that waits for an earlier visit or for her re-consent. A CRF corrected after its row was kept is paid for its current
version only; and a copy of the database with the chain's payments cannot tie a visit to a record."""

from __future__ import annotations

import logging
import time

import pytest
from eth_account import Account
from sqlalchemy import select

from careledger.api._server import SYNC_SECONDS
from careledger.errors import Conflict, ValidationError
from careledger.store import RECORD_VERSIONS, TrialVisit
from careledger.trials import PaymentsView
from tests.api.supply import reachable
from tests.trials.conftest import SPONSOR, TrialNetwork


def _enrolled(net: TrialNetwork, trial_id: int, **facts: object) -> str:
    """A patient of site A enrolled in the trial and randomised: her Patient id."""
    patient = net.patient(net.site_a, **facts)  # type: ignore[arg-type]
    net.site_a.trial_site.enrol(net.staff(net.site_a), trial_id, patient)
    net.sponsor.trial_registry.randomise(SPONSOR, trial_id)
    return patient


def test_a_payment_for_a_visit_whose_crf_is_incomplete_is_refused(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = _enrolled(net, trial_id)
    entered = site.enter_crf(staff, trial_id, patient, 1, net.crf(1, status="in-progress", weight=None))
    assert not entered.complete
    net.site_a.trial_anchorer.anchor_pending()
    with pytest.raises(ValidationError, match="visit 1's CRF is incomplete: the escrow pays a visit once"):
        site.pay(staff, trial_id, patient, 1)
    assert site.settle(trial_id) == []
    assert net.site_a.trial_registry.payments(trial_id).payments == ()
    site.correct_crf(staff, trial_id, patient, 1, net.crf(1), "weight measured after all")
    paid = site.settle(trial_id)
    assert [(p.visit, p.site) for p in paid] == [(1, net.site_a.address)]


def test_settle_pays_each_complete_anchored_visit_once_in_order(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    payee = Account.create().address
    patient = net.patient(net.site_a)
    site.enrol(staff, trial_id, patient, payee=payee)
    net.sponsor.trial_registry.randomise(SPONSOR, trial_id)
    token = net.site_a.contracts.token()
    site_before = token.balance_of(net.site_a.address)
    site.enter_crf(staff, trial_id, patient, 2, net.crf(2))  # visit 2 before visit 1: it waits
    assert site.settle(trial_id) == []
    with pytest.raises(Conflict, match="visit 2 waits for visit 1's payment"):
        site.pay(staff, trial_id, patient, 2)
    site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    paid = site.settle(trial_id)  # anchors what waits, then pays visit 1 and visit 2
    assert [p.visit for p in paid] == [1, 2]
    assert site.settle(trial_id) == []  # once
    state = net.sponsor.contracts.trials().trial(trial_id)
    assert token.balance_of(payee) == 2 * state.stipend
    assert token.balance_of(net.site_a.address) == site_before + 2 * state.site_fee
    view: PaymentsView = net.sponsor.trial_registry.payments(trial_id)
    assert view.paid_by_site == {net.site_a.address: 2 * state.site_fee}
    assert list(view.paid_by_participant.values()) == [2 * state.stipend]
    assert view.held == state.budget - view.paid
    rows = {row.visit: row.status for row in site.visits(staff, trial_id) if row.patient_id == patient}
    assert rows == {1: "paid", 2: "paid", 3: "due"}


def test_a_visit_that_waits_is_logged_once_per_reason(
    trial_network: TrialNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = _enrolled(net, trial_id)
    site.enter_crf(staff, trial_id, patient, 1, net.crf(1, status="in-progress", weight=None))
    with caplog.at_level(logging.INFO, logger="careledger.trials._payments"):
        for _ in range(3):  # the leader's round asks every second or so
            assert site.settle(trial_id) == []
        site.correct_crf(staff, trial_id, patient, 1, net.crf(1), "weight measured after all")
        for _ in range(3):
            assert site.settle(trial_id, anchor=False) == []
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and " waits: " in r.getMessage()]
    assert len(said) == 2, said  # once incomplete, once waiting for its new leaf's anchor: not each round
    assert "visit 1's CRF is incomplete" in said[0]
    assert "incomplete" not in said[1]


def test_a_visit_is_paid_only_after_her_reconsent(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = _enrolled(net, trial_id)
    site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    net.amend(trial_id, reconsent=True)  # approved after the visit, before its payment
    assert site.settle(trial_id) == []
    with pytest.raises(Conflict, match="she must re-consent to version 2 before her visits are paid"):
        site.pay(staff, trial_id, patient, 1)
    site.reconsent(staff, trial_id, patient)
    assert [p.visit for p in site.settle(trial_id)] == [1]


def test_the_leaders_round_pays_an_anchored_visit_by_itself(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = _enrolled(net, trial_id)
    site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    with reachable(net.site_a):
        time.sleep(2 * SYNC_SECONDS)  # a round or two: not anchored yet, so not paid (the round anchors nothing)
        assert net.sponsor.trial_registry.payments(trial_id).payments == ()
        assert net.site_a.trial_anchorer.pending() >= 1
        net.site_a.trial_anchorer.anchor_pending()
        deadline = time.monotonic() + 20
        while not net.sponsor.trial_registry.payments(trial_id).payments and time.monotonic() < deadline:
            time.sleep(0.2)
    (paid,) = net.sponsor.trial_registry.payments(trial_id).payments
    assert (paid.visit, paid.site) == (1, net.site_a.address)


def test_a_crf_corrected_after_its_row_was_kept_is_paid_for_its_current_version(
    trial_network: TrialNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff, store = net.site_a.trial_site, net.staff(net.site_a), net.site_a._trial_store
    patient = _enrolled(net, trial_id)
    entered = site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    net.site_a.trial_anchorer.anchor_pending()
    participant = bytes.fromhex(entered.participant.removeprefix("0x"))

    def crash(*_: object) -> None:
        raise RuntimeError("the process died between the correction and its row")

    monkeypatch.setattr(store, "keep_visit", crash)
    with pytest.raises(RuntimeError):  # version 2 stored, incomplete; the row still says version 1, complete
        site.correct_crf(staff, trial_id, patient, 1, net.crf(1, status="in-progress", weight=None), "weight wrong")
    monkeypatch.undo()
    with pytest.raises(ValidationError, match="visit 1's CRF is at version 2, not the version 1 kept, and it is inc"):
        site.pay(staff, trial_id, patient, 1)
    assert site.settle(trial_id) == []
    kept = store.visit(trial_id, participant, 1)
    assert kept is not None
    assert (kept.record_version, kept.complete) == (2, False)

    monkeypatch.setattr(store, "keep_visit", crash)
    with pytest.raises(RuntimeError):  # version 3, complete; the row says version 2, incomplete
        site.correct_crf(staff, trial_id, patient, 1, net.crf(1), "weight measured again")
    monkeypatch.undo()
    with pytest.raises(Conflict, match="at version 3, not the version 2 kept: version 3 is kept now and paid once its"):
        site.pay(staff, trial_id, patient, 1)
    (paid,) = site.settle(trial_id)  # its new leaf anchored first, then paid
    kept = store.visit(trial_id, participant, 1)
    assert kept is not None
    assert kept.leaf is not None
    assert (kept.record_version, kept.complete) == (3, True)
    on_chain = net.sponsor.contracts.trials().payments(trial_id)
    assert [(p.visit, p.crf_leaf, p.tx_hash) for p in on_chain] == [(1, kept.leaf.leaf, paid.tx_hash)]


def test_a_copy_of_the_visits_and_the_chains_payments_names_no_record(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = _enrolled(net, trial_id)
    entered = site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    site.correct_crf(staff, trial_id, patient, 1, net.crf(1, weight=81), "weight misread")
    assert [p.visit for p in site.settle(trial_id)] == [1]
    with net.site_a.db.reading() as connection:
        visits = [row._asdict() for row in connection.execute(select(TrialVisit.__table__))]
        records = connection.execute(select(RECORD_VERSIONS.c.record_id, RECORD_VERSIONS.c.commitment)).all()
    record_ids = {record_id for record_id, _ in records}
    commitments = {bytes(commitment) for _, commitment in records}
    assert entered.record_id in record_ids
    assert len(visits) >= 1
    for row in visits:
        for column, value in row.items():
            if isinstance(value, str):
                assert not any(record_id in value for record_id in record_ids), column
            elif isinstance(value, bytes | memoryview):
                cell = bytes(value)
                assert cell not in commitments, column
                assert not any(record_id.encode() in cell for record_id in record_ids), column
    paid_leaves = {p.crf_leaf for p in net.sponsor.contracts.trials().payments(trial_id)}
    (row,) = [row for row in visits if row["trial_id"] == trial_id]
    assert paid_leaves == {bytes(row["leaf"])}
    assert not paid_leaves & commitments  # the chain's VisitPaid names no record version


def test_a_stipend_with_no_payee_is_held_until_her_site_names_one(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = _enrolled(net, trial_id)  # no payee named: her own address is never assumed
    trials, token = net.sponsor.contracts.trials(), net.sponsor.contracts.token()
    state = trials.trial(trial_id)
    site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    (first,) = site.settle(trial_id)
    assert first.held
    participant = bytes.fromhex(first.participant.removeprefix("0x"))
    assert trials.held(trial_id, participant) == state.stipend
    view = net.sponsor.trial_registry.payments(trial_id)
    assert view.held_stipends == {first.participant: state.stipend}
    assert view.paid_by_participant == {}
    assert view.paid_by_site == {net.site_a.address: state.site_fee}
    with pytest.raises(ValidationError, match="the zero address cannot be a payee: her stipends would be lost"):
        site.name_payee(staff, trial_id, patient, "0x" + "00" * 20)
    with pytest.raises(ValidationError, match="a payee is an address \\(0x and 40 hex digits\\), not 'her wallet'"):
        site.name_payee(staff, trial_id, patient, "her wallet")
    payee = Account.create().address
    assert site.name_payee(staff, trial_id, patient, payee).payee == payee
    assert token.balance_of(payee) == state.stipend  # all that was held, paid out at once
    assert trials.held(trial_id, participant) == 0
    site.enter_crf(staff, trial_id, patient, 2, net.crf(2))
    (second,) = site.settle(trial_id)
    assert not second.held
    assert token.balance_of(payee) == 2 * state.stipend
    view = net.sponsor.trial_registry.payments(trial_id)
    assert view.held_stipends == {}
    assert view.paid_by_participant == {first.participant: 2 * state.stipend}
    assert view.to_json()["held_stipends"] == {}
