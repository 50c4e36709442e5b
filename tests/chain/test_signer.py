"""Signing, pipelining and revert reasons, on the memory chain and on anvil."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from careledger.chain import AnchorKind, Chain, Deployer, RecordAnchor, Signer, TxRequest, open_chain
from careledger.errors import ChainError, TransactionReverted


def test_pipelined_transactions_take_consecutive_nonces(any_chain: Chain, anchor: RecordAnchor, signer: Signer) -> None:
    start = any_chain.w3.eth.get_transaction_count(signer.address)
    roots = [os.urandom(32) for _ in range(25)]
    hashes = signer.submit_many([anchor.anchor_request(root, 1, AnchorKind.RECORDS) for root in roots])
    assert len(set(hashes)) == 25
    receipts = signer.wait(hashes, [anchor.anchor_request(root, 1, AnchorKind.RECORDS) for root in roots])
    assert [r.status for r in receipts] == [1] * 25
    nonces = [any_chain.w3.eth.get_transaction(h)["nonce"] for h in hashes]
    assert nonces == list(range(start, start + 25))
    assert anchor.anchored_roots() == roots


def test_revert_reason_before_sending(anchor: RecordAnchor, any_chain: Chain, signer: Signer) -> None:
    nonce = any_chain.w3.eth.get_transaction_count(signer.address)
    with pytest.raises(TransactionReverted, match=r"^transaction reverted: anchor: empty root$") as caught:
        anchor.anchor(bytes(32), 1, AnchorKind.RECORDS)
    assert caught.value.reason == "anchor: empty root"
    assert any_chain.w3.eth.get_transaction_count(signer.address) == nonce  # nothing was sent


def test_revert_reason_of_a_mined_failure(anchor: RecordAnchor, signer: Signer) -> None:
    root = os.urandom(32)
    anchor.anchor(root, 1, AnchorKind.RECORDS)
    # A fixed gas limit skips estimation, so the failing transaction is mined.
    failing = TxRequest(to=anchor.address, data=anchor.anchor_request(root, 1, AnchorKind.AUDIT).data, gas=300_000)
    with pytest.raises(TransactionReverted, match="anchor: root already anchored") as caught:
        signer.transact(failing)
    assert caught.value.tx_hash is not None
    # The signer's nonces stay right after a failure.
    after = os.urandom(32)
    assert anchor.anchor(after, 1, AnchorKind.RECORDS).root == after


def test_a_refused_transaction_resyncs_nonces(anchor: RecordAnchor, signer: Signer, any_chain: Chain) -> None:
    # Make the local count run ahead of the chain, as after a crash of another sender.
    signer.nonces.reserve(1)
    signer.nonces.resync()
    assert signer.nonces.reserve(0) == any_chain.w3.eth.get_transaction_count(signer.address)
    poor = TxRequest(to=anchor.address, data=b"", value=10**30, gas=30_000)
    with pytest.raises(ChainError):
        signer.transact(poor)
    root = os.urandom(32)
    assert anchor.anchor(root, 1, AnchorKind.RECORDS).root == root


def test_another_process_sending_from_the_account_does_not_strand_the_signer(
    anchor: RecordAnchor, signer: Signer, any_chain: Chain
) -> None:
    """`serve` and a CLI command on one home both send from the node wallet, each with its own count."""
    assert anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS)  # this signer's count is now cached
    elsewhere = Signer(any_chain.backend, signer.account)  # the other process
    elsewhere.transact(anchor.anchor_request(os.urandom(32), 1, AnchorKind.RECORDS))
    root = os.urandom(32)
    assert anchor.anchor(root, 1, AnchorKind.RECORDS).root == root  # "nonce too low" once, then sent


def test_read_only_facade_refuses_to_write(any_chain: Chain, anchor: RecordAnchor) -> None:
    from careledger.errors import AccessDenied

    reader = RecordAnchor(any_chain, anchor.address)
    with pytest.raises(AccessDenied, match="read-only"):
        reader.anchor(os.urandom(32), 1, AnchorKind.RECORDS)


def test_verify_and_roles_through_the_facade(anchor: RecordAnchor, signer: Signer, account_b: str) -> None:
    leaf = os.urandom(32)
    batch = anchor.anchor(leaf, 1, AnchorKind.AUDIT)
    assert batch.kind is AnchorKind.AUDIT
    assert batch.anchorer == signer.address
    assert anchor.verify(batch.root, [], leaf)
    assert not anchor.verify(batch.root, [], os.urandom(32))
    assert anchor.is_anchorer(signer.address)
    assert not anchor.is_anchorer(account_b)
    anchor.grant_anchorer(account_b)
    assert anchor.is_anchorer(account_b)


@pytest.fixture
def account_b() -> str:
    from eth_account import Account

    return str(Account.create().address)


@pytest.mark.anvil
def test_a_nonce_another_sender_has_pending_is_counted_again(tmp_path: Path, account: LocalAccount) -> None:
    """Two workers of one node send from its wallet: one's transaction may still be pending when the other's,
    with the same nonce, arrives (anvil: "replacement transaction underpriced")."""
    with open_chain("anvil", chain_dir=tmp_path / "chain") as chain:
        signer = chain.signer(account)
        anchor = RecordAnchor(chain, Deployer(chain, None).deploy(signer, "RecordAnchor").deployment.address, signer)
        assert anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS)  # this signer's count is now cached
        chain.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        elsewhere = Signer(chain.backend, signer.account)  # the other worker
        elsewhere.submit_many([anchor.anchor_request(os.urandom(32), 1, AnchorKind.RECORDS)])  # pending
        miner = threading.Timer(0.5, lambda: chain.w3.provider.make_request("evm_mine", []))  # type: ignore[arg-type]
        miner.start()
        root = os.urandom(32)
        assert anchor.anchor(root, 1, AnchorKind.RECORDS).root == root
        miner.join()


def test_senders_sharing_a_lock_file_never_send_one_nonce_twice(
    anchor: RecordAnchor, signer: Signer, any_chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers of `serve --workers` each keep a signer of the node wallet: with one lock file, none of their
    batches is refused for a nonce, with no resend to hide a collision."""
    monkeypatch.setattr("careledger.chain._signer._RESENDS", 0)
    lock = tmp_path / "nonce.lock"
    workers = [Signer(any_chain.backend, signer.account, shared=lock) for _ in range(2)]
    for worker in workers:  # each has counted once: without the lock, both would hand out the same next nonce
        worker.transact(anchor.anchor_request(os.urandom(32), 1, AnchorKind.RECORDS))
    failures: list[BaseException] = []

    def send(worker: Signer) -> None:
        try:
            for _ in range(5):
                worker.transact(anchor.anchor_request(os.urandom(32), 1, AnchorKind.RECORDS))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(worker,)) for worker in workers for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert lock.stat().st_mode & 0o777 == 0o600
