"""The node's secrets at rest: each sealed under one vault key, kept in a passphrase-protected keystore.

```
passphrase (the node wallet's) ─scrypt─► vault.json (keystore v3) ─► vault key, once per process
secret (32 random bytes) ─AES-256-GCM(vault key, aad = its file's name)─► index.key, custodial.kek, audit.key, …
```

A copy of the home without the passphrase holds no secret in the clear: the custodial patients'
keys are sealed under `custodial.kek`, which is sealed here; the audit text under `audit.key`; the
search tokens are keyed by `index.key`. Opening the vault costs one scrypt derivation per process (light in
test homes, as their wallets are), then every secret is one AES-GCM decryption, read once.

A home made before the vault holds its secrets in the clear (hex): the first process that opens the
vault with the passphrase makes the vault (after checking the passphrase against the node wallet, so
a mistyped one cannot lock the home) and seals each clear file in place, one atomic rename per file:
at every instant each file holds the secret, clear or sealed, and a half-sealed home finishes next time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from careledger.config import NODE_WALLET, Home
from careledger.crypto import AtRestKey
from careledger.errors import AccessDenied, ConfigError, DecryptionError, IntegrityError
from careledger.files import write_files_atomically
from careledger.identity._keystore import load_keystore, new_keystore
from careledger.identity._wallets import WalletStore

SECRET_BYTES = 32
# What a sealed secret file starts with; a clear one (a home made before the vault) is 64 hex digits.
SEALED_PREFIX = b"careledger-sealed/1:"
_AAD = b"careledger/secret/v1\x00"
_METADATA = {"vault": 1, "seals": "this node's secrets (index.key, custodial.kek, audit.key, ...)"}
# Vault keys this process derived already, by a hash of the vault file and the passphrase that opened it: a
# process that opens a home's node again (a test's commands, one after another) pays for scrypt once.
_derived: dict[bytes, bytes] = {}
_derived_lock = threading.Lock()


class Vault:
    """The secrets of one home (`Home.secret_files`), sealed under its vault key; opened on first use, once.

    `passphrase` (the node wallet's) is asked only when a secret is first needed: a command that only
    reads the chain never asks. The vault made for a home that had none shares the node wallet's
    passphrase, and its work factor (`wallets.light_kdf`).
    """

    def __init__(self, home: Home, wallets: WalletStore, passphrase: Callable[[], str]) -> None:
        self.file = home.vault_file
        self.secrets = home.secret_files
        self._passphrase = passphrase
        self._wallets = wallets
        self._lock = threading.Lock()
        self._opened: dict[Path, bytes] | None = None

    def secret(self, path: Path) -> bytes:
        """The 32-byte secret kept (sealed) in `path`, one of the home's `secrets`; the vault opened first."""
        opened = self.open()
        if path not in opened:
            raise ConfigError(f"{path} is not one of this home's secrets")
        return opened[path]

    def open(self) -> dict[Path, bytes]:
        """Every secret, by file: the vault unlocked (made, for a home that had none), each missing secret made
        and each clear one sealed in place. What `serve --workers N` does before its workers start, so they
        share one of each. `AccessDenied` for a wrong passphrase, `IntegrityError` for a damaged or foreign
        file."""
        with self._lock:
            if self._opened is None:
                self._opened = self._unseal()
            return self._opened

    def _unseal(self) -> dict[Path, bytes]:
        stored = {path: _stored(path) for path in self.secrets}
        if self.file.is_file() and all(isinstance(value, _Sealed) for value in stored.values()):
            return self._open_all(self._unlock(), stored)  # the common case: no write, no lock between processes
        with _locked(self.file.parent):  # another process of this home may be making or sealing them right now
            key = self._unlock() if self.file.is_file() else self._make(stored)
            stored = {path: _stored(path) for path in self.secrets}
            made = {path: os.urandom(SECRET_BYTES) for path, value in stored.items() if value is None}
            clear = {path: value for path, value in stored.items() if isinstance(value, bytes)}
            files = {path: _seal(key, path, secret) for path, secret in {**clear, **made}.items()}
            write_files_atomically(files, mode=0o600)
            return {**self._open_all(key, stored), **clear, **made}

    def _unlock(self) -> AtRestKey:
        """The vault key: one scrypt derivation of the passphrase."""
        passphrase = self._passphrase()  # its own refusal (none given, no terminal) says so as it is
        stored = self.file.read_bytes()
        with _derived_lock:
            key = _derived.get(_tag(stored, passphrase))
        if key is None:
            try:
                key = bytes(load_keystore(self.file, passphrase).key)
            except AccessDenied:
                raise AccessDenied(
                    f"wrong passphrase: this node's secrets ({self.file.name}) open with the node wallet's passphrase"
                ) from None
            _remember(self.file, stored, passphrase, key)
        return AtRestKey(key)

    def _make(self, stored: dict[Path, _Sealed | bytes | None]) -> AtRestKey:
        """A new vault, for a home that has none: refused if a secret is sealed already (under the vault that
        was lost), and made only once the passphrase opens the node wallet."""
        sealed = sorted(path.name for path, value in stored.items() if isinstance(value, _Sealed))
        if sealed:
            raise IntegrityError(
                f"{', '.join(sealed)} are sealed, but {self.file} is missing: restore it from a backup of this home"
            )
        passphrase = self._passphrase()
        self._wallets.unlock(NODE_WALLET, passphrase)  # `AccessDenied` for a mistyped one: it would lock the home
        return make_vault(self.file, passphrase, light_kdf=self._wallets.light_kdf)

    def _open_all(self, key: AtRestKey, stored: dict[Path, _Sealed | bytes | None]) -> dict[Path, bytes]:
        opened: dict[Path, bytes] = {}
        for path, value in stored.items():
            if isinstance(value, _Sealed):
                try:
                    opened[path] = key.open(value.sealed, _AAD + path.name.encode())
                except DecryptionError:
                    raise IntegrityError(
                        f"{path} does not open under {self.file.name}: damaged, or sealed by another home's vault"
                    ) from None
        return opened


def make_vault(file: Path, passphrase: str, *, light_kdf: bool = False) -> AtRestKey:
    """A new vault key, kept at `file` as a keystore v3 under `passphrase` (`init` makes one with the home)."""
    from eth_account import Account

    account = Account.create()  # a random 32-byte key, stored as any keystore's is
    new_keystore(file, passphrase, account=account, light_kdf=light_kdf, metadata=_METADATA)
    _remember(file, file.read_bytes(), passphrase, bytes(account.key))
    return AtRestKey(bytes(account.key))


def asked_once(source: Callable[[str], str]) -> Callable[[str], str]:
    """`source`, each wallet's passphrase asked of it once: the vault and the node wallet share one, and a
    person at a terminal types it once per command."""
    given: dict[str, str] = {}
    lock = threading.Lock()

    def ask(wallet: str) -> str:
        """The passphrase of `wallet`, asked on first use."""
        with lock:
            if wallet not in given:
                given[wallet] = source(wallet)
            return given[wallet]

    return ask


def _tag(stored: bytes, passphrase: str) -> bytes:
    return hashlib.sha256(len(stored).to_bytes(8, "big") + stored + passphrase.encode()).digest()


def _remember(file: Path, stored: bytes, passphrase: str, key: bytes) -> None:
    """Keep the key derived from `stored` (the vault file as read), unless the file changed meanwhile."""
    if file.read_bytes() == stored:
        with _derived_lock:
            _derived[_tag(stored, passphrase)] = key


@dataclass(frozen=True, slots=True)
class _Sealed:
    """A secret file's sealed content (nonce ‖ ciphertext)."""

    sealed: bytes


def _stored(path: Path) -> _Sealed | bytes | None:
    """What a secret file holds: sealed, the secret in the clear (a home made before the vault), or None."""
    try:
        text = path.read_bytes().strip()
    except FileNotFoundError:
        return None
    try:
        if text.startswith(SEALED_PREFIX):
            return _Sealed(bytes.fromhex(text[len(SEALED_PREFIX) :].decode()))
        clear = bytes.fromhex(text.decode())
    except (ValueError, UnicodeDecodeError):
        clear = b""
    if len(clear) != SECRET_BYTES:
        raise IntegrityError(f"{path} holds neither a sealed secret nor a {SECRET_BYTES}-byte one in hex")
    return clear


def _seal(key: AtRestKey, path: Path, secret: bytes) -> bytes:
    return SEALED_PREFIX + key.seal(secret, _AAD + path.name.encode()).hex().encode() + b"\n"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the home's directory itself (no lock file to leave behind), held by one process of
    the home at a time; the kernel drops it if the process dies."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
