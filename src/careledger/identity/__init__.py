"""Identities: local wallets (keys, DIDs, encryption keys) and their on-chain registration."""

from careledger.identity._wallets import UnlockedWallet, Wallet, WalletStore, did_pkh

__all__ = ["UnlockedWallet", "Wallet", "WalletStore", "did_pkh"]
