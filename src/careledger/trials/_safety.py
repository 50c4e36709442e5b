"""Safety reports: a serious adverse event, told at once by the site's node to the nodes of the trial's sponsor and
of every ethics board that approved it, signed by the site; kept by them sealed, read by the sponsor and boards only.

```
site: report_adverse_event (serious) ─► the report (no name, no patient reference: `_adverse.safety_report`)
      ─► one delivery per reader (sponsor, boards), kept (a ticket, the report sealed) until it arrives:
         the reader's node (its own endpoint, else the node that registered it: `_nodes`) ─► signed afresh
         (`TrialSafetyReport`, EIP-712, the exchange's domain) ─► POST /trials/safety-reports
         (no endpoint, no answer, a refusal: kept; the leader's round sends it again, each wait twice the last)
reader's node: POST /trials/safety-reports ─► the report is what a site builds, for the request's trial and site
      (`_adverse.checked_report`: its keys, each of its kind, nothing else) ─► signature ─► signer is the site it
      names ─► addressed to this node, or to a wallet kept on it (the reader registered this node's endpoint as its
      own) ─► the chain: a site of that trial ─► fresh and unused ─► kept sealed, once (the same report again: 200)
```

A refusal is a 4xx (`ValidationError` malformed or addressed elsewhere, `Unauthenticated` forged, expired or
replayed, `AccessDenied` not a site of the trial, `NotFound` no such trial), audited, and nothing is stored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from careledger.audit import ANONYMOUS, Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry, Trials
from careledger.crypto import (
    Address,
    AtRestKey,
    HashedJson,
    JsonKey,
    Nonce,
    Signed,
    Struct,
    Uint64,
    Uint256,
    canonical_json,
    keccak,
    sign_typed_data,
)
from careledger.errors import AccessDenied, CareLedgerError, Unauthenticated, ValidationError
from careledger.exchange import DOMAIN, LIFETIME
from careledger.shared import Deliveries, Tickets
from careledger.trials._adverse import REPORT_KEYS, checked_report
from careledger.trials._nodes import Nodes
from careledger.trials._store import TrialStore

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_log = logging.getLogger(__name__)

KIND = "trial-safety-report"  # the tickets' kind: a report, until the reader's node takes it
KEEP_DAYS = 30  # how long a report waits to be sent again
FIRST_WAIT = 60.0  # seconds before a report that did not arrive is sent again; doubled each time
MAX_WAIT = 3600.0  # seconds between two attempts, at most
TIMEOUT = 10.0  # seconds a reader's node has to take a report
_PENDING_AAD = b"careledger/trial-safety-report-pending/v1\x00"

# Posts a signed report to a node's endpoint; the node's answer (`careledger.client` over HTTP).
Post = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class SafetyReportRequest(Struct):
    """A site node's signed safety report to one reader's node: the trial, the site, the node it is for, the report
    (signed by its hash), and a nonce and a short expiry that make it single-use."""

    PRIMARY_TYPE: ClassVar[str] = "TrialSafetyReport"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a safety report"

    trial_id: Annotated[Uint256, JsonKey("trial")]
    site: Address
    receiver: Address
    report: HashedJson
    nonce: Nonce
    expiry: Uint64


@dataclass(frozen=True, slots=True)
class SignedSafetyReport(Signed[SafetyReportRequest]):
    """A safety report and its site's signature, the body of `POST /trials/safety-reports`."""

    REQUEST: ClassVar[type[Struct]] = SafetyReportRequest


def _post(endpoint: str, body: dict[str, Any]) -> Any:
    from careledger.client import FhirClient  # httpx: imported when a report is sent

    with FhirClient(endpoint, timeout=TIMEOUT) as client:
        return client.safety_report(body)


class SafetyReports:
    """The safety reports this node sends (as a site) and receives (as a sponsor's or board's node)."""

    def __init__(
        self,
        store: TrialStore,
        audit: AuditLog,
        trials: Callable[[], Trials],
        identity: Callable[[], IdentityRegistry],
        tickets: Tickets,
        key: Callable[[], AtRestKey],
        account: Callable[[], LocalAccount],
        nodes: Nodes,
        *,
        fresh: Callable[[str, int, int], None],
        here: str,
        chain_id: int,
        holds: Callable[[str], bool] = lambda _: False,
        post: Post = _post,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`account` is the node wallet's key (it signs each attempt); `nodes` finds the readers' nodes;
        `fresh(signer, nonce, expiry)` spends a request's nonce once; `holds(address)`: whether a wallet is kept on
        this node (a report addressed to it is this node's to take: the wallet registered this node's endpoint)."""
        self._store = store
        self._audit = audit
        self._trials = trials
        self._identity = identity
        self._key = key
        self._account = account
        self._nodes = nodes
        self._fresh = fresh
        self.here = here
        self.chain_id = chain_id
        self._holds = holds
        self._post = post
        self._clock = clock
        self._kept = Deliveries(
            tickets, KIND, self._deliver, keep_days=KEEP_DAYS, first_wait=FIRST_WAIT, max_wait=MAX_WAIT, clock=clock
        )

    # Sending ------------------------------------------------------------------------------

    def send(self, trial_id: int, report: dict[str, Any]) -> dict[str, str | None]:
        """Send a serious adverse event's report to the node of each of the trial's readers (its sponsor and every
        board that approved a version), each kept until it arrives: for each reader, None if it arrived, else why
        it waits."""
        digest = keccak(canonical_json(report)).hex()
        sealed = self._key().seal(canonical_json(report), _PENDING_AAD + str(trial_id).encode()).hex()
        told = {}
        for reader in sorted(self.readers(trial_id)):
            pending = {"trial": trial_id, "reader": reader, "sealed": sealed}
            told[reader] = why = self._kept.send(f"{trial_id}:{digest}:{reader}", pending)
            if why is not None:  # said once, when kept; the retries say no more above DEBUG
                _log.warning(
                    "trial %d's safety report did not reach %s and waits, sent again for %d days: %s",
                    trial_id,
                    reader,
                    KEEP_DAYS,
                    why,
                )
        return told

    def waiting(self) -> list[dict[str, Any]]:
        """The reports waiting to be sent again: trial, reader, attempts and why (never the report)."""
        return [
            {key: pending.get(key) for key in ("trial", "reader", "attempts", "why")} for pending in self._kept.every()
        ]

    def retry(self, *, at: float | None = None) -> int:
        """Send again each report due (as of `at`, now unless given): the leader's round. How many arrived."""
        return self._kept.retry(at=at)

    def readers(self, trial_id: int) -> set[str]:
        """Who reads a trial's safety reports: its sponsor and each ethics board that approved a version of it."""
        trials = self._trials()
        state = trials.trial(trial_id)
        boards = {trials.version(trial_id, v).approved_by for v in range(1, state.latest_version + 1)}
        return {state.sponsor} | {board for board in boards if board is not None}

    def _deliver(self, pending: dict[str, Any]) -> None:
        """One attempt: the report signed afresh and posted to the reader's node (kept here if it is this one)."""
        trial_id, reader = int(pending["trial"]), str(pending["reader"])
        body = self._key().open(bytes.fromhex(pending["sealed"]), _PENDING_AAD + str(trial_id).encode())
        report = json.loads(body)
        node = self._nodes.node(reader)
        if node == self.here:
            self._store.keep_report(trial_id, self.here, report)
            return
        endpoint = self._nodes.endpoint(node)
        nonce = int.from_bytes(os.urandom(32), "big")
        request = SafetyReportRequest(trial_id, self.here, node, report, nonce, int(self._clock()) + LIFETIME)
        signature = sign_typed_data(self._account(), request.typed_data(self.chain_id, self._identity().address))
        self._post(endpoint, SignedSafetyReport(request, signature).to_json())

    # Receiving ----------------------------------------------------------------------------

    def accept(self, body: object) -> dict[str, Any]:
        """Another node's signed safety report to this node (`POST /trials/safety-reports`), kept sealed if it holds
        (module docstring): the trial, the site and whether it was new. A refusal is raised, audited, nothing kept."""
        signer = ANONYMOUS
        try:
            signed = SignedSafetyReport.from_json(body)
            request: SafetyReportRequest = signed.request
            checked_report(request.report, request.trial_id, request.site)  # before its hash: a number too large
            signer = signed.signer(self.chain_id, self._identity().address)
            self._check(request, signer)
            stored = self._store.keep_report(request.trial_id, signer, request.report)
        except CareLedgerError as refused:
            self._record("trial.safety-report", Outcome.DENIED, signer, f"{type(refused).__name__}: {refused}")
            raise
        self._record("trial.safety-report", Outcome.SUCCESS, signer, f"trial {request.trial_id}")
        return {"trial": request.trial_id, "site": signer, "stored": stored}

    def _check(self, request: SafetyReportRequest, signer: str) -> None:
        if signer != request.site:
            raise Unauthenticated(f"the report is signed by {signer}, not by {request.site}, the site it names")
        if request.receiver != self.here and not self._holds(request.receiver):
            raise ValidationError(
                f"the report is for {request.receiver}, neither this node ({self.here}) nor a wallet kept on it"
            )
        self._fresh(signer, request.nonce, request.expiry)  # the database before the chain: junk costs no RPC
        if not self._trials().is_site(request.trial_id, signer):
            raise AccessDenied(f"{signer} is not a site of trial {request.trial_id}: its report is refused")

    # Reading ------------------------------------------------------------------------------

    def read(self, trial_id: int, reader: str) -> list[dict[str, Any]]:
        """The safety reports of a trial received here, oldest first, each with its site and when it came; for the
        trial's sponsor and its ethics boards only (`AccessDenied` otherwise, audited)."""
        if reader not in self.readers(trial_id):
            why = f"only trial {trial_id}'s sponsor and the ethics boards that approved it read its safety reports"
            self._record("trial.safety-reports", Outcome.DENIED, reader, why)
            raise AccessDenied(why)
        found = self._store.reports(trial_id)
        self._record("trial.safety-reports", Outcome.SUCCESS, reader, f"trial {trial_id}: {len(found)} reports")
        return [
            {
                **{key: value for key, value in r.report.items() if key in REPORT_KEYS and key != "trial_id"},
                "trial": r.trial_id,
                "site": r.site,
                "received": _utc(r.received).isoformat(timespec="seconds"),
            }
            for r in found
        ]

    def _record(self, action: str, outcome: Outcome, by: str, detail: str) -> None:
        self._audit.record(Access(Action.EXECUTE, action, outcome, by, detail=detail))


def _utc(moment: datetime) -> datetime:
    """A time the database kept in UTC, with its offset (SQLite hands it back without one)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
