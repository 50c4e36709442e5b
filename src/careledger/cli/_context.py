"""What every command needs: the chosen home, flag overrides, the passphrase, a node."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from eth_utils import is_address, to_checksum_address

from careledger.access import Accessor
from careledger.config import NODE_WALLET, Home, Settings, load_settings
from careledger.consent import Purpose
from careledger.errors import AccessDenied, ConfigError, NotFound
from careledger.identity import Wallet, WalletStore
from careledger.services import Operations, PassphraseSource, open_operations

if TYPE_CHECKING:
    from careledger.client import FhirClient

PASSPHRASE_ENV = "CARELEDGER_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
PASSPHRASE_FILE_ENV = "CARELEDGER_PASSPHRASE_FILE"  # noqa: S105 - the variable's name, not a secret
# systemd's `LoadCredential=careledger-passphrase:/etc/careledger/passphrase` puts it here for the service alone.
PASSPHRASE_CREDENTIAL = "careledger-passphrase"  # noqa: S105 - the credential's name, not a secret


@dataclass(slots=True)
class CliState:
    """The global options, as given on the command line (None = not given)."""

    home_flag: Path | None = None
    chain: str | None = None
    db: str | None = None
    node_url: str | None = None

    @property
    def home(self) -> Home:
        """The node home the command works on."""
        return Home.resolve(self.home_flag)

    def settings(self, **flags: object) -> Settings:
        """Settings for the chosen home, with the global flags and any command's own."""
        return load_settings(self.home, chain=self.chain, db=self.db, **flags)


def state(ctx: typer.Context) -> CliState:
    """The options every command shares, as `main_options` stored them."""
    found = ctx.find_object(CliState)
    return found if found is not None else CliState()


def passphrase_source(*, confirm: bool = False) -> PassphraseSource:
    """The passphrase given to the process (`given_passphrase`), else a hidden prompt per wallet; never a silent
    default."""

    def read(wallet: str) -> str:
        """The passphrase of `wallet`: as given to the process, else asked in the terminal."""
        given = given_passphrase()
        if given is not None:
            return given
        if not sys.stdin.isatty():
            raise AccessDenied(
                f"wallet {wallet!r} is locked: set {PASSPHRASE_FILE_ENV} (or {PASSPHRASE_ENV}) or run in a terminal"
            )
        entered: str = typer.prompt(f"Passphrase for wallet {wallet!r}", hide_input=True, confirmation_prompt=confirm)
        return entered

    return read


def address_of(node: Operations, who: str) -> str:
    """A wallet name or an address, as an address: wallets held here, or any valid address."""
    wallet = node.wallets.find(who)
    if wallet is not None:
        return wallet.address
    if is_address(who):
        return str(to_checksum_address(who))
    raise NotFound(f"no wallet named {who!r} here, and not an address")


def wallet_name(node: Operations, address: str) -> str | None:
    """The name of the wallet this node holds for `address`, if it holds one."""
    wallet = node.wallets.find(address)
    return wallet.name if wallet is not None else None


def acts_as(node: Operations, who: str) -> str:
    """The identity `who` (a wallet name or an address) acts as: a wallet that claimed a custodial
    identity acts as that identity, which her records and consents are under; others as themselves."""
    address = address_of(node, who)
    return node.identity.acts_as(address)


def signer_for(node: Operations, patient: str, as_wallet: str | None) -> Wallet:
    """Who signs for `patient`: `as_wallet` if given, else her wallet kept here, else, for a custodial
    patient of this node, the node itself (on her documented instruction; the chain shows it)."""
    if as_wallet is not None:
        return wallet_of(node, as_wallet)
    if node.wallets.find(patient) is None and is_address(patient) and node.custodial.holds(patient):
        return node.wallets.get(NODE_WALLET)
    return wallet_of(node, patient)


def as_node(node: Operations) -> Accessor:
    """The node itself, writing and maintaining the records it keeps (healthcare operations): who the CLI's
    record commands act as, through the node's own guarded repository."""
    return Accessor(node.address, Purpose.HOPERAT)


def local_record_id(node: Operations, reference: str) -> str:
    """A record's id from `Type/id` (as `record add` prints it, and as `--node` takes it) or the bare id;
    `NotFound` if the record kept here under that id is of another type."""
    resource_type, _, record_id = reference.rpartition("/")
    if resource_type:
        stored_type = node.access.for_caller(as_node(node)).stored(record_id).resource_type
        if stored_type != resource_type:
            raise NotFound(f"{reference}: record {record_id} is a {stored_type}, not a {resource_type}")
    return record_id


def wallet_of(node: Operations, who: str) -> Wallet:
    """The wallet held here under this name or address: what must sign for `who`."""
    wallet = node.wallets.find(who)
    if wallet is None:
        raise NotFound(f"no wallet {who!r} on this node to sign with; sign where that wallet is kept")
    return wallet


def given_passphrase() -> str | None:
    """The passphrase given without a terminal: `CARELEDGER_PASSPHRASE`; else the file `CARELEDGER_PASSPHRASE_FILE`
    names (mode 0600 or stricter), or systemd's credential `careledger-passphrase` (`$CREDENTIALS_DIRECTORY`): a
    file, unlike a variable, is not left readable in /proc/PID/environ for the life of the process. Its one
    trailing newline is not part of it. None if none is given."""
    if (from_env := os.environ.get(PASSPHRASE_ENV)) is not None:
        return from_env
    named = os.environ.get(PASSPHRASE_FILE_ENV)
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if named:
        path = Path(named)
        _require_private_file(path)
    elif credentials and (Path(credentials) / PASSPHRASE_CREDENTIAL).is_file():
        path = Path(credentials) / PASSPHRASE_CREDENTIAL
    else:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the passphrase file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    passphrase = text.removesuffix("\n").removesuffix("\r")
    if not passphrase:
        raise ConfigError(f"the passphrase file {path} is empty")
    return passphrase


def _require_private_file(path: Path) -> None:
    """`ConfigError` if the passphrase file is missing or others may read it."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as exc:
        raise ConfigError(f"{PASSPHRASE_FILE_ENV} names {path}, which cannot be read: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"the passphrase file {path} can be read by other users (mode {mode:o}): chmod 600 {path}")


@contextmanager
def open_node(ctx: typer.Context, *, keep_chain: bool = False) -> Iterator[Operations]:
    """The node on this home, closed when the command ends; passphrases asked when a wallet must sign."""
    cli = state(ctx)
    cli.home.require()
    with open_operations(cli.home, cli.settings(), passphrase_source(), keep_chain=keep_chain, lazy=True) as node:
        yield node


@contextmanager
def remote_node(ctx: typer.Context, as_wallet: str | None) -> Iterator[FhirClient]:
    """A client of the node at `--node URL`, signed in as a wallet of this home (default: the node wallet)."""
    cli = state(ctx)
    assert cli.node_url is not None
    cli.home.require()
    wallets = WalletStore(cli.home.keystore_dir, light_kdf=cli.settings().light_kdf)
    wallet = wallets.find(as_wallet) if as_wallet else wallets.get(NODE_WALLET)
    if wallet is None:
        raise NotFound(f"no wallet {as_wallet!r} in this home to sign in with")
    account = wallets.unlock(wallet.name, passphrase_source()(wallet.name)).account
    from careledger.client import FhirClient  # httpx and SIWE: for --node only

    with FhirClient(cli.node_url) as client:
        client.login(account)
        yield client
