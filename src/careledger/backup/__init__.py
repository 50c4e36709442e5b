"""Backup and restore of a node's home: an encrypted, consistent snapshot taken while it serves (database,
blobs, keys, wallets, deployments, config, the managed chain's state), and a restore that checks it whole
before anything is put in place, then verifies every record and the audit log."""

from careledger.backup._archive import Manifest, backup_home
from careledger.backup._cipher import WrongPassphrase
from careledger.backup._restore import Restored, Verified, refuse_target, restore_home, verify_restored

__all__ = [
    "Manifest",
    "Restored",
    "Verified",
    "WrongPassphrase",
    "backup_home",
    "refuse_target",
    "restore_home",
    "verify_restored",
]
