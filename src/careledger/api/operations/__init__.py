"""FHIR operations (`$name`), one module each, and the exchange's node-to-node endpoint.

Each is a route like any other: it reaches records only through the guarded repository.
"""

from careledger.api.operations.adjudication import adjudication_router
from careledger.api.operations.appointment import appointment_router
from careledger.api.operations.assess import assess_router
from careledger.api.operations.claim import claim_router
from careledger.api.operations.communication import communication_router
from careledger.api.operations.coverage import coverage_router
from careledger.api.operations.erase import erase_router
from careledger.api.operations.everything import everything_router
from careledger.api.operations.exchange import exchange_router
from careledger.api.operations.suggest_codes import suggest_codes_router
from careledger.api.operations.verify import verify_router
from careledger.api.operations.visit import visit_router

__all__ = [
    "adjudication_router",
    "appointment_router",
    "assess_router",
    "claim_router",
    "communication_router",
    "coverage_router",
    "erase_router",
    "everything_router",
    "exchange_router",
    "suggest_codes_router",
    "verify_router",
    "visit_router",
]
