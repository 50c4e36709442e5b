"""A site's desk: only its staff act, each patient's records read and written through the staff member's door;
eligibility in words; enrolment refused before the seed is committed, when she is not eligible, or when she signed a
version that is not the current one; CRFs refused before randomisation, before her re-consent, after withdrawal, or
when they fail their Questionnaire; corrections need a reason and keep who, when and why."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account import Account

from careledger.access import Accessor
from careledger.audit import Outcome
from careledger.chain import Trials
from careledger.crypto import sign_typed_data
from careledger.errors import AccessDenied, Conflict, ValidationError
from careledger.node import Node
from careledger.records import SearchQuery
from careledger.store import TrialVisit
from tests.trials.conftest import SPONSOR, TrialNetwork, _condition


def test_a_stranger_is_refused_and_audited(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    patient = net.patient(net.site_a)
    stranger = Account.create().address
    with pytest.raises(AccessDenied, match=f"{stranger} is not of this site's care team"):
        net.site_a.trial_site.enrol(Accessor(stranger), trial_id, patient)
    entry = next(e for e in net.site_a.audit.entries(newest_first=True, limit=20) if e.access.agent == stranger)
    assert (entry.access.interaction, entry.access.outcome) == ("trial.enrol", Outcome.DENIED)
    assert net.site_a.contracts.trials().trial(trial_id).enrolled == 0


def test_eligibility_is_told_in_words_from_her_record(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    assert site.eligibility(staff, trial_id, net.patient(net.site_a)).eligible
    unknown = site.eligibility(staff, trial_id, net.patient(net.site_a, egfr=None))
    assert not unknown.eligible
    assert any("eGFR" in why for why in unknown.unknown)
    pregnant = site.eligibility(staff, trial_id, net.patient(net.site_a, pregnant=True))
    assert any("pregnancy" in why for why in pregnant.failed)
    with pytest.raises(ValidationError, match=f"not eligible for trial {trial_id}: .*pregnancy"):
        site.enrol(staff, trial_id, net.patient(net.site_a, pregnant=True))
    assert net.site_a.contracts.trials().trial(trial_id).enrolled == 0


def test_enrolment_before_the_seed_is_committed_is_refused(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial(seed=False)
    with pytest.raises(Conflict, match=f"trial {trial_id}'s randomisation seed is not committed yet"):
        net.site_a.trial_site.enrol(net.staff(net.site_a), trial_id, net.patient(net.site_a))
    assert net.site_a.contracts.trials().trial(trial_id).enrolled == 0


def test_a_custodial_patient_consents_in_person_witnessed_her_stipends_held(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    patient = net.patient(net.site_a, sex="male", age=65)
    staff = net.staff(net.site_a)
    enrolled = net.site_a.trial_site.enrol(staff, trial_id, patient)
    assert (enrolled.status, enrolled.index, enrolled.consented_version) == ("on-study", 0, 1)
    assert enrolled.stratum == 1 * 2 + 1  # male (level 1 of 3), 60-plus (level 1 of 2): mixed radix
    on_chain = net.site_a.contracts.trials().participant(trial_id, bytes.fromhex(enrolled.participant[2:]))
    assert on_chain is not None
    assert on_chain.site == net.site_a.address
    door = net.site_a.access.for_caller(staff)
    consents = door.search(SearchQuery(resource_type="Consent", patient_id=patient))
    assert [c["status"] for c in consents] == ["active"]
    assert on_chain.payee is None  # never her own address by default: her stipends are held until one is named
    assert enrolled.held
    assert enrolled.witness == f"did:pkh:eip155:{net.site_a.chain_id}:{staff.address}"
    (provenance,) = door.search(SearchQuery(resource_type="Provenance", patient_id=patient))
    assert provenance["target"] == [{"reference": f"Consent/{consents[0]['id']}"}]
    assert provenance["agent"][0]["type"]["coding"][0]["code"] == "WIT"
    assert provenance["agent"][0]["who"]["identifier"]["value"] == enrolled.witness
    entry = next(
        e for e in net.site_a.audit.entries(newest_first=True, limit=20) if e.access.interaction == "trial.enrol"
    )
    assert f"consent of Patient/{patient} to trial {trial_id} taken in person" in (entry.access.detail or "")
    assert f"witnessed by {staff.address}" in (entry.access.detail or "")
    with pytest.raises(Conflict, match=f"she is enrolled in trial {trial_id} already"):
        net.site_a.trial_site.enrol(staff, trial_id, patient)


def test_consent_to_a_version_that_is_not_current_is_refused(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    wallet = Account.create()
    patient = net.patient(net.site_a, wallet=wallet)
    staff = net.staff(net.site_a)
    typed = net.site_a.trial_site.consent_request(staff, trial_id, patient, wallet.address)
    signature = "0x" + sign_typed_data(wallet, typed).hex()
    net.amend(trial_id)  # version 2 approved while her signature of version 1 is on its way
    with pytest.raises(ValidationError, match="she signed the consent of version 1, not the current version 2"):
        net.site_a.trial_site.enrol(staff, trial_id, patient, signature=signature)
    assert net.site_a.contracts.trials().trial(trial_id).enrolled == 0
    fresh = net.site_a.trial_site.consent_request(staff, trial_id, patient, wallet.address)
    assert fresh["message"]["version"] == 2
    enrolled = net.site_a.trial_site.enrol(staff, trial_id, patient, signature=sign_typed_data(wallet, fresh).hex())
    assert enrolled.consented_version == 2


def test_a_crf_is_checked_against_its_questionnaire_and_corrected_with_a_reason(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = net.patient(net.site_a)
    enrolled = site.enrol(staff, trial_id, patient)
    with pytest.raises(Conflict, match="she is not randomised yet"):
        site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    assert net.sponsor.trial_registry.randomise(SPONSOR, trial_id) == 1
    baseline = re.escape("the response does not fit its CRF (https://careledger.org/trials/ht3/crf/baseline): ")
    with pytest.raises(ValidationError, match=baseline + ".*systolic.*260"):
        site.enter_crf(staff, trial_id, patient, 1, net.crf(1, systolic=999))
    with pytest.raises(ValidationError, match=baseline + "it answers the Questionnaire https://example.org/other"):
        site.enter_crf(staff, trial_id, patient, 1, {**net.crf(1), "questionnaire": "https://example.org/other"})
    entered = site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    assert (entered.visit, entered.version, entered.complete) == (1, 1, True)
    with pytest.raises(Conflict, match="entered already: correct it"):
        site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    with pytest.raises(ValidationError, match="a correction needs its reason"):
        site.correct_crf(staff, trial_id, patient, 1, net.crf(1, systolic=148), "  ")
    corrected = site.correct_crf(staff, trial_id, patient, 1, net.crf(1, systolic=148), "transcription error")
    assert (corrected.record_id, corrected.version) == (entered.record_id, 2)
    history = site.crf_history(staff, trial_id, patient, 1)
    assert [(v.version, v.who, v.why) for v in history] == [
        (1, staff.address, "entered"),
        (2, staff.address, "transcription error"),
    ]
    assert history[1].when >= history[0].when
    with net.site_a.db.session() as session:  # the site's row names her participant id, never her
        row = session.get(TrialVisit, (trial_id, bytes.fromhex(enrolled.participant[2:]), 1))
        assert row is not None
        assert row.complete
        assert entered.record_id.encode() not in bytes(row.sealed)  # her CRF's record id is sealed


def test_a_visit_waits_for_her_reconsent_and_none_is_recorded_after_withdrawal(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = net.patient(net.site_a)
    site.enrol(staff, trial_id, patient)
    net.sponsor.trial_registry.randomise(SPONSOR, trial_id)
    site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    net.amend(trial_id, reconsent=True)
    statuses = {row.visit: row.status for row in site.visits(staff, trial_id) if row.patient_id == patient}
    assert statuses == {1: "entered", 2: "blocked: re-consent", 3: "blocked: re-consent"}
    with pytest.raises(Conflict, match="her next visit waits for her re-consent"):
        site.enter_crf(staff, trial_id, patient, 2, net.crf(2))
    assert site.reconsent(staff, trial_id, patient).consented_version == 2
    site.enter_crf(staff, trial_id, patient, 2, net.crf(2))
    withdrawn = site.withdraw(staff, trial_id, patient)
    assert withdrawn.status == "withdrawn"
    with pytest.raises(Conflict, match="withdrew from trial"):
        site.enter_crf(staff, trial_id, patient, 3, net.crf(3))
    corrected = site.correct_crf(staff, trial_id, patient, 2, net.crf(2, heart_rate=70), "pulse misread")
    assert corrected.version == 2  # what was collected before she withdrew is still corrected, with its reason
    statuses = {row.visit: row.status for row in site.visits(staff, trial_id) if row.patient_id == patient}
    assert statuses == {1: "entered", 2: "entered", 3: "withdrawn"}


class _CrashAfterChain:
    """The Trials contract as a site sends to it, the process "dying" right after `method`'s transaction is mined
    (before the site writes her records): what a crash between the chain and the door leaves."""

    def __init__(self, real: Trials, method: str) -> None:
        self._real = real
        self._method = method

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._real, name)
        if name != self._method:
            return found

        def crashing(*args: Any, **kwargs: Any) -> Any:
            found(*args, **kwargs)
            raise _Crash(name)

        return crashing


class _Crash(Exception):
    """The process died here."""


@contextmanager
def _crash_after(site: Node, method: str) -> Iterator[None]:
    consents = site.trial_site._consents
    real = consents._site_chain
    consents._site_chain = lambda: _CrashAfterChain(real(), method)  # type: ignore[assignment, return-value]
    try:
        with pytest.raises(_Crash):
            yield
    finally:
        consents._site_chain = real  # type: ignore[method-assign]


def _status(site: Node, staff: Accessor, trial_id: int, patient: str) -> str:
    door = site.access.for_caller(staff)
    (subject,) = door.search(SearchQuery(resource_type="ResearchSubject", patient_id=patient))
    return str(subject["status"])


def test_enrol_reconsent_and_withdraw_recover_after_a_crash_past_the_chain(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = net.patient(net.site_a)
    with _crash_after(net.site_a, "enrol"):
        site.enrol(staff, trial_id, patient)
    assert _status(net.site_a, staff, trial_id, patient) == "candidate"
    net.amend(trial_id, reconsent=False)  # approved meanwhile: her records still say the version she signed, 1
    enrolled = site.enrol(staff, trial_id, patient)
    assert (enrolled.status, enrolled.consented_version) == ("on-study", 1)
    door = net.site_a.access.for_caller(staff)
    (consent,) = door.search(SearchQuery(resource_type="Consent", patient_id=patient))
    on_chain = net.site_a.contracts.trials().participant(trial_id, bytes.fromhex(enrolled.participant[2:]))
    assert on_chain is not None
    assert consent["identifier"][0]["value"] == "0x" + on_chain.consent_digest.hex()  # what the chain keeps

    net.amend(trial_id, reconsent=True, description="amended again")  # version 3
    with _crash_after(net.site_a, "reconsent"):
        site.reconsent(staff, trial_id, patient)
    assert site.reconsent(staff, trial_id, patient).consented_version == 3
    assert len(door.search(SearchQuery(resource_type="Consent", patient_id=patient))) == 2
    with pytest.raises(Conflict, match=r"signed the consent of trial \d+'s current version already"):
        site.reconsent(staff, trial_id, patient)

    with _crash_after(net.site_a, "withdraw"):
        site.withdraw(staff, trial_id, patient)
    assert _status(net.site_a, staff, trial_id, patient) == "on-study"
    assert site.withdraw(staff, trial_id, patient).status == "withdrawn"
    assert _status(net.site_a, staff, trial_id, patient) == "withdrawn"
    with pytest.raises(Conflict, match="withdrew from trial"):
        site.withdraw(staff, trial_id, patient)


def test_her_own_signature_is_kept_before_the_chain_and_recovered_from(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    wallet = Account.create()
    patient = net.patient(net.site_a, wallet=wallet)
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    typed = site.consent_request(staff, trial_id, patient)
    with _crash_after(net.site_a, "enrol"):
        site.enrol(staff, trial_id, patient, signature="0x" + sign_typed_data(wallet, typed).hex())
    enrolled = site.enrol(staff, trial_id, patient)  # no signature asked again: the one the chain took is kept
    assert (enrolled.status, enrolled.witness) == ("on-study", None)


def test_a_kept_consent_is_refused_once_she_is_no_longer_eligible(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    wallet = Account.create()
    patient = net.patient(net.site_a, wallet=wallet)
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    typed = site.consent_request(staff, trial_id, patient)
    subject = {"reference": f"Patient/{patient}"}
    net.site_a.maintenance.write(
        _condition(subject, "77386006", "Pregnancy")
    )  # days later, before her signature comes back
    with pytest.raises(ValidationError, match=f"not eligible for trial {trial_id}: .*pregnancy"):
        site.enrol(staff, trial_id, patient, signature="0x" + sign_typed_data(wallet, typed).hex())
    assert net.site_a.contracts.trials().trial(trial_id).enrolled == 0


def test_a_payee_is_an_address_and_never_zero(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = net.patient(net.site_a)
    with pytest.raises(ValidationError, match="a payee is an address: 0x and 40 hex digits"):
        site.enrol(staff, trial_id, patient, payee="her purse")
    with pytest.raises(ValidationError, match="not the zero address"):
        site.enrol(staff, trial_id, patient, payee="0x" + "00" * 20)
    fresh = Account.create().address
    enrolled = site.enrol(staff, trial_id, patient, payee=fresh.lower())
    assert (enrolled.payee, enrolled.held) == (fresh, False)


def test_a_crf_is_one_record_per_visit_even_after_a_crash(
    trial_network: TrialNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = trial_network
    trial_id = net.trial()
    site, staff = net.site_a.trial_site, net.staff(net.site_a)
    patient = net.patient(net.site_a)
    site.enrol(staff, trial_id, patient)
    net.sponsor.trial_registry.randomise(SPONSOR, trial_id)

    def crash(*args: Any) -> None:
        raise _Crash("after the CRF was written, before its row")

    with monkeypatch.context() as patched:
        patched.setattr(site._store, "keep_visit", crash)
        with pytest.raises(_Crash):
            site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
    entered = site.enter_crf(staff, trial_id, patient, 1, net.crf(1, systolic=140))  # the retry finds the first
    door = net.site_a.access.for_caller(staff)
    responses = door.search(SearchQuery(resource_type="QuestionnaireResponse", patient_id=patient))
    assert [(r["id"], r["meta"]["versionId"]) for r in responses] == [(entered.record_id, "1")]
    assert (entered.version, entered.complete) == (1, True)
    with pytest.raises(Conflict, match="entered already: correct it"):
        site.enter_crf(staff, trial_id, patient, 1, net.crf(1))
