"""The request being served, as the code below the API sees it: its id and, once signed in, the caller's role.

The API's request log (`api/_request_log`) opens one `Served` per HTTP request; the audit log reads its id
into every entry the request writes (`audit/_events`: AuditEvent.entity of type `XrequestId`, as IHE BALP
records it), and the sign-in notes the caller's role for the access log line. A context variable, so a
request's work in the server's thread pool sees its own request and nothing of another's.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# What a client's (or a proxy's) X-Request-ID must look like to be kept: short, and nothing a log line or an
# audit entry could be made to say with it (no spaces, quotes, newlines; no names or search values fit).
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")


@dataclass(slots=True)
class Served:
    """One request being served: its id, the role of the caller once the sign-in has named one, and the failure
    a layer answered with a 500 (logged once, by the request log, with the request's route)."""

    id: str
    role: str | None = None
    failure: Exception | None = None


_current: ContextVar[Served | None] = ContextVar("careledger_request", default=None)


def request_id(given: str | None) -> str:
    """The id of a new request: the one it came with if that is a sane short token, else a fresh one."""
    if given is not None and _SANE.fullmatch(given):
        return given
    return secrets.token_hex(16)


@contextmanager
def serving(served: Served) -> Iterator[Served]:
    """`served` is the current request for the duration of the block (and in the threads it hands work to)."""
    token = _current.set(served)
    try:
        yield served
    finally:
        _current.reset(token)


def current() -> Served | None:
    """The request being served here, if any (None in the background loop and the CLI)."""
    return _current.get()


def note_failure(failure: Exception) -> bool:
    """Hand a failure that was answered with a 500 to the current request's log; False outside a request (the
    caller logs it then)."""
    served = _current.get()
    if served is not None:
        served.failure = failure
    return served is not None


def note_role(role: str) -> None:
    """Tell the current request's log line the role of the caller the sign-in found (no-op outside a request)."""
    served = _current.get()
    if served is not None:
        served.role = role
