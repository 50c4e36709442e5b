"""The trial registry as a sponsor and an ethics board use it: registration with the definition kept, approval,
amendments, the seed committed once, randomisation refused before it, unblinding checked against the chain."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from careledger.chain import Trials
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from careledger.store import TrialDefinition, TrialSeed
from careledger.trials import allocate, protocol_document, seed_commitment
from tests.trials.conftest import BOARD, SPONSOR, TrialNetwork


def test_a_board_that_cannot_fetch_the_definition_approves_without_it(
    trial_network: TrialNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    net = trial_network
    trial_id = net.sponsor.trial_registry.register(SPONSOR, net.protocol()).trial_id
    with caplog.at_level(logging.WARNING):  # no node serving: the sponsor's is not reached
        approved = net.board.trial_registry.approve(BOARD, trial_id)
    assert (approved.current_version, approved.title) == (1, None)  # approved; the chain's facts only
    (warned,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "_registry" in r.name]
    assert f"trial {trial_id} version 1 approved without its definition: " in warned


def test_a_trial_is_registered_approved_and_seeded_its_definition_kept(trial_network: TrialNetwork) -> None:
    net = trial_network
    registry = net.sponsor.trial_registry
    protocol = net.protocol()
    registered = registry.register(SPONSOR, protocol)
    trial_id = registered.trial_id
    assert (registered.current_version, registered.pending_version) == (0, 1)
    assert registered.title == protocol.title
    assert registered.sponsor == net.sponsor_address
    assert registered.sites == (net.site_a.address, net.site_b.address)
    assert registered.arms == ("Amlodipine 5 mg + olmesartan 20 mg once daily", "Amlodipine 10 mg once daily")
    assert registered.escrow == protocol.budget
    assert registry.definition(trial_id, 1) == protocol_document(protocol)

    with net.served():  # the board reads what it approves: fetched from the sponsor's node, checked, kept
        approved = net.board.trial_registry.approve(BOARD, trial_id)
    assert (approved.current_version, approved.pending_version) == (1, None)
    assert approved.versions[0].approved_by == net.board_address
    assert approved.title == protocol.title
    assert net.board.trial_registry.definition(trial_id, 1) == protocol_document(protocol)

    seeded = registry.commit_seed(SPONSOR, trial_id)
    assert seeded.seed_committed
    assert seeded.blinded
    with pytest.raises(Conflict, match="seed is committed already"):
        registry.commit_seed(SPONSOR, trial_id)
    seed_hash = net.sponsor.contracts.trials().trial(trial_id).seed_hash
    with net.sponsor.db.session() as session:  # kept sealed: the row holds no seed in the clear
        row = session.get(TrialSeed, (trial_id, seed_hash))
        assert row is not None
        sealed, sponsor = bytes(row.sealed), row.sponsor
    assert sponsor == net.sponsor_address
    unblinded = registry.unblind(SPONSOR, trial_id)  # nobody enrolled: the seed is revealed all the same
    seed = bytes.fromhex(unblinded.seed[2:])
    assert seed_commitment(seed) == net.board.contracts.trials().trial(trial_id).seed_hash
    assert seed not in sealed


def test_randomisation_before_the_seed_is_committed_is_refused(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial(seed=False)
    with pytest.raises(Conflict, match=f"trial {trial_id}'s seed is not committed yet: nothing is randomised"):
        net.sponsor.trial_registry.randomise(SPONSOR, trial_id)


def test_only_the_sponsor_commits_the_seed(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial(seed=False)
    with pytest.raises(AccessDenied, match=rf"\({net.board_address}\) is not trial {trial_id}'s sponsor"):
        net.board.trial_registry.commit_seed(BOARD, trial_id)
    assert net.sponsor.contracts.trials().trial(trial_id).seed_hash == bytes(32)


def test_an_amendment_keeps_what_the_chain_holds(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    changed = net.protocol(target=80, stipend=1)
    with pytest.raises(ValidationError, match="this one changes its target, stipend"):
        net.sponsor.trial_registry.amend(SPONSOR, trial_id, changed, reconsent=True)
    version = net.amend(trial_id)
    summary = net.site_a.trial_registry.show(trial_id)
    assert (version, summary.current_version, summary.latest_version) == (2, 2, 2)
    assert summary.versions[1].reconsent
    assert summary.reconsent_from == 2
    assert "version 2" in net.site_a.trial_registry.protocol(trial_id).consent_document


def test_a_document_that_is_no_version_of_the_trial_is_not_adopted(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    other = protocol_document(net.protocol(title="Another trial altogether"))
    with pytest.raises(ValidationError, match="protocol hash of no version"):
        net.site_a.trial_registry.adopt(trial_id, other)
    with pytest.raises(NotFound, match="holds no definition"):
        net.board.trial_registry.definition(trial_id, 1)


def test_randomisation_is_recomputed_from_the_revealed_seed_at_unblinding(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial(target=8)
    people = [(net.site_a, "female", 45), (net.site_a, "male", 70), (net.site_b, "female", 66)]
    people += [(net.site_b, "male", 30), (net.site_a, "female", 50)]
    for site, sex, age in people:
        site.trial_site.enrol(net.staff(site), trial_id, net.patient(site, sex=sex, age=age))
    registry = net.sponsor.trial_registry
    assert registry.randomise(SPONSOR, trial_id) == 5
    assert registry.randomise(SPONSOR, trial_id) == 0
    enrolment = {s.site: s.enrolled for s in registry.enrolment(trial_id)}
    assert enrolment == {net.site_a.address: 3, net.site_b.address: 2}

    unblinded = registry.unblind(SPONSOR, trial_id)
    trials = net.board.contracts.trials()  # anyone, from the chain alone
    state = trials.trial(trial_id)
    assert not state.blinded
    assert unblinded.seed == "0x" + state.seed.hex()
    enrolments = trials.enrolments(trial_id)
    arms = allocate(
        state.seed,
        trial_id,
        trials.ratios(trial_id),
        trials.block_multiples(trial_id),
        [(e.participant, e.stratum) for e in enrolments],
    )
    assert [(a.participant, a.index, a.stratum, a.arm) for a in unblinded.allocations] == [
        ("0x" + e.participant.hex(), e.index, e.stratum, arm) for e, arm in zip(enrolments, arms, strict=True)
    ]
    assert [a.stratum for a in unblinded.allocations] == [0, 3, 1, 2, 0]
    assert {a.arm_code for a in unblinded.allocations} <= {"combination", "monotherapy"}
    with pytest.raises(Conflict, match=f"trial {trial_id} is unblinded: its enrolment has ended"):
        net.site_a.trial_site.enrol(net.staff(net.site_a), trial_id, net.patient(net.site_a))


def test_the_forecast_reads_each_sites_enrolment_and_the_days_it_came(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial(target=40)
    for site in (net.site_a, net.site_a, net.site_b):
        site.trial_site.enrol(net.staff(site), trial_id, net.patient(site))
    today = datetime.now(UTC).date()
    view = net.sponsor.trial_registry.forecast(trial_id, today=today, deadline=today + timedelta(days=90))
    assert (view.target, view.enrolled, view.today) == (40, 3, today)
    assert view.history == ((today, 3),)
    assert {s.site: s.enrolled for s in view.sites} == {net.site_a.address: 2, net.site_b.address: 1}
    assert view.forecast.low <= view.forecast.median <= view.forecast.high
    assert isinstance(view.sites_to_add, int)
    assert view.to_json()["history"] == [{"day": today.isoformat(), "enrolled": 3}]
    registry = net.sponsor.trial_registry
    assert registry.forecast(trial_id, today=today).deadline_chance is None  # no deadline asked
    by_median = registry.forecast(trial_id, today=today, deadline=view.forecast.median)
    by_high = registry.forecast(trial_id, today=today, deadline=view.forecast.high)
    assert 0.45 <= (by_median.deadline_chance or 0) <= 0.6  # the same draws as the median's
    assert 0.94 <= (by_high.deadline_chance or 0) <= 0.96
    assert by_high.to_json()["deadline_chance"] == by_high.deadline_chance


def test_a_site_added_later_opens_when_it_was_added_not_at_registration(trial_network: TrialNetwork) -> None:
    net = trial_network
    trial_id = net.trial()
    trials = net.sponsor.contracts.trials()
    seeded = trials.site_openings(trial_id)
    assert seeded[net.site_a.address] == seeded[net.site_b.address]  # both named at registration, open at the seed
    seed_block = max(e.block for e in trials._trial_logs("SeedCommitted", trial_id))
    assert seeded[net.site_a.address] == seed_block

    net.sponsor.trial_registry.add_site(SPONSOR, trial_id, net.board.address)
    openings = trials.site_openings(trial_id)
    added = max(e.block for e in trials._trial_logs("SiteAdded", trial_id))
    assert openings == {**seeded, net.board.address: added}
    assert added > seed_block
    sites = {s.site: s for s in net.sponsor.trial_registry.enrolment(trial_id)}
    assert sites[net.board.address].enrolled == 0
    with pytest.raises(NotFound, match="no trial 999999"):
        trials.site_openings(999_999)


class _Sending:
    """The Trials contract as the sponsor's wallet sends to it, `intercept(name, real_method)` standing in for the
    methods it names: a transaction still pending, or a process that dies right after one is mined."""

    def __init__(self, real: Trials, intercept: dict[str, Callable[..., Any]]) -> None:
        self._real = real
        self._intercept = intercept

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._real, name)
        return (lambda *a, **k: self._intercept[name](found, *a, **k)) if name in self._intercept else found


class _Crash(Exception):
    """The process died here."""


def _sending(monkeypatch: pytest.MonkeyPatch, registry: Any, **intercept: Callable[..., Any]) -> None:
    real = registry._trials

    def trials(*, as_wallet: str | None = None) -> Any:
        return real() if as_wallet is None else _Sending(real(as_wallet=as_wallet), intercept)

    monkeypatch.setattr(registry, "_trials", trials)


def test_a_seed_sent_twice_keeps_the_one_the_chain_took(
    trial_network: TrialNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = trial_network
    trial_id = net.trial(seed=False)
    registry = net.sponsor.trial_registry
    pending: list[bytes] = []

    def timed_out(send: Callable[..., Any], trial: int, seed_hash: bytes) -> None:
        pending.append(seed_hash)  # sent, not mined yet: the operator sees a timeout
        raise TimeoutError("no receipt yet")

    def mined_late(send: Callable[..., Any], trial: int, seed_hash: bytes) -> None:
        send(trial, pending[0])  # the first transaction mines first: the second then reverts
        send(trial, seed_hash)

    _sending(monkeypatch, registry, commit_seed=timed_out)
    with pytest.raises(TimeoutError):
        registry.commit_seed(SPONSOR, trial_id)
    monkeypatch.undo()
    _sending(monkeypatch, registry, commit_seed=mined_late)
    with pytest.raises(Conflict, match="seed already committed"):
        registry.commit_seed(SPONSOR, trial_id)
    monkeypatch.undo()
    assert net.sponsor.contracts.trials().trial(trial_id).seed_hash == pending[0]
    net.site_a.trial_site.enrol(net.staff(net.site_a), trial_id, net.patient(net.site_a))
    assert registry.randomise(SPONSOR, trial_id) == 1
    unblinded = registry.unblind(SPONSOR, trial_id)
    assert seed_commitment(bytes.fromhex(unblinded.seed[2:])) == pending[0]


def test_a_definition_survives_a_crash_after_its_registration(
    trial_network: TrialNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = trial_network
    registry = net.sponsor.trial_registry

    def crash(send: Callable[..., Any], *args: Any) -> Any:
        send(*args)
        raise _Crash

    _sending(monkeypatch, registry, register_trial=crash)
    protocol = net.protocol(title="Registered, then the lights went out")
    with pytest.raises(_Crash):
        registry.register(SPONSOR, protocol)
    monkeypatch.undo()
    trial_id = net.sponsor.contracts.trials().trial_count()
    with net.sponsor.db.session() as session:
        assert session.get(TrialDefinition, (trial_id, 1)) is None  # the crash came before it was kept
    assert registry.show(trial_id).title == protocol.title  # from the draft kept before the transaction
    assert registry.definition(trial_id, 1) == protocol_document(protocol)
    net.board.trial_registry.approve(BOARD, trial_id)
    net.site_a.trial_registry.adopt(trial_id, registry.definition(trial_id, 1))
    assert net.site_a.trial_registry.protocol(trial_id).title == protocol.title
