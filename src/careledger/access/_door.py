"""The door: hands each caller her own guarded repository, and opens break-glass windows.

Built once in the composition root from the record service, the audit log and the policy's facts;
faces never hold the record service itself, only what `for_caller` gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from careledger.access._break_glass import BreakGlass, EmergencyWindow
from careledger.access._facts import Payers, PolicyFacts
from careledger.access._messaging import visited
from careledger.access._policy import Accessor, Decision, acts_as_provider, may_change_by_hand, may_message
from careledger.access._repository import Repository
from careledger.audit import AuditLog
from careledger.chain import ConsentRegistry, IdentityRegistry
from careledger.consent import ConsentService
from careledger.records import RecordService, Resource
from careledger.store import Database


class RecordAccess:
    """Guarded repositories, one per caller, over one node's records."""

    def __init__(
        self,
        records: RecordService,
        consent: Callable[[], ConsentService],
        audit: AuditLog,
        db: Database,
        *,
        custodian: str,
        identity: Callable[[], IdentityRegistry],
        registry_as: Callable[[str], ConsentRegistry],
        payers: Callable[[], Payers],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`payers()`: who pays which claim (the claims service's), asked only when a payer's read needs it."""
        self._records = records
        self.audit = audit
        glass = BreakGlass(db, audit, identity=identity, registry_as=registry_as, clock=clock)
        self._facts = PolicyFacts(
            consent, glass, custodian=custodian, identity=identity, payers=payers, visits=self._visited, clock=clock
        )
        self._db = db

    def _visited(self, patient: str, practitioner: str) -> bool:
        return visited(self._records, self._db, self._staff, patient, practitioner)

    def _staff(self, actor: str) -> bool:
        """Whether `actor` is this node or of its care team: who books visits for others."""
        return actor == self._facts.custodian or self._facts.care_team(actor)

    def for_caller(self, accessor: Accessor) -> Repository:
        """The guarded repository of `accessor`: every read and write judged for her and audited as hers."""
        return Repository(accessor, self._records, self.audit, self._facts)

    def break_glass(self, practitioner: str, patient: str, reason: str) -> EmergencyWindow:
        """Open `practitioner`'s emergency window on `patient`'s records (recorded on chain, audited)."""
        return self._facts.break_glass(practitioner, patient, reason)

    def care_team(self, actor: str) -> bool:
        """Whether `actor` belongs to this node's care team (a live affiliation the node attested)."""
        return self._facts.care_team(actor)

    def acts_as_provider(self, accessor: Accessor) -> Decision:
        """Whether `accessor` acts for a visit's provider, not for its patient (`_policy.acts_as_provider`)."""
        return acts_as_provider(accessor, self._facts)

    def may_change_by_hand(self, accessor: Accessor, before: Resource | None, after: Resource) -> Decision:
        """Whether `accessor`'s plain write of an Appointment may change what it does (`_policy.may_change_by_hand`)."""
        return may_change_by_hand(accessor, before, after, self._facts)

    def affiliated(self, actor: str, node: str) -> bool:
        """Whether the node `node` attested `actor` a live affiliation (she is of its care team)."""
        return node in self._facts.affiliations(actor)

    def node_of(self, actor: str) -> str | None:
        """The node `actor` reads her messages at (`PolicyFacts.node_of`); None if no node attested her."""
        return self._facts.node_of(actor)

    def treats(self, patient: str, practitioner: str) -> bool:
        """Whether `patient` consents to `practitioner` or his node for treatment now (any category)."""
        return self._facts.treats(patient, practitioner)

    def may_deliver(self, patient: str, custodian: str, recipients: Sequence[str]) -> Decision:
        """May `patient`'s message, delivered by her custodian node `custodian`, reach `recipients` here?
        `may_message` as if she wrote it here, with this node's facts: her care team is her custodian's, her
        visits are those booked here, her consents count."""
        return may_message(Accessor(patient), patient, patient, recipients, _KeptElsewhere(self._facts, custodian))


@dataclass(frozen=True, slots=True)
class _KeptElsewhere:
    """The facts of messaging for a patient whose custodian is another node (`may_message`'s `MessageFacts`)."""

    facts: PolicyFacts
    custodian: str

    def care_team(self, actor: str) -> bool:
        """Whether her custodian attested `actor` a live affiliation."""
        return self.custodian in self.facts.affiliations(actor)

    def visited(self, patient: str, practitioner: str) -> bool:
        """Whether she has a visit here with `practitioner`."""
        return self.facts.visited(patient, practitioner)

    def treats(self, patient: str, practitioner: str) -> bool:
        """Whether she consents to `practitioner` or his node for treatment now."""
        return self.facts.treats(patient, practitioner)
