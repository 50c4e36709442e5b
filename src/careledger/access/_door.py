"""The door: hands each caller her own guarded repository, and opens break-glass windows.

Built once in the composition root from the record service, the audit log and the policy's facts;
faces never hold the record service itself, only what `for_caller` gives them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from careledger.access._break_glass import BreakGlass, EmergencyWindow
from careledger.access._facts import Payers, PolicyFacts
from careledger.access._messaging import visited
from careledger.access._policy import Accessor
from careledger.access._repository import Repository
from careledger.audit import AuditLog
from careledger.chain import ConsentRegistry, IdentityRegistry
from careledger.consent import ConsentService
from careledger.records import RecordService
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
        visits = partial(visited, records)
        self._facts = PolicyFacts(
            consent, glass, custodian=custodian, identity=identity, payers=payers, visits=visits, clock=clock
        )

    def for_caller(self, accessor: Accessor) -> Repository:
        """The guarded repository of `accessor`: every read and write judged for her and audited as hers."""
        return Repository(accessor, self._records, self.audit, self._facts)

    def break_glass(self, practitioner: str, patient: str, reason: str) -> EmergencyWindow:
        """Open `practitioner`'s emergency window on `patient`'s records (recorded on chain, audited)."""
        return self._facts.break_glass(practitioner, patient, reason)

    def care_team(self, actor: str) -> bool:
        """Whether `actor` belongs to this node's care team (a live affiliation the node attested)."""
        return self._facts.care_team(actor)
