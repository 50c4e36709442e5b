"""The managed anvil chain: persistence, the shared endpoint, and a dying child."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from careledger.chain import AnchorKind, Deployer, RecordAnchor, open_chain
from careledger.chain._anvil import ChainDir, Endpoint
from careledger.chain._backends import AnvilBackend
from careledger.errors import ChainUnavailable, ConfigError, Conflict

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
