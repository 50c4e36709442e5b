"""How `serve` writes its log: text lines for a person, or one JSON object a line for a log collector.

Both name the request a line was written in (its `X-Request-ID`, which its audit entries carry too), so
an operator goes from an error to the request's access line and to the audit entries it wrote. What is
logged is never PHI: the access log names route templates, and errors are the node's own messages. A
database's error is told by its type and SQLSTATE alone, wherever it is in an error's chain: its text
quotes what the statement carried (a ticket's JSON, a patient's id), and PostgreSQL's DETAIL quotes the
row it refused.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError

from careledger import request_context

LogFormat = Literal["text", "json"]

# What every LogRecord carries; anything else on a record was passed as `extra=` and is written as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class _Formatter(logging.Formatter):
    """A formatter whose tracebacks never quote a database error's text (`told`)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record, its traceback made here: another handler's formatter may have left its own on the record
        (`exc_text`, which `logging` reuses), with the database's text in it."""
        record.exc_text = None
        return super().format(record)

    def formatException(self, ei: ExcInfo) -> str:  # noqa: N802 - logging's name
        """The traceback as Python prints it, each database error's message replaced by what `told` says of it."""
        error = ei[1]
        return super().formatException(ei) if error is None else "".join(_chain(error, set())).rstrip("\n")


class TextFormatter(_Formatter):
    """`time level logger: message [request id]`, and a traceback after an error's line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with the request it was written in."""
        line = super().format(record)
        served = request_context.current()
        if served is None:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [request {served.id}]{newline}{rest}"


class JsonFormatter(_Formatter):
    """One JSON object a line: `time`, `level`, `logger`, `message`, `request_id`, the record's extra fields
    (the access log's `http`), and for an error `error` (its type, message and traceback: one field, one line)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        served = request_context.current()
        if served is not None:
            entry["request_id"] = served.id
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error"] = {
                "type": type(error).__name__,
                "message": told(error),
                "trace": self.formatException(record.exc_info),
            }
        return json.dumps(entry, default=str)


def formatter(kind: LogFormat) -> logging.Formatter:
    """The formatter of `log_format`."""
    return JsonFormatter() if kind == "json" else TextFormatter()


def told(error: BaseException) -> str:
    """What a log may say of `error`: its message; of a database's error (SQLAlchemy's, or the driver's it wraps),
    only its SQLSTATE."""
    if not _of_database(error):
        return str(error)
    found = error.orig if isinstance(error, DBAPIError) else error
    state = getattr(found, "sqlstate", None) or getattr(found, "sqlite_errorname", None)
    return f"SQLSTATE {state} (the database's message is not logged: it may quote values)"


def _of_database(error: BaseException) -> bool:
    return isinstance(error, DBAPIError | sqlite3.Error) or type(error).__module__.partition(".")[0] == "psycopg"


def _chain(error: BaseException, seen: set[int]) -> list[str]:
    """`error` and what it was raised from or during, oldest first, as `traceback.format_exception` lays them out."""
    seen.add(id(error))
    lines: list[str] = []
    cause, context = error.__cause__, None if error.__suppress_context__ else error.__context__
    if cause is not None and id(cause) not in seen:
        lines += [*_chain(cause, seen), "\nThe above exception was the direct cause of the following exception:\n\n"]
    elif context is not None and id(context) not in seen:
        lines += [*_chain(context, seen), "\nDuring handling of the above exception, another exception occurred:\n\n"]
    if error.__traceback__ is not None:
        lines += ["Traceback (most recent call last):\n", *traceback.format_tb(error.__traceback__)]
    name = type(error).__qualname__
    module = type(error).__module__
    lines.append(f"{name if module == 'builtins' else f'{module}.{name}'}: {told(error)}\n")
    return lines
