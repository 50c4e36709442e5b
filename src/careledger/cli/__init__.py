"""The `careledger` command line."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence

from careledger.errors import CareLedgerError


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; the exit code. Every `CareLedgerError` becomes one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        # Answered before the command tree and what it imports are loaded (~1 s): scripts ask this often.
        from careledger import __version__

        print(f"careledger {__version__}")
        return 0
    if importlib.util.find_spec("sha3") is not None:
        # eth-hash would load pycryptodome's keccak (~60 ms, through cffi) before the pysha3 we
        # depend on for this; the first address checksum of every command pays for it.
        os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    from careledger.cli._app import build_app

    app = build_app(args)
    from careledger.cli._errors import INTERNAL, INTERRUPTED, exit_code_for
    from careledger.cli._output import fail_line, first_line

    try:
        # Standalone mode: Typer reports usage errors itself and exits through SystemExit;
        # our own errors pass through it untouched and are reported here.
        app(args=args, prog_name="careledger")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except CareLedgerError as exc:
        fail_line(str(exc))
        return exit_code_for(exc)
    except KeyboardInterrupt:
        fail_line("interrupted")
        return INTERRUPTED
    except Exception as exc:
        # A bug or an unmapped library error: still one line, with a way to see more.
        if os.environ.get("CARELEDGER_DEBUG"):
            raise
        hint = "set CARELEDGER_DEBUG=1 for the traceback"
        fail_line(f"unexpected {type(exc).__name__}: {first_line(str(exc))} ({hint})")
        return INTERNAL
    return 0


def main() -> None:
    """Run the `careledger` command; exit with the code its error maps to."""
    sys.exit(run())


__all__ = ["main", "run"]
