"""The participant's own desk: she reads the consent document, her own wallet signs the version she read (and the
amendment's, when it asks for re-consent), she sees her schedule and stipends, and she withdraws with what becomes
of her data said first. A signature that is not hers is refused; a caller this node keeps no record of is told so."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from careledger.access import Accessor
from careledger.crypto import keccak, sign_typed_data
from careledger.errors import AccessDenied, NotFound, ValidationError
from tests.trials.conftest import SPONSOR, TrialNetwork


def _signed(wallet: LocalAccount, typed: dict[str, object]) -> str:
    return "0x" + sign_typed_data(wallet, typed).hex()


def test_she_reads_signs_reconsents_and_withdraws_with_her_own_wallet(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    wallet = Account.create()
    net.patient(net.site_a, wallet=wallet)
    desk, her = net.site_a.trial_participant, Accessor(wallet.address)
    assert desk.trials(her) == []
    document = desk.consent_document(her, trial_id)
    assert document.version == 1
    assert document.hash == "0x" + keccak(document.text.encode()).hex()
    assert "withdraw" in document.data_on_withdrawal
    assert desk.eligibility(her, trial_id).eligible

    typed = desk.consent_typed_data(her, trial_id)
    assert int(typed["message"]["payee"], 16) == 0  # none named: held, never her own address by default
    assert "public chain next to this trial" in document.payee_notice
    assert "fresh address" in document.payee_notice
    enrolled = desk.sign(her, trial_id, _signed(wallet, typed))
    assert (enrolled.status, enrolled.consented_version) == ("on-study", 1)
    net.sponsor.trial_registry.randomise(SPONSOR, trial_id)
    (mine,) = desk.trials(her)
    assert (mine.trial_id, mine.status, mine.reconsent_needed) == (trial_id, "on-study", False)
    assert [v.status for v in mine.schedule] == ["due", "due", "due"]
    assert (mine.schedule[1].due - mine.schedule[0].due).days == 28

    net.amend(trial_id, reconsent=True)
    (mine,) = desk.trials(her)
    assert mine.reconsent_needed
    assert [v.status for v in mine.schedule] == ["blocked: re-consent"] * 3
    assert desk.consent_document(her, trial_id).version == 2
    again = desk.sign(her, trial_id, _signed(wallet, desk.consent_typed_data(her, trial_id)))
    assert again.consented_version == 2
    assert not desk.trials(her)[0].reconsent_needed

    withdrawal = desk.withdrawal_typed_data(her, trial_id)
    assert withdrawal["primaryType"] == "TrialWithdrawal"
    withdrawn = desk.withdraw(her, trial_id, _signed(wallet, withdrawal))
    assert withdrawn.status == "withdrawn"
    assert desk.trials(her)[0].status == "withdrawn"
    assert net.site_a.contracts.trials().participant(trial_id, bytes.fromhex(withdrawn.participant[2:])).withdrawn


def test_a_signature_that_is_not_hers_is_refused(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    wallet = Account.create()
    net.patient(net.site_a, wallet=wallet)
    desk, her = net.site_a.trial_participant, Accessor(wallet.address)
    typed = desk.consent_typed_data(her, trial_id)
    other = Account.create()
    with pytest.raises(AccessDenied, match=f"the signature is {other.address}'s, not hers"):
        desk.sign(her, trial_id, _signed(other, typed))
    assert net.site_a.contracts.trials().trial(trial_id).enrolled == 0


def test_a_caller_this_node_keeps_no_record_of_is_told_so(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    with pytest.raises(NotFound, match="keeps no Patient record of yours"):
        net.site_b.trial_participant.consent_typed_data(Accessor(Account.create().address), trial_id)


def test_she_names_a_payee_after_enrolment_her_site_may_change_it(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    wallet = Account.create()
    patient = net.patient(net.site_a, wallet=wallet)
    desk, her = net.site_a.trial_participant, Accessor(wallet.address)
    enrolled = desk.sign(her, trial_id, _signed(wallet, desk.consent_typed_data(her, trial_id)))
    assert enrolled.held
    fresh = Account.create().address
    named = desk.name_payee(her, trial_id, fresh)
    assert (named.payee, named.held) == (fresh, False)
    participant = bytes.fromhex(enrolled.participant[2:])
    assert net.site_a.contracts.trials().participant(trial_id, participant).payee == fresh
    with pytest.raises(ValidationError, match="a payee is an address"):
        desk.name_payee(her, trial_id, "not an address")
    other = Account.create().address
    changed = net.site_a.trial_site.name_payee(net.staff(net.site_a), trial_id, patient, other)
    assert changed.payee == other
    another = net.trial()
    with pytest.raises(NotFound, match=f"you are not enrolled in trial {another} here"):
        desk.name_payee(her, another, fresh)
