"""The node's FHIR R4 REST API: FastAPI app, Sign-In with Ethereum, OperationOutcome errors."""

from careledger.api._app import create_app
from careledger.api._auth import Caller, SiweAuth, new_secret
from careledger.api._process import NodeProcess
from careledger.api._responses import FHIR_JSON
from careledger.api._server import NodeServer, free_port, listening_socket
from careledger.api._workers import Workers, WorkerSpec, needs_shared_database
from careledger.fhir import operation_outcome

__all__ = [
    "FHIR_JSON",
    "Caller",
    "NodeProcess",
    "NodeServer",
    "SiweAuth",
    "WorkerSpec",
    "Workers",
    "create_app",
    "free_port",
    "listening_socket",
    "needs_shared_database",
    "new_secret",
    "operation_outcome",
]
