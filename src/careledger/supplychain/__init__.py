"""The drug supply chain (issue 41): GS1 identifiers, EPCIS 2.0 events, and the node's service around them."""

from careledger.supplychain._anchor import EventDigests
from careledger.supplychain._cbv import (
    BizStep,
    Disposition,
    bare,
    biz_step,
    biz_transaction_type,
    disposition,
    source_destination_type,
)
from careledger.supplychain._dispensary import Dispensary, Dispensed, pack_of
from careledger.supplychain._epcis import (
    PARTY,
    SIGNATURE,
    SIGNER,
    EpcisEvent,
    Where,
    commissioning,
    decommissioning,
    destroying,
    digest,
    dispensing,
    document,
    packing,
    party_address,
    party_uri,
    receiving,
    shipping,
    sign_event,
    signer_of,
    unpacking,
    validate_document,
)
from careledger.supplychain._flags import QUARANTINED, RECALLED
from careledger.supplychain._gs1 import (
    Container,
    Identifier,
    Pack,
    company_prefix_ok,
    gtin_of,
    parse_epc,
    parse_scan,
)
from careledger.supplychain._medication import EXPIRY_EXTENSION, GTIN_SYSTEM, LOT_EXTENSION
from careledger.supplychain._query import EventQuery, query_document
from careledger.supplychain._recall import Recalls, notice_id
from careledger.supplychain._service import OPERATOR, Supply
from careledger.supplychain._staff import SupplyRoles
from careledger.supplychain._stock import StockItem
from careledger.supplychain._store import CaptureJob
from careledger.supplychain._suspect import (
    Commissioned,
    SignedVerificationAnswer,
    SignedVerificationRequest,
    Suspects,
    VerificationAnswer,
    VerificationRequest,
    commissioned_in,
)
from careledger.supplychain._trace import Trace, TraceStep
from careledger.supplychain._verdict import CODES, Verdict

__all__ = [
    "CODES",
    "EXPIRY_EXTENSION",
    "GTIN_SYSTEM",
    "LOT_EXTENSION",
    "OPERATOR",
    "PARTY",
    "QUARANTINED",
    "RECALLED",
    "SIGNATURE",
    "SIGNER",
    "BizStep",
    "CaptureJob",
    "Commissioned",
    "Container",
    "Dispensary",
    "Dispensed",
    "Disposition",
    "EpcisEvent",
    "EventDigests",
    "EventQuery",
    "Identifier",
    "Pack",
    "Recalls",
    "SignedVerificationAnswer",
    "SignedVerificationRequest",
    "StockItem",
    "Supply",
    "SupplyRoles",
    "Suspects",
    "Trace",
    "TraceStep",
    "Verdict",
    "VerificationAnswer",
    "VerificationRequest",
    "Where",
    "bare",
    "biz_step",
    "biz_transaction_type",
    "commissioned_in",
    "commissioning",
    "company_prefix_ok",
    "decommissioning",
    "destroying",
    "digest",
    "dispensing",
    "disposition",
    "document",
    "gtin_of",
    "notice_id",
    "pack_of",
    "packing",
    "parse_epc",
    "parse_scan",
    "party_address",
    "party_uri",
    "query_document",
    "receiving",
    "shipping",
    "sign_event",
    "signer_of",
    "source_destination_type",
    "unpacking",
    "validate_document",
]
