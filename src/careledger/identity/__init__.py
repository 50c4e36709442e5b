"""Identities: local wallets (keys, DIDs, encryption keys), custodial identities, and their on-chain registration."""

from careledger.identity._custodial import CustodialIdentity, CustodialKeys, CustodialPatients
from careledger.identity._wallets import UnlockedWallet, Wallet, WalletStore, did_pkh

__all__ = [
    "CustodialIdentity",
    "CustodialKeys",
    "CustodialPatients",
    "UnlockedWallet",
    "Wallet",
    "WalletStore",
    "did_pkh",
]
