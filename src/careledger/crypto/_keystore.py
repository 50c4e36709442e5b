"""secp256k1 wallets stored as Web3 Secret Storage (keystore v3) files, scrypt-protected.

A keystore is the only form in which a private key touches the disk: encrypted, mode
0600, written atomically. The passphrase never is.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from careledger._fs import write_atomically
from careledger.errors import AccessDenied, Conflict, IntegrityError, NotFound

# geth's --lightkdf work factor: for throwaway homes (tests, the demo), never for real keys.
LIGHT_SCRYPT_N = 4096


def new_keystore(path: Path, passphrase: str, *, light_kdf: bool = False) -> LocalAccount:
    """Create a fresh key and store it at `path`; refuses to overwrite one."""
    if path.exists():
        raise Conflict(f"a keystore already exists at {path}")
    if not passphrase:
        raise AccessDenied("an empty passphrase would leave the key unprotected; choose one")
    account: LocalAccount = Account.create()
    keystore = Account.encrypt(account.key, passphrase, iterations=LIGHT_SCRYPT_N if light_kdf else None)
    write_atomically(path, json.dumps(keystore).encode(), mode=0o600)
    return account


def keystore_address(path: Path) -> str:
    """The address a keystore holds, read without decrypting it."""
    return to_checksum_address("0x" + str(_read(path)["address"]))


def load_keystore(path: Path, passphrase: str) -> LocalAccount:
    """Decrypt the key at `path`; `AccessDenied` if the passphrase is wrong."""
    keystore = _read(path)
    try:
        key = Account.decrypt(keystore, passphrase)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise AccessDenied(f"wrong passphrase for {path}") from None
        raise IntegrityError(f"keystore {path} is damaged: {exc}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"no keystore at {path}") from None
    except ValueError as exc:
        raise IntegrityError(f"keystore {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != 3 or "address" not in data:
        raise IntegrityError(f"{path} is not a keystore v3 file")
    return data
