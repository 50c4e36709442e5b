"""Node wallets as keystore v3 files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from careledger.errors import AccessDenied, Conflict, IntegrityError, NotFound
from careledger.identity import LIGHT_SCRYPT_N, keystore_address, load_keystore, new_keystore


def test_round_trip_and_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "node.json"
    account = new_keystore(path, "correct horse", light_kdf=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keystore_address(path) == account.address
    assert load_keystore(path, "correct horse").key == account.key
    body = json.loads(path.read_text())
    assert body["version"] == 3
    assert body["crypto"]["kdf"] == "scrypt"
    assert body["crypto"]["kdfparams"]["n"] == LIGHT_SCRYPT_N
    assert account.key.hex() not in path.read_text()


def test_default_kdf_is_full_strength(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    new_keystore(path, "pw")
    assert json.loads(path.read_text())["crypto"]["kdfparams"]["n"] == 2**18


def test_wrong_passphrase_is_access_denied(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    new_keystore(path, "right", light_kdf=True)
    with pytest.raises(AccessDenied, match="wrong passphrase"):
        load_keystore(path, "wrong")


def test_refuses_to_overwrite_or_use_empty_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    new_keystore(path, "pw", light_kdf=True)
    before = path.read_bytes()
    with pytest.raises(Conflict):
        new_keystore(path, "pw", light_kdf=True)
    assert path.read_bytes() == before
    with pytest.raises(AccessDenied, match="empty passphrase"):
        new_keystore(tmp_path / "other.json", "", light_kdf=True)


def test_missing_and_damaged_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        keystore_address(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        load_keystore(bad, "pw")
    bad.write_text(json.dumps({"version": 1}))
    with pytest.raises(IntegrityError, match="not a keystore v3"):
        keystore_address(bad)


def test_tampered_ciphertext_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    new_keystore(path, "pw", light_kdf=True)
    body = json.loads(path.read_text())
    text = body["crypto"]["ciphertext"]
    body["crypto"]["ciphertext"] = ("0" if text[0] != "0" else "1") + text[1:]
    path.write_text(json.dumps(body))
    with pytest.raises(AccessDenied):
        load_keystore(path, "pw")


def test_eth_account_opens_our_keystores(tmp_path: Path) -> None:
    from eth_account import Account

    path = tmp_path / "node.json"
    account = new_keystore(path, "pw", light_kdf=True)
    assert Account.decrypt(json.loads(path.read_text()), "pw") == account.key
