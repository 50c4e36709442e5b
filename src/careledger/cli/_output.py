"""Where the CLI writes: Rich for people on stdout, plain JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console(highlight=False)
# Spinners, progress bars and errors go to stderr, so stdout stays parseable.
progress = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """JSON on stdout, with no styling or wrapping, so `| jq` always works."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def first_line(text: str) -> str:
    """The first non-blank line: libraries' messages sometimes run on for paragraphs."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "failed")


def fail_line(message: str) -> None:
    """The one line a failed command prints."""
    message = first_line(message)
    progress.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
