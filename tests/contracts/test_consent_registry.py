"""ConsentRegistry.vy under titanoboa: grants, signed consents, delegation, break-glass."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.chain._consent_registry import ConsentTerms, action_typed_data, consent_typed_data
from careledger.crypto import PrivateKey, sign_typed_data
from tests.contracts.conftest import contract

TREAT, ETREAT, HPAYMT, HRESCH = 1, 2, 4, 16
GENERAL, LABS, MENTAL_HEALTH = 1 << 0, 1 << 2, 1 << 5
PRACTITIONER, PATIENT = 2, 3
DAY = 86_400
KEY = PrivateKey.generate().public_key.raw


@pytest.fixture
def consent(identity: Any, admin: Any) -> Any:
    with boa.env.prank(admin):
        return contract("ConsentRegistry").deploy(identity.address)


@pytest.fixture
def patient() -> LocalAccount:
    account: LocalAccount = Account.create()
    return account


def _now() -> int:
    return int(boa.env.evm.patch.timestamp)


def _address(name: str) -> Any:
    return boa.env.generate_address(name)


def _grant(consent: Any, patient: Any, grantee: Any, categories: int = LABS, purposes: int = TREAT, **when: int) -> int:
    not_before = when.get("not_before", 0)
    expiry = when.get("expiry", _now() + 30 * DAY)
    with boa.env.prank(patient):
        return int(consent.grant(patient, grantee, categories, purposes, not_before, expiry))


def _signed(
    consent: Any, signer: LocalAccount, terms: ConsentTerms, *, nonce: int = 0, deadline: int | None = None
) -> tuple[tuple[Any, ...], bytes]:
    deadline = _now() + DAY if deadline is None else deadline
    typed = consent_typed_data(
        terms, nonce=nonce, deadline=deadline, chain_id=boa.env.evm.patch.chain_id, contract=consent.address
    )
    arguments = (
        terms.patient,
        terms.grantee,
        terms.categories,
        terms.purposes,
        terms.not_before,
        terms.expiry,
        deadline,
    )
    return arguments, sign_typed_data(signer, typed)


def _terms(patient: Any, grantee: Any, categories: int = LABS, purposes: int = TREAT) -> ConsentTerms:
    return ConsentTerms(str(patient), str(grantee), categories, purposes, 0, _now() + 30 * DAY)


def test_a_grant_allows_its_category_and_purpose_only(consent: Any) -> None:
    patient, clinic = _address("patient"), _address("clinic")
    grant_id = _grant(consent, patient, clinic, LABS, TREAT)
    (event,) = consent.get_logs()
    assert grant_id & ~255 == consent.pair_base(patient, clinic)
    assert grant_id & 255 == 1
    assert type(event).__name__ == "ConsentGranted"
    assert (event.grant_id, event.patient, event.grantee, event.categories) == (grant_id, patient, clinic, LABS)
    assert consent.is_allowed(patient, clinic, LABS, TREAT)
    assert not consent.is_allowed(patient, clinic, GENERAL, TREAT)
    assert not consent.is_allowed(patient, clinic, MENTAL_HEALTH, TREAT)
    assert not consent.is_allowed(patient, clinic, LABS, HRESCH)
    assert not consent.is_allowed(patient, _address("other"), LABS, TREAT)
    assert not consent.is_allowed(patient, clinic, 0, TREAT)
    terms = consent.grant_terms(grant_id)
    assert (terms.categories, terms.purposes, terms.revoked) == (LABS, TREAT, False)


def test_a_sensitive_category_needs_a_grant_that_names_it(consent: Any) -> None:
    patient, clinic = _address("patient"), _address("clinic")
    _grant(consent, patient, clinic, GENERAL | LABS, TREAT)
    assert not consent.is_allowed(patient, clinic, MENTAL_HEALTH, TREAT)
    _grant(consent, patient, clinic, MENTAL_HEALTH, TREAT)
    assert consent.is_allowed(patient, clinic, MENTAL_HEALTH, TREAT)


def test_expired_not_yet_valid_and_revoked_grants_never_allow(consent: Any) -> None:
    patient, clinic = _address("patient"), _address("clinic")
    later = _grant(consent, patient, clinic, not_before=_now() + DAY, expiry=_now() + 2 * DAY)
    assert not consent.is_allowed(patient, clinic, LABS, TREAT)
    boa.env.time_travel(seconds=DAY)
    assert consent.is_allowed(patient, clinic, LABS, TREAT)
    boa.env.time_travel(seconds=DAY)
    assert not consent.is_allowed(patient, clinic, LABS, TREAT)
    current = _grant(consent, patient, clinic)
    assert consent.is_allowed(patient, clinic, LABS, TREAT)
    with boa.env.prank(patient):
        consent.revoke(patient, clinic, current)
    assert not consent.is_allowed(patient, clinic, LABS, TREAT)
    assert consent.grant_terms(current).revoked
    with boa.env.prank(patient), boa.reverts("consent: already revoked"):
        consent.revoke(patient, clinic, current)
    with boa.env.prank(patient), boa.reverts("consent: no such grant"):
        consent.revoke(patient, clinic, later + 5)


def test_only_the_patient_or_a_live_delegate_grants_or_revokes(consent: Any) -> None:
    patient, clinic, guardian, stranger = (_address(n) for n in ("patient", "clinic", "guardian", "stranger"))
    with boa.env.prank(stranger), boa.reverts("consent: not the patient or a live delegate"):
        consent.grant(patient, clinic, LABS, TREAT, 0, _now() + DAY)
    grant_id = _grant(consent, patient, clinic)
    with boa.env.prank(stranger), boa.reverts("consent: not the patient or a live delegate"):
        consent.revoke(patient, clinic, grant_id)
    with boa.env.prank(clinic), boa.reverts("consent: not the patient or a live delegate"):
        consent.revoke(patient, clinic, grant_id)
    with boa.env.prank(patient):
        consent.delegate(guardian, LABS | GENERAL, _now() + DAY)
    with boa.env.prank(guardian):
        consent.grant(patient, clinic, GENERAL, TREAT, 0, _now() + DAY)
        with boa.reverts("consent: not the patient or a live delegate"):  # outside the delegation's scope
            consent.grant(patient, clinic, MENTAL_HEALTH, TREAT, 0, _now() + DAY)
        consent.revoke(patient, clinic, grant_id)
    assert consent.delegation(patient, guardian) == (LABS | GENERAL, _now() + DAY)
    boa.env.time_travel(seconds=DAY)
    with boa.env.prank(guardian), boa.reverts("consent: not the patient or a live delegate"):
        consent.grant(patient, clinic, LABS, TREAT, 0, _now() + DAY)


def test_a_revoked_delegation_ends_at_once(consent: Any) -> None:
    patient, clinic, proxy = _address("patient"), _address("clinic"), _address("proxy")
    with boa.env.prank(patient):
        consent.delegate(proxy, LABS, _now() + DAY)
        consent.delegate(proxy, 0, 0)
    with boa.env.prank(proxy), boa.reverts("consent: not the patient or a live delegate"):
        consent.grant(patient, clinic, LABS, TREAT, 0, _now() + DAY)


def test_grants_are_checked_for_sense(consent: Any) -> None:
    patient, clinic = _address("patient"), _address("clinic")
    with boa.env.prank(patient):
        with boa.reverts("consent: invalid grantee"):
            consent.grant(patient, patient, LABS, TREAT, 0, _now() + DAY)
        with boa.reverts("consent: invalid categories"):
            consent.grant(patient, clinic, 0, TREAT, 0, _now() + DAY)
        with boa.reverts("consent: invalid categories"):
            consent.grant(patient, clinic, 1 << 10, TREAT, 0, _now() + DAY)
        with boa.reverts("consent: invalid purposes"):
            consent.grant(patient, clinic, LABS, 64, 0, _now() + DAY)
        with boa.reverts("consent: invalid period"):
            consent.grant(patient, clinic, LABS, TREAT, 0, _now())
        with boa.reverts("consent: invalid period"):
            consent.grant(patient, clinic, LABS, TREAT, _now() + 2 * DAY, _now() + DAY)


def test_a_signed_consent_is_submitted_by_anyone_once(consent: Any, patient: LocalAccount) -> None:
    clinic = _address("clinic")
    arguments, signature = _signed(consent, patient, _terms(patient.address, clinic))
    with boa.env.prank(clinic):
        grant_id = consent.grant_by_signature(*arguments, signature)
    (event,) = consent.get_logs()
    assert (event.grant_id, event.granted_by) == (grant_id, patient.address)
    assert consent.is_allowed(patient.address, clinic, LABS, TREAT)
    assert consent.nonces(patient.address) == 1
    with boa.env.prank(clinic), boa.reverts("consent: not the patient or a live delegate"):
        consent.grant_by_signature(*arguments, signature)  # replayed: the nonce moved on, the signer no longer matches


def test_a_signed_consent_past_its_deadline_is_refused(consent: Any, patient: LocalAccount) -> None:
    arguments, signature = _signed(consent, patient, _terms(patient.address, _address("clinic")), deadline=_now() + 60)
    boa.env.time_travel(seconds=61)
    with boa.reverts("consent: signature past its deadline"):
        consent.grant_by_signature(*arguments, signature)


def test_a_signed_consent_cannot_be_used_for_another_patient_or_other_terms(
    consent: Any, patient: LocalAccount
) -> None:
    clinic, victim = _address("clinic"), _address("victim")
    arguments, signature = _signed(consent, patient, _terms(patient.address, clinic))
    with boa.reverts("consent: not the patient or a live delegate"):
        consent.grant_by_signature(victim, *arguments[1:], signature)
    widened = (arguments[0], arguments[1], LABS | MENTAL_HEALTH, *arguments[3:])
    with boa.reverts("consent: not the patient or a live delegate"):
        consent.grant_by_signature(*widened, signature)
    assert not consent.is_allowed(victim, clinic, LABS, TREAT)


def test_a_signature_by_someone_else_is_refused(consent: Any, patient: LocalAccount) -> None:
    stranger: LocalAccount = Account.create()
    arguments, signature = _signed(consent, stranger, _terms(patient.address, _address("clinic")))
    with boa.reverts("consent: not the patient or a live delegate"):
        consent.grant_by_signature(*arguments, signature)
    with boa.reverts():
        consent.grant_by_signature(*arguments, b"\x01" * 65)


def test_a_delegate_may_sign_for_the_patient(consent: Any, patient: LocalAccount) -> None:
    guardian: LocalAccount = Account.create()
    clinic = _address("clinic")
    with boa.env.prank(patient.address):
        consent.delegate(guardian.address, LABS, _now() + DAY)
    arguments, signature = _signed(consent, guardian, _terms(patient.address, clinic))
    consent.grant_by_signature(*arguments, signature)
    assert consent.is_allowed(patient.address, clinic, LABS, TREAT)


def test_a_signed_consent_for_another_contract_or_chain_is_refused(consent: Any, patient: LocalAccount) -> None:
    terms = _terms(patient.address, _address("clinic"))
    deadline = _now() + DAY
    chain_id = boa.env.evm.patch.chain_id
    other_chain = consent_typed_data(terms, nonce=0, deadline=deadline, chain_id=chain_id + 1, contract=consent.address)
    other_contract = consent_typed_data(terms, nonce=0, deadline=deadline, chain_id=chain_id, contract=_address("x"))
    for elsewhere in (other_chain, other_contract):
        signature = sign_typed_data(patient, elsewhere)
        with boa.reverts("consent: not the patient or a live delegate"):
            consent.grant_by_signature(
                terms.patient, terms.grantee, terms.categories, terms.purposes, 0, terms.expiry, deadline, signature
            )


def _signed_action(consent: Any, signer: LocalAccount, kind: str, patient: Any, **fields: Any) -> bytes:
    typed = action_typed_data(
        kind,
        patient,
        fields,
        nonce=consent.nonces(patient),
        deadline=_now() + DAY,
        chain_id=boa.env.evm.patch.chain_id,
        contract=consent.address,
    )
    return sign_typed_data(signer, typed)


def _signed_revocation(consent: Any, signer: LocalAccount, patient: Any, grantee: Any, grant_id: int) -> bytes:
    return _signed_action(consent, signer, "Revocation", patient, grantee=grantee, grantId=grant_id)


def test_a_signed_revocation_is_submitted_by_anyone_once(consent: Any, patient: LocalAccount) -> None:
    clinic, node = _address("clinic"), _address("node")
    grant_id = _grant(consent, patient.address, clinic)
    signature = _signed_revocation(consent, patient, patient.address, clinic, grant_id)
    with boa.env.prank(node):  # the node pays the gas; the patient signed
        consent.revoke_by_signature(patient.address, clinic, grant_id, _now() + DAY, signature)
    event = consent.get_logs()[-1]
    assert (event.grant_id, event.revoked_by) == (grant_id, patient.address)
    assert not consent.is_allowed(patient.address, clinic, LABS, TREAT)
    assert consent.nonces(patient.address) == 1
    with boa.env.prank(node), boa.reverts():
        consent.revoke_by_signature(patient.address, clinic, grant_id, _now() + DAY, signature)  # replayed


def test_a_revocation_signed_by_someone_else_or_for_another_grant_is_refused(
    consent: Any, patient: LocalAccount
) -> None:
    clinic, lab = _address("clinic"), _address("lab")
    grant_id, other_id = _grant(consent, patient.address, clinic), _grant(consent, patient.address, lab)
    stranger: LocalAccount = Account.create()
    forged = _signed_revocation(consent, stranger, patient.address, clinic, grant_id)
    with boa.reverts("consent: not the patient or a live delegate"):
        consent.revoke_by_signature(patient.address, clinic, grant_id, _now() + DAY, forged)
    signature = _signed_revocation(consent, patient, patient.address, clinic, grant_id)
    with boa.reverts("consent: not the patient or a live delegate"):  # the signature names the clinic's grant
        consent.revoke_by_signature(patient.address, lab, other_id, _now() + DAY, signature)
    mismatched = _signed_revocation(consent, patient, patient.address, lab, grant_id)
    with boa.reverts("consent: grant is not of this patient and grantee"):
        consent.revoke_by_signature(patient.address, lab, grant_id, _now() + DAY, mismatched)
    with boa.reverts("consent: signature past its deadline"):
        consent.revoke_by_signature(patient.address, clinic, grant_id, _now() - 1, signature)
    assert consent.is_allowed(patient.address, clinic, LABS, TREAT)
    assert consent.is_allowed(patient.address, lab, LABS, TREAT)


def test_a_signed_care_team_restriction_is_submitted_by_anyone_once(consent: Any, patient: LocalAccount) -> None:
    node = _address("node")
    signature = _signed_action(
        consent, patient, "CareTeamRestriction", patient.address, custodian=node, categories=LABS
    )
    with boa.env.prank(node):
        consent.restrict_care_team_by_signature(patient.address, node, LABS, _now() + DAY, signature)
    assert consent.care_team_restrictions(patient.address, node) == LABS
    assert consent.nonces(patient.address) == 1
    with boa.reverts("consent: not the patient or a live delegate"):  # replayed: the nonce moved on
        consent.restrict_care_team_by_signature(patient.address, node, LABS, _now() + DAY, signature)
    stranger: LocalAccount = Account.create()
    lifted = _signed_action(consent, stranger, "CareTeamRestriction", patient.address, custodian=node, categories=0)
    with boa.reverts("consent: not the patient or a live delegate"):
        consent.restrict_care_team_by_signature(patient.address, node, 0, _now() + DAY, lifted)
    widened = _signed_action(consent, patient, "CareTeamRestriction", patient.address, custodian=node, categories=1)
    with boa.reverts("consent: not the patient or a live delegate"):  # signed for general, sent for labs
        consent.restrict_care_team_by_signature(patient.address, node, LABS, _now() + DAY, widened)
    assert consent.care_team_restrictions(patient.address, node) == LABS


def test_a_signed_emergency_access_setting_is_submitted_by_anyone_once(consent: Any, patient: LocalAccount) -> None:
    """A patient whose wallet holds no gas turns break-glass off: she signs, a node submits; the nonce is the one
    her consents and revocations spend, so no signature of hers is replayed across them."""
    node, clinic = _address("node"), _address("clinic")
    off = _signed_action(consent, patient, "EmergencyAccessSetting", patient.address, allowed=False)
    with boa.env.prank(node):
        with boa.reverts("consent: not the patient or a live delegate"):  # signed off, sent as on
            consent.set_emergency_access_by_signature(patient.address, True, _now() + DAY, off)
        with boa.reverts("consent: signature past its deadline"):
            consent.set_emergency_access_by_signature(patient.address, False, _now() - 1, off)
        consent.set_emergency_access_by_signature(patient.address, False, _now() + DAY, off)
    event = consent.get_logs()[-1]
    assert (type(event).__name__, event.patient, event.allowed) == ("EmergencyAccessSetting", patient.address, False)
    assert consent.emergency_access_disabled(patient.address)
    assert consent.nonces(patient.address) == 1
    with boa.reverts("consent: not the patient or a live delegate"):  # replayed: the nonce moved on
        consent.set_emergency_access_by_signature(patient.address, False, _now() + DAY, off)
    stranger: LocalAccount = Account.create()
    forged = _signed_action(consent, stranger, "EmergencyAccessSetting", patient.address, allowed=True)
    with boa.reverts("consent: not the patient or a live delegate"):
        consent.set_emergency_access_by_signature(patient.address, True, _now() + DAY, forged)
    with boa.env.prank(patient.address):
        consent.delegate(stranger.address, LABS, _now() + DAY)  # a delegate for labs only may not
    forged = _signed_action(consent, stranger, "EmergencyAccessSetting", patient.address, allowed=True)
    with boa.reverts("consent: not the patient or a live delegate"):
        consent.set_emergency_access_by_signature(patient.address, True, _now() + DAY, forged)
    assert consent.emergency_access_disabled(patient.address)
    grant_id = _grant(consent, patient.address, clinic)
    revocation = _signed_revocation(consent, patient, patient.address, clinic, grant_id)
    on = _signed_action(consent, patient, "EmergencyAccessSetting", patient.address, allowed=True)
    consent.revoke_by_signature(patient.address, clinic, grant_id, _now() + DAY, revocation)
    with boa.reverts("consent: not the patient or a live delegate"):  # signed with the nonce the revocation spent
        consent.set_emergency_access_by_signature(patient.address, True, _now() + DAY, on)
    on = _signed_action(consent, patient, "EmergencyAccessSetting", patient.address, allowed=True)
    consent.set_emergency_access_by_signature(patient.address, True, _now() + DAY, on)
    assert not consent.emergency_access_disabled(patient.address)


def test_break_glass_needs_a_licensed_practitioner(consent: Any, identity: Any, admin: Any) -> None:
    patient, doctor, nurse = _address("patient"), _address("doctor"), _address("nurse")
    for who in (doctor, nurse):
        with boa.env.prank(who):
            identity.register(PRACTITIONER, KEY, 1, "", bytes(32))
    with boa.env.prank(admin):
        identity.attest(doctor, keccak(b"medical-licence"), _now() + DAY, True)
    reason = keccak(b"salt|unconscious in the emergency department")
    with boa.env.prank(nurse), boa.reverts("consent: no valid medical licence"):
        consent.record_emergency_access(patient, reason)
    with boa.env.prank(patient), boa.reverts("consent: not a practitioner"):
        consent.record_emergency_access(patient, reason)
    with boa.env.prank(doctor):
        with boa.reverts("consent: a reason is required"):
            consent.record_emergency_access(patient, bytes(32))
        consent.record_emergency_access(patient, reason)
    (event,) = consent.get_logs()
    assert (type(event).__name__, event.patient, event.practitioner, event.reason_hash) == (
        "EmergencyAccess",
        patient,
        doctor,
        reason,
    )
    with boa.env.prank(patient):
        consent.set_emergency_access(patient, False)
    with boa.env.prank(doctor), boa.reverts("consent: the patient turned emergency access off"):
        consent.record_emergency_access(patient, reason)
    boa.env.time_travel(seconds=DAY)  # the licence expires
    with boa.env.prank(patient):
        consent.set_emergency_access(patient, True)
    with boa.env.prank(doctor), boa.reverts("consent: no valid medical licence"):
        consent.record_emergency_access(patient, reason)


# A grant: categories, purposes, start and length (seconds from now); then a time offset to check at.
_grants = st.lists(
    st.tuples(
        st.integers(1, 1023),
        st.integers(1, 63),
        st.integers(0, 3 * DAY),
        st.integers(1, 3 * DAY),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(grants=_grants, at=st.integers(0, 7 * DAY), category=st.integers(0, 9), purpose=st.integers(0, 5))
def test_is_allowed_is_exactly_some_live_grant_covering_the_request(
    consent: Any, grants: list[tuple[int, int, int, int, bool]], at: int, category: int, purpose: int
) -> None:
    patient, clinic = _address("patient"), _address("clinic")
    with boa.env.anchor():
        start = _now()
        live = []
        for categories, purposes, offset, length, revoked in grants:
            grant_id = _grant(
                consent,
                patient,
                clinic,
                categories,
                purposes,
                not_before=start + offset,
                expiry=start + offset + length,
            )
            if revoked:
                with boa.env.prank(patient):
                    consent.revoke(patient, clinic, grant_id)
            live.append((categories, purposes, start + offset, start + offset + length, revoked))
        boa.env.time_travel(seconds=at)
        now = _now()
        expected = any(
            not revoked and begin <= now < end and categories >> category & 1 and purposes >> purpose & 1
            for categories, purposes, begin, end, revoked in live
        )
        assert consent.is_allowed(patient, clinic, 1 << category, 1 << purpose) == expected


def test_the_patient_keeps_categories_from_a_nodes_care_team(consent: Any) -> None:
    patient, hospital, guardian, stranger = (_address(n) for n in ("patient", "hospital", "guardian", "stranger"))
    for who in (stranger, hospital):
        with boa.env.prank(who), boa.reverts("consent: not the patient or a live delegate"):
            consent.restrict_care_team(patient, hospital, LABS)
    with boa.env.prank(patient):
        consent.restrict_care_team(patient, hospital, LABS | MENTAL_HEALTH)
    (event,) = consent.get_logs()
    assert (type(event).__name__, event.patient, event.custodian, event.categories) == (
        "CareTeamRestricted",
        patient,
        hospital,
        LABS | MENTAL_HEALTH,
    )
    assert consent.care_team_restrictions(patient, hospital) == LABS | MENTAL_HEALTH
    with boa.env.prank(patient):
        consent.delegate(guardian, LABS, _now() + DAY)
    with boa.env.prank(guardian), boa.reverts("consent: not the patient or a live delegate"):
        consent.restrict_care_team(patient, hospital, 0)  # only a delegate for every category
    with boa.env.prank(patient):
        consent.restrict_care_team(patient, hospital, 0)
    assert consent.care_team_restrictions(patient, hospital) == 0


def test_the_custodian_then_the_claiming_wallet_grants_for_a_custodial_patient(
    consent: Any, identity: Any, admin: Any
) -> None:
    patient, wallet, lab = _address("walk-in"), _address("her wallet"), _address("lab")
    with boa.env.prank(admin):
        identity.register_custodial(patient, KEY, 1, bytes(32))
    with boa.env.prank(wallet), boa.reverts("consent: not the patient or a live delegate"):
        consent.grant(patient, lab, LABS, TREAT, 0, _now() + DAY)
    with boa.env.prank(admin):  # on her documented instruction: the event names the custodian
        consent.grant(patient, lab, LABS, TREAT, 0, _now() + DAY)
    assert consent.get_logs()[-1].granted_by == admin
    with boa.env.prank(admin):
        identity.claim_custodial(patient, wallet, KEY, 1)
    with boa.env.prank(admin), boa.reverts("consent: not the patient or a live delegate"):
        consent.grant(patient, lab, GENERAL, TREAT, 0, _now() + DAY)
    with boa.env.prank(wallet):
        consent.grant(patient, lab, GENERAL, TREAT, 0, _now() + DAY)
    assert consent.get_logs()[-1].granted_by == wallet
    assert consent.is_allowed(patient, lab, GENERAL, TREAT)
