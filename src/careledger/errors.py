"""The one error hierarchy of CareLedger.

Every failure a user can act on is a `CareLedgerError`; the CLI maps these classes to exit
codes in `careledger.cli._errors` and the API to HTTP status and OperationOutcome
(`careledger.api._errors`).
Messages are written for the person who reads them: what went wrong and what to do.
"""

from __future__ import annotations


class CareLedgerError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class ValidationError(CareLedgerError):
    """Input is malformed or out of range (a bad flag, FHIR that does not validate)."""


class ConfigError(ValidationError):
    """The node's home or settings are missing or inconsistent."""


class InvalidResource(ValidationError):
    """Well-formed JSON that is not a valid FHIR resource (HTTP 422)."""


class TooLarge(ValidationError):
    """A body over the size limit (HTTP 413)."""


class NotFound(CareLedgerError):
    """The thing asked for does not exist (a wallet, a record, a deployment)."""


class Gone(NotFound):
    """The record existed and was deleted (HTTP 410); its history stays readable."""


class AccessDenied(CareLedgerError):
    """The caller lacks the consent, role or passphrase needed."""


class Unauthenticated(AccessDenied):
    """No valid sign-in: a missing, expired or forged token, or a bad SIWE login (HTTP 401)."""


class Conflict(CareLedgerError):
    """The request clashes with existing state (already initialised, duplicate)."""


class PreconditionFailed(Conflict):
    """A conditional request's precondition (`If-Match` version) does not hold (HTTP 412)."""


class IntegrityError(CareLedgerError):
    """Stored or received data does not match its hash, proof or signature."""


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


__all__ = [
    "AccessDenied",
    "CareLedgerError",
    "ChainError",
    "ChainUnavailable",
    "ConfigError",
    "Conflict",
    "DecryptionError",
    "IntegrityError",
    "NotFound",
    "TransactionReverted",
    "ValidationError",
]
