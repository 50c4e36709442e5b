"""secp256k1 wallets stored as Web3 Secret Storage (keystore v3) files, scrypt-protected.

A keystore is the only form in which a private key touches the disk: encrypted, mode
0600, written atomically. The passphrase never is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from careledger.errors import AccessDenied, Conflict, IntegrityError, NotFound
from careledger.files import write_atomically

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

# geth's --lightkdf work factor: for throwaway homes (tests, the demo), never for real keys.
LIGHT_SCRYPT_N = 4096


# The top-level field holding CareLedger's public metadata; other tools ignore it.
_METADATA_FIELD = "careledger"


def new_keystore(
    path: Path,
    passphrase: str,
    *,
    account: LocalAccount | None = None,
    light_kdf: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> LocalAccount:
    """Store `account` (default: a fresh key) at `path`, with public `metadata` beside it.

    Refuses to overwrite a keystore. The metadata (name, role, public encryption key)
    is readable without the passphrase and ignored by other keystore v3 tools.
    """
    if path.exists():
        raise Conflict(f"a keystore already exists at {path}")
    if not passphrase:
        raise AccessDenied("an empty passphrase would leave the key unprotected; choose one")
    from eth_account import Account  # ~0.15 s to import: paid when a key is made or opened

    account = account or Account.create()
    keystore = Account.encrypt(account.key, passphrase, iterations=LIGHT_SCRYPT_N if light_kdf else None)
    if metadata:
        keystore[_METADATA_FIELD] = dict(metadata)
    write_atomically(path, json.dumps(keystore, indent=1).encode(), mode=0o600)
    return account


def keystore_metadata(path: Path) -> dict[str, Any]:
    """The public metadata stored with a keystore (empty if none)."""
    metadata = _read(path).get(_METADATA_FIELD, {})
    return dict(metadata) if isinstance(metadata, dict) else {}


def keystore_address(path: Path) -> str:
    """The address a keystore holds, read without decrypting it."""
    return to_checksum_address("0x" + str(_read(path)["address"]))


def load_keystore(path: Path, passphrase: str) -> LocalAccount:
    """Decrypt the key at `path`; `AccessDenied` if the passphrase is wrong."""
    from eth_account import Account

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
