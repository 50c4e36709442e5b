"""Local wallets: creation, metadata, unlocking, DIDs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from careledger.chain import Role
from careledger.crypto import PrivateKey, Suite, seal, unseal
from careledger.crypto._envelope import RecordContext
from careledger.errors import AccessDenied, Conflict, IntegrityError, NotFound, ValidationError
from careledger.identity import WalletStore, did_pkh


@pytest.fixture
def store(tmp_path: Path) -> WalletStore:
    return WalletStore(tmp_path / "keystore", light_kdf=True)


def test_create_and_read_back_without_passphrase(store: WalletStore) -> None:
    wallet = store.create("alice", Role.PATIENT, "pw")
    again = store.get("alice")
    assert again == wallet
    assert (wallet.role, wallet.key_version, wallet.encryption_key.suite) == (Role.PATIENT, 1, Suite.X25519)
    assert stat.S_IMODE(wallet.path.stat().st_mode) == 0o600
    assert [w.name for w in store.all()] == ["alice"]
    assert store.find(wallet.address.lower()) == wallet
    assert store.find("bob") is None


def test_a_miss_rereads_the_keystores_only_when_they_changed(
    store: WalletStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = store.create("alice", Role.PATIENT, "pw")
    assert store.find(alice.address) == alice
    reads: list[str] = []
    real_all = store.all
    monkeypatch.setattr(store, "all", lambda: reads.append("all") or real_all())
    stranger = Account.create().address
    assert store.find(stranger) is None
    assert store.find(stranger) is None
    assert reads == []  # nothing changed on disk: no keystore read again
    elsewhere = WalletStore(tmp_path / "keystore", light_kdf=True)  # another process on the same home
    bob = elsewhere.create("bob", Role.PRACTITIONER, "pw")
    assert store.find(bob.address) == bob
    assert reads == ["all"]


def test_keystore_is_standard_v3(store: WalletStore) -> None:
    wallet = store.create("alice", Role.PATIENT, "pw")
    body = json.loads(wallet.path.read_text())
    key = Account.decrypt(body, "pw")
    assert Account.from_key(key).address == wallet.address
    assert body["careledger"]["role"] == "patient"


def test_encryption_key_is_derived_from_the_wallet_key(store: WalletStore) -> None:
    wallet = store.create("drbob", Role.PRACTITIONER, "pw", Suite.MLKEM768_X25519)
    unlocked = store.unlock("drbob", "pw")
    private = unlocked.encryption_key()
    assert private.public_key == wallet.encryption_key
    assert private.public_key == PrivateKey.derive(unlocked.account.key, Suite.MLKEM768_X25519, 1).public_key
    context = RecordContext("r", 1, wallet.address, "general")
    assert unseal(seal(b"note", context, [wallet.encryption_key]), context, private) == b"note"


def test_refusals(store: WalletStore) -> None:
    store.create("alice", Role.PATIENT, "pw")
    with pytest.raises(Conflict):
        store.create("alice", Role.PATIENT, "pw")
    with pytest.raises(AccessDenied, match="wrong passphrase"):
        store.unlock("alice", "nope")
    with pytest.raises(NotFound, match="wallets: alice"):
        store.get("carol")
    with pytest.raises(ValidationError, match="bad wallet name"):
        store.create("../evil", Role.PATIENT, "pw")
    with pytest.raises(ValidationError, match="unknown role 'surgeon'"):
        Role.parse("surgeon")


def test_a_foreign_keystore_is_not_a_wallet(store: WalletStore) -> None:
    store.directory.mkdir(parents=True)
    (store.directory / "foreign.json").write_text(json.dumps(Account.encrypt(Account.create().key, "pw", iterations=2)))
    with pytest.raises(IntegrityError, match="not a CareLedger wallet"):
        store.get("foreign")


def test_did_pkh() -> None:
    address = "0x" + "ab" * 20
    assert did_pkh(31337, address) == "did:pkh:eip155:31337:0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
