"""The chain layer: one `Chain` over memory, anvil or RPC; signing; deployment; facades; events."""

from careledger.chain._anvil import find_anvil
from careledger.chain._backends import Backend, Receipt
from careledger.chain._chain import Chain, open_chain
from careledger.chain._deployer import Deployer, Deployment, DeployResult
from careledger.chain._events import EventReader
from careledger.chain._facades import AnchorKind, Batch, ChainEvent, ContractFacade, RecordAnchor
from careledger.chain._revert import decode_revert
from careledger.chain._signer import NonceManager, Signer, TxRequest

__all__ = [
    "AnchorKind",
    "Backend",
    "Batch",
    "Chain",
    "ChainEvent",
    "ContractFacade",
    "DeployResult",
    "Deployer",
    "Deployment",
    "EventReader",
    "NonceManager",
    "Receipt",
    "RecordAnchor",
    "Signer",
    "TxRequest",
    "decode_revert",
    "find_anvil",
    "open_chain",
]
