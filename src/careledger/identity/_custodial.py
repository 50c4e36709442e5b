"""Custodial identities: patients who arrive without a wallet, their keys held by the node.

A real EHR registers patients every day who have no Ethereum wallet. The node makes each
one an identity of her own (a secp256k1 key, and the encryption key derived from it as
any wallet's is), registers it on chain as a custodial PATIENT naming the node, and seals
her records' data keys to it. The key is kept in `custodial/<address>.key`, sealed under
one node key-encryption key (`custodial.kek`, mode 0600): opening one costs an AES-GCM
decryption, not an scrypt derivation, so importing a thousand patients takes seconds.
When the patient claims her identity with her own wallet, the node re-seals her data
keys to it and deletes the custodial key file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from careledger.chain import IdentityRegistry
from careledger.crypto import AtRestKey, PrivateKey, PublicKey, Suite
from careledger.errors import NotFound
from careledger.files import write_files_atomically

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_AAD = b"careledger/custodial-key/v1\x00"


@dataclass(frozen=True, slots=True)
class CustodialIdentity:
    """A custodial patient as the registry knows her: an address and a public encryption key."""

    address: str
    encryption_key: PublicKey


class CustodialKeys:
    """The custodial identities one node holds the keys of."""

    def __init__(self, directory: Path, kek: AtRestKey, suite: Suite = Suite.X25519) -> None:
        self.directory = directory
        self._kek = kek
        self._suite = suite
        self._public: dict[str, PublicKey] = {}

    def create(self, count: int = 1) -> list[CustodialIdentity]:
        """`count` new identities, their key files durable (one group of fsyncs) before they are returned."""
        from eth_account import Account

        made = [Account.create() for _ in range(count)]
        files = {self._path(account.address): self._seal(account) for account in made}
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_files_atomically(files, mode=0o600)
        identities = []
        for account in made:
            public = PrivateKey.derive(account.key, self._suite).public_key
            self._public[account.address] = public
            identities.append(CustodialIdentity(account.address, public))
        return identities

    def holds(self, address: str) -> bool:
        """Whether this node holds `address`'s custodial key."""
        return self._path(address).is_file()

    def account(self, address: str) -> LocalAccount:
        """The identity's signing key (for the consents the node records on her documented instruction)."""
        path = self._path(address)
        try:
            sealed = bytes.fromhex(path.read_text())
        except FileNotFoundError:
            raise NotFound(f"this node holds no custodial key for {address}") from None
        from eth_account import Account

        account: LocalAccount = Account.from_key(self._kek.open(sealed, _AAD + _checksum(address).encode()))
        return account

    def public_key(self, address: str) -> PublicKey:
        """Her public encryption key (remembered: it never changes while the node holds her key)."""
        key = self._public.get(_checksum(address))
        if key is None:
            key = self._public[_checksum(address)] = self.private_key(address).public_key
        return key

    def private_key(self, address: str) -> PrivateKey:
        """The custodial patient's private encryption key; `NotFound` if not held here."""
        return PrivateKey.derive(self.account(address).key, self._suite)

    def destroy(self, address: str) -> None:
        """Delete the key: from now on only the patient's own wallet acts for her."""
        self._path(address).unlink(missing_ok=True)
        self._public.pop(_checksum(address), None)

    def addresses(self) -> Iterator[str]:
        """Every custodial identity held here."""
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.key")):
                yield path.stem

    def _seal(self, account: LocalAccount) -> bytes:
        return self._kek.seal(bytes(account.key), _AAD + account.address.encode()).hex().encode()

    def _path(self, address: str) -> Path:
        return self.directory / f"{_checksum(address)}.key"


def _checksum(address: str) -> str:
    return str(to_checksum_address(address))


class CustodialPatients:
    """Makes custodial patients: keys first (local, refusable), then registration on chain for those kept."""

    def __init__(self, keys: CustodialKeys, registry: Callable[[], IdentityRegistry]) -> None:
        self.keys = keys
        self._registry = registry

    def make(self, count: int) -> list[CustodialIdentity]:
        """`count` new custodial identities (keys kept here); `enrol` registers them on chain."""
        return self.keys.create(count)

    def enrol(self, identities: Sequence[CustodialIdentity]) -> None:
        """Register them on chain as custodial PATIENTs of this node, in one pipeline of transactions."""
        self._registry().register_custodial([(i.address, i.encryption_key) for i in identities])

    def discard(self, identities: Sequence[CustodialIdentity]) -> None:
        """Forget identities made for a write that was then refused (never registered)."""
        for identity in identities:
            self.keys.destroy(identity.address)
