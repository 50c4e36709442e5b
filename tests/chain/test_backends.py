"""A chain reached by its JSON-RPC URL: stopped and started again on the same port, it is used again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3.types import RPCEndpoint

from careledger.chain import Chain, open_chain
from careledger.errors import ChainUnavailable
from tests.chain.conftest import External, until_answers

pytestmark = pytest.mark.anvil


@pytest.fixture
def external(tmp_path: Path) -> Iterator[External]:
    chain = External(tmp_path / "state.json")
    chain.start()
    yield chain
    chain.stop()


def test_an_rpc_chain_started_again_on_its_port_is_used_again_and_its_outage_logged_once(
    external: External, caplog: pytest.LogCaptureFixture
) -> None:
    chain: Chain = until_answers(lambda: open_chain(external.url))
    with chain:
        for _ in range(3):
            chain.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        block = chain.block_number()
        assert block == 3
        caplog.clear()  # what its start logged
        with caplog.at_level(logging.INFO, logger="careledger.chain"):
            external.stop()
            with pytest.raises(ChainUnavailable, match=f"^cannot reach the chain at {external.url}: ConnectionError"):
                chain.block_number()
            with pytest.raises(ChainUnavailable, match="retrying"):
                until_answers(chain.block_number, timeout=1)
            external.start()
            assert until_answers(chain.block_number) == block
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert (
        messages[0]
        == f"chain unavailable: cannot reach the chain at {external.url}: ConnectionError; retrying with backoff"
    )
    assert messages[1].startswith(f"chain reachable again at {external.url} after ")
