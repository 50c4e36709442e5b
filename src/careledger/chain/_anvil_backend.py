"""The backend of a home's own anvil chain, run by this process or kept by `careledger chain up`.

When that chain stops answering, a retry (`chain/_outage.py`) brings it back: anvil this
process started is started again from the state it saved in the home; a chain `chain up`
keeps is looked for again in the home's endpoint record, which a restarted `chain up`
rewrites with its new address.
"""

from __future__ import annotations

import logging
from typing import IO

from web3.types import RPCEndpoint

from careledger.chain._anvil import AnvilProcess, ChainDir, Endpoint
from careledger.chain._backends import HttpBackend
from careledger.errors import ChainUnavailable

_log = logging.getLogger("careledger.chain")

# Seconds a receipt may be missing on anvil before we mine a block to flush its pool.
_ANVIL_FLUSH_AFTER = 0.1


class AnvilBackend(HttpBackend):
    """An anvil chain belonging to a home: this process's own child, or one `chain up` keeps."""

    kind = "anvil"

    def __init__(
        self,
        chain_dir: ChainDir,
        *,
        process: AnvilProcess | None = None,
        endpoint: Endpoint | None = None,
        lock: IO[bytes] | None = None,
        keeper: bool = False,
    ) -> None:
        url = process.url if process else endpoint.url if endpoint else ""
        super().__init__(url)
        self.chain_dir = chain_dir
        self.process = process
        self.endpoint = endpoint
        self._lock = lock
        self._keeper = keeper

    def _unreachable(self, exc: Exception) -> ChainUnavailable:
        if self.process is not None:
            if self.process.died():  # killed this moment: its exit may not be known here yet (`died`)
                return ChainUnavailable(f"the managed chain died: {self.process.describe_exit()}")
        elif self.endpoint is not None and not self.endpoint.is_live():
            return self._keeper_stopped(self.endpoint)
        return super()._unreachable(exc)

    def _keeper_stopped(self, endpoint: Endpoint) -> ChainUnavailable:
        return ChainUnavailable(
            f"the chain kept by `careledger chain up` (pid {endpoint.pid}) stopped; "
            "start it again, or run the command without it"
        )

    def _reconnect(self) -> None:
        """Before a retry: start our anvil again from its saved state, or find where `chain up` runs it now."""
        if self.process is not None:
            if not self.process.alive():
                self._switch(self.process.start())
                if self._keeper:
                    self.chain_dir.record_endpoint(Endpoint(self.url or "", self.process.pid, self.process.chain_id))
                _log.warning(
                    "started anvil again (pid %d) at %s from %s", self.process.pid, self.url, self.chain_dir.state_file
                )
            return
        if self.endpoint is not None:
            endpoint = self.chain_dir.live_endpoint()
            if endpoint is None:
                raise self._keeper_stopped(self.endpoint)
            if endpoint != self.endpoint:
                self.endpoint = endpoint
                self._switch(endpoint.url)

    @property
    def development(self) -> bool:
        """Always: an anvil chain may fund accounts out of thin air."""
        return True

    def _still_pending(self, waited: float) -> None:
        # anvil's automine can leave transactions that arrive while it mines in the pool
        # until the next one arrives (foundry-rs/foundry#10122); an empty block flushes them.
        if waited >= _ANVIL_FLUSH_AFTER:
            self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def close(self) -> None:
        """Stop using the chain; stop anvil too if this process started it and no `chain up` keeps it."""
        if self.process is not None:
            if self._keeper:
                self.chain_dir.clear_endpoint(self.process.pid)
            self.process.stop()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
