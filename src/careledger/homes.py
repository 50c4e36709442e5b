"""Making a node's home: its config, its node wallet, its vault, its migrated database."""

from __future__ import annotations

from careledger.chain import Role
from careledger.config import NODE_WALLET, Home, Settings, write_config
from careledger.errors import Conflict
from careledger.identity import Wallet, WalletStore, make_vault
from careledger.store import Database


def init_home(home: Home, settings: Settings, passphrase: str) -> Wallet:
    """Create a node's home: config, node wallet, the vault its secrets are sealed under (with the wallet's
    passphrase; the secrets themselves are made when a node first opens it), migrated database. The node's
    wallet."""
    if home.is_initialised():
        node = WalletStore(home.keystore_dir).get(NODE_WALLET)
        raise Conflict(f"{home.path} is already a CareLedger home (node {node.address})")
    home.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.require_private()
    home.blobs_dir.mkdir(mode=0o700, exist_ok=True)  # encrypted, yet their sizes and times are the node's alone
    wallets = WalletStore(home.keystore_dir, light_kdf=settings.light_kdf)
    node_wallet = wallets.create(NODE_WALLET, Role.ORG, passphrase)
    make_vault(home.vault_file, passphrase, light_kdf=settings.light_kdf)
    database = Database(settings.db_url(home))
    try:
        database.migrate()
    finally:
        database.close()
    # Written last: a home counts as initialised only once everything else is in place.
    write_config(home, settings)
    return node_wallet
