"""The chain layer: one `Chain` over memory, anvil or RPC; signing; deployment; facades; events.

The connection itself (`Chain`, `open_chain`, the backends, `Receipt`) is loaded on first use:
it imports web3, ~0.8 s, which a command that never talks to the chain should not pay.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from careledger.chain._anvil import AnvilProcess, ChainDir, find_anvil
from careledger.chain._claims import (
    SERVICE_CLASSES,
    Adjudication,
    Claims,
    ClaimState,
    ClaimStatus,
    Enrolment,
    Plan,
    PlanTerms,
    Preauth,
    PreauthStatus,
    claim_id_of,
)
from careledger.chain._consent_registry import (
    ACTIONS,
    ConsentMessage,
    ConsentRegistry,
    ConsentTerms,
    GrantRecord,
    SignedAction,
    action_from_typed_data,
    action_typed_data,
    consent_from_typed_data,
    consent_typed_data,
    grant_from_event,
)
from careledger.chain._contracts import Contracts
from careledger.chain._council import Call, Council, DecodedCall, ProposalRecord, ProposalState, holds_role
from careledger.chain._deployer import Deployer, Deployment, DeployResult
from careledger.chain._facades import ChainEvent, ContractFacade
from careledger.chain._identity_registry import (
    ActorRecord,
    Credential,
    IdentityRegistry,
    Role,
    credential_type_id,
)
from careledger.chain._model_registry import ModelRecord, ModelRegistry, ModelTerms, model_id_of
from careledger.chain._record_anchor import AnchorKind, Batch, RecordAnchor
from careledger.chain._research import (
    Participation,
    ReleaseRecord,
    Research,
    StudyState,
    StudyTerms,
)
from careledger.chain._revert import decode_revert
from careledger.chain._signer import NonceManager, Signer, TxRequest
from careledger.chain._supply_chain import (
    Admission,
    Lot,
    PackState,
    PackStatus,
    Reason,
    Shipment,
    SupplyChain,
    container_key,
    items_hash,
    lot_key,
    pack_key,
    supply_refusal,
)
from careledger.chain._token import CareToken, permit_typed_data
from careledger.chain._trials import (
    AllocationEvent,
    EnrolmentEvent,
    TrialParticipant,
    Trials,
    TrialState,
    TrialTerms,
    TrialVersion,
    VisitPayment,
    trial_refusal,
)
from careledger.chain._visit_escrow import (
    GRACE_SECONDS,
    WHOLE_BPS,
    EscrowedVisit,
    VisitCancellation,
    VisitEscrow,
    VisitState,
    VisitTerms,
    visit_id_of,
)

if TYPE_CHECKING:
    from careledger.chain._anvil_backend import AnvilBackend
    from careledger.chain._backends import Backend, Receipt
    from careledger.chain._chain import Chain, open_chain

_CONNECTION = {
    "AnvilBackend": "careledger.chain._anvil_backend",
    "Backend": "careledger.chain._backends",
    "Receipt": "careledger.chain._backends",
    "Chain": "careledger.chain._chain",
    "open_chain": "careledger.chain._chain",
}


def __getattr__(name: str) -> Any:
    """The connection's names, imported when first asked for (PEP 562)."""
    if name in _CONNECTION:
        return getattr(import_module(_CONNECTION[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACTIONS",
    "GRACE_SECONDS",
    "SERVICE_CLASSES",
    "WHOLE_BPS",
    "ActorRecord",
    "Adjudication",
    "Admission",
    "AllocationEvent",
    "AnchorKind",
    "AnvilBackend",
    "AnvilProcess",
    "Backend",
    "Batch",
    "Call",
    "CareToken",
    "Chain",
    "ChainDir",
    "ChainEvent",
    "ClaimState",
    "ClaimStatus",
    "Claims",
    "ConsentMessage",
    "ConsentRegistry",
    "ConsentTerms",
    "ContractFacade",
    "Contracts",
    "Council",
    "Credential",
    "DecodedCall",
    "DeployResult",
    "Deployer",
    "Deployment",
    "Enrolment",
    "EnrolmentEvent",
    "EscrowedVisit",
    "GrantRecord",
    "IdentityRegistry",
    "Lot",
    "ModelRecord",
    "ModelRegistry",
    "ModelTerms",
    "NonceManager",
    "PackState",
    "PackStatus",
    "Participation",
    "Plan",
    "PlanTerms",
    "Preauth",
    "PreauthStatus",
    "ProposalRecord",
    "ProposalState",
    "Reason",
    "Receipt",
    "RecordAnchor",
    "ReleaseRecord",
    "Research",
    "Role",
    "Shipment",
    "SignedAction",
    "Signer",
    "StudyState",
    "StudyTerms",
    "SupplyChain",
    "TrialParticipant",
    "TrialState",
    "TrialTerms",
    "TrialVersion",
    "Trials",
    "TxRequest",
    "VisitCancellation",
    "VisitEscrow",
    "VisitPayment",
    "VisitState",
    "VisitTerms",
    "action_from_typed_data",
    "action_typed_data",
    "claim_id_of",
    "consent_from_typed_data",
    "consent_typed_data",
    "container_key",
    "credential_type_id",
    "decode_revert",
    "find_anvil",
    "grant_from_event",
    "holds_role",
    "items_hash",
    "lot_key",
    "model_id_of",
    "open_chain",
    "pack_key",
    "permit_typed_data",
    "supply_refusal",
    "trial_refusal",
    "visit_id_of",
]
