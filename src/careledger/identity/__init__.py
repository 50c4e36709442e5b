"""Identities: local wallets (keys, DIDs, encryption keys), custodial identities, and their on-chain registration.

`Role` and `Suite` are re-exported: an identity has a role and its key a suite, and faces
name them without reaching into the chain or crypto layers.
"""

from careledger.chain import ActorRecord, Credential, Role
from careledger.crypto import Suite, parse_signature
from careledger.identity._clients import SIGNING_ALGORITHMS, Client, ClientRegistry, web_origin
from careledger.identity._credential_types import (
    AFFILIATION,
    GOVERNANCE_OFFICER,
    KNOWN_CREDENTIAL_TYPES,
    MEDICAL_LICENCE,
    PRIVACY_OFFICER,
    SUPPLY_OFFICER,
    credential_type_name,
)
from careledger.identity._custodial import CustodialIdentity, CustodialKeys, CustodialPatients
from careledger.identity._keystore import (
    LIGHT_SCRYPT_N,
    keystore_address,
    keystore_metadata,
    load_keystore,
    new_keystore,
)
from careledger.identity._launches import LAUNCH_SECONDS, LaunchContext, Launches
from careledger.identity._registry import ActorProfile, IdentityService
from careledger.identity._scopes import OTHER_SCOPES, Scope, granted, narrowing, resource_scopes
from careledger.identity._tokens import (
    ACCESS_TOKEN_SECONDS,
    OFFLINE_SECONDS,
    ONLINE_SECONDS,
    RefreshGrant,
    RefreshTokens,
)
from careledger.identity._vault import Vault, asked_once, make_vault
from careledger.identity._wallets import UnlockedWallet, Wallet, WalletStore, did_pkh

__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "AFFILIATION",
    "GOVERNANCE_OFFICER",
    "KNOWN_CREDENTIAL_TYPES",
    "LAUNCH_SECONDS",
    "LIGHT_SCRYPT_N",
    "MEDICAL_LICENCE",
    "OFFLINE_SECONDS",
    "ONLINE_SECONDS",
    "OTHER_SCOPES",
    "PRIVACY_OFFICER",
    "SIGNING_ALGORITHMS",
    "SUPPLY_OFFICER",
    "ActorProfile",
    "ActorRecord",
    "Client",
    "ClientRegistry",
    "Credential",
    "CustodialIdentity",
    "CustodialKeys",
    "CustodialPatients",
    "IdentityService",
    "LaunchContext",
    "Launches",
    "RefreshGrant",
    "RefreshTokens",
    "Role",
    "Scope",
    "Suite",
    "UnlockedWallet",
    "Vault",
    "Wallet",
    "WalletStore",
    "asked_once",
    "credential_type_name",
    "did_pkh",
    "granted",
    "keystore_address",
    "keystore_metadata",
    "load_keystore",
    "make_vault",
    "narrowing",
    "new_keystore",
    "parse_signature",
    "resource_scopes",
    "web_origin",
]
