"""Making a node's home: its config, its node wallet, its migrated database, its index key."""

from __future__ import annotations

from careledger.chain import Role
from careledger.config import NODE_WALLET, Home, Settings, write_config
from careledger.errors import Conflict
from careledger.files import secret_file
from careledger.identity import Wallet, WalletStore
from careledger.store import Database


def init_home(home: Home, settings: Settings, passphrase: str) -> Wallet:
    """Create a node's home: config, node wallet, migrated database. The node's wallet."""
    if home.is_initialised():
        node = WalletStore(home.keystore_dir).get(NODE_WALLET)
        raise Conflict(f"{home.path} is already a CareLedger home (node {node.address})")
    home.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.require_private()
    secret_file(home.index_key_file)  # the blind index's key, made with the home
    home.blobs_dir.mkdir(mode=0o700, exist_ok=True)  # encrypted, yet their sizes and times are the node's alone
    wallets = WalletStore(home.keystore_dir, light_kdf=settings.light_kdf)
    node_wallet = wallets.create(NODE_WALLET, Role.ORG, passphrase)
    database = Database(settings.db_url(home))
    try:
        database.migrate()
    finally:
        database.close()
    # Written last: a home counts as initialised only once everything else is in place.
    write_config(home, settings)
    return node_wallet
