"""Claiming: a walk-in patient takes her custodial identity over with her own wallet, and keeps it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from careledger.access import MAX_FAILURES, Accessor, CodeState, CodeStatus
from careledger.audit import Entry
from careledger.chain import Role
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.errors import AccessDenied, DecryptionError, NotFound, TooMany, TransactionReverted, ValidationError
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Category, StoredRecord
from careledger.testdata import PASSPHRASE, scratch_node, synthetic_patients
from tests.access.conftest import statements


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with scratch_node(
        Path(tmp_path_factory.mktemp("claiming")) / "home", Settings(chain="memory", light_kdf=True)
    ) as node:
        yield node


def _walk_in(node: Node, seed: int) -> tuple[str, str]:
    """A patient registered at the front desk (no wallet) with her chart; her identity and her Patient id."""
    generated = synthetic_patients(1, seed=seed)[0]
    front_desk = Accessor(node.address)
    patient = node.access.for_caller(front_desk).write(
        {k: v for k, v in generated.patient.items() if k != "identifier"}
    )
    for resource in generated.resources:  # they name the Patient by its id, which it keeps
        if resource is not generated.patient:
            node.access.for_caller(front_desk).write(resource)
    return patient.patient_address, patient.record_id


def _wallet(node: Node, name: str) -> Wallet:
    return node.wallets.create(name, Role.PATIENT, PASSPHRASE)


def _versions(node: Node, patient: str) -> list[StoredRecord]:
    return [v for s in node._records.list(patient_address=patient) for v in node._records.history(s.record_id)]


def _opens_all(node: Node, patient: str, wallet: Wallet) -> bool:
    key = node.unlock(wallet.name).encryption_key()
    try:
        for version in _versions(node, patient):
            if not version.deleted:
                node._records.decrypt(version, key)
    except DecryptionError:
        return False
    return True


def _newest(node: Node, patient: str) -> Entry:
    return node.audit.entries(patient=patient)[-1]


WRONG = "claim refused: wrong claim code for this Patient: check the code and the Patient id"


def test_wrong_expired_and_reused_codes_are_refused_audited_and_change_nothing(node: Node) -> None:
    patient, record_id = _walk_in(node, 1)
    dana = _wallet(node, "dana")
    with pytest.raises(AccessDenied, match=WRONG):
        node.claiming.claim(patient, "AAAA-BBBB-CCCC", dana.address, dana.encryption_key)
    assert _newest(node, patient).access.detail == f"no claim code was issued for {patient}"
    expired = node.claiming.issue(patient, days=1)
    with pytest.MonkeyPatch.context() as later:
        later.setattr(node.claiming, "_clock", lambda: expired.expires_at + 1)
        with pytest.raises(AccessDenied, match="expired"):
            node.claiming.claim(patient, expired.code, dana.address, dana.encryption_key)
    issued = node.claiming.issue(patient)
    with pytest.raises(AccessDenied, match=WRONG):
        node.claiming.claim(patient, "0000-0000-0000", dana.address, dana.encryption_key)
    refusal = _newest(node, patient).access
    assert (refusal.interaction, refusal.allowed, refusal.agent) == ("claim", False, dana.address)
    assert refusal.detail == f"wrong claim code ({MAX_FAILURES - 1} tries left)"  # for the desk, not for her
    assert node.custodial.holds(patient)
    assert node.contracts.identity_registry().custodian_of(patient) == node.address
    assert node.contracts.identity_registry().claimed_by(patient) is None

    # The right code, typed as people type it, claims the identity; her wallet must say its key.
    typed = issued.code.lower().replace("-", " ")
    with pytest.raises(ValidationError, match="encryption key"):
        node.claiming.claim(patient, typed, dana.address)
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        dana.address, Role.PATIENT, dana.encryption_key
    )
    claimed = node.claiming.claim(node.claiming.patient_of(f"Patient/{record_id}"), typed, dana.address)
    assert claimed.resealed == len(_versions(node, patient)) > 1
    assert (_newest(node, patient).access.interaction, _newest(node, patient).access.allowed) == ("claim", True)
    registry = node.contracts.identity_registry()
    assert (registry.claimed_by(patient), registry.identity_of(dana.address), registry.custodian_of(patient)) == (
        dana.address,
        patient,
        None,
    )
    assert not node.custodial.holds(patient)
    with pytest.raises(NotFound):
        node.custodial.account(patient)
    assert _opens_all(node, patient, dana)

    # Used once: refused after, and her identity is not handed to anyone else.
    mallory = _wallet(node, "mallory-claims")
    with pytest.raises(AccessDenied, match="used already"):
        node.claiming.claim(patient, issued.code, mallory.address, mallory.encryption_key)
    assert _newest(node, patient).access.agent == mallory.address
    assert registry.claimed_by(patient) == dana.address
    with pytest.raises(NotFound, match="not a custodial identity"):
        node.claiming.issue(patient)


def _told_and_audited(node: Node, record: str, code: str, wallet: Wallet) -> tuple[str, str | None]:
    """What a refused claim of the Patient `record` names tells the claimant, and what the audit log keeps."""
    with pytest.raises(AccessDenied) as refused:
        node.claiming.claim_record(record, code, wallet.address, wallet.encryption_key)
    return str(refused.value), node.audit.entries(agent=wallet.address)[-1].access.detail


def test_a_code_that_does_not_claim_the_patient_is_told_the_same_whatever_the_reason(node: Node) -> None:
    """Unknown id, not a Patient, no code issued, a wrong code for a live, expired or used one: one answer, so
    a stranger learns neither that an id exists nor that a code is out; the audit log keeps each reason."""
    stranger, owner = _wallet(node, "stranger"), _wallet(node, "owner")
    (none, none_id), (live, live_id), (expired, expired_id), (used, used_id) = (
        _walk_in(node, s) for s in (11, 12, 13, 14)
    )
    observation = next(s.record_id for s in node._records.list(patient_address=none) if s.resource_type != "Patient")
    node.claiming.issue(live)
    old = node.claiming.issue(expired, days=1)
    node.claiming.claim(used, node.claiming.issue(used).code, owner.address, owner.encryption_key)
    answers = {}
    with pytest.MonkeyPatch.context() as later:
        later.setattr(node.claiming, "_clock", lambda: old.expires_at + 1)
        for why, record in (
            ("no Patient/no-such-patient on this node", "no-such-patient"),
            (f"no Patient/{observation} on this node", f"Patient/{observation}"),
            (f"no claim code was issued for Patient/{none_id}", none_id),
            (f"wrong claim code ({MAX_FAILURES - 1} tries left)", live_id),
            ("wrong claim code (the code is expired)", expired_id),
            ("wrong claim code (the code is used)", used_id),
        ):
            told, audited = _told_and_audited(node, record, "0000-0000-0000", stranger)
            assert audited == why
            answers[record] = told
        assert set(answers.values()) == {f"{WRONG}; the front desk issues a new code if yours is lost"}
        # Only the right code hears where it stands.
        assert "expired at" in _told_and_audited(node, expired_id, old.code, stranger)[0]
    assert node.claiming.status(live).failures == 1
    assert node.claiming.status(expired).failures == 0  # a code no longer live counts no more tries


def test_a_wrong_code_costs_the_same_database_work_whether_the_id_has_a_live_code_or_is_no_one(node: Node) -> None:
    """A wrong try against a live code counts it and commits; one for an id that names no Patient, one without a
    code, or one whose code is used counts against a stand-in row instead: the same statements, the same commits,
    so the time of the answer does not tell that a code is out."""
    (live, live_id), (_, none_id), (used, used_id) = (_walk_in(node, s) for s in (16, 17, 18))
    node.claiming.issue(live)
    owner, lou = _wallet(node, "used-owner"), _wallet(node, "lou-probes")
    node.claiming.claim(used, node.claiming.issue(used).code, owner.address, owner.encryption_key)
    work = {}
    for record in ("warming-the-audit-head", live_id, "no-such-patient-at-all", none_id, used_id):
        with statements(node) as ran, pytest.raises(AccessDenied, match=WRONG):
            node.claiming.claim_record(record, "0000-0000-0000", lou.address, lou.encryption_key)
        work[record] = [statement.sql for statement in ran]
    assert node.claiming.status(live).failures == 1
    assert any(sql.startswith("UPDATE claim_codes SET failures") for sql in work[live_id])
    assert work[live_id].count("COMMIT") >= 2  # the counted try, and the refusal's audit entry
    assert work["no-such-patient-at-all"] == work[none_id] == work[used_id] == work[live_id]


def test_an_id_that_is_no_patient_is_throttled_as_one_with_a_live_code(node: Node) -> None:
    patient, record_id = _walk_in(node, 15)
    node.claiming.issue(patient)
    kim = _wallet(node, "kim-probes")

    def throttled_after(record: str, network: int) -> tuple[int, str]:
        for tries in range(MAX_FAILURES):  # each from an address of its own: the id's bound, not an address's
            try:
                node.claiming.claim_record(
                    record, "0000-0000-0000", kim.address, kim.encryption_key, client=f"198.18.{network}.{tries}"
                )
            except TooMany as exc:
                return tries, str(exc)
            except AccessDenied:
                continue
        raise AssertionError("never throttled")

    assert throttled_after(record_id, 1) == throttled_after("no-such-patient-here", 2)


def _wrong(node: Node, patient: str, wallet: Wallet, client: str | None = None) -> None:
    node.claiming.claim(patient, "0000-0000-0000", wallet.address, wallet.encryption_key, client=client)


def _refusals(node: Node, patient: str, wallet: Wallet, clients: list[str]) -> list[str]:
    """A wrong code from each client in turn, until one is throttled; each refusal's kind and message."""
    found = []
    for client in clients:
        try:
            _wrong(node, patient, wallet, client)
        except TooMany as exc:
            return [*found, f"429 {exc}"]
        except AccessDenied as exc:
            found.append(f"403 {exc}")
    return found


def _tries_until_throttled(node: Node, patient: str, wallet: Wallet, client: str) -> int:
    """Wrong codes from `client` until one is answered 429 for the address; how many were refused before."""
    *refused, throttled = _refusals(node, patient, wallet, [client] * MAX_FAILURES)
    assert throttled.startswith("429 too many refused claims from your network address"), throttled
    assert all(r.startswith("403 claim refused: wrong claim code") for r in refused)
    return len(refused)


def test_one_address_that_keeps_failing_is_throttled_before_it_burns_a_code(node: Node) -> None:
    (patient, _), (other, _) = _walk_in(node, 2), _walk_in(node, 10)
    issued, _ = node.claiming.issue(patient), node.claiming.issue(other)
    eve, jo = _wallet(node, "eve"), _wallet(node, "jo")
    tries = _tries_until_throttled(node, patient, eve, "198.51.100.7")
    assert 0 < tries < MAX_FAILURES
    with pytest.raises(TooMany) as throttled:  # the address, not the code: even the right one waits
        node.claiming.claim(patient, issued.code, eve.address, eve.encryption_key, client="198.51.100.7")
    assert throttled.value.retry_after > 60
    with pytest.raises(TooMany, match="network address"):  # nor on anyone else's code
        _wrong(node, other, eve, "198.51.100.7")
    # An IPv6 host holds its whole /64: hopping within it is one address.
    assert _tries_until_throttled(node, other, eve, "2001:db8:5::1") == tries
    with pytest.raises(TooMany, match="network address"):
        _wrong(node, other, eve, "2001:db8:5::ffff:2")
    status = node.claiming.status(patient)
    assert (status.state, status.failures) == (CodeState.LIVE, tries)
    # Her own address was never refused: she claims with her code.
    claimed = node.claiming.claim(patient, issued.code, jo.address, jo.encryption_key, client="203.0.113.9")
    assert claimed.wallet == jo.address
    assert node.claiming.status(patient).state == CodeState.USED


def test_a_code_takes_few_wrong_tries_at_once_from_any_number_of_addresses(node: Node) -> None:
    patient, _ = _walk_in(node, 8)
    issued = node.claiming.issue(patient)
    kim = _wallet(node, "kim")
    *refused, throttled = _refusals(node, patient, kim, [f"192.0.2.{host}" for host in range(1, MAX_FAILURES + 1)])
    assert throttled.startswith("429 too many wrong tries of this claim code just now"), throttled
    assert 0 < len(refused) < MAX_FAILURES  # each from an address of its own, never throttled
    assert node.claiming.status(patient).failures == len(refused)  # a throttled try does not count against it
    with pytest.raises(TooMany, match="this claim code"):  # a wrong code waits, from a fresh address too
        _wrong(node, patient, kim, "192.0.2.98")
    # The right one does not: the code's pacing is of wrong tries, so whoever knows her id cannot hold her off.
    assert node.claiming.claim(patient, issued.code, kim.address, kim.encryption_key, client="192.0.2.99")


def _refused_once(node: Node, patient: str, wallet: Wallet, client: str) -> None:
    with pytest.raises(AccessDenied, match="wrong claim code"):
        _wrong(node, patient, wallet, client)


def test_a_burnt_code_tells_the_patient_to_ask_the_desk_and_tells_the_desk(node: Node) -> None:
    patient, _ = _walk_in(node, 9)
    issued = node.claiming.issue(patient)
    eve = _wallet(node, "eve-burns")
    start = node.claiming._clock()
    with pytest.MonkeyPatch.context() as later:
        for tries in range(1, MAX_FAILURES + 1):  # slowly enough that no limit stops her
            later.setattr(node.claiming, "_clock", lambda tries=tries: start + tries * 3600)
            if tries < MAX_FAILURES:
                _refused_once(node, patient, eve, f"192.0.2.{tries}")
        with pytest.raises(AccessDenied, match=WRONG):  # the try that burns it is told as any wrong code is
            _wrong(node, patient, eve, "192.0.2.200")
        assert "the last try: the code is burnt" in (_newest(node, patient).access.detail or "")
        burnt = [e.access for e in node.audit.entries(patient=patient) if e.access.interaction == "claim-code-burnt"]
        assert len(burnt) == 1
        assert (burnt[0].agent, burnt[0].allowed) == (node.address, True)
        assert f"{MAX_FAILURES} wrong tries, the last by {eve.address}" in (burnt[0].detail or "")
        status = node.claiming.status(patient)
        assert (status.state, status.failures, status.custodial) == (CodeState.BURNT, MAX_FAILURES, True)
        with pytest.raises(AccessDenied, match=f"no longer valid after {MAX_FAILURES} wrong tries: ask the front desk"):
            node.claiming.claim(patient, issued.code, eve.address, eve.encryption_key)  # even the right one
        fresh = node.claiming.issue(patient)  # the front desk issues a new one
        assert node.claiming.status(patient).state == CodeState.LIVE
        assert node.claiming.claim(patient, fresh.code, eve.address, eve.encryption_key).wallet == eve.address
    assert node.claiming.status(patient) == CodeStatus(patient, CodeState.USED, False, 0, fresh.expires_at, eve.address)


def test_a_claim_interrupted_after_the_chain_finishes_with_the_same_code(node: Node) -> None:
    patient, _ = _walk_in(node, 3)
    fay = _wallet(node, "fay")
    issued = node.claiming.issue(patient)
    # As if the node crashed after the chain transaction: nothing local was done.
    node.contracts.identity_registry(as_wallet=NODE_WALLET).claim_custodial(patient, fay.address, fay.encryption_key)
    assert node.custodial.holds(patient)
    claimed = node.claiming.claim(patient, issued.code, fay.address)
    assert claimed.resealed > 0
    assert not node.custodial.holds(patient)
    assert _opens_all(node, patient, fay)


def test_the_node_grants_for_a_custodial_patient_until_she_claims_then_only_she_does(node: Node) -> None:
    patient, _ = _walk_in(node, 4)
    gus, lab = _wallet(node, "gus"), _wallet(node, "lab-4")
    terms = node.consent.terms(patient, lab.address, [Category.LABS], [Purpose.TREAT], days=1)
    before = node.consent.grant(NODE_WALLET, terms)
    assert before.granted_by == node.address  # on chain: made by the custodian
    node.claiming.claim(patient, node.claiming.issue(patient).code, gus.address, gus.encryption_key)
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        node.consent.grant(NODE_WALLET, terms)
    mine = node.consent.grant("gus", terms)
    assert mine.granted_by == gus.address


def test_she_rotates_to_a_new_wallet_or_her_guardians_recover_it(node: Node) -> None:
    patient, _ = _walk_in(node, 5)
    old, new, newest = _wallet(node, "hal-old"), _wallet(node, "hal-new"), _wallet(node, "hal-newest")
    node.claiming.claim(patient, node.claiming.issue(patient).code, old.address, old.encryption_key)

    # With her old wallet's signature.
    node.contracts.identity_registry(as_wallet=old.name).rotate_owner(patient, new.address)
    with pytest.raises(AccessDenied, match="does not hold"):
        node.claiming.take_over(old.name, patient, old.encryption_key)
    assert node.claiming.take_over(new.name, patient, new.encryption_key) > 0
    assert _opens_all(node, patient, new)
    assert not _opens_all(node, patient, old)

    # Having lost it: two of her three guardians hand the identity to another wallet.
    guardians = [_wallet(node, f"hal-guardian-{i}") for i in range(3)]
    node.contracts.identity_registry(as_wallet=new.name).set_guardians(patient, [g.address for g in guardians], 2)
    assert node.contracts.identity_registry(as_wallet=guardians[0].name).approve_recovery(patient, newest.address) == 1
    assert node.contracts.identity_registry(as_wallet=guardians[2].name).approve_recovery(patient, newest.address) == 2
    assert node.contracts.identity_registry().claimed_by(patient) == newest.address
    node.claiming.take_over(newest.name, patient, newest.encryption_key)
    assert _opens_all(node, patient, newest)
    assert not _opens_all(node, patient, new)
    assert _newest(node, patient).access.interaction == "reseal"


def test_a_claim_cut_short_after_its_commit_leaves_no_key_once_the_node_opens_again(node: Node) -> None:
    patient, _ = _walk_in(node, 6)
    ida = _wallet(node, "ida")
    sealed_key = (node.custodial.directory / f"{patient}.key").read_bytes()
    node.claiming.claim(patient, node.claiming.issue(patient).code, ida.address, ida.encryption_key)
    (node.custodial.directory / f"{patient}.key").write_bytes(sealed_key)  # as if it crashed before the delete
    assert node.custodial.holds(patient)
    assert node.claiming.forget_claimed() == 1
    assert not node.custodial.holds(patient)
    assert node.claiming.forget_claimed() == 0
