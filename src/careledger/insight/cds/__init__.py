"""CDS Hooks 2.0: the node's CDS services (discovery, patient-view, order-select, order-sign, feedback), the CDS
clients allowed to call them, and the check of the JWT each request is signed with."""

from careledger.insight._gather import GATHERED
from careledger.insight.cds._cards import Card, order_cards, patient_view_cards
from careledger.insight.cds._clients import ALGORITHMS, CdsClients, Client, Verified
from careledger.insight.cds._hooks import SERVICES, HookService
from careledger.insight.cds._service import CdsHooks, Feedback, HookCall

__all__ = [
    "ALGORITHMS",
    "GATHERED",
    "SERVICES",
    "Card",
    "CdsClients",
    "CdsHooks",
    "Client",
    "Feedback",
    "HookCall",
    "HookService",
    "Verified",
    "order_cards",
    "patient_view_cards",
]
