"""How fast claims may fail: per client address, and per claim code.

A claim code burns after `MAX_FAILURES` wrong tries, which anyone who knows a patient
number could spend. So refused claims are also paced, in memory, in two buckets: one per
client address (an IPv6 address by its /64, which one host holds whole), smaller than a
code's bound, so a stranger hammering from one address is answered 429 before she has
burnt anyone's code; and one per code, so that many addresses together still take hours,
not seconds, to burn one, while the front desk sees the tries in the audit log.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass

from careledger.errors import TooMany

# Refused claims one client address may make at once, then one more every twenty minutes.
ADDRESS_FAILURES = 3
ADDRESS_REFILL_SECONDS = 20 * 60.0
# Wrong tries one code may take at once, then one more every ten minutes.
CODE_FAILURES = 5
CODE_REFILL_SECONDS = 10 * 60.0
_KEYS_REMEMBERED = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    since: float


class FailureBudget:
    """A token bucket of failures per key: `burst` at once, one more every `refill` seconds; thread-safe."""

    def __init__(self, burst: int, refill: float, clock: Callable[[], float], *, refusal: str) -> None:
        """`refusal` is the 429's message, with `{wait}` for the minutes until the next try. At most
        `_KEYS_REMEMBERED` keys are kept: the one that failed longest ago is forgotten first (its bucket has
        refilled the most), so a flood of new keys (ids that name no one) cannot reset the pacing of the others."""
        self._burst = float(burst)
        self._refill = refill
        self._clock = clock
        self._refusal = refusal
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """`TooMany` if `key` has no failure left to spend."""
        with self._lock:
            bucket = self._current(key)
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) * self._refill
            raise TooMany(self._refusal.format(wait=max(1, round(wait / 60))), retry_after=wait)

    def spend(self, key: str) -> None:
        """Count one failure of `key`."""
        with self._lock:
            bucket = self._current(key)
            self._buckets.pop(key, None)  # newest last: the keys are kept in the order they last failed
            while len(self._buckets) >= _KEYS_REMEMBERED:
                del self._buckets[next(iter(self._buckets))]
            self._buckets[key] = _Bucket(bucket.tokens - 1, bucket.since)

    def forget(self, key: str) -> None:
        """Start `key` afresh (a new code replaces a burnt or expired one)."""
        with self._lock:
            self._buckets.pop(key, None)

    def _current(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            return _Bucket(self._burst, now)
        return _Bucket(min(self._burst, bucket.tokens + (now - bucket.since) / self._refill), now)


def network_of(client: str) -> str:
    """The key a client address is paced by: an IPv4 address itself, an IPv6 address by its /64."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
