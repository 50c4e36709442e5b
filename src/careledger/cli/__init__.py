"""The `careledger` command line."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from careledger.errors import CareLedgerError


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; the exit code. Every `CareLedgerError` becomes one line on stderr."""
    from careledger.cli._app import app
    from careledger.cli._errors import INTERRUPTED, exit_code_for
    from careledger.cli._output import fail_line

    try:
        result = app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except CareLedgerError as exc:
        fail_line(str(exc))
        return exit_code_for(exc)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        fail_line("interrupted")
        return INTERRUPTED
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())


__all__ = ["main", "run"]
