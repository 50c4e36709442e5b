"""How `serve` writes its log: text lines for a person, or one JSON object a line for a log collector.

Both name the request a line was written in (its `X-Request-ID`, which its audit entries carry too), so
an operator goes from an error to the request's access line and to the audit entries it wrote. What is
logged is never PHI: the access log names route templates, and errors are the node's own messages.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from careledger import request_context

LogFormat = Literal["text", "json"]

# What every LogRecord carries; anything else on a record was passed as `extra=` and is written as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class TextFormatter(logging.Formatter):
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


class JsonFormatter(logging.Formatter):
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
                "message": str(error),
                "trace": self.formatException(record.exc_info),
            }
        return json.dumps(entry, default=str)


def formatter(kind: LogFormat) -> logging.Formatter:
    """The formatter of `log_format`."""
    return JsonFormatter() if kind == "json" else TextFormatter()
