"""Milestone payments: the sponsor's escrow pays this site a fee and the participant's payee a stipend for each visit
whose CRF is complete and anchored, in visit order. The node's own work ("trial milestone payments"), done by the
leader's round and on request.

```
trial_visits: complete, not paid ─► (anchor what waits, when asked) ─► her participant on chain: next visit due,
     may visit ─► the CRF version's commitment, root and Merkle proof (the records' anchoring: `anchored`, nothing
     decrypted) ─► Trials.pay_visit as the node (the contract checks the proof against RecordAnchor) ─► paid here
```

A visit whose CRF is incomplete, not anchored yet, behind an unpaid earlier visit, or of a participant who must
re-consent first waits: `settle` pays what it can and leaves the rest for a later round; `pay` refuses one visit
with why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from careledger.access import SystemRepository
from careledger.errors import CareLedgerError, Conflict, NotFound, ValidationError
from careledger.trials._store import TrialStore, VisitRecord
from careledger.trials._views import Payment

if TYPE_CHECKING:
    from careledger.chain import TrialParticipant, Trials, TrialState

_log = logging.getLogger(__name__)


class Settlement:
    """The escrow's payments of this site's visits."""

    def __init__(
        self,
        store: TrialStore,
        system: SystemRepository,
        trials: Callable[[], Trials],
        site_chain: Callable[[], Trials],
        anchor: Callable[[], object],
    ) -> None:
        """`system` is the node's "trial milestone payments" work (the CRFs' proofs); `site_chain()` sends as the
        node; `anchor()` anchors the records waiting for it now."""
        self._store = store
        self._system = system
        self._trials = trials
        self._site_chain = site_chain
        self._anchor = anchor

    def settle(self, trial_id: int | None = None, *, anchor: bool = True) -> list[Payment]:
        """Pay every visit here (of one trial, if given) whose CRF is complete and anchored, in order; `anchor`: the
        CRFs not anchored yet are anchored first (the leader's round leaves that to the anchorer's batches). What
        was paid; a visit that cannot be paid yet waits, and so do that participant's later visits."""
        due = [row for row in self._store.visits(trial_id, unpaid=True) if row.complete]
        if anchor and due and not all(self._anchored(row) for row in due):
            self._anchor()
        paid, stuck = [], set()
        for row in due:
            if (row.trial_id, row.participant) in stuck:
                continue
            try:
                paid.append(self.pay(row))
            except CareLedgerError as waiting:
                stuck.add((row.trial_id, row.participant))
                _log.info(
                    "trial %d visit %d of 0x%s waits: %s", row.trial_id, row.visit, row.participant.hex(), waiting
                )
        return paid

    def pay(self, row: VisitRecord) -> Payment:
        """Pay one visit now, or say why it cannot be: its CRF incomplete (`ValidationError`), not anchored yet, an
        earlier visit unpaid, her re-consent or allocation missing, withdrawn (`Conflict`)."""
        if not row.complete:
            raise ValidationError(
                f"visit {row.visit}'s CRF is incomplete: the escrow pays a visit once its CRF is complete"
            )
        stored = self._system.get(row.record_id, row.record_version)
        if stored.anchored_batch is None:  # told before the chain is asked anything: the round's common case
            raise Conflict(f"visit {row.visit}'s CRF is not anchored yet: it is paid once it is")
        trials = self._trials()
        state = trials.trial(row.trial_id)
        on_chain = trials.participant(row.trial_id, row.participant)
        if on_chain is None:
            raise NotFound(f"participant 0x{row.participant.hex()} is not enrolled in trial {row.trial_id}")
        if on_chain.visits_paid >= row.visit:  # paid on chain, not marked here (a crash in between)
            return self._already_paid(row)
        _check_payable(state, on_chain, row.visit)
        proven = self._system.anchored([stored])[0]
        paid = self._site_chain().pay_visit(
            row.trial_id, row.participant, row.visit, proven.commitment, proven.root, list(proven.proof)
        )
        self._store.paid(row.trial_id, row.participant, row.visit, paid.tx_hash)
        return Payment.of(paid)

    def _already_paid(self, row: VisitRecord) -> Payment:
        found = [p for p in self._trials().payments(row.trial_id, row.participant) if p.visit == row.visit]
        if not found:
            raise Conflict(f"visit {row.visit} of 0x{row.participant.hex()} is paid on chain, its payment not found")
        self._store.paid(row.trial_id, row.participant, row.visit, found[0].tx_hash)
        return Payment.of(found[0])

    def _anchored(self, row: VisitRecord) -> bool:
        return self._system.get(row.record_id, row.record_version).anchored_batch is not None


def _check_payable(state: TrialState, on_chain: TrialParticipant, visit: int) -> None:
    """`Conflict` saying why the contract would refuse the visit's payment now."""
    if on_chain.withdrawn:
        raise Conflict("she withdrew: her visits after withdrawal are not paid")
    if on_chain.consented_version < state.reconsent_from:
        raise Conflict(f"she must re-consent to version {state.current_version} before her visits are paid")
    if on_chain.allocation is None:
        raise Conflict("she is not randomised yet: her visits are paid once she is")
    if visit != on_chain.visits_paid + 1:
        raise Conflict(f"visit {visit} waits for visit {on_chain.visits_paid + 1}'s payment (visits are paid in order)")
