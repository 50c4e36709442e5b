"""Milestone payments: the sponsor's escrow pays this site a fee and the participant's payee a stipend for each visit
whose CRF is complete and whose visit leaf is anchored, in visit order; a participant with no payee yet has her
stipend held by the escrow until her site names one (`name_payee`), which pays out everything held at once. The
node's own work ("trial milestone payments"), done by the leader's round and on request.

```
trial_visits: complete, not paid ─► its CRF's current version still the one kept (else kept now: a new leaf) ─►
     (anchor the visit leaves waiting, when asked: `_visit_leaves.TrialVisitLeaves`, batches this node anchors)
     ─► her participant on chain: next visit due, may visit ─► Trials.pay_visit(leaf, root, proof) as the node
     (the contract checks the proof in a RECORDS batch this node anchored) ─► paid here
```

The leaf is keccak256(visit salt ‖ the CRF version's commitment), never the commitment: the chain's `VisitPaid`
names no record. A visit whose CRF is incomplete, not anchored yet, behind an unpaid earlier visit, or of a
participant who must re-consent first waits: `settle` pays what it can and leaves the rest for a later round;
`pay` refuses one visit with why.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from eth_utils import is_address, to_checksum_address

from careledger.access import SystemRepository
from careledger.errors import CareLedgerError, Conflict, NotFound, ValidationError
from careledger.records import Resource
from careledger.trials._crf import complete
from careledger.trials._site_views import BLOCKED_ALLOCATION, BLOCKED_RECONSENT, WITHDRAWN, visit_block
from careledger.trials._store import TrialStore, VisitRecord
from careledger.trials._views import Payment, PaymentsView

if TYPE_CHECKING:
    from careledger.chain import TrialParticipant, Trials, TrialState

_log = logging.getLogger(__name__)


class Settlement:
    """The escrow's payments of this site's visits, and the payees its participants name."""

    def __init__(
        self,
        store: TrialStore,
        system: SystemRepository,
        trials: Callable[[], Trials],
        site_chain: Callable[[], Trials],
        anchor: Callable[[], object],
        form: Callable[[int, int], Resource],
    ) -> None:
        """`system` is the node's "trial milestone payments" work (the CRFs' current versions); `site_chain()`
        sends as the node; `anchor()` anchors the visit leaves waiting now; `form(trial_id, visit)` is the visit's
        Questionnaire (a CRF found newer than the one kept is judged complete or not by it)."""
        self._store = store
        self._system = system
        self._trials = trials
        self._site_chain = site_chain
        self._anchor = anchor
        self._form = form
        self._waits: dict[tuple[int, bytes, int], str] = {}  # why each visit waited when last said (logged once)

    def settle(self, trial_id: int | None = None, *, anchor: bool = True) -> list[Payment]:
        """Pay every visit here (of one trial, if given) whose CRF is complete and anchored, in order; `anchor`: the
        visit leaves not anchored yet are anchored first (the leader's round leaves that to the trial anchorer's
        batches). What was paid; a visit that cannot be paid yet waits, and so do that participant's later visits."""
        due = self._store.visits(trial_id, unpaid=True)  # an incomplete one too: its CRF may be corrected since
        if anchor and not all(row.leaf is not None and row.leaf.anchored for row in due):
            self._anchor()
            due = self._store.visits(trial_id, unpaid=True)
        paid, stuck = [], set()
        for row in due:
            if (row.trial_id, row.participant) in stuck:
                continue
            try:
                paid.append(self.pay(row))
            except CareLedgerError as waiting:
                stuck.add((row.trial_id, row.participant))
                self._say_waits(row, str(waiting))
            else:
                self._waits.pop((row.trial_id, row.participant, row.visit), None)
        return paid

    def _say_waits(self, row: VisitRecord, why: str) -> None:
        """Log why a visit waits at INFO when that changes (each round asks again: the rest at DEBUG)."""
        key = (row.trial_id, row.participant, row.visit)
        level = logging.DEBUG if self._waits.get(key) == why else logging.INFO
        self._waits[key] = why
        _log.log(level, "trial %d visit %d of 0x%s waits: %s", row.trial_id, row.visit, row.participant.hex(), why)

    def pay(self, row: VisitRecord) -> Payment:
        """Pay one visit now, or say why it cannot be: its CRF incomplete (`ValidationError`), corrected since it was
        kept (kept now, paid once its new leaf is anchored), not anchored yet, an earlier visit unpaid, her
        re-consent or allocation missing, withdrawn (`Conflict`)."""
        self._check_current(row)
        if not row.complete:
            raise ValidationError(
                f"visit {row.visit}'s CRF is incomplete: the escrow pays a visit once its CRF is complete"
            )
        leaf = row.leaf
        if leaf is None or leaf.root is None:  # told before the chain is asked anything: the round's common case
            raise Conflict(f"visit {row.visit}'s CRF is not anchored yet: it is paid once it is")
        trials = self._trials()
        state = trials.trial(row.trial_id)
        on_chain = trials.participant(row.trial_id, row.participant)
        if on_chain is None:
            raise NotFound(f"participant 0x{row.participant.hex()} is not enrolled in trial {row.trial_id}")
        if on_chain.visits_paid >= row.visit:  # paid on chain, not marked here (a crash in between)
            return self._already_paid(row)
        _check_payable(state, on_chain, row.visit)
        paid = self._site_chain().pay_visit(
            row.trial_id, row.participant, row.visit, leaf.leaf, leaf.root, list(leaf.proof)
        )
        self._store.paid(row.trial_id, row.participant, row.visit, paid.tx_hash)
        return Payment.of(paid)

    def name_payee(self, trial_id: int, participant: bytes, payee: str) -> int:
        """Name the address her stipends go to, as her site (the node), on chain: every stipend held for her until
        now is paid to it at once, and her later ones go to it. What was paid out (0: nothing was held). Naming an
        address links it to the trial on chain: the caller says so to her first. `ValidationError` for anything
        but a non-zero address."""
        if not isinstance(payee, str) or not is_address(payee.strip()):
            raise ValidationError(f"a payee is an address (0x and 40 hex digits), not {str(payee)[:64]!r}")
        named = to_checksum_address(payee.strip())
        if int(named, 16) == 0:
            raise ValidationError("the zero address cannot be a payee: her stipends would be lost")
        return self._site_chain().set_payee(trial_id, participant, named)

    def _check_current(self, row: VisitRecord) -> None:
        """Refuse a visit whose CRF changed after its row was kept (a crash between a correction and its row): the
        current version is kept now, with a fresh leaf, and is paid once that is anchored, if it is complete."""
        current = self._system.get(row.record_id)
        if current.version == row.record_version and not current.deleted:
            return
        if current.deleted:
            raise Conflict(f"visit {row.visit}'s CRF was deleted after it was entered: the escrow pays no visit for it")
        done = complete(self._form(row.trial_id, row.visit), self._system.open(current))
        self._store.keep_visit(replace(row, record_version=current.version, complete=done, leaf=None))
        changed = f"visit {row.visit}'s CRF is at version {current.version}, not the version {row.record_version} kept"
        if not done:
            raise ValidationError(f"{changed}, and it is incomplete: the escrow pays a visit once its CRF is complete")
        raise Conflict(f"{changed}: version {current.version} is kept now and paid once its new leaf is anchored")

    def _already_paid(self, row: VisitRecord) -> Payment:
        found = [p for p in self._trials().payments(row.trial_id, row.participant) if p.visit == row.visit]
        if not found:
            raise Conflict(f"visit {row.visit} of 0x{row.participant.hex()} is paid on chain, its payment not found")
        self._store.paid(row.trial_id, row.participant, row.visit, found[0].tx_hash)
        return Payment.of(found[0])


def payments_view(trials: Trials, trial_id: int) -> PaymentsView:
    """What a trial's escrow paid, from its `VisitPaid` logs: per site, per participant (what reached her payee), and
    the stipends held for a participant with no payee yet (the chain's `held`, asked only of those ever held)."""
    state = trials.trial(trial_id)
    paid = [Payment.of(p) for p in trials.payments(trial_id)]
    by_site: Counter[str] = Counter()
    by_participant: Counter[str] = Counter()
    for payment in paid:
        by_site[payment.site] += payment.site_fee
        by_participant[payment.participant] += payment.stipend
    held = {}
    for participant in sorted({p.participant for p in paid if p.held}):
        if amount := trials.held(trial_id, bytes.fromhex(participant.removeprefix("0x"))):
            held[participant] = amount
            by_participant[participant] -= amount
    reached = {
        participant: amount for participant, amount in by_participant.items() if amount or participant not in held
    }
    returned = trials.returned(trial_id) if not state.blinded else 0  # returned only after unblinding: no logs read
    return PaymentsView(
        trial_id, state.budget, state.escrow, state.owed, dict(by_site), reached, tuple(paid), held, returned
    )


def _check_payable(state: TrialState, on_chain: TrialParticipant, visit: int) -> None:
    """`Conflict` saying why the contract would refuse the visit's payment now (`visit_block`, its order)."""
    why = {
        WITHDRAWN: "she withdrew: her visits after withdrawal are not paid",
        BLOCKED_ALLOCATION: "she is not randomised yet: her visits are paid once she is",
        BLOCKED_RECONSENT: f"she must re-consent to version {state.current_version} before her visits are paid",
    }
    block = visit_block(state, on_chain)
    if block is not None:
        raise Conflict(why[block])
    if visit != on_chain.visits_paid + 1:
        raise Conflict(f"visit {visit} waits for visit {on_chain.visits_paid + 1}'s payment (visits are paid in order)")
