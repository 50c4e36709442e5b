"""Node-to-node exchange: a node fetches a patient's records from the custodian node under consent."""

from careledger.exchange._custodian import Custodian
from careledger.exchange._request import LIFETIME, FetchRequest, SignedFetch
from careledger.exchange._requester import FetchResult, Requester
from careledger.exchange._response import FetchResponse, SharedRecord

__all__ = [
    "LIFETIME",
    "Custodian",
    "FetchRequest",
    "FetchResponse",
    "FetchResult",
    "Requester",
    "SharedRecord",
    "SignedFetch",
]
