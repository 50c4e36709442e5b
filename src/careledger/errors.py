"""The one error hierarchy of CareLedger.

Every failure a user can act on is a `CareLedgerError`; the CLI maps these classes to exit
codes in `careledger.cli._errors` and the API to HTTP status and OperationOutcome
(`careledger.api._errors`).
Messages are written for the person who reads them: what went wrong and what to do.
"""

from __future__ import annotations


class CareLedgerError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    @property
    def public(self) -> str:
        """What a client of the API is told: the message, unless the error keeps its reason to itself."""
        return str(self)


class ValidationError(CareLedgerError):
    """Input is malformed or out of range (a bad flag, FHIR that does not validate)."""


class ConfigError(ValidationError):
    """The node's home or settings are missing or inconsistent."""


class SchemaBehind(ConfigError):
    """The database's schema is older than this code's: `careledger db upgrade` (or `serve --migrate`) first."""


class WorkersNeedPostgres(ConfigError):
    """`serve --workers N` on a database only one process may write (SQLite), or a chain in one process's memory."""


class NotWritable(ConfigError):
    """A folder a command must write in is not writable by the user running it (`restore` beside its new home)."""


class InvalidResource(ValidationError):
    """Well-formed JSON that is not a valid FHIR resource (HTTP 422)."""


class TooLarge(ValidationError):
    """A body over the size limit (HTTP 413)."""


class UnsupportedMediaType(ValidationError):
    """A body in a format the API does not take (HTTP 415)."""


class NotAcceptable(ValidationError):
    """The client accepts no format this node answers in (406)."""


class MethodNotAllowed(ValidationError):
    """The interaction is not one this node offers on that resource (405)."""


class RequestTimeout(ValidationError):
    """A request's body did not arrive in time (HTTP 408)."""


class TooMany(CareLedgerError):
    """Too many requests from one client or address (HTTP 429); `retry_after` is the wait in seconds."""

    def __init__(self, message: str, *, retry_after: float = 60.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class NotFound(CareLedgerError):
    """The thing asked for does not exist (a wallet, a record, a deployment)."""


class UnknownRecord(NotFound):
    """No record, or no such version of one, by this id: in the words a withheld record is told in (`Withheld`)."""

    def __init__(self, record_id: str, version: int | None = None) -> None:
        super().__init__(f"no record {record_id}" + (f" version {version}" if version else ""))


class Gone(NotFound):
    """The record existed and was deleted (HTTP 410); its history stays readable."""


class AccessDenied(CareLedgerError):
    """The caller lacks the consent, role or passphrase needed."""


class Withheld(AccessDenied):
    """A record the caller may not know of: told exactly as an unknown id is (HTTP 404, `public`), while
    `str()` and the audit keep the policy's reason, so neither its existence nor its category nor its version
    reaches someone who may not read it."""

    def __init__(self, why: str, record_id: str, version: int | None = None) -> None:
        super().__init__(why)
        self._public = str(UnknownRecord(record_id, version))

    @property
    def public(self) -> str:
        """The unknown id's message."""
        return self._public


class UnheldPatient(ValidationError):
    """A write names `Patient/<id>` and this node holds no Patient by that id (HTTP 400): the words a Patient the
    writer may not read is told in too (`PatientWithheld`)."""

    def __init__(self, resource_type: str, patient_id: str) -> None:
        super().__init__(f"{resource_type} refers to Patient/{patient_id}, which this node does not hold")
        self.patient_id = patient_id


class PatientWithheld(UnheldPatient, AccessDenied):
    """A refused write naming a Patient its writer may not read: told exactly as an unknown Patient is (HTTP 400,
    the same words), so a refusal tells no one which Patient ids exist; still an `AccessDenied` to whoever acts on
    refusals (the device recorder drops readings of a revoked binding). The audit keeps the policy's reason."""


class Unauthenticated(AccessDenied):
    """No valid sign-in: a missing, expired or forged token, or a bad SIWE login (HTTP 401)."""


class Conflict(CareLedgerError):
    """The request clashes with existing state (already initialised, duplicate)."""


class PreconditionFailed(Conflict):
    """A conditional request's precondition (`If-Match` version) does not hold (HTTP 412)."""


class IntegrityError(CareLedgerError):
    """Stored or received data does not match its hash, proof or signature."""


class InvalidSignature(Unauthenticated, IntegrityError):
    """A signature that is malformed, out of range, recovers no key, or was made by someone else (HTTP 401).

    Both an authentication failure (whoever sent it proved nothing) and an integrity failure
    (the data does not match its signature), so callers may catch it as either.
    """


class DecryptionError(IntegrityError):
    """Ciphertext or a sealed key did not open: wrong key or suite, or the bytes were changed.

    Deliberately one error for every cause, so a failure never hints at which part was
    wrong, and never any plaintext.
    """


class ChainError(CareLedgerError):
    """The chain could not be reached or refused a transaction."""


class ChainUnavailable(ChainError):
    """The chain endpoint does not answer, or the managed anvil process has died."""


class TransactionReverted(ChainError):
    """A transaction or call reverted; `reason` holds the decoded revert string."""

    def __init__(self, reason: str, *, tx_hash: str | None = None) -> None:
        self.reason = reason
        self.tx_hash = tx_hash
        where = f" (tx {tx_hash})" if tx_hash else ""
        super().__init__(f"transaction reverted: {reason}{where}")


class DatabaseUnavailable(CareLedgerError):
    """The node's database does not answer (refused, lost or a full pool): a moment's wait may be enough (HTTP 503,
    with `retry_after` seconds)."""

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class NodeUnreachable(CareLedgerError):
    """Another node's API (`--node URL`, a peer's endpoint) does not answer."""


class AddressInUse(CareLedgerError):
    """The address a server was to listen on is taken (another process has the port)."""


class ClaimDenied(CareLedgerError):
    """A claim was adjudicated and denied: the command printed the outcome, and fails so scripts notice."""


class DemoFailed(CareLedgerError):
    """A step of `careledger demo` did not behave as it must (a share allowed, a record lost, …)."""


__all__ = [
    "AccessDenied",
    "AddressInUse",
    "CareLedgerError",
    "ChainError",
    "ChainUnavailable",
    "ClaimDenied",
    "ConfigError",
    "Conflict",
    "DatabaseUnavailable",
    "DecryptionError",
    "DemoFailed",
    "IntegrityError",
    "InvalidSignature",
    "NodeUnreachable",
    "NotFound",
    "NotWritable",
    "SchemaBehind",
    "TransactionReverted",
    "ValidationError",
    "Withheld",
    "WorkersNeedPostgres",
]


# HTTP status and FHIR OperationOutcome issue code of each error, for the API and its client;
# the most specific class of an error that is listed applies.
HTTP_STATUS: dict[type[CareLedgerError], tuple[int, str]] = {
    CareLedgerError: (500, "exception"),
    ValidationError: (400, "invalid"),
    InvalidResource: (422, "processing"),
    TooLarge: (413, "too-costly"),
    UnsupportedMediaType: (415, "not-supported"),
    NotAcceptable: (406, "not-supported"),
    MethodNotAllowed: (405, "not-supported"),
    RequestTimeout: (408, "timeout"),
    TooMany: (429, "throttled"),
    NotFound: (404, "not-found"),
    Gone: (410, "deleted"),
    AccessDenied: (403, "forbidden"),
    Withheld: (404, "not-found"),
    Unauthenticated: (401, "login"),
    Conflict: (409, "conflict"),
    PreconditionFailed: (412, "conflict"),
    ChainError: (503, "transient"),
    DatabaseUnavailable: (503, "transient"),
    NodeUnreachable: (502, "transient"),
}


def http_status(error: CareLedgerError) -> tuple[int, str]:
    """The HTTP status and OperationOutcome code of `error`."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500, "exception"


def error_for_status(status: int) -> type[CareLedgerError]:
    """The error class a client raises for an HTTP status (the first class listed with it)."""
    for cls, (code, _) in HTTP_STATUS.items():
        if code == status:
            return cls
    return ValidationError if 400 <= status < 500 else CareLedgerError
