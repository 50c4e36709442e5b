"""The managed anvil chain: persistence, the shared endpoint, and a dying child."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from careledger.chain import AnchorKind, Chain, Deployer, RecordAnchor, open_chain
from careledger.chain._anvil import ChainDir, Endpoint
from careledger.chain._anvil_backend import AnvilBackend
from careledger.errors import ChainUnavailable, ConfigError, Conflict
from tests.chain.conftest import until_answers

pytestmark = pytest.mark.anvil


def _process(chain: object) -> AnvilBackend:
    backend = chain.backend  # type: ignore[attr-defined]
    assert isinstance(backend, AnvilBackend)
    return backend


def test_state_and_addresses_survive_a_restart(tmp_path: Path, account: LocalAccount) -> None:
    records = tmp_path / "deployments"
    with open_chain("anvil", chain_dir=tmp_path / "chain") as chain:
        signer = chain.signer(account)
        deployed = Deployer(chain, records).deploy(signer, "RecordAnchor").deployment
        batch = RecordAnchor(chain, deployed.address, signer).anchor(os.urandom(32), 3, AnchorKind.RECORDS)
        block = chain.block_number()
    assert (tmp_path / "chain" / "anvil-state.json").is_file()
    with open_chain("anvil", chain_dir=tmp_path / "chain") as again:
        assert again.block_number() == block
        deployer = Deployer(again, records)
        assert deployer.current("RecordAnchor") == deployed
        assert RecordAnchor(again, deployed.address).batch(batch.root) == batch


def test_killed_child_is_reported_in_one_line(anvil_chain: object) -> None:
    process = _process(anvil_chain).process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with pytest.raises(ChainUnavailable) as caught:
        anvil_chain.block_number()  # type: ignore[attr-defined]
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"the managed chain died: anvil (pid {process.pid}) was killed by SIGKILL")


def _saved(chain_dir: Path, block: int, timeout: float = 10.0) -> None:
    """Wait until anvil's periodic dump of its state holds `block`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((chain_dir / "anvil-state.json").read_text())["best_block_number"] >= block:
                return
        except (FileNotFoundError, ValueError, KeyError):
            pass  # not written yet, or caught mid-write
        time.sleep(0.1)
    raise AssertionError(f"anvil did not save block {block} within {timeout} s")


def _kill(chain: Chain) -> int:
    """SIGKILL the chain's anvil child, as the OOM killer would; its pid."""
    process = _process(chain).process
    assert process is not None
    pid = process.pid
    os.kill(pid, signal.SIGKILL)
    process.wait()
    return pid


def test_a_killed_child_is_started_again_from_its_saved_state(tmp_path: Path, account: LocalAccount) -> None:
    with open_chain("anvil", chain_dir=tmp_path / "chain", state_interval=1) as chain:
        signer = chain.signer(account)
        anchor = RecordAnchor(chain, Deployer(chain, None).deploy(signer, "RecordAnchor").deployment.address, signer)
        batch = anchor.anchor(os.urandom(32), 3, AnchorKind.RECORDS)
        _saved(tmp_path / "chain", chain.block_number())
        killed = _kill(chain)
        with pytest.raises(ChainUnavailable, match=rf"^the managed chain died: anvil \(pid {killed}\) was killed"):
            chain.block_number()
        assert until_answers(lambda: anchor.batch(batch.root)) == batch
        process = _process(chain).process
        assert process is not None
        assert process.alive()
        assert process.pid != killed
        assert chain.url == process.url
        again = anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS)  # the same signer goes on sending
        assert anchor.batch(again.root) == again


def test_after_a_restart_that_lost_blocks_a_signer_counts_its_nonces_again(
    tmp_path: Path, account: LocalAccount
) -> None:
    # No state is saved for an hour: the killed chain comes back empty, without the signer's transaction.
    with open_chain("anvil", chain_dir=tmp_path / "chain", state_interval=3600) as chain:
        signer = chain.signer(account)
        signer.receipt_timeout = 10  # a transaction with a nonce the chain has not reached is never mined
        Deployer(chain, None).deploy(signer, "RecordAnchor")
        assert chain.transaction_count(account.address) == 1
        _kill(chain)
        assert until_answers(chain.block_number) == 0
        chain.backend.fund(account.address, 10**21)  # what the lost blocks held is gone, its ether too
        Deployer(chain, None).deploy(signer, "RecordAnchor")
        assert chain.transaction_count(account.address) == 1


def test_a_user_of_chain_up_follows_it_to_where_it_runs_after_a_restart(tmp_path: Path) -> None:
    chain_dir = ChainDir(tmp_path / "chain")
    keeper = open_chain("anvil", chain_dir=chain_dir.path, keep=True)
    with open_chain("anvil", chain_dir=chain_dir.path) as user:
        stopped = _process(keeper).process
        assert stopped is not None
        keeper.close()
        with pytest.raises(ChainUnavailable, match=rf"the chain kept by `careledger chain up` \(pid {stopped.pid}\)"):
            user.block_number()
        with pytest.raises(ChainUnavailable, match="stopped; start it again"):
            until_answers(user.block_number, timeout=1)  # retried, with nobody to answer
        keeper = open_chain("anvil", chain_dir=chain_dir.path, keep=True)
        try:
            assert until_answers(user.block_number) == 0
            assert user.url == keeper.url
            assert _process(user).process is None  # it followed the keeper, it did not start its own
        finally:
            keeper.close()


def test_keeper_records_endpoint_and_others_connect_to_it(tmp_path: Path) -> None:
    chain_dir = ChainDir(tmp_path / "chain")
    with open_chain("anvil", chain_dir=chain_dir.path, keep=True) as keeper:
        endpoint = chain_dir.read_endpoint()
        assert endpoint is not None
        assert endpoint.url == keeper.url
        with open_chain("anvil", chain_dir=chain_dir.path) as user:
            assert user.url == keeper.url
            assert _process(user).process is None  # connected, did not start its own
        with pytest.raises(Conflict, match="already runs at"):
            open_chain("anvil", chain_dir=chain_dir.path, keep=True)
        assert keeper.block_number() == 0  # the user closing did not stop the keeper's chain
    assert chain_dir.read_endpoint() is None


def test_stale_endpoint_record_is_ignored(tmp_path: Path) -> None:
    chain_dir = ChainDir(tmp_path / "chain")
    chain_dir.record_endpoint(Endpoint(url="http://127.0.0.1:9", pid=2**22 + 1, chain_id=31337))
    with open_chain("anvil", chain_dir=chain_dir.path) as chain:
        assert _process(chain).process is not None
        assert chain.url != "http://127.0.0.1:9"
    assert chain_dir.read_endpoint() is None


def test_missing_binary_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        open_chain("anvil", chain_dir=tmp_path, anvil_bin=tmp_path / "no-anvil")


def test_unknown_chain_spec_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown chain 'ganache'"):
        open_chain("ganache")


def test_unreachable_rpc_is_reported() -> None:
    with pytest.raises(ChainUnavailable, match=r"cannot reach the chain at http://127.0.0.1:9"):
        open_chain("http://127.0.0.1:9")
