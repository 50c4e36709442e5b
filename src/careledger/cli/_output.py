"""Where the CLI writes: Rich for people on stdout, plain JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

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


@contextmanager
def progress_bar(
    what: str, *, quiet: bool = False, counting: Literal["bytes", "items"] = "bytes"
) -> Iterator[Callable[[int, int, str], None]]:
    """A Rich progress bar on stderr (none when `quiet`, as for --json) of bytes or items, shown through the
    callback it yields: `(done, total, what is at hand)`, a total of 0 while it is not known yet."""
    if quiet:
        yield lambda _done, _total, _name: None
        return
    from rich.progress import DownloadColumn, MofNCompleteColumn, Progress  # ~40 ms: only where one is shown

    amount = DownloadColumn() if counting == "bytes" else MofNCompleteColumn()
    with Progress(*Progress.get_default_columns(), amount, console=progress) as bar:
        task = bar.add_task(what, total=None)

        def show(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total or None, description=f"{what} {name[-40:]}".rstrip())

        yield show


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
