"""The access policy as a table: one pure decision per read or write, from the facts it is given."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.access import (
    Accessor,
    consents_listed_for,
    coverage_patients,
    default_purpose,
    may_bill,
    may_read,
    may_see_consent,
    may_see_coverage,
    may_submit_as,
    may_write,
    readable_patients,
)
from careledger.consent import Purpose
from careledger.errors import AccessDenied
from careledger.identity import Role
from careledger.records import Category, StoredRecord

NODE, ALICE, BOB, CLINIC, DOCTOR = "0xnode", "0xalice", "0xbob", "0xclinic", "0xdoctor"
INSURER, RIVAL = "0xinsurer", "0xrival"
GENERAL, LABS, PSY = Category.GENERAL, Category.LABS, Category.MENTAL_HEALTH


@dataclass
class Facts:
    """Consents as (patient, grantee, category, purpose); open break-glass windows as (practitioner, patient)."""

    grants: set[tuple[str, str, Category, Purpose]] = field(default_factory=set)
    windows: set[tuple[str, str]] = field(default_factory=set)
    team: set[str] = field(default_factory=set)
    restricted: set[tuple[str, Category]] = field(default_factory=set)
    custodian: str = NODE
    payers: dict[tuple[str, str], str] = field(default_factory=dict)  # (patient, claim record) -> its payer
    plans: dict[str, str] = field(default_factory=dict)  # member -> her plan's insurer
    delegated: set[tuple[str, str, Category]] = field(default_factory=set)  # live (patient, delegate, category)
    insurers: frozenset[str] = frozenset({INSURER, RIVAL})  # whom the registry names an insurer
    asked: list[str] = field(default_factory=list)  # whose claims were worked out (`paid_by`)

    def care_team(self, actor: str) -> bool:
        return actor in self.team

    def care_team_restricted(self, patient: str, category: Category) -> bool:
        return (patient, category) in self.restricted

    def grant(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str | None:
        return "0x1" if (patient, grantee, category, purpose) in self.grants else None

    def emergency_open(self, practitioner: str, patient: str) -> bool:
        return (practitioner, patient) in self.windows

    def why_not(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str:
        return f"no consent to {category.value} for {purpose.value}"

    def grantors(self, grantee: str, purpose: Purpose) -> frozenset[str]:
        return frozenset(p for p, to, _, why in self.grants if (to, why) == (grantee, purpose))

    def is_insurer(self, actor: str) -> bool:
        return actor in self.insurers

    def payer(self, record: StoredRecord) -> str | None:
        self.asked.append(record.record_id)
        return self.payers.get((record.patient_address, record.record_id))

    def paid_by(self, insurer: str) -> frozenset[str]:
        self.asked.append(insurer)
        return frozenset(patient for (patient, _), payer in self.payers.items() if payer == insurer)

    def insurer(self, member: str) -> str | None:
        return self.plans.get(member)

    def represented(self, delegate: str) -> dict[str, frozenset[Category]]:
        found: dict[str, set[Category]] = {}
        for patient, to, category in self.delegated:
            if to == delegate:
                found.setdefault(patient, set()).add(category)
        return {patient: frozenset(categories) for patient, categories in found.items()}


def _version(category: Category, *, patient: str = ALICE, version: int = 1, author: str | None = None) -> StoredRecord:
    return StoredRecord(
        record_id="r1",
        version=version,
        resource_type="Condition",
        patient_id="p1",
        patient_address=patient,
        category=category,
        last_updated=datetime.now(UTC),
        deleted=False,
        cid=None,
        anchored_batch=None,
        author=author,
    )


@pytest.mark.parametrize(
    ("who", "category", "facts", "allowed"),
    [
        (Accessor(ALICE), PSY, Facts(), True),
        (Accessor(NODE), PSY, Facts(), True),
        (Accessor(CLINIC), LABS, Facts({(ALICE, CLINIC, LABS, Purpose.TREAT)}), True),
        (Accessor(CLINIC), LABS, Facts({(ALICE, CLINIC, LABS, Purpose.HPAYMT)}), False),
        (Accessor(CLINIC), GENERAL, Facts({(ALICE, CLINIC, LABS, Purpose.TREAT)}), False),
        (Accessor(BOB), PSY, Facts(), False),
        (Accessor(DOCTOR, Purpose.ETREAT), PSY, Facts(windows={(DOCTOR, ALICE)}), True),
        (Accessor(DOCTOR, Purpose.TREAT), PSY, Facts(windows={(DOCTOR, ALICE)}), False),
    ],
)
def test_who_may_read(who: Accessor, category: Category, facts: Facts, allowed: bool) -> None:
    decision = may_read(who, ALICE, category, facts)
    assert decision.allowed is allowed
    assert decision.break_glass is (allowed and who.purpose == Purpose.ETREAT)


def test_a_refused_read_says_why() -> None:
    assert may_read(Accessor(BOB), ALICE, LABS, Facts()).why == "no consent to labs for TREAT"


@pytest.mark.parametrize(
    ("who", "current", "new", "grants", "allowed", "why"),
    [
        (ALICE, None, _version(LABS), set(), True, "the patient's own record"),
        (NODE, None, _version(LABS), set(), True, "the custodian node"),
        (CLINIC, None, _version(LABS), {(LABS, Purpose.TREAT)}, True, "consent 0x1"),
        (CLINIC, None, _version(LABS), set(), False, "no consent from the patient to write labs records for TREAT"),
        (BOB, None, _version(LABS, patient=ALICE), set(), False, "no consent"),
        # An update needs the category the record has as well as the one it gets.
        (CLINIC, _version(PSY), _version(LABS, version=2), {(LABS, Purpose.TREAT)}, False, "mental-health"),
        # Out of a sensitive category: only the patient or the author, whatever the consents.
        (
            CLINIC,
            _version(PSY, author=DOCTOR),
            _version(GENERAL, version=2),
            {(PSY, Purpose.TREAT), (GENERAL, Purpose.TREAT)},
            False,
            "only the patient or its author may move it to general",
        ),
        (
            DOCTOR,
            _version(PSY, author=DOCTOR),
            _version(GENERAL, version=2),
            {(PSY, Purpose.TREAT), (GENERAL, Purpose.TREAT)},
            True,
            "consent 0x1",
        ),
        (ALICE, _version(PSY, author=DOCTOR), _version(GENERAL, version=2), set(), True, "the patient's own record"),
        # No version moves a record to another patient, not even the patient's own.
        (ALICE, _version(LABS, patient=BOB), _version(LABS, version=2), set(), False, "cannot move it"),
    ],
)
def test_who_may_write(
    who: str,
    current: StoredRecord | None,
    new: StoredRecord,
    grants: set[tuple[Category, Purpose]],
    allowed: bool,
    why: str,
) -> None:
    facts = Facts({(ALICE, who, category, purpose) for category, purpose in grants})
    decision = may_write(Accessor(who), current, new, facts)
    assert decision.allowed is allowed
    assert why in decision.why


def test_writing_needs_a_purpose_that_writes() -> None:
    facts = Facts({(ALICE, CLINIC, LABS, Purpose.HRESCH)})
    decision = may_write(Accessor(CLINIC, Purpose.HRESCH), None, _version(LABS), facts)
    assert not decision.allowed
    assert "writing needs the purpose TREAT or HOPERAT" in decision.why


@pytest.mark.parametrize(
    ("who", "category", "author", "allowed"),
    [
        (Accessor(DOCTOR), GENERAL, None, True),
        (Accessor(DOCTOR), LABS, None, True),
        (Accessor(DOCTOR, Purpose.HOPERAT), LABS, None, True),
        (Accessor(DOCTOR, Purpose.HRESCH), LABS, None, False),  # research is not treatment
        (Accessor(DOCTOR), PSY, CLINIC, False),  # a sensitive record someone else wrote
        (Accessor(DOCTOR), PSY, DOCTOR, True),  # one she wrote
        (Accessor(BOB), LABS, None, False),  # not on the care team
    ],
)
def test_the_care_team_reads_what_the_node_holds_but_sensitive_records_of_others(
    who: Accessor, category: Category, author: str | None, allowed: bool
) -> None:
    assert may_read(who, ALICE, category, Facts(team={DOCTOR}), author=author).allowed is allowed


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (None, _version(LABS), True),
        (None, _version(PSY), True),  # a new note: she is its author
        (_version(PSY, author=DOCTOR), _version(PSY, version=2), True),
        (_version(PSY, author=CLINIC), _version(PSY, version=2), False),
        (_version(LABS, author=CLINIC), _version(LABS, version=2), True),
    ],
)
def test_the_care_team_writes_and_changes_sensitive_records_only_as_their_author(
    current: StoredRecord | None, new: StoredRecord, allowed: bool
) -> None:
    assert may_write(Accessor(DOCTOR), current, new, Facts(team={DOCTOR})).allowed is allowed


def test_the_nodes_own_resources_are_read_by_anyone_signed_in_and_written_by_its_care_team() -> None:
    organisation = _version(GENERAL, patient=NODE)
    assert may_read(Accessor(BOB), NODE, GENERAL, Facts()).allowed
    assert may_write(Accessor(DOCTOR), None, organisation, Facts(team={DOCTOR})).allowed
    assert may_write(Accessor(NODE), None, organisation, Facts()).allowed
    refused = may_write(Accessor(BOB), None, organisation, Facts({(NODE, BOB, GENERAL, Purpose.TREAT)}))
    assert not refused.allowed
    assert "written by the node and its care team only" in refused.why


def test_a_patient_keeps_categories_from_the_care_team() -> None:
    facts = Facts(team={DOCTOR}, restricted={(ALICE, LABS)})
    refused = may_read(Accessor(DOCTOR), ALICE, LABS, facts)
    assert not refused.allowed
    assert refused.why == "the patient keeps labs records from the care team, and no consent names them"
    assert may_read(Accessor(DOCTOR), ALICE, GENERAL, facts).allowed
    assert not may_write(Accessor(DOCTOR), None, _version(LABS), facts).allowed
    # A consent she gives still counts, and so does break-glass.
    assert may_read(Accessor(DOCTOR), ALICE, LABS, Facts({(ALICE, DOCTOR, LABS, Purpose.TREAT)}, **_as(facts))).allowed
    emergency = Facts(windows={(DOCTOR, ALICE)}, **_as(facts))
    assert may_read(Accessor(DOCTOR, Purpose.ETREAT), ALICE, LABS, emergency).allowed


def _as(facts: Facts) -> dict[str, object]:
    return {"team": facts.team, "restricted": facts.restricted}


def test_a_research_consent_releases_records_only_de_identified() -> None:
    facts = Facts({(ALICE, CLINIC, LABS, Purpose.HRESCH)})
    raw = may_read(Accessor(CLINIC, Purpose.HRESCH), ALICE, LABS, facts)
    assert not raw.allowed
    assert "only de-identified" in raw.why
    assert may_read(Accessor(CLINIC, Purpose.HRESCH, deidentified=True), ALICE, LABS, facts).allowed
    assert not may_read(Accessor(BOB, Purpose.HRESCH, deidentified=True), ALICE, LABS, facts).allowed


_ACTORS = st.sampled_from([NODE, ALICE, BOB, CLINIC, DOCTOR])
_GRANTS = st.sets(st.tuples(_ACTORS, _ACTORS, st.sampled_from(list(Category)), st.sampled_from(list(Purpose))))


@given(
    accessor=st.builds(
        Accessor,
        _ACTORS,
        st.sampled_from(list(Purpose)),
        st.sampled_from([None, "collapsed"]),
        st.just(()),
        st.booleans(),
    ),
    patient=_ACTORS,
    category=st.sampled_from(list(Category)),
    grants=_GRANTS,
    team=st.sets(_ACTORS),
    windows=st.sets(st.tuples(_ACTORS, _ACTORS)),
    delegated=st.sets(st.tuples(_ACTORS, _ACTORS, st.sampled_from(list(Category)))),
)
def test_a_search_narrowed_to_the_readable_patients_loses_nothing_it_may_show(
    accessor: Accessor,
    patient: str,
    category: Category,
    grants: set[tuple[str, str, Category, Purpose]],
    team: set[str],
    windows: set[tuple[str, str]],
    delegated: set[tuple[str, str, Category]],
) -> None:
    facts = Facts(grants, windows, team, delegated=delegated)
    readable = readable_patients(accessor, facts)
    if may_read(accessor, patient, category, facts).allowed:
        assert readable is None or patient in readable


def test_a_stranger_is_narrowed_to_herself_and_the_node_and_a_grantee_to_her_grantors() -> None:
    assert readable_patients(Accessor(BOB), Facts()) == {BOB, NODE}
    facts = Facts({(ALICE, CLINIC, LABS, Purpose.TREAT)})
    assert readable_patients(Accessor(CLINIC), facts) == {CLINIC, NODE, ALICE}
    assert readable_patients(Accessor(CLINIC, Purpose.HPAYMT), facts) == {CLINIC, NODE}
    assert readable_patients(Accessor(DOCTOR), Facts(team={DOCTOR})) is None
    assert readable_patients(Accessor(NODE), Facts()) is None


def test_a_patient_sees_only_the_consents_she_is_a_party_to_and_staff_see_all() -> None:
    parties = (ALICE, CLINIC, ALICE)
    assert may_see_consent(ALICE, parties, patient_context=True).allowed
    assert may_see_consent(CLINIC, parties, patient_context=True).allowed
    refused = may_see_consent(BOB, parties, patient_context=True)
    assert (refused.allowed, refused.why) == (False, "a patient reads only their own consents")
    with pytest.raises(AccessDenied, match="only their own consents"):
        refused.require()
    assert may_see_consent(BOB, parties, patient_context=False).allowed  # the node's staff or systems
    assert consents_listed_for(ALICE, CLINIC, patient_context=True) == ALICE
    assert consents_listed_for(BOB, None, patient_context=False) is None


def test_a_session_submits_only_its_patient_s_own_signed_papers() -> None:
    assert may_submit_as(ALICE, ALICE, "a consent").allowed
    refused = may_submit_as(ALICE, BOB, "an accounting request")
    assert (refused.allowed, refused.why) == (
        False,
        "an accounting request submitted here must be the signed-in patient's own",
    )


def test_only_the_node_and_its_care_team_bill_as_the_node() -> None:
    facts = Facts(team={DOCTOR}, grants={(ALICE, CLINIC, GENERAL, Purpose.TREAT)})
    assert may_bill(Accessor(NODE), facts).allowed
    assert may_bill(Accessor(DOCTOR), facts).allowed
    refused = may_bill(Accessor(CLINIC), facts)  # a grantee reads her chart, but bills as itself elsewhere
    assert (refused.allowed, refused.why) == (False, "only the node and its care team bill as this node")


def test_a_claim_s_payer_reads_that_claim_s_records_for_payment_and_nothing_else() -> None:
    response = replace(_version(Category.BILLING), record_id="claim-1-response", resource_type="ClaimResponse")
    facts = Facts(payers={(ALICE, "claim-1-response"): INSURER})
    paying = Accessor(INSURER, Purpose.HPAYMT)
    allowed = may_read(paying, ALICE, Category.BILLING, facts, record=response)
    assert (allowed.allowed, allowed.why) == (True, "the payer of the claim (its plan's insurer on chain)")
    assert not may_read(Accessor(INSURER), ALICE, Category.BILLING, facts, record=response).allowed  # not TREAT
    assert not may_read(Accessor(RIVAL, Purpose.HPAYMT), ALICE, Category.BILLING, facts, record=response).allowed
    assert not may_read(paying, ALICE, Category.BILLING, facts).allowed  # her billing records, but no claim's
    named_alike = replace(response, resource_type="Account")  # not a claim's record, whatever its id
    assert not may_read(paying, ALICE, Category.BILLING, facts, record=named_alike).allowed
    assert readable_patients(paying, facts) == frozenset({INSURER, NODE, ALICE})
    assert readable_patients(Accessor(INSURER), facts) == frozenset({INSURER, NODE})
    assert default_purpose(Role.INSURER) == Purpose.HPAYMT  # what an insurer's request is for, unless it says
    assert default_purpose(Role.PRACTITIONER) == Purpose.TREAT


def test_a_payment_request_by_one_the_registry_names_no_insurer_is_no_payer_s() -> None:
    """Anyone may ask for payment: the policy, not the facts, decides that only an insurer's request counts as a
    payer's, so no one else's has the claims worked out or the chain asked on its account."""
    response = replace(_version(Category.BILLING), record_id="claim-1-response", resource_type="ClaimResponse")
    facts = Facts(payers={(ALICE, "claim-1-response"): CLINIC, (ALICE, "claim-1"): CLINIC})
    paying = Accessor(CLINIC, Purpose.HPAYMT)
    assert not may_read(paying, ALICE, Category.BILLING, facts, record=response).allowed
    assert readable_patients(paying, facts) == frozenset({CLINIC, NODE})
    assert not may_see_coverage(paying, ALICE, CLINIC, facts).allowed
    assert coverage_patients(paying, facts) == frozenset({CLINIC, NODE})
    assert facts.asked == []
    facts.insurers = frozenset({CLINIC})
    assert may_read(paying, ALICE, Category.BILLING, facts, record=response).allowed
    assert readable_patients(paying, facts) == frozenset({CLINIC, NODE, ALICE})
    assert may_see_coverage(paying, ALICE, CLINIC, facts).allowed


def test_coverage_is_seen_by_the_member_her_plan_s_insurer_and_her_care_team() -> None:
    facts = Facts(team={DOCTOR}, grants={(ALICE, CLINIC, Category.BILLING, Purpose.HPAYMT)})
    assert may_see_coverage(Accessor(ALICE), ALICE, INSURER, facts).allowed
    assert may_see_coverage(Accessor(NODE), ALICE, INSURER, facts).allowed
    # Its own enrolment of her is not enough: a claim this node submitted to its plan for her is.
    assert not may_see_coverage(Accessor(INSURER, Purpose.HPAYMT), ALICE, INSURER, facts).allowed
    assert coverage_patients(Accessor(INSURER, Purpose.HPAYMT), facts) == frozenset({INSURER, NODE})
    facts.payers[(ALICE, "claim-1")] = INSURER
    insurer = may_see_coverage(Accessor(INSURER, Purpose.HPAYMT), ALICE, INSURER, facts)
    assert insurer.why == "the plan's insurer, which this node claims from for her"
    assert coverage_patients(Accessor(INSURER, Purpose.HPAYMT), facts) == frozenset({ALICE, INSURER, NODE})
    assert may_see_coverage(Accessor(CLINIC, Purpose.HPAYMT), ALICE, INSURER, facts).allowed  # her consent
    for purpose in (Purpose.TREAT, Purpose.HPAYMT):
        assert may_see_coverage(Accessor(DOCTOR, purpose), ALICE, INSURER, facts).care_team
    assert not may_see_coverage(Accessor(INSURER), ALICE, INSURER, facts).allowed  # for payment only
    assert not may_see_coverage(Accessor(RIVAL, Purpose.HPAYMT), ALICE, INSURER, facts).allowed
    assert not may_see_coverage(Accessor(BOB), ALICE, INSURER, facts).allowed
    facts.restricted.add((ALICE, Category.BILLING))
    for purpose in (Purpose.TREAT, Purpose.HPAYMT):
        assert not may_see_coverage(Accessor(DOCTOR, purpose), ALICE, INSURER, facts).allowed
    assert coverage_patients(Accessor(RIVAL, Purpose.HPAYMT), facts) == frozenset({RIVAL, NODE})  # no one of hers
    assert coverage_patients(Accessor(DOCTOR, Purpose.HPAYMT), facts) is None  # the care team: anyone here
    assert coverage_patients(Accessor(BOB), facts) == frozenset({BOB, NODE})


def test_a_delegate_reads_for_the_patient_at_her_request_in_the_delegated_categories_only() -> None:
    facts = Facts(delegated={(ALICE, BOB, GENERAL), (ALICE, BOB, LABS)})
    proxy = Accessor(BOB, Purpose.PATRQT)
    allowed = may_read(proxy, ALICE, LABS, facts)
    assert (allowed.allowed, allowed.why) == (True, "a delegate of the patient (guardian or proxy), at her request")
    assert not may_read(proxy, ALICE, PSY, facts).allowed  # not delegated to her
    assert not may_read(Accessor(BOB), ALICE, LABS, facts).allowed  # as herself, for treatment: she treats no one
    assert not may_read(Accessor(CLINIC, Purpose.PATRQT), ALICE, LABS, facts).allowed  # not her delegate
    assert not may_read(proxy, CLINIC, LABS, facts).allowed  # not a patient who delegated to her
    assert not may_read(proxy, ALICE, LABS, Facts()).allowed  # the delegation expired or ended: nothing
    assert readable_patients(proxy, facts) == frozenset({BOB, NODE, ALICE})
    assert readable_patients(Accessor(BOB), facts) == frozenset({BOB, NODE})
    assert readable_patients(proxy, Facts()) == frozenset({BOB, NODE})
    assert default_purpose(Role.PATIENT, proxy=True) == Purpose.PATRQT  # a proxy's token asks at her request
    assert default_purpose(Role.PATIENT) == Purpose.TREAT
    for purpose in (Purpose.PATRQT, Purpose.TREAT):  # read only: she writes nothing of the patient's
        assert not may_write(Accessor(BOB, purpose), None, _version(GENERAL), facts).allowed
        assert not may_write(Accessor(BOB, purpose), _version(GENERAL), _version(GENERAL, version=2), facts).allowed
