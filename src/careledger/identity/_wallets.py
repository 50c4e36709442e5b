"""Local wallets: the keys a node acts with (its own, and any actor it holds keys for).

A wallet is one keystore v3 file, `keystore/<name>.json`: the secp256k1 key encrypted
with scrypt, plus public metadata (name, role, encryption suite and public key, key
version) that other keystore tools ignore. Encryption keys are derived from the wallet
key (`PrivateKey.derive`), so the one passphrase protects them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from eth_utils import is_address, to_checksum_address

from careledger.chain import Role
from careledger.crypto import PrivateKey, PublicKey, Suite
from careledger.errors import IntegrityError, NotFound, ValidationError
from careledger.identity._keystore import keystore_address, keystore_metadata, load_keystore, new_keystore

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@lru_cache(maxsize=4096)  # checksumming hashes the address; every audit entry names two or three
def did_pkh(chain_id: int, address: str) -> str:
    """The `did:pkh` of an address on a chain (CAIP-10 account id)."""
    return f"did:pkh:eip155:{chain_id}:{to_checksum_address(address)}"


@dataclass(frozen=True, slots=True)
class Wallet:
    """What is known of a wallet without its passphrase."""

    name: str
    address: str
    role: Role
    encryption_key: PublicKey
    key_version: int
    path: Path


@dataclass(frozen=True, slots=True)
class UnlockedWallet:
    """A wallet with its keys in memory, for signing and opening sealed data keys."""

    wallet: Wallet
    account: LocalAccount
    # Derived once per version: a node opens a sealed key on every read.
    _derived: dict[int, PrivateKey] = field(default_factory=dict, repr=False, compare=False)

    def encryption_key(self, version: int | None = None) -> PrivateKey:
        """The private encryption key of `version` (default: the current one)."""
        version = version or self.wallet.key_version
        if version not in self._derived:
            self._derived[version] = PrivateKey.derive(self.account.key, self.wallet.encryption_key.suite, version)
        return self._derived[version]


class WalletStore:
    """The wallets in one directory (a node home's `keystore/`)."""

    def __init__(self, directory: Path, *, light_kdf: bool = False) -> None:
        self.directory = directory
        self.light_kdf = light_kdf
        self._by_address: dict[str, Wallet] = {}
        self._listed: frozenset[str] | None = None  # the keystore files `_by_address` was read from

    def create(self, name: str, role: Role, passphrase: str, suite: Suite = Suite.X25519) -> Wallet:
        """A new wallet with a fresh key; refuses a name that is taken."""
        path = self._path(name)
        from eth_account import Account

        account: LocalAccount = Account.create()
        public_key = PrivateKey.derive(account.key, suite, 1).public_key
        metadata = {
            "name": name,
            "role": role.label,
            "encryption_key": "0x" + public_key.to_bytes().hex(),
            "key_version": 1,
        }
        new_keystore(path, passphrase, account=account, light_kdf=self.light_kdf, metadata=metadata)
        return self.get(name)

    def get(self, name: str) -> Wallet:
        """A wallet by name or address; `NotFound` if none is kept here."""
        path = self._path(name)
        if not path.is_file():
            known = ", ".join(w.name for w in self.all()) or "none yet"
            raise NotFound(f"no wallet named {name!r} (wallets: {known}); create it with `careledger wallet new`")
        return _wallet_at(path)

    def all(self) -> list[Wallet]:
        """Every wallet, by name."""
        if not self.directory.is_dir():
            return []
        return [_wallet_at(path) for path in sorted(self.directory.glob("*.json"))]

    def find(self, name_or_address: str) -> Wallet | None:
        """The wallet with this name or address, if this node holds it."""
        known = self._by_address.get(name_or_address)  # a checksummed address seen before: the common case
        if known is not None:
            return known
        if is_address(name_or_address):
            wanted = to_checksum_address(name_or_address)
            if wanted not in self._by_address:
                self._reread_if_changed()
            return self._by_address.get(wanted)
        return self.get(name_or_address) if self._path(name_or_address).is_file() else None

    def _reread_if_changed(self) -> None:
        """Read every wallet again if the keystore files changed since they were last read (another process may
        have made one). A miss for an address held elsewhere, which a node meets on every record written for
        a patient whose wallet is hers alone, then costs one directory listing, not a read of every keystore."""
        listed = frozenset(p.name for p in self.directory.glob("*.json")) if self.directory.is_dir() else frozenset()
        if listed != self._listed:
            self._listed = listed
            self._by_address = {w.address: w for w in self.all()}

    def unlock(self, name: str, passphrase: str) -> UnlockedWallet:
        """Decrypt a wallet; `AccessDenied` on a wrong passphrase."""
        wallet = self.get(name)
        account = load_keystore(wallet.path, passphrase)
        if account.address != wallet.address:
            raise IntegrityError(f"keystore {wallet.path} holds {account.address}, not {wallet.address}")
        return UnlockedWallet(wallet, account)

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValidationError(
                f"bad wallet name {name!r}: use 1-64 lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        return self.directory / f"{name}.json"


def _wallet_at(path: Path) -> Wallet:
    metadata = keystore_metadata(path)
    try:
        return Wallet(
            name=str(metadata["name"]),
            address=keystore_address(path),
            role=Role.parse(str(metadata["role"])),
            encryption_key=PublicKey.from_bytes(bytes.fromhex(str(metadata["encryption_key"]).removeprefix("0x"))),
            key_version=int(metadata["key_version"]),
            path=path,
        )
    except (KeyError, ValueError, ValidationError) as exc:
        raise IntegrityError(f"{path} is not a CareLedger wallet (metadata: {exc})") from None
