"""Deploy once per chain; record addresses per chain id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from careledger.chain import Chain, Deployer, Signer, open_chain
from careledger.errors import NotFound


def test_deploy_twice_deploys_once(any_chain: Chain, signer: Signer, tmp_path: Path) -> None:
    deployer = Deployer(any_chain, tmp_path / "deployments")
    first = deployer.deploy(signer, "RecordAnchor")
    block = any_chain.block_number()
    second = Deployer(any_chain, tmp_path / "deployments").deploy(signer, "RecordAnchor")
    assert first.deployed_now
    assert not second.deployed_now
    assert second.deployment == first.deployment
    assert any_chain.block_number() == block  # no transaction the second time
    recorded = json.loads((tmp_path / "deployments" / f"{any_chain.chain_id}.json").read_text())
    assert recorded["RecordAnchor"]["address"] == first.deployment.address
    # The ABI rides along, so a tool outside the project (cast, ethers, web3.py) needs nothing else.
    outside = any_chain.w3.eth.contract(
        address=recorded["RecordAnchor"]["address"], abi=recorded["RecordAnchor"]["abi"]
    )
    assert outside.functions.is_anchored(bytes(32)).call() is False


def test_address_of_undeployed_contract_says_how_to_fix(any_chain: Chain, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="run `careledger chain deploy`"):
        Deployer(any_chain, tmp_path).address("RecordAnchor")


def test_a_reset_chain_gets_a_fresh_deployment(tmp_path: Path, account: LocalAccount) -> None:
    records = tmp_path / "deployments"
    with open_chain("memory") as chain:
        old = Deployer(chain, records).deploy(chain.signer(account), "RecordAnchor").deployment
    with open_chain("memory") as fresh:  # same chain id, empty state
        deployer = Deployer(fresh, records)
        assert deployer.current("RecordAnchor") is None
        new = deployer.deploy(fresh.signer(account), "RecordAnchor")
        assert new.deployed_now
        assert fresh.w3.eth.get_code(new.deployment.address)
        assert deployer.deployments() == [new.deployment]
    assert old.block >= 1


def test_changed_init_code_redeploys(any_chain: Chain, signer: Signer, tmp_path: Path) -> None:
    records = tmp_path / "deployments"
    first = Deployer(any_chain, records).deploy(signer, "RecordAnchor").deployment
    path = records / f"{any_chain.chain_id}.json"
    body = json.loads(path.read_text())
    body["RecordAnchor"]["init_code_hash"] = "0x" + "00" * 32  # as if built from older source
    path.write_text(json.dumps(body))
    again = Deployer(any_chain, records).deploy(signer, "RecordAnchor")
    assert again.deployed_now
    assert again.deployment.address != first.address
