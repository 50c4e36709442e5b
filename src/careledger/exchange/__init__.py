"""Node-to-node exchange: a node fetches a patient's records from the custodian node under consent, gathers a
patient's accounting of disclosures from every node, at her signed request, and carries messages to the nodes of
their recipients."""

from careledger.exchange._accounting import AccountingDesk, AccountingRequest, NodeAccounting, SignedAccounting
from careledger.exchange._custodian import Custodian, spend_fresh
from careledger.exchange._delivery import (
    MAX_DELIVERY_BYTES,
    Courier,
    Delivered,
    Delivery,
    Parcel,
    SignedDelivery,
    delivered_id,
)
from careledger.exchange._outbox import Outbox, Queued, forget_outbox
from careledger.exchange._postbox import Postbox
from careledger.exchange._request import DOMAIN, LIFETIME, FetchRequest, SignedFetch
from careledger.exchange._requester import FetchResult, Requester
from careledger.exchange._response import FetchResponse, SharedRecord

__all__ = [
    "DOMAIN",
    "LIFETIME",
    "MAX_DELIVERY_BYTES",
    "AccountingDesk",
    "AccountingRequest",
    "Courier",
    "Custodian",
    "Delivered",
    "Delivery",
    "FetchRequest",
    "FetchResponse",
    "FetchResult",
    "NodeAccounting",
    "Outbox",
    "Parcel",
    "Postbox",
    "Queued",
    "Requester",
    "SharedRecord",
    "SignedAccounting",
    "SignedDelivery",
    "SignedFetch",
    "delivered_id",
    "forget_outbox",
    "spend_fresh",
]
