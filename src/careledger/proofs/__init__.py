"""Proofs anyone can check: each record version's proof of its anchor, and a verifier that needs no node.

`RecordProof` is the portable format (docs/proofs.md); `Proofs` is the node's service that hands proofs
out through the caller's door; `verify_file` checks an exported file against a JSON-RPC endpoint alone and the
RecordAnchor its user pins (`pinned_anchor`).
"""

from careledger.proofs._format import PROOF_URL, AnchorPoint, RecordProof
from careledger.proofs._rpc import ANCHORED_EVENT, BATCH, BATCH_RETURNS, VERIFY, AnchorReader, selector
from careledger.proofs._service import VERDICTS, Proofs, Verified, verdict_of
from careledger.proofs._verifier import Outcome, pinned_anchor, read_document, verify_document, verify_file

__all__ = [
    "ANCHORED_EVENT",
    "BATCH",
    "BATCH_RETURNS",
    "PROOF_URL",
    "VERDICTS",
    "VERIFY",
    "AnchorPoint",
    "AnchorReader",
    "Outcome",
    "Proofs",
    "RecordProof",
    "Verified",
    "pinned_anchor",
    "read_document",
    "selector",
    "verdict_of",
    "verify_document",
    "verify_file",
]
