"""The chain layer: one `Chain` over memory, anvil or RPC; signing; deployment; facades; events."""

from careledger.chain._anvil import find_anvil
from careledger.chain._backends import Backend, Receipt
from careledger.chain._chain import Chain, open_chain
from careledger.chain._consent_registry import ConsentRegistry, ConsentTerms, GrantRecord, grant_from_event
from careledger.chain._deployer import Deployer, Deployment, DeployResult
from careledger.chain._events import EventReader
from careledger.chain._facades import ChainEvent, ContractFacade
from careledger.chain._identity_registry import (
    ActorRecord,
    Credential,
    IdentityRegistry,
    Role,
    credential_type_id,
)
from careledger.chain._record_anchor import AnchorKind, Batch, RecordAnchor
from careledger.chain._revert import decode_revert
from careledger.chain._signer import NonceManager, Signer, TxRequest

__all__ = [
    "ActorRecord",
    "AnchorKind",
    "Backend",
    "Batch",
    "Chain",
    "ChainEvent",
    "ConsentRegistry",
    "ConsentTerms",
    "ContractFacade",
    "Credential",
    "DeployResult",
    "Deployer",
    "Deployment",
    "EventReader",
    "GrantRecord",
    "IdentityRegistry",
    "NonceManager",
    "Receipt",
    "RecordAnchor",
    "Role",
    "Signer",
    "TxRequest",
    "credential_type_id",
    "decode_revert",
    "find_anvil",
    "grant_from_event",
    "open_chain",
]
