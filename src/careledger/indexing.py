"""Index a contract's events: read them in block order, resuming where the last run stopped.

It sits above the chain and the store and joins the two: the cursor lives in the node's
database and moves in the same transaction as whatever the handler writes, so a crash
mid-way replays the unfinished range and nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError as RowConflict
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from careledger.chain import ChainEvent, ContractFacade
from careledger.store import Database, EventCursor, one_at_a_time

# Blocks per eth_getLogs request: inside the limits public RPC providers set.
_SPAN = 2_000


Handler = Callable[[Session, ChainEvent], None]


class EventReader:
    """Reads the events of one contract as one named stream."""

    def __init__(self, facade: ContractFacade, db: Database, stream: str, *, start_block: int = 0) -> None:
        self.facade = facade
        self.db = db
        self.stream = stream
        self.start_block = start_block
        self.indexed_elsewhere = False
        """Set by `poll` when another process sharing the database indexed some of its blocks."""
        self.reached = start_block - 1
        """The last block `poll` accounted for: handled here, or (with `indexed_elsewhere`) by another process."""

    def last_block(self) -> int:
        """The last block already handled (`start_block - 1` before the first run)."""
        with self.db.session() as session:
            cursor = session.get(EventCursor, (self.stream, self.facade.chain.chain_id))
            return cursor.last_block if cursor else self.start_block - 1

    def poll(self, handle: Handler, *, to_block: int | None = None, since: int | None = None) -> int:
        """Hand every new event to `handle`; the number handled. `since` is the last block the caller knows
        handled (default: the cursor's now); `reached` is left at the last block accounted for.

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
        start = (self.last_block() if since is None else since) + 1
        while start <= head:
            end = min(start + _SPAN - 1, head)
            logs = chain.w3.eth.get_logs({"address": self.facade.address, "fromBlock": start, "toBlock": end})
            try:
                done = self._handle_span(start, logs, end, handle)
            except (RowConflict, OperationalError):
                if self.last_block() < start:
                    raise  # nobody else moved the cursor: a real failure
                done = None
            if done is None:
                self.indexed_elsewhere = True
                start = self.last_block() + 1
                continue
            handled += done
            start = end + 1
        self.reached = start - 1
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
                session.add(EventCursor(stream=self.stream, chain_id=chain.chain_id, last_block=end))
            else:
                cursor.last_block = end
        return handled
