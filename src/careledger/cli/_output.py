"""Where the CLI writes: Rich for people on stdout, plain JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

console = Console(highlight=False)
# Spinners, progress bars and errors go to stderr, so stdout stays parseable.
progress = Console(stderr=True, highlight=False)


_Item = TypeVar("_Item")


def paged(fetch: Callable[[int | None, int], list[_Item]], limit: int, offset: int) -> list[_Item]:
    """At most `limit` items (0: all) that `fetch(limit, offset)` finds after the first `offset`; when more
    remain, a line on stderr says how to see them (one extra row is fetched to know)."""
    found = fetch(limit + 1 if limit else None, offset)
    if limit and len(found) > limit:
        found = found[:limit]
        progress.print(
            f"showing {limit} from #{offset + 1}; more with --offset {offset + limit}, or all with --limit 0",
            markup=False,
        )
    return found


def print_id(value: object) -> None:
    """An id alone on a line of stdout (`--quiet`), for `$(…)` in shell scripts."""
    sys.stdout.write(f"{value}\n")


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
