"""Her erasure request, passed on to every node that fetched copies of what it erased, until each answers.

```
erase ─► a row per node: waiting ─► notice (her signed request, signed again by this node) ─► its endpoint
   answer signed by that node, about her request ─► answered (the signed answer kept)
   4xx, or no node endpoint on chain            ─► refused (why)
   5xx or silence                               ─► waiting: tried again after RETRY_AFTER s, doubled each time
                                                   (≤ MAX_WAIT), by the leader's rounds or `record erasures --retry`
```

Each attempt is a fresh notice (nonce, expiry), so a node spends each once; her own request keeps its id, so a
node that erased already answers the same again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from careledger.chain import IdentityRegistry
from careledger.erasure._request import ErasureNotice, SignedAnswer, SignedErasure
from careledger.errors import CareLedgerError, IntegrityError, ValidationError, http_status
from careledger.store import Database, ErasurePeer, ErasureRequestRow

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

WAITING, ANSWERED, REFUSED = "waiting", "answered", "refused"
RETRY_AFTER = 30.0  # seconds before a node that did not answer is asked again; doubled each time
MAX_WAIT = 3600.0  # the longest wait between two attempts (a node is asked until it answers)
TIMEOUT = 30.0  # seconds a node has to answer one notice (its erasure included)
UNDER_WAY = 2 * TIMEOUT  # a node being asked is not due again before the attempt has surely ended
RETRY_BATCH = 20  # notices sent again in one round, at most
_log = logging.getLogger(__name__)

# Posts a signed notice to a node's endpoint, the node's answer back (`careledger.client` over HTTP).
Post = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One node asked to erase her copies: `waiting` (not answered yet), `answered` (what it erased and kept),
    or `refused` (why)."""

    peer: str
    status: str
    attempts: int
    updated_at: datetime
    erased: tuple[str, ...] = ()
    kept: tuple[dict[str, str], ...] = ()
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The node's status as JSON."""
        return {
            "node": self.peer,
            "status": self.status,
            "attempts": self.attempts,
            "updated": self.updated_at.isoformat(),
            "erased": list(self.erased),
            "kept": list(self.kept),
            "problem": self.problem,
        }


def _post(endpoint: str, body: dict[str, Any]) -> Any:
    from careledger.client import FhirClient  # httpx: imported when a notice is sent

    with FhirClient(endpoint, timeout=TIMEOUT) as client:
        return client.erasure(body)


class ErasurePeers:
    """The nodes each erasure request of this node's went to, and their answers."""

    def __init__(
        self,
        db: Database,
        identity: Callable[[], IdentityRegistry],
        *,
        address: str,
        account: Callable[[], LocalAccount],
        chain_id: int,
        post: Post = _post,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._identity = identity
        self.address = address
        self._account = account
        self.chain_id = chain_id
        self._post = post
        self._clock = clock

    def forward(self, signed: SignedErasure, peers: Sequence[str]) -> list[PeerStatus]:
        """Send her request to each of `peers` now (once each); their statuses. One that does not answer waits
        to be asked again. A row is due only once its attempt has surely ended (a crash meanwhile), so the
        leader's round does not ask a node again while it is being asked."""
        request_id, now = signed.request.request_id, self._clock()
        with self._db.session() as session:
            for peer in peers:
                due = now + UNDER_WAY
                row = ErasurePeer(
                    request_id=request_id, peer=peer, status=WAITING, attempts=0, next_attempt=due, updated_at=now
                )
                session.merge(row)
        return [self._attempt(signed, peer) for peer in peers]

    def retry_due(self, limit: int = RETRY_BATCH) -> int:
        """Ask again each node whose time has come (the leader's round); how many answered now."""
        query = (
            select(ErasurePeer, ErasureRequestRow.signed)
            .join(ErasureRequestRow, ErasureRequestRow.request_id == ErasurePeer.request_id)
            .where(ErasurePeer.status == WAITING, ErasurePeer.next_attempt <= self._clock())
            .order_by(ErasurePeer.next_attempt)
            .limit(limit)
        )
        with self._db.session() as session:
            due = [(row.request_id, row.peer, signed) for row, signed in session.execute(query)]
        answered = 0
        for request_id, peer, signed in due:
            if self._claim(request_id, peer):  # not asked meanwhile by another round (or worker)
                status = self._attempt(SignedErasure.from_json(json.loads(signed)), peer)
                answered += status.status == ANSWERED
        return answered

    def _claim(self, request_id: str, peer: str) -> bool:
        """Mark a due node as being asked (due again only once the attempt has surely ended); False if it is not
        due any more: another round, or another worker's, took it first."""
        now = self._clock()
        claim = (
            update(ErasurePeer)
            .where(ErasurePeer.request_id == request_id, ErasurePeer.peer == peer)
            .where(ErasurePeer.status == WAITING, ErasurePeer.next_attempt <= now)
            .values(next_attempt=now + UNDER_WAY)
        )
        with self._db.writing() as connection:
            return bool(connection.execute(claim).rowcount)

    def statuses(self, request_id: str) -> list[PeerStatus]:
        """What each node asked for `request_id` answered (or not yet), by node."""
        query = select(ErasurePeer).where(ErasurePeer.request_id == request_id).order_by(ErasurePeer.peer)
        with self._db.session() as session:
            return [_status(row) for row in session.scalars(query)]

    def _attempt(self, signed: SignedErasure, peer: str) -> PeerStatus:
        """Send one fresh notice to `peer` and keep what came of it."""
        request = signed.request
        identity = self._identity()
        node = identity.actor(peer)
        if node is None or not node.active or not node.endpoint:
            return self._settle(request.request_id, peer, REFUSED, f"{peer} has no node endpoint on chain")
        notice = ErasureNotice.new(self.address, peer, signed).sign(self._account(), self.chain_id, identity.address)
        try:
            body = self._post(node.endpoint, notice.to_json())
            answer = self._checked(SignedAnswer.from_json(body), signed, peer, identity.address)
        except CareLedgerError as exc:
            if http_status(exc)[0] >= 500:
                return self._later(request.request_id, peer, str(exc))
            return self._settle(request.request_id, peer, REFUSED, str(exc))
        return self._settle(request.request_id, peer, ANSWERED, json.dumps(answer.to_json()))

    def _checked(self, answer: SignedAnswer, signed: SignedErasure, peer: str, registry: str) -> SignedAnswer:
        """`answer` if `peer` signed it about her request to this node; else `IntegrityError`."""
        request, said = signed.request, answer.request
        if answer.signer(self.chain_id, registry) != peer:
            raise IntegrityError(f"the answer is not signed by {peer}")
        if (said.peer, said.origin, said.patient) != (peer, self.address, request.patient):
            raise IntegrityError("the answer is about another node's or another patient's request")
        if said.request != request.nonce.to_bytes(32, "big"):
            raise IntegrityError("the answer is about another request")
        if not isinstance(said.outcome.get("erased"), list) or not isinstance(said.outcome.get("kept"), list):
            raise ValidationError("the answer's outcome says neither what was erased nor what was kept")
        return answer

    def _later(self, request_id: str, peer: str, problem: str) -> PeerStatus:
        """The node did not answer: wait twice as long as last time (at most `MAX_WAIT`) before asking again."""
        with self._db.session() as session:
            row = session.get_one(ErasurePeer, (request_id, peer))
            row.attempts += 1
            row.updated_at = now = self._clock()
            row.next_attempt = now + min(MAX_WAIT, RETRY_AFTER * 2 ** (row.attempts - 1))
            row.detail = problem
            status = _status(row)
        _log.info("erasure %s: %s did not answer (%s); asked again later", request_id, peer, problem)
        return status

    def _settle(self, request_id: str, peer: str, state: str, detail: str) -> PeerStatus:
        """The node answered, or never will: keep its answer (or why not), and stop asking."""
        with self._db.session() as session:
            row = session.get_one(ErasurePeer, (request_id, peer))
            row.attempts += 1
            row.status, row.detail, row.next_attempt, row.updated_at = state, detail, None, self._clock()
            return _status(row)


def _status(row: ErasurePeer) -> PeerStatus:
    """A node's row as its status: an answer's outcome read from the signed answer it kept."""
    updated = datetime.fromtimestamp(row.updated_at, UTC)
    if row.status != ANSWERED:
        return PeerStatus(row.peer, row.status, row.attempts, updated, problem=row.detail)
    outcome = json.loads(row.detail or "{}")["request"]["outcome"]
    return PeerStatus(row.peer, row.status, row.attempts, updated, tuple(outcome["erased"]), tuple(outcome["kept"]))
