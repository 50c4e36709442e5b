"""The one mapping from CareLedger errors to process exit codes (documented in docs/cli.md)."""

from __future__ import annotations

from careledger.errors import (
    AccessDenied,
    AddressInUse,
    CareLedgerError,
    ChainError,
    ChainUnavailable,
    ClaimDenied,
    ConfigError,
    Conflict,
    IntegrityError,
    NodeUnreachable,
    NotFound,
    NotWritable,
    SchemaBehind,
    TransactionReverted,
    ValidationError,
    WorkersNeedPostgres,
)

# 2 is also what click uses for a bad flag: both mean "the input was wrong".
EXIT_CODES: dict[type[CareLedgerError], int] = {
    CareLedgerError: 1,
    ValidationError: 2,
    ConfigError: 3,
    NotFound: 4,
    AccessDenied: 5,
    Conflict: 6,
    IntegrityError: 7,
    ChainError: 8,
    ChainUnavailable: 9,
    TransactionReverted: 10,
    ClaimDenied: 11,
    AddressInUse: 12,
    NodeUnreachable: 13,
    SchemaBehind: 14,
    WorkersNeedPostgres: 15,
    NotWritable: 16,
}

INTERRUPTED = 130
# An error CareLedger did not expect (sysexits' EX_SOFTWARE).
INTERNAL = 70


def exit_code_for(error: CareLedgerError) -> int:
    """The code of the most specific class of `error` that has one."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
