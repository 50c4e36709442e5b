"""Index a contract's events: read them in block order, resuming where the last run stopped.

It sits above the chain and the store and joins the two: the cursor lives in the node's
database and moves in the same transaction as whatever the handler writes, so a crash
mid-way replays the unfinished range and nothing twice. The cursor also counts the events
handled up to it, so a process that finds it moved by another knows whether anything was
indexed meanwhile or only empty blocks went by (`Mark`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError as RowConflict
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from careledger.chain import ChainEvent, ContractFacade
from careledger.store import Database, EventCursor, one_at_a_time

# Blocks per eth_getLogs request: inside the limits public RPC providers set.
_SPAN = 2_000


Handler = Callable[[Session, ChainEvent], None]


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a stream's cursor stands: its last block handled, and how many events were handled up to it."""

    block: int
    events: int


class EventReader:
    """Reads the events of one contract as one named stream."""

    def __init__(self, facade: ContractFacade, db: Database, stream: str, *, start_block: int = 0) -> None:
        self.facade = facade
        self.db = db
        self.stream = stream
        self.start_block = start_block
        self.indexed_elsewhere = False
        """Set by `poll` when another process sharing the database indexed some of its blocks."""
        self.events_elsewhere = False
        """Set by `poll` when what another process indexed meanwhile held events (not only empty blocks)."""
        self.reached = Mark(start_block - 1, 0)
        """Where `poll` left the cursor: the blocks and events handled here, or by another process."""

    def last_block(self) -> int:
        """The last block already handled (`start_block - 1` before the first run)."""
        return self.mark().block

    def mark(self) -> Mark:
        """Where the cursor stands now."""
        with self.db.session() as session:
            cursor = session.get(EventCursor, (self.stream, self.facade.chain.chain_id))
            return Mark(cursor.last_block, cursor.events) if cursor else Mark(self.start_block - 1, 0)

    def poll(self, handle: Handler, *, to_block: int | None = None, since: Mark | None = None) -> int:
        """Hand every new event to `handle`; the number handled. `since` is where the caller knows the cursor
        stood (default: where it stands now); `reached` is left where this poll leaves it.

        Each span of blocks is one transaction: the handler's writes and the cursor
        commit together. Another process sharing the database (another worker of the node,
        the CLI beside a server) may index the same span at the same moment: on PostgreSQL
        the second waits for the first (`one_at_a_time`) and then finds the cursor moved; on
        SQLite the loser's transaction fails on the rows the winner wrote. Either way it goes
        on from the winner's cursor, with `indexed_elsewhere` set.
        """
        chain = self.facade.chain
        head = chain.block_number() if to_block is None else to_block
        handled = 0
        reached = self.mark() if since is None else since
        while reached.block < head:
            start, end = reached.block + 1, min(reached.block + _SPAN, head)
            logs = chain.w3.eth.get_logs({"address": self.facade.address, "fromBlock": start, "toBlock": end})
            try:
                done = self._handle_span(start, logs, end, handle)
            except (RowConflict, OperationalError):
                if self.last_block() < start:
                    raise  # nobody else moved the cursor: a real failure
                done = None
            if done is None:
                moved = self.mark()
                self.indexed_elsewhere = True
                self.events_elsewhere = self.events_elsewhere or moved.events != reached.events
                reached = moved
                continue
            handled += done
            reached = Mark(end, reached.events + done)
        self.reached = reached
        return handled

    def _handle_span(self, start: int, logs: list[Any], end: int, handle: Handler) -> int | None:
        """Index one span in one transaction; None if another process indexed (some of) it first."""
        handled = 0
        chain = self.facade.chain
        with self.db.session() as session:
            one_at_a_time(session, f"events:{self.stream}")
            cursor = session.get(EventCursor, (self.stream, chain.chain_id))
            if cursor is not None and cursor.last_block >= start:
                return None
            for log in logs:
                event = self.facade.decode(log)
                if event is not None:
                    handle(session, event)
                    handled += 1
            if cursor is None:
                session.add(EventCursor(stream=self.stream, chain_id=chain.chain_id, last_block=end, events=handled))
            else:
                cursor.last_block = end
                cursor.events += handled
        return handled
