"""The sponsor's escrow and sites after registration: a top-up adds exactly its amount (the contract takes anyone's,
not only the sponsor's); a removed site enrols no one more, while its participants' visits are still paid; after
unblinding the sponsor takes back what the escrow holds beyond what is owed, once, and the visits ahead stay covered.
Every refusal with the contract's message."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from careledger.config import NODE_WALLET
from careledger.errors import AccessDenied, Conflict, NotFound, TransactionReverted, ValidationError
from careledger.records import SearchQuery
from careledger.research import care
from careledger.testdata import CARE
from tests.trials.conftest import BOARD, SPONSOR, TrialNetwork


def _enrolled(net: TrialNetwork, trial_id: int, site: Any) -> str:
    """A patient of `site` enrolled in the trial with a payee, and randomised: her Patient id."""
    patient = net.patient(site)
    site.trial_site.enrol(net.staff(site), trial_id, patient, payee=Account.create().address)
    net.sponsor.trial_registry.randomise(SPONSOR, trial_id)
    return patient


def _paid(net: TrialNetwork, site: Any, trial_id: int, patient: str) -> list[int]:
    """Her visit 1's CRF entered at `site` and settled: the visits paid."""
    site.trial_site.enter_crf(net.staff(site), trial_id, patient, 1, net.crf(1))
    return [payment.visit for payment in site.trial_site.settle(trial_id)]


def test_a_top_up_raises_the_escrow_by_exactly_its_amount_from_the_sponsors_care(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    registry, token = net.sponsor.trial_registry, net.sponsor.contracts.token()
    before, held = registry.show(trial_id), token.balance_of(net.sponsor_address)
    amount = 250 * CARE + 1  # one base unit over: nothing rounded
    after = registry.top_up(SPONSOR, trial_id, amount)
    assert (after.escrow, after.budget, after.owed) == (before.escrow + amount, before.budget + amount, before.owed)
    assert token.balance_of(net.sponsor_address) == held - amount
    assert token.allowance(net.sponsor_address, net.sponsor.contracts.trials().address) == 0


def test_anyone_may_top_up_a_trial_with_care_it_holds(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    board, token = net.board.trial_registry, net.board.contracts.token()
    escrow = board.show(trial_id).escrow
    assert token.balance_of(net.board_address) == 0
    with pytest.raises(TransactionReverted, match=r"^transaction reverted: erc20: transfer amount exceeds balance$"):
        board.top_up(BOARD, trial_id, 5 * CARE)  # the board holds no CARE: the token refuses the transfer
    assert token.allowance(net.board_address, net.board.contracts.trials().address) == 0  # approval withdrawn
    net.sponsor.contracts.token(as_wallet=NODE_WALLET).mint(net.board_address, 5 * CARE)
    assert board.top_up(BOARD, trial_id, 5 * CARE).escrow == escrow + 5 * CARE  # the contract takes anyone's
    assert token.balance_of(net.board_address) == 0


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "5"])
def test_a_top_up_of_anything_but_a_whole_amount_above_zero_is_refused_before_anything_is_sent(
    trial_network: TrialNetwork, amount: Any
) -> None:
    net = trial_network
    sent = net.sponsor.chain.transaction_count(net.sponsor_address)
    with pytest.raises(ValidationError, match=r"^amount: a whole number of CARE base units above 0, not "):
        net.sponsor.trial_registry.top_up(SPONSOR, 9999, amount)  # no such trial: the amount is checked first
    assert net.sponsor.chain.transaction_count(net.sponsor_address) == sent  # not even the approval


def test_a_top_up_of_no_trial_is_refused_and_leaves_no_allowance(trial_network: TrialNetwork) -> None:
    net = trial_network
    with pytest.raises(NotFound, match=r"^trials: no such trial$"):
        net.sponsor.trial_registry.top_up(SPONSOR, 9999, CARE)
    assert net.sponsor.contracts.token().allowance(net.sponsor_address, net.sponsor.contracts.trials().address) == 0


def test_a_removed_site_enrols_no_one_more_and_its_participants_visits_are_still_paid(
    trial_network: TrialNetwork,
) -> None:
    net = trial_network
    trial_id = net.trial()
    registry = net.sponsor.trial_registry
    earlier = _enrolled(net, trial_id, net.site_b)
    with pytest.raises(AccessDenied, match=r"^trials: not the sponsor: only the trial's sponsor may do this$"):
        net.board.trial_registry.remove_site(BOARD, trial_id, net.site_b.address)
    assert registry.remove_site(SPONSOR, trial_id, net.site_b.address).sites == (net.site_a.address,)
    later = net.patient(net.site_b)
    with pytest.raises(AccessDenied, match=rf"^this node is not a site of trial {trial_id} \(never named"):
        net.site_b.trial_site.enrol(net.staff(net.site_b), trial_id, later, payee=Account.create().address)
    door = net.site_b.access.for_caller(net.staff(net.site_b))  # nothing signed for her, nor kept, before that
    assert door.search(SearchQuery(resource_type="ResearchSubject", patient_id=later)) == []
    with pytest.raises(AccessDenied, match=r"^trials: not a site of the trial"):  # removed once: not a site to remove
        registry.remove_site(SPONSOR, trial_id, net.site_b.address)
    assert registry.show(trial_id).enrolled == 1
    assert _paid(net, net.site_b, trial_id, earlier) == [1]  # hers stay its own, paid as before
    (payment,) = registry.payments(trial_id).payments
    assert payment.site == net.site_b.address


def test_the_escrow_beyond_what_is_owed_returns_to_the_sponsor_once_after_unblinding(
    trial_network: TrialNetwork,
) -> None:
    net = trial_network
    trial_id = net.trial()
    registry, token = net.sponsor.trial_registry, net.sponsor.contracts.token()
    patient = _enrolled(net, trial_id, net.site_a)
    with pytest.raises(Conflict, match=r"^trials: not unblinded yet: the escrow is returned after unblinding$"):
        registry.return_escrow(SPONSOR, trial_id)
    registry.unblind(SPONSOR, trial_id)
    with pytest.raises(AccessDenied, match=r"^trials: not the sponsor: only the trial's sponsor may do this$"):
        net.board.trial_registry.return_escrow(BOARD, trial_id)
    before, held = registry.show(trial_id), token.balance_of(net.sponsor_address)
    assert before.owed == before.visits * (before.site_fee + before.stipend)  # her three visits, none paid yet
    returned = registry.return_escrow(SPONSOR, trial_id)
    assert returned == before.escrow - before.owed
    assert token.balance_of(net.sponsor_address) == held + returned
    assert registry.show(trial_id).escrow == before.owed
    with pytest.raises(Conflict, match=r"^trials: nothing to return: the escrow holds nothing beyond what is owed$"):
        registry.return_escrow(SPONSOR, trial_id)
    assert _paid(net, net.site_a, trial_id, patient) == [1]  # what is owed stayed: her visits are still paid
    after = registry.show(trial_id)
    assert after.escrow == after.owed == before.owed - (before.site_fee + before.stipend)
    books = registry.payments(trial_id)  # every CARE the escrow took in is accounted for
    assert books.returned == returned
    assert books.budget == books.paid + books.returned + books.held
    assert books.to_json()["returned"] == care(returned)


@pytest.mark.parametrize("short", ["target", "escrow"])
def test_an_enrolment_the_trial_has_no_room_for_is_refused_before_anything_is_signed(
    trial_network: TrialNetwork, short: str
) -> None:
    """The chain would refuse it (`target reached`, `escrow short`): refused first, so no consent of hers is signed
    with her custodial key and kept pending for an enrolment that cannot happen."""
    net = trial_network
    example = net.protocol()
    one = len(example.visits) * (example.site_fee + example.stipend)  # what one participant's visits cost
    trial_id = net.trial(target=1) if short == "target" else net.trial(budget=one)
    _enrolled(net, trial_id, net.site_a)  # the one there is room for
    later = net.patient(net.site_a)
    why = "has enrolled its target of 1" if short == "target" else r"escrow cannot hold another participant's visits"
    site, staff, payee = net.site_a.trial_site, net.staff(net.site_a), Account.create().address
    with pytest.raises(Conflict, match=rf"^trial {trial_id}('s)? {why}"):
        site.consent_request(staff, trial_id, later, payee)  # nothing for her wallet to sign either
    with pytest.raises(Conflict, match=rf"^trial {trial_id}('s)? {why}"):
        site.enrol(staff, trial_id, later, payee=payee)
    door = net.site_a.access.for_caller(net.staff(net.site_a))
    assert door.search(SearchQuery(resource_type="ResearchSubject", patient_id=later)) == []
    assert net.sponsor.trial_registry.show(trial_id).enrolled == 1


def test_a_full_trial_still_asks_its_participants_to_re_consent(trial_network: TrialNetwork) -> None:
    """Room is a new participant's question: one on study is asked to sign an amendment however full the trial."""
    net = trial_network
    trial_id = net.trial(target=1)
    on_study = _enrolled(net, trial_id, net.site_a)
    net.amend(trial_id, reconsent=True, target=1)
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    typed = site.consent_request(staff, trial_id, on_study)  # her wallet's typed data for the new version
    assert typed["message"]["version"] == 2
    with pytest.raises(Conflict, match=rf"^trial {trial_id} has enrolled its target of 1"):
        site.consent_request(staff, trial_id, net.patient(net.site_a))  # a newcomer is refused


def test_a_node_that_is_no_site_asks_no_one_to_consent(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial(sites=(net.site_a.address,))
    newcomer = net.patient(net.site_b)
    with pytest.raises(AccessDenied, match=rf"^this node is not a site of trial {trial_id} \(never named"):
        net.site_b.trial_site.consent_request(net.staff(net.site_b), trial_id, newcomer)
    door = net.site_b.access.for_caller(net.staff(net.site_b))
    assert door.search(SearchQuery(resource_type="ResearchSubject", patient_id=newcomer)) == []
