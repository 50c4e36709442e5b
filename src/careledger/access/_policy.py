"""The access policy: whether one caller may read or write one patient's records of one category, and who
sees which consent and whose signed papers a session may submit.

Pure decisions. They ask `Facts` what they need (is there a live consent, is a break-glass
window open; answered by `_facts.py`) and do nothing else: no audit, no chain transaction, no
database write. Each caller's guarded repository (`_repository.py`) calls `may_read` and
`may_write` on every path (read, vread, history, search, `$everything`, create, update, delete,
each Bundle entry; a patient's export of her own records is hers by rule 1) and audits what they
decide.

Who may read a record, in order:
1. the patient it belongs to;
2. the custodian node itself (it wrote the record and holds a key to it);
3. a grantee with a live consent naming the record's category and the purpose of use
   (sensitive categories only by a consent that names them, which the bitmask ensures);
4. the custodian's care team (actors the node attested an `affiliation` to), for TREAT
   and HOPERAT, as a hospital's clinicians read its charts: any category that is not
   sensitive, and sensitive records they wrote themselves; not the categories the patient
   keeps from that node's care team (on chain, `restrict_care_team`);
5. a practitioner with an open break-glass window (purpose ETREAT);
6. the payer of a claim, for HPAYMT: the insurer (so named by the IdentityRegistry) whose plan the claim was
   submitted to (on chain) reads that claim's Claim, ClaimResponse and ExplanationOfBenefit, and nothing else of
   the patient's;
7. a live delegate of the patient (a guardian, a proxy she named on chain, unexpired), for PATRQT (the
   patient's own request, made for her), in the categories delegated: read only, as a patient portal's proxy
   access is (PATRQT is no writing purpose, so a delegate writes nothing of hers).
The node's own resources (types outside FHIR's Patient compartment: Organization,
Practitioner, Location, Medication, …) are read by every signed-in actor and written by
the node and its care team.

Who may write one (create, update, delete), for TREAT or HOPERAT unless it is the patient
or the node: the patient, the custodian node, a grantee whose consent names the category,
or the care team (a sensitive record only as a new one, or as its author). An update or
delete must be allowed for the category the record has now as well as the one it gets,
and a sensitive record moves to another category only by the patient or its author.

Who may message whom (`may_message`, asked besides `may_write` of every Communication): the sender a message
names is its writer; a patient writes to the custodian's care team, to practitioners she has a visit with (booked
through the scheduling) and to those she consents to for treatment, and to no one else; anyone else writes to her
under the rules above. A message another node delivers is judged by the same rule with this node's facts.

Who may see a patient's coverage (the Coverage view of her enrolment on chain, an eligibility answer): the
plan's insurer for HPAYMT once this node submitted a claim of hers to it (its own enrolment of her is not
enough), whoever may read her billing records (`may_read`: her HPAYMT consent to an insurer, say), and the care
team billing for HPAYMT unless she keeps billing records from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from careledger.consent import Purpose
from careledger.errors import AccessDenied
from careledger.identity import Role
from careledger.records import Category, Resource, StoredRecord

WRITE_PURPOSES = frozenset({Purpose.TREAT, Purpose.HOPERAT})
CARE_TEAM_PURPOSES = WRITE_PURPOSES  # treatment and operations: HIPAA's, and GDPR Art. 9(2)(h)
CARE_TEAM = "the custodian's care team"
NODES_OWN = "the node's own resources (outside any patient's compartment)"
RESEARCH_ONLY_DEIDENTIFIED = "records leave for research (HRESCH) only de-identified, in a study's release"
PAYER = "the payer of the claim (its plan's insurer on chain)"
DELEGATE = "a delegate of the patient (guardian or proxy), at her request"
# The records of one claim: what its payer reads of the patient's.
CLAIM_TYPES = frozenset({"Claim", "ClaimResponse", "ExplanationOfBenefit"})


# A search a record must match (parameter, value pairs, AND-ed), and a type's alternatives (OR-ed).
Query = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Accessor:
    """Who asks, and why: the purpose of use, and for break-glass a reason.

    `narrowing` is what a token's SMART v2 scopes narrow it to: per resource type (or `*`),
    searches of which a record must match one (`patient/Observation.rs?category=laboratory`);
    a type it does not name is not narrowed.

    `deidentified` says the records are de-identified before they leave (a study's release,
    `careledger.research`): the only way a research consent lets anyone have them.

    `compartment`, for a token that acts for one patient (a delegate chose her at a SMART launch): the patient
    whose compartment it reaches; the door tells any other patient's record as an unknown id (`_compartment`).
    """

    address: str
    purpose: Purpose = Purpose.TREAT
    reason: str | None = None
    narrowing: tuple[tuple[str, tuple[Query, ...]], ...] = ()
    deidentified: bool = False
    compartment: str | None = None

    def narrowed(self, resource_type: str) -> tuple[Query, ...] | None:
        """The searches a record of `resource_type` must match one of, if the accessor is narrowed there."""
        for kind, queries in self.narrowing:
            if kind in (resource_type, "*"):
                return queries
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    why: str
    break_glass: bool = False
    care_team: bool = False  # allowed as the custodian's care team: the accounting says so

    def require(self) -> None:
        """Raise the refusal as `AccessDenied` if this decision refuses (for callers that refuse outright)."""
        if not self.allowed:
            raise AccessDenied(self.why)


class Facts(Protocol):
    """What the policy may ask; `_facts.PolicyFacts` answers from the consent index, the chain and the database."""

    @property
    def custodian(self) -> str:
        """The address of the node the records are kept on."""

    def grant(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str | None:
        """The id of a live consent that covers this, if there is one."""

    def emergency_open(self, practitioner: str, patient: str) -> bool:
        """Whether `practitioner` holds an open break-glass window for `patient`."""

    def care_team(self, actor: str) -> bool:
        """Whether the custodian node has attested `actor` a live `affiliation`."""

    def care_team_restricted(self, patient: str, category: Category) -> bool:
        """Whether `patient` keeps `category` from this node's care team (on chain)."""

    def why_not(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str:
        """Why no consent allows this (revoked, expired, not yet valid, or none)."""

    def represented(self, delegate: str) -> Mapping[str, frozenset[Category]]:
        """The patients `delegate` is a live delegate of, each with the categories delegated to her (on chain)."""

    def grantors(self, grantee: str, purpose: Purpose) -> frozenset[str]:
        """The patients with a live consent to `grantee` for `purpose`, of any category."""

    def is_insurer(self, actor: str) -> bool:
        """Whether the IdentityRegistry names `actor` an insurer."""

    def payer(self, record: StoredRecord) -> str | None:
        """The insurer whose plan the claim `record` is (or answers) was submitted to, on chain; None if none."""

    def paid_by(self, insurer: str) -> frozenset[str]:
        """The patients with a claim here that was submitted to a plan of `insurer`."""

    def insurer(self, member: str) -> str | None:
        """The insurer of `member`'s plan (her enrolment on chain); None if she is not enrolled."""


def default_purpose(role: Role, *, proxy: bool = False) -> Purpose:
    """The purpose of use of a request that declares none: the patient's own request for a proxy (a token that
    acts for a patient who delegated to its user: rule 7), payment for an insurer, which treats no one (rule 6
    is how it reads anything), treatment for everyone else."""
    if proxy:
        return Purpose.PATRQT
    return Purpose.HPAYMT if role == Role.INSURER else Purpose.TREAT


def may_read(
    accessor: Accessor,
    patient: str,
    category: Category,
    facts: Facts,
    *,
    author: str | None = None,
    record: StoredRecord | None = None,
) -> Decision:
    """May `accessor` see `patient`'s records of `category` (written by `author`) for its purpose? `record`, the
    version asked for when there is one, lets a claim's payer read that claim's records (rule 6)."""
    if accessor.address == patient:
        return Decision(True, "the patient's own record")
    if accessor.address == facts.custodian:
        return Decision(True, "the custodian node")
    if patient == facts.custodian:
        return Decision(True, NODES_OWN)
    if accessor.purpose == Purpose.HRESCH and not accessor.deidentified:
        return Decision(False, RESEARCH_ONLY_DEIDENTIFIED)
    if (
        accessor.purpose == Purpose.HPAYMT
        and record is not None
        and record.resource_type in CLAIM_TYPES
        and _paying(accessor, facts)
        and facts.payer(record) == accessor.address
    ):
        return Decision(True, PAYER)
    grant = facts.grant(patient, accessor.address, category, accessor.purpose)
    if grant is not None:
        return Decision(True, f"consent {grant}")
    restricted = False
    if (
        accessor.purpose in CARE_TEAM_PURPOSES
        and (not category.sensitive or author == accessor.address)
        and facts.care_team(accessor.address)
    ):
        restricted = facts.care_team_restricted(patient, category)
        if not restricted:
            return Decision(True, CARE_TEAM, care_team=True)
    if accessor.purpose == Purpose.ETREAT and facts.emergency_open(accessor.address, patient):
        return Decision(True, "break-glass", break_glass=True)
    if accessor.purpose == Purpose.PATRQT and category in facts.represented(accessor.address).get(patient, ()):
        return Decision(True, DELEGATE)
    if restricted:
        return Decision(False, _restricted(category))
    return Decision(False, facts.why_not(patient, accessor.address, category, accessor.purpose))


def readable_patients(accessor: Accessor, facts: Facts) -> frozenset[str] | None:
    """The patients `may_read` could let `accessor` see any record of; None where that may be anyone's (the
    custodian, its care team, an emergency). A superset of `may_read`'s yes, kept beside it: a search selects
    only these patients' records before it decides or decrypts anything, so what it withholds from a caller
    who may see little neither slows her answer (a timing oracle) nor costs the node work."""
    if accessor.address == facts.custodian or accessor.purpose == Purpose.ETREAT:
        return None
    if accessor.purpose in CARE_TEAM_PURPOSES and facts.care_team(accessor.address):
        return None
    own = frozenset({accessor.address, facts.custodian})
    if accessor.purpose == Purpose.HRESCH and not accessor.deidentified:
        return own
    paid = facts.paid_by(accessor.address) if _paying(accessor, facts) else frozenset()
    delegated = frozenset(facts.represented(accessor.address)) if accessor.purpose == Purpose.PATRQT else frozenset()
    return own | paid | delegated | facts.grantors(accessor.address, accessor.purpose)


def _paying(accessor: Accessor, facts: Facts) -> bool:
    """Whether `accessor` asks as a payer (rule 6): for payment, and named an insurer by the registry. Anyone may
    ask for payment; only an insurer's request has the claims worked out and the chain asked on its account."""
    return accessor.purpose == Purpose.HPAYMT and facts.is_insurer(accessor.address)


def _restricted(category: Category) -> str:
    return f"the patient keeps {category.value} records from the care team, and no consent names them"


def may_write(accessor: Accessor, current: StoredRecord | None, new: StoredRecord, facts: Facts) -> Decision:
    """May `accessor` store `new` (a first version, a next one, or a deletion) over `current`?"""
    patient = new.patient_address
    if current is not None and current.patient_address != patient:
        return Decision(
            False,
            f"{current.resource_type}/{current.record_id} is about another patient; a new version cannot move it to"
            " another patient (delete it and create one for the right patient)",
        )
    categories = (
        [new.category] if current is None or current.category == new.category else [current.category, new.category]
    )
    decision = Decision(False, "")
    for category in categories:
        decision = _may_write_category(accessor, patient, category, facts, current)
        if not decision.allowed:
            return decision
    if (
        current is not None
        and current.category.sensitive
        and new.category != current.category
        and accessor.address not in (patient, current.author)
    ):
        return Decision(
            False,
            f"{current.resource_type}/{current.record_id} is a {current.category.value} record: only the patient or"
            f" its author may move it to {new.category.value}",
        )
    return decision


def _may_write_category(
    accessor: Accessor, patient: str, category: Category, facts: Facts, current: StoredRecord | None
) -> Decision:
    if accessor.address == patient:
        return Decision(True, "the patient's own record")
    if accessor.address == facts.custodian:
        return Decision(True, "the custodian node")
    wanted = f"write {category.value} records for {accessor.purpose.value}"
    if accessor.purpose not in WRITE_PURPOSES:
        return Decision(False, f"cannot {wanted}: writing needs the purpose TREAT or HOPERAT")
    if patient == facts.custodian:
        if facts.care_team(accessor.address):
            return Decision(True, CARE_TEAM, care_team=True)
        return Decision(False, f"{NODES_OWN} are written by the node and its care team only")
    grant = facts.grant(patient, accessor.address, category, accessor.purpose)
    if grant is not None:
        return Decision(True, f"consent {grant}")
    if facts.care_team(accessor.address):
        if facts.care_team_restricted(patient, category):
            return Decision(False, _restricted(category))
        if not category.sensitive or current is None or current.author == accessor.address:
            return Decision(True, CARE_TEAM, care_team=True)
        return Decision(False, f"cannot {wanted}: the care team changes a {category.value} record only as its author")
    return Decision(False, f"no consent from the patient to {wanted}")


def may_bill(accessor: Accessor, facts: Facts) -> Decision:
    """May `accessor` bill as this node (submit a claim for an Encounter it reads)? The node and its care team."""
    if accessor.address == facts.custodian or facts.care_team(accessor.address):
        return Decision(True, "bills as this node")
    return Decision(False, "only the node and its care team bill as this node")


# Visits: who keeps the schedule, and who settles a visit as its provider.

SCHEDULING_FIELDS = ("slot", "start", "end", "minutesDuration", "participant", "status")
BY_THE_SCHEDULING = (
    "an Appointment's slot, times, participants and status change only through the scheduling ($book or"
    " $prepare-book, $reschedule, $cancel)"
)


def acts_as_provider(accessor: Accessor, facts: Facts) -> Decision:
    """Does `accessor` act for a visit's provider, this node (itself or its care team), rather than for the patient
    (herself, her delegate, a grantee of hers)? The provider keeps the schedule by hand and settles a visit whose
    slot has begun (a refund then is the provider's to give); anyone else cancels only before it."""
    if accessor.address == facts.custodian:
        return Decision(True, "the custodian node")
    if facts.care_team(accessor.address):
        return Decision(True, CARE_TEAM, care_team=True)
    return Decision(False, "only the provider (this node or its care team) settles a visit whose slot has begun")


def may_change_by_hand(accessor: Accessor, before: Resource | None, after: Resource, facts: Facts) -> Decision:
    """May `accessor` store the Appointment `after` over `before` (None: a new one) by a plain FHIR create or
    update? Asked besides `may_write`. The provider (`acts_as_provider`) keeps its schedule: anything. Anyone else
    changes none of `SCHEDULING_FIELDS`: a slot taken or moved by hand would skip the holds and the visit's
    payment, and a start moved would move the deadline of her refund. A status made `cancelled`, and nothing else
    of those, is a cancellation, which the visits make as `$cancel` does."""
    provider = acts_as_provider(accessor, facts)
    if provider.allowed:
        return provider
    was = before or {}
    changed = [name for name in SCHEDULING_FIELDS if was.get(name) != after.get(name)]
    if before is not None and changed == ["status"] and after.get("status") == "cancelled":
        return Decision(True, "a cancellation, made as $cancel makes it")
    if changed:
        return Decision(False, f"{BY_THE_SCHEDULING}, not by a plain write of {', '.join(changed)}")
    return Decision(True, "no scheduling field changed")


def may_see_coverage(accessor: Accessor, patient: str, insurer: str, facts: Facts) -> Decision:
    """May `accessor` see the coverage of `patient`, a member of a plan of `insurer` (the Coverage view, an
    eligibility answer)? Whoever may read her billing records (her consent to her insurer for HPAYMT, say), the
    care team billing for her (HPAYMT) unless she keeps billing records from it, and for payment the plan's
    insurer if this node submitted a claim of hers to it: an insurer enrols anyone on chain, alone, so its own
    enrolment is not enough to learn where she is treated."""
    if accessor.purpose == Purpose.HPAYMT:
        if accessor.address == insurer and _paying(accessor, facts) and patient in facts.paid_by(insurer):
            return Decision(True, "the plan's insurer, which this node claims from for her")
        if facts.care_team(accessor.address) and not facts.care_team_restricted(patient, Category.BILLING):
            return Decision(True, CARE_TEAM, care_team=True)
    return may_read(accessor, patient, Category.BILLING, facts)


def coverage_patients(accessor: Accessor, facts: Facts) -> frozenset[str] | None:
    """The patients `may_see_coverage` could let `accessor` see the coverage of (None: anyone's), as
    `readable_patients` is for records, from what the node knows without the chain: a caller outside them is
    refused before her enrolment is looked up, as an unknown id is."""
    if accessor.purpose == Purpose.HPAYMT and facts.care_team(accessor.address):
        return None
    return readable_patients(accessor, facts)


# Messages: whom a patient may write a Communication to.

NOT_MESSAGEABLE = "a patient messages only her care team and the practitioners she has a visit with or consents to"
NOT_THE_SENDER = "a message's sender is the one who writes it"


class MessageFacts(Protocol):
    """What `may_message` asks: the patient's node, its care team (`Facts.care_team`), the visits she has here and
    her consents (for a message another node delivers: her custodian's care team, this node's visits)."""

    @property
    def custodian(self) -> str:
        """The address of the node the records are kept on."""

    def care_team(self, actor: str) -> bool:
        """Whether the custodian node has attested `actor` a live `affiliation`."""

    def visited(self, patient: str, practitioner: str) -> bool:
        """Whether `patient` has a visit here with `practitioner`: booked through the scheduling, not cancelled."""

    def treats(self, patient: str, practitioner: str) -> bool:
        """Whether `patient` consents to `practitioner` (or his node) for treatment now: a visit's consent."""


def may_message(
    writer: Accessor, patient: str, sender: str | None, recipients: Sequence[str | None], facts: MessageFacts
) -> Decision:
    """May `writer` store a Communication of `patient`'s from `sender` (the wallet its sender names; "" for none,
    None for one named by no wallet) to `recipients` (their wallets; None for one named by no wallet)? Asked
    besides `may_write`. The node keeps messages for others (those other nodes deliver); anyone else writes as
    herself only, so no one puts words in another's mouth. The patient writes only to the custodian's care team
    and to practitioners she has a visit with or consents to, so a stranger is not paged by anyone who signs in;
    a recipient unknown here and one who is merely unrelated are refused in the same words. Anyone else writes to
    her under `may_write`'s rules (the care team, her consent)."""
    if writer.address == facts.custodian:
        return Decision(True, "the custodian node")
    if sender not in ("", writer.address):
        return Decision(False, NOT_THE_SENDER)
    if writer.address != patient:
        return Decision(True, "written to the patient under the rules of any record")
    for recipient in recipients:
        if recipient is None or not (
            facts.care_team(recipient) or facts.visited(patient, recipient) or facts.treats(patient, recipient)
        ):
            return Decision(False, NOT_MESSAGEABLE)
    return Decision(True, "her care team, or a practitioner she has a visit with or consents to")


# Consents and accountings: who may see a patient's grants, and whose signed papers a patient's session submits.


def may_see_consent(caller: str, parties: Sequence[str], *, patient_context: bool) -> Decision:
    """May `caller` see a consent whose parties (patient, grantee, who granted it) are `parties`? A patient's
    token sees only those she is a party to; any other token (the node's staff and systems, whose scopes allowed
    reading consents) sees every consent this node knows of, as it needs to act on them."""
    if not patient_context or caller in parties:
        return Decision(True, "a party to the consent" if patient_context else "the node's staff or systems")
    return Decision(False, "a patient reads only their own consents")


def consents_listed_for(caller: str, asked: str | None, *, patient_context: bool) -> str | None:
    """Whose consents a search by `caller` for `asked`'s (None: everyone's) lists: a patient's token, hers only."""
    return caller if patient_context else asked


def may_submit_as(caller: str, patient: str, paper: str) -> Decision:
    """May `caller`'s session submit `paper` (a signed consent, revocation, or accounting request) that
    `patient` signed? The node pays the gas and answers what it asks, so only for the signed-in patient's own."""
    if caller == patient:
        return Decision(True, "the patient's own")
    return Decision(False, f"{paper} submitted here must be the signed-in patient's own")
