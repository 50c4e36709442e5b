"""What a browser may send into a visit room: a few JSON message types, each checked field by field, bounded in
size and in pace. Anything else ends the connection: a browser running the portal's page never sends it.

```
offer / answer   {"type": "offer", "sdp": "v=0…"}            relayed to the peer (SDP: a session description)
candidate        {"type": "candidate", "candidate": {…}}      relayed (RTCIceCandidateInit; "" ends the list)
admit            {"type": "admit"}                            a practitioner lets the waiting patient in
bye              {"type": "bye"}                              hang up: the peer is told, the seat given up
```
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from careledger.errors import TooLarge, TooMany, ValidationError

# One message's size at most: a browser's SDP offer of audio and video is 4-8 KB.
MAX_MESSAGE_BYTES = 16 * 1024
# Messages one connection may send at once, and per second after that: a browser sends its candidates in a
# burst (a few dozen at most), then almost nothing.
BURST = 60
PER_SECOND = 5.0
MAX_CANDIDATE_CHARS = 1024
MAX_MID_CHARS = 64
MAX_UFRAG_CHARS = 256
MAX_MLINE_INDEX = 64

RELAYED = frozenset({"offer", "answer", "candidate"})
_SHAPES: dict[str, frozenset[str]] = {
    "offer": frozenset({"type", "sdp"}),
    "answer": frozenset({"type", "sdp"}),
    "candidate": frozenset({"type", "candidate"}),
    "admit": frozenset({"type"}),
    "bye": frozenset({"type"}),
}
_CANDIDATE_FIELDS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})


@dataclass(frozen=True, slots=True)
class Signal:
    """One checked message: its type and, for those relayed, the body as the peer receives it."""

    kind: str
    body: dict[str, Any]


def parse_signal(raw: str | bytes) -> Signal:
    """`raw` checked: `TooLarge` over `MAX_MESSAGE_BYTES`, `ValidationError` for anything not one of the types
    above with exactly their fields, each of its type and size."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
    if size > MAX_MESSAGE_BYTES:
        raise TooLarge(f"a room message is at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("a room message is one JSON object") from None
    if not isinstance(message, dict) or message.get("type") not in _SHAPES:
        raise ValidationError(f"a room message has a type, one of {', '.join(sorted(_SHAPES))}")
    kind = str(message["type"])
    if set(message) != _SHAPES[kind]:
        raise ValidationError(f"a {kind} message has the fields {', '.join(sorted(_SHAPES[kind]))}")
    if kind in ("offer", "answer") and not (isinstance(message["sdp"], str) and message["sdp"].startswith("v=0")):
        raise ValidationError(f"an {kind}'s sdp is a session description (v=0…)")
    if kind == "candidate":
        _check_candidate(message["candidate"])
    return Signal(kind, message)


def _check_candidate(candidate: Any) -> None:
    """An RTCIceCandidateInit: its fields known, strings of bounded length, the line index a small integer."""
    if not isinstance(candidate, dict) or not set(candidate) <= _CANDIDATE_FIELDS or "candidate" not in candidate:
        raise ValidationError(f"a candidate has the fields {', '.join(sorted(_CANDIDATE_FIELDS))}")
    for name, most in (
        ("candidate", MAX_CANDIDATE_CHARS),
        ("sdpMid", MAX_MID_CHARS),
        ("usernameFragment", MAX_UFRAG_CHARS),
    ):
        value = candidate.get(name)
        if value is not None and not (isinstance(value, str) and len(value) <= most):
            raise ValidationError(f"a candidate's {name} is a string of at most {most} characters")
    index = candidate.get("sdpMLineIndex")
    if index is not None and not (type(index) is int and 0 <= index <= MAX_MLINE_INDEX):
        raise ValidationError(f"a candidate's sdpMLineIndex is an integer from 0 to {MAX_MLINE_INDEX}")


class Pace:
    """A token bucket for one connection's messages: `BURST` at once, `PER_SECOND` after."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens = float(BURST)
        self._at = clock()

    def take(self) -> None:
        """Count one message; `TooMany` when the connection sends faster than allowed."""
        now = self._clock()
        self._tokens = min(float(BURST), self._tokens + (now - self._at) * PER_SECOND)
        self._at = now
        if self._tokens < 1:
            raise TooMany(f"a room connection sends at most {PER_SECOND:g} messages a second", retry_after=1)
        self._tokens -= 1
