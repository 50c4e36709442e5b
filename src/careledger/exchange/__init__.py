"""Node-to-node exchange: a node fetches a patient's records from the custodian node under consent, and
gathers a patient's accounting of disclosures from every node, at her signed request."""

from careledger.exchange._accounting import AccountingDesk, AccountingRequest, NodeAccounting, SignedAccounting
from careledger.exchange._custodian import Custodian, spend_fresh
from careledger.exchange._request import DOMAIN, LIFETIME, FetchRequest, SignedFetch
from careledger.exchange._requester import FetchResult, Requester
from careledger.exchange._response import FetchResponse, SharedRecord

__all__ = [
    "DOMAIN",
    "LIFETIME",
    "AccountingDesk",
    "AccountingRequest",
    "Custodian",
    "FetchRequest",
    "FetchResponse",
    "FetchResult",
    "NodeAccounting",
    "Requester",
    "SharedRecord",
    "SignedAccounting",
    "SignedFetch",
    "spend_fresh",
]
