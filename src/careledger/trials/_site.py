"""A site's desk: what its staff (the node's care team) do for a trial, each patient's records through the door as
the staff member (so every read and write is judged and audited as hers).

```
eligibility · consent_request · enrol · reconsent · withdraw ─► `_consents.Consents`, through her door
visits ─► each participant's ResearchSubject here ─► the protocol's schedule from her enrolment day ─► status
enter_crf ─► may she be seen (on study, randomised, consented to what the trial asks)? ─► the visit's
            Questionnaire checks it ─► QuestionnaireResponse written ─► this visit's row (complete?) ─► source check
correct_crf ─► a reason ─► the response's next version + its Provenance (who, when, why), written together
report_adverse_event ─► AdverseEvent written ─► serious: its safety report to the sponsor's and boards' nodes
settle · pay ─► `_payments.Settlement` (the node's own work)
```

Anyone else (not this node, not of its care team) is refused, and the refusal audited, before any record is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from careledger.access import Accessor, RecordAccess, Repository
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.crypto import keccak
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from careledger.records import Resource, SearchQuery
from careledger.trials._adverse import ReportDelivery, ReportedAdverseEvent, adverse_event, safety_report
from careledger.trials._consents import Consents
from careledger.trials._crf import check_response, complete, correction_provenance, source_check
from careledger.trials._eligibility import Eligibility
from careledger.trials._payments import Settlement
from careledger.trials._protocol import questionnaire
from careledger.trials._registry import TrialRegistry
from careledger.trials._safety import SafetyReports
from careledger.trials._site_views import (
    BLOCKED_ALLOCATION,
    BLOCKED_RECONSENT,
    DUE,
    ENTERED,
    PAID,
    AdverseEventInput,
    CrfEntry,
    CrfVersion,
    Enrolment,
    VisitRow,
    visit_block,
)
from careledger.trials._store import TrialStore, VisitRecord
from careledger.trials._subjects import Subject, study_reference, subject_of, subjects_of
from careledger.trials._views import Payment, timestamp

if TYPE_CHECKING:
    from careledger.chain import TrialParticipant, Trials, TrialState


@dataclass(frozen=True, slots=True)
class _Seen:
    """A participant a staff member acts on: her door, her ResearchSubject, her place on chain, the trial."""

    door: Repository
    subject: Subject
    on_chain: TrialParticipant
    state: TrialState


class TrialSite:
    """The trial work of this node's staff (module docstring)."""

    def __init__(
        self,
        access: RecordAccess,
        audit: AuditLog,
        consents: Consents,
        registry: TrialRegistry,
        store: TrialStore,
        settlement: Settlement,
        safety: SafetyReports,
        trials: Callable[[], Trials],
        *,
        here: str,
        chain_id: int,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._access = access
        self._audit = audit
        self._consents = consents
        self._registry = registry
        self._store = store
        self._settlement = settlement
        self._safety = safety
        self._trials = trials
        self.here = here
        self.chain_id = chain_id
        self._now = now

    # Consent and enrolment ----------------------------------------------------------------------

    def eligibility(self, accessor: Accessor, trial_id: int, patient_id: str) -> Eligibility:
        """Whether the patient meets the trial's criteria, each in words (missing data: unknown, not eligible)."""
        return self._consents.eligibility(self._door(accessor, "trial.eligibility"), trial_id, patient_id)

    def consent_request(
        self, accessor: Accessor, trial_id: int, patient_id: str, payee: str | None = None
    ) -> dict[str, Any]:
        """The consent typed data for her wallet to sign (her participant id and salt chosen, kept in her
        ResearchSubject as a candidate; `payee`: the address she gives for her stipends, none: held until she names
        one); refused unless she is eligible."""
        return self._consents.request(self._door(accessor, "trial.consent"), trial_id, patient_id, payee)

    def enrol(
        self,
        accessor: Accessor,
        trial_id: int,
        patient_id: str,
        *,
        payee: str | None = None,
        signature: str | None = None,
    ) -> Enrolment:
        """Enrol her with the consent she signed; with no signature, a custodial patient's consent is taken in
        person: signed here with her key, the staff member its witness (a Provenance on her Consent, and the
        audit says so). Refused before the seed is committed, if she is not eligible, or if she signed a version
        that is not the current one. Her stipends are held until a payee is named (`payee`: the address she gives)."""
        door = self._door(accessor, "trial.enrol")
        enrolled = self._consents.enrol(door, trial_id, patient_id, payee=payee, signature=signature)
        return self._witnessed(accessor, "trial.enrol", enrolled, "consent")

    def reconsent(self, accessor: Accessor, trial_id: int, patient_id: str, signature: str | None = None) -> Enrolment:
        """Her consent to the current version after an amendment that asks for it (none signed: taken in person,
        witnessed, as at enrolment)."""
        enrolled = self._consents.reconsent(self._door(accessor, "trial.reconsent"), trial_id, patient_id, signature)
        return self._witnessed(accessor, "trial.reconsent", enrolled, "re-consent")

    def withdraw(self, accessor: Accessor, trial_id: int, patient_id: str, signature: str | None = None) -> Enrolment:
        """Withdraw her from the trial (her signed withdrawal; a custodial patient's taken in person, witnessed)."""
        enrolled = self._consents.withdraw(self._door(accessor, "trial.withdraw"), trial_id, patient_id, signature)
        return self._witnessed(accessor, "trial.withdraw", enrolled, "withdrawal")

    def name_payee(self, accessor: Accessor, trial_id: int, patient_id: str, payee: str) -> Enrolment:
        """Name the address she gives for her stipends (she was told it links that address to the trial on chain;
        a fresh one is advised): what was held for her is paid to it at once. Withdrawn participants too, for
        the visits they made. `ValidationError` for anything but a non-zero address."""
        seen = self._seen(accessor, "trial.payee", trial_id, patient_id, active=False)
        self._settlement.name_payee(trial_id, seen.subject.participant, payee)
        return self._consents.enrolment(trial_id, seen.subject)

    def _witnessed(self, accessor: Accessor, action: str, enrolled: Enrolment, what: str) -> Enrolment:
        """`enrolled`, its in-person signing audited as such (who witnessed it) when it was."""
        if enrolled.witness is not None:
            detail = (
                f"{what} of Patient/{enrolled.patient_id} to trial {enrolled.trial_id} taken in person, signed "
                f"with her custodial key, witnessed by {accessor.address}"
            )
            self._audit.record(Access(Action.EXECUTE, action, Outcome.SUCCESS, accessor.address, detail=detail))
        return enrolled

    # Visits and CRFs ----------------------------------------------------------------------------

    def visits(self, accessor: Accessor, trial_id: int) -> list[VisitRow]:
        """Every visit of every participant here, in her enrolment order: due when, and its status."""
        door = self._door(accessor, "trial.visits")
        trials = self._trials()
        state = trials.trial(trial_id)
        protocol = self._registry.protocol(trial_id)
        entered = {(v.participant, v.visit): v for v in self._store.visits(trial_id)}
        found = []
        for subject in subjects_of(door, trial_id):
            on_chain = trials.participant(trial_id, subject.participant)
            if on_chain is None:
                continue  # a candidate, not enrolled
            enrolled = timestamp(on_chain.enrolled_at)
            for visit in protocol.visits:
                row = entered.get((subject.participant, visit.number))
                found.append(
                    VisitRow(
                        trial_id,
                        subject.participant_hex,
                        subject.patient_id,
                        visit.number,
                        visit.name,
                        None if enrolled is None else date.fromordinal(enrolled.date().toordinal() + visit.day),
                        visit.window_days,
                        _status(state, on_chain, visit.number, row),
                        None if row is None else row.complete,
                        None if row is None else row.record_id,
                    )
                )
        return sorted(found, key=lambda r: (r.due or date.max, r.participant, r.visit))

    def enter_crf(self, accessor: Accessor, trial_id: int, patient_id: str, visit: int, response: Resource) -> CrfEntry:
        """Store visit `visit`'s CRF: refused for a withdrawn participant, before her re-consent when the trial asks
        for it, before she is randomised (`Conflict`), and if the response fails the visit's Questionnaire
        (`ValidationError` listing each problem). Whether it is complete, and where it differs from her record."""
        seen = self._seen(accessor, "trial.crf", trial_id, patient_id)
        _check_may_visit(seen.state, seen.on_chain)
        if self._store.visit(trial_id, seen.subject.participant, visit) is not None:
            raise Conflict(f"visit {visit}'s CRF is entered already: correct it, with a reason")
        form = questionnaire(self._registry.protocol(trial_id), visit)
        record_id = _crf_id(seen.subject, visit)
        try:  # written before a crash kept its row: that one is the visit's CRF, never a second
            found = seen.door.stored(record_id)
        except NotFound:
            found = None
        if found is not None:
            return self._entered(seen, visit, form, seen.door.read(record_id, found.version), found.version)
        placed = {**_placed(response, form, patient_id), "id": record_id}
        check_response(form, placed)
        stored = seen.door.write(seen.door.prepare(placed))
        if stored.version != 1:  # another staff member entered it at the same moment: hers is now version 2
            self._entered(seen, visit, form, placed, stored.version)
            raise Conflict(f"visit {visit}'s CRF was entered by someone else meanwhile: check its history")
        return self._entered(seen, visit, form, placed, stored.version)

    def correct_crf(
        self, accessor: Accessor, trial_id: int, patient_id: str, visit: int, response: Resource, reason: str
    ) -> CrfEntry:
        """Correct visit `visit`'s CRF: its next version and a Provenance saying who, when and why, written
        together (`ValidationError` without a reason, or if it fails the Questionnaire)."""
        if not reason.strip():
            raise ValidationError("a correction needs its reason")
        seen = self._seen(accessor, "trial.crf-correct", trial_id, patient_id, active=False)  # kept after withdrawal
        row = self._row(trial_id, seen.subject, visit)
        current = seen.door.stored(row.record_id)
        form = questionnaire(self._registry.protocol(trial_id), visit)
        placed = {**_placed(response, form, patient_id), "id": row.record_id}
        check_response(form, placed)
        target = f"QuestionnaireResponse/{row.record_id}/_history/{current.version + 1}"
        who = f"did:pkh:eip155:{self.chain_id}:{seen.door.accessor.address}"
        provenance = correction_provenance(target, who, reason, self._now())
        stored = seen.door.store([seen.door.prepare(placed), seen.door.prepare(provenance)])
        if stored[0].version != current.version + 1:
            raise Conflict(f"visit {visit}'s CRF was changed by someone else meanwhile: read it again")
        return self._entered(seen, visit, form, placed, stored[0].version)

    def crf_history(self, accessor: Accessor, trial_id: int, patient_id: str, visit: int) -> list[CrfVersion]:
        """Visit `visit`'s CRF version by version, oldest first: who stored each, when, and why (its correction's
        reason), as the audit trail of ICH E6 and 21 CFR Part 11 asks."""
        seen = self._seen(accessor, "trial.crf-history", trial_id, patient_id, active=False)
        row = self._row(trial_id, seen.subject, visit)
        form = questionnaire(self._registry.protocol(trial_id), visit)
        reasons = _reasons(seen.door, patient_id, row.record_id)
        versions = []
        for stored, resource in reversed(seen.door.history(row.record_id, "QuestionnaireResponse")):
            why = "entered" if stored.version == 1 else reasons.get(stored.version, "no reason recorded")
            done = resource is not None and complete(form, resource)
            versions.append(
                CrfVersion(stored.version, stored.author or "", stored.last_updated, why, done, resource or {})
            )
        return versions

    def _entered(self, seen: _Seen, visit: int, form: Resource, response: Resource, version: int) -> CrfEntry:
        done = complete(form, response)
        participant = seen.subject.participant
        self._store.keep_visit(VisitRecord(seen.state.trial_id, participant, visit, str(response["id"]), version, done))
        day = _day(response.get("authored")) or self._now().date()
        records = seen.door.search(SearchQuery(patient_id=seen.subject.patient_id, resource_types=("Observation",)))
        found = source_check(form, response, records, day)
        return CrfEntry(
            seen.state.trial_id, seen.subject.participant_hex, visit, str(response["id"]), version, done, tuple(found)
        )

    def _row(self, trial_id: int, subject: Subject, visit: int) -> VisitRecord:
        row = self._store.visit(trial_id, subject.participant, visit)
        if row is None:
            raise NotFound(f"visit {visit}'s CRF of participant {subject.participant_hex} was never entered here")
        return row

    # Adverse events -----------------------------------------------------------------------------

    def report_adverse_event(
        self, accessor: Accessor, trial_id: int, patient_id: str, event: AdverseEventInput
    ) -> ReportedAdverseEvent:
        """Record an adverse event of a participant (an AdverseEvent in her record); a serious one's safety report
        (no name, no patient reference: her participant id) goes at once to the sponsor's and the boards' nodes,
        kept and sent again until it arrives. The AdverseEvent as stored, and each reader's delivery."""
        seen = self._seen(accessor, "trial.adverse-event", trial_id, patient_id, active=False)
        resource = adverse_event(
            f"Patient/{patient_id}",
            study_reference(trial_id),
            {"system": event.system, "code": event.code, "display": event.display},
            event.serious,
            event.severity,
            event.date,
            event.description,
        )
        stored = seen.door.write(seen.door.prepare(resource))
        written = {**resource, "id": stored.record_id}
        if event.serious:
            report = safety_report(
                written, trial_id, seen.subject.participant_hex, self.here, narrative=event.narrative
            )
            told = self._safety.send(trial_id, report)
            return ReportedAdverseEvent(written, tuple(ReportDelivery(r, why) for r, why in told.items()))
        return ReportedAdverseEvent(written)

    def retry_reports(self, *, at: float | None = None) -> int:
        """Send again each safety report due (as of `at`, now unless given) that a reader's node did not take yet
        (the leader's round); how many arrived."""
        return self._safety.retry(at=at)

    def reports_waiting(self) -> list[dict[str, Any]]:
        """The safety reports waiting to be sent again: trial, reader, attempts and why (never the report)."""
        return self._safety.waiting()

    # Payments -----------------------------------------------------------------------------------

    def settle(self, trial_id: int | None = None, *, anchor: bool = True) -> list[Payment]:
        """Pay every complete, anchored visit here from its trial's escrow (node work; the leader's round runs it
        with `anchor` off, leaving anchoring to the anchorer's batches)."""
        return self._settlement.settle(trial_id, anchor=anchor)

    def pay(self, accessor: Accessor, trial_id: int, patient_id: str, visit: int) -> Payment:
        """Pay one visit now, or say why not: its CRF incomplete (`ValidationError`), not anchored, an earlier
        visit unpaid, her re-consent missing (`Conflict`)."""
        seen = self._seen(accessor, "trial.pay", trial_id, patient_id, active=False)
        return self._settlement.pay(self._row(trial_id, seen.subject, visit))

    # Who may ------------------------------------------------------------------------------------

    def _door(self, accessor: Accessor, action: str) -> Repository:
        """The staff member's door, once she is this node or of its care team; else `AccessDenied`, audited."""
        if accessor.address != self.here and not self._access.care_team(accessor.address):
            why = f"{accessor.address} is not of this site's care team: trial work here is its staff's"
            self._audit.record(Access(Action.EXECUTE, action, Outcome.DENIED, accessor.address, detail=why))
            raise AccessDenied(why)
        return self._access.for_caller(accessor)

    def _seen(self, accessor: Accessor, action: str, trial_id: int, patient_id: str, *, active: bool = True) -> _Seen:
        """A participant enrolled here (`active`: and not withdrawn: `Conflict`), as the staff member's door shows."""
        door = self._door(accessor, action)
        trials = self._trials()
        state = trials.trial(trial_id)
        subject = subject_of(door, trial_id, patient_id)
        on_chain = None if subject is None else trials.participant(trial_id, subject.participant)
        if subject is None or on_chain is None:
            raise NotFound(f"Patient/{patient_id[:64]} is not enrolled in trial {trial_id} here")
        if active and on_chain.withdrawn:
            raise Conflict(
                f"participant {subject.participant_hex} withdrew from trial {trial_id}: no visit is recorded"
            )
        return _Seen(door, subject, on_chain, state)


def _check_may_visit(state: TrialState, on_chain: TrialParticipant) -> None:
    """`Conflict` unless her visit may be recorded (`visit_block`; a withdrawal is told before, by `_seen`)."""
    block = visit_block(state, on_chain)
    if block == BLOCKED_ALLOCATION:
        raise Conflict("she is not randomised yet: her visits are recorded once the sponsor randomises her")
    if block == BLOCKED_RECONSENT:
        raise Conflict(
            f"her next visit waits for her re-consent: she signed version {on_chain.consented_version}, "
            f"the trial asks for version {state.reconsent_from} or later"
        )


def _status(state: TrialState, on_chain: TrialParticipant, visit: int, row: VisitRecord | None) -> str:
    if (row is not None and row.paid_tx) or visit <= on_chain.visits_paid:
        return PAID
    if row is not None:
        return ENTERED
    return visit_block(state, on_chain) or DUE


def _crf_id(subject: Subject, visit: int) -> str:
    """The record id of her CRF of `visit`: one per visit, whoever enters it and however often, from her salt (so
    that nobody without her ResearchSubject can tell it is a trial's)."""
    return "crf-" + keccak(subject.salt + b"/crf/" + visit.to_bytes(2, "big"))[:16].hex()


def _placed(response: Resource, form: Resource, patient_id: str) -> Resource:
    """The response as a CRF of this visit about her: her Patient its subject, the visit's Questionnaire what it
    answers unless it names one (`check_response` then judges which)."""
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        raise ValidationError("a CRF is a QuestionnaireResponse")
    placed = {key: value for key, value in response.items() if key not in ("id", "meta")}
    placed.setdefault("questionnaire", form.get("url"))
    return {**placed, "subject": {"reference": f"Patient/{patient_id}"}}


def _reasons(door: Repository, patient_id: str, record_id: str) -> dict[int, str]:
    """Each corrected version of a CRF and its reason, from the Provenances that name it."""
    prefix = f"QuestionnaireResponse/{record_id}/_history/"
    reasons = {}
    for provenance in door.search(SearchQuery(resource_type="Provenance", patient_id=patient_id)):
        for target in provenance.get("target", []):
            reference = str(target.get("reference", ""))
            if reference.startswith(prefix) and reference[len(prefix) :].isdigit():
                said = [str(r.get("text", "")) for r in provenance.get("reason", []) if isinstance(r, dict)]
                reasons[int(reference[len(prefix) :])] = "; ".join(said)
    return reasons


def _day(authored: object) -> date | None:
    if not isinstance(authored, str) or len(authored) < 10:
        return None
    try:
        return date.fromisoformat(authored[:10])
    except ValueError:
        return None
