"""The participant's own desk: the trials she is in, the consent document she reads, what her wallet signs to
consent, re-consent or withdraw, through her own door (her records are hers to read and write).

The node that keeps her records is her site: it sends her consent and withdrawal to the chain as its own wallet,
with her signature kept in her records (the chain holds its keccak only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from careledger.access import Accessor, RecordAccess, Repository
from careledger.errors import NotFound
from careledger.records import SearchQuery
from careledger.trials._consents import Consents
from careledger.trials._eligibility import Eligibility
from careledger.trials._payments import Settlement
from careledger.trials._registry import TrialRegistry
from careledger.trials._site_views import (
    BLOCKED_RECONSENT,
    DUE,
    ENTERED,
    PAID,
    ConsentDocument,
    Enrolment,
    ParticipantTrial,
    ScheduledVisit,
    visit_block,
)
from careledger.trials._store import TrialStore
from careledger.trials._subjects import CANDIDATE, WITHDRAWN, Subject, subject_from, subject_of, trial_of
from careledger.trials._views import timestamp

if TYPE_CHECKING:
    from careledger.chain import TrialParticipant, Trials


class TrialParticipantDesk:
    """A patient's own trials at this node, as she acts on them herself."""

    def __init__(
        self,
        access: RecordAccess,
        consents: Consents,
        registry: TrialRegistry,
        store: TrialStore,
        settlement: Settlement,
        trials: Callable[[], Trials],
    ) -> None:
        """`settlement` names her payee on chain (her site, this node, sends it)."""
        self._access = access
        self._consents = consents
        self._registry = registry
        self._store = store
        self._settlement = settlement
        self._trials = trials

    def trials(self, accessor: Accessor) -> list[ParticipantTrial]:
        """The trials she is a participant of here (candidates left out), each with the consent version she signed
        and the current one, her schedule, visits and stipends paid."""
        door, patient_id = self._own(accessor)
        query = SearchQuery(resource_type="ResearchSubject", patient_id=patient_id)
        found = []
        for resource in door.search(query):
            reference = str((resource.get("study") or {}).get("reference", ""))
            trial_id = trial_of(reference)
            if trial_id is None:
                continue
            subject = subject_from(resource, patient_id)
            on_chain = self._trials().participant(trial_id, subject.participant)
            if on_chain is not None:
                found.append(self._trial(trial_id, subject, on_chain))
        return found

    def _trial(self, trial_id: int, subject: Subject, on_chain: TrialParticipant) -> ParticipantTrial:
        state = self._trials().trial(trial_id)
        protocol = self._registry.protocol(trial_id)
        enrolled = timestamp(on_chain.enrolled_at)
        entered = {v.visit for v in self._store.visits(trial_id) if v.participant == subject.participant}
        block = visit_block(state, on_chain)
        reconsent = block == BLOCKED_RECONSENT
        schedule = []
        for visit in protocol.visits:
            if visit.number <= on_chain.visits_paid:
                status = PAID
            elif visit.number in entered:
                status = ENTERED
            else:
                status = block or DUE
            due = None if enrolled is None else date.fromordinal(enrolled.date().toordinal() + visit.day)
            schedule.append(ScheduledVisit(visit.number, visit.name, due, status))
        return ParticipantTrial(
            trial_id,
            protocol.title,
            subject.participant_hex,
            WITHDRAWN if on_chain.withdrawn else subject.status,
            on_chain.consented_version,
            state.current_version,
            reconsent,
            tuple(schedule),
            on_chain.visits_paid,
            state.stipend,
            on_chain.payee,
        )

    def eligibility(self, accessor: Accessor, trial_id: int) -> Eligibility:
        """Whether she meets the trial's criteria, read from her own record, each in words."""
        door, patient_id = self._own(accessor)
        return self._consents.eligibility(door, trial_id, patient_id)

    def consent_document(self, accessor: Accessor, trial_id: int) -> ConsentDocument:
        """The consent document of the trial's current version (what she signs), its hash, and what becomes of her
        data if she withdraws."""
        self._own(accessor)
        state = self._trials().trial(trial_id)
        version = state.current_version or state.latest_version
        protocol = self._registry.protocol(trial_id, version)
        document_hash = self._trials().version(trial_id, version).consent_hash
        return ConsentDocument(
            trial_id,
            protocol.title,
            version,
            protocol.consent_document,
            "0x" + document_hash.hex(),
            protocol.data_on_withdrawal,
        )

    def consent_typed_data(self, accessor: Accessor, trial_id: int, payee: str | None = None) -> dict[str, Any]:
        """The EIP-712 typed data her wallet signs to consent to the current version (or re-consent after an
        amendment); her stipends paid to `payee` if she names one, else held in the escrow until she does. Never
        her own address by default: the payee is written on chain next to the trial, so naming an address links it
        to the trial (`PAYEE_NOTICE`, a fresh address advised). Refused unless she is eligible."""
        door, patient_id = self._own(accessor)
        return self._consents.request(door, trial_id, patient_id, payee)

    def sign(self, accessor: Accessor, trial_id: int, signature: str) -> Enrolment:
        """Her signature of what `consent_typed_data` gave: she is enrolled, or, on study already, re-consented."""
        door, patient_id = self._own(accessor)
        subject = subject_of(door, trial_id, patient_id)
        on_chain = None if subject is None else self._trials().participant(trial_id, subject.participant)
        if on_chain is not None and subject is not None and subject.status != CANDIDATE:
            return self._consents.reconsent(door, trial_id, patient_id, signature)
        return self._consents.enrol(door, trial_id, patient_id, signature=signature)

    def name_payee(self, accessor: Accessor, trial_id: int, payee: str) -> Enrolment:
        """Name the address her stipends go to: what was held for her is paid to it at once, and later stipends go
        to it. The address is written on the public chain next to the trial, which links it to the trial for anyone
        who looks (`PAYEE_NOTICE`): a fresh address, used for nothing else, is advised. `ValidationError` for
        anything but a non-zero address; `NotFound` if she is not enrolled here."""
        door, patient_id = self._own(accessor)
        subject = subject_of(door, trial_id, patient_id)
        if subject is None or self._trials().participant(trial_id, subject.participant) is None:
            raise NotFound(f"you are not enrolled in trial {trial_id} here")
        self._settlement.name_payee(trial_id, subject.participant, payee)
        return self._consents.enrolment(trial_id, subject)

    def withdrawal_typed_data(self, accessor: Accessor, trial_id: int) -> dict[str, Any]:
        """The EIP-712 typed data her wallet signs to withdraw."""
        door, patient_id = self._own(accessor)
        return self._consents.withdrawal_request(door, trial_id, patient_id)

    def withdraw(self, accessor: Accessor, trial_id: int, signature: str | None = None) -> Enrolment:
        """Withdraw from the trial: her signature of what `withdrawal_typed_data` gave (none: a custodial patient's,
        signed by this node with her key). What becomes of her data is the consent document's
        `data_on_withdrawal`."""
        door, patient_id = self._own(accessor)
        return self._consents.withdraw(door, trial_id, patient_id, signature)

    def _own(self, accessor: Accessor) -> tuple[Repository, str]:
        """Her own door and her Patient record's id here (`NotFound` if this node keeps no Patient of hers)."""
        door = self._access.for_caller(accessor)
        query = SearchQuery(resource_type="Patient", patient_address=accessor.address)
        found = door.search(query)
        if not found:
            raise NotFound("this node keeps no Patient record of yours: your trials are at the node that does")
        return door, str(found[0]["id"])
