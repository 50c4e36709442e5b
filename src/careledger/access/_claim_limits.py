"""How fast claims may fail: per client address, and per claim code, counted by every worker together.

A claim code burns after `MAX_FAILURES` wrong tries, which anyone who knows a patient
number could spend. So refused claims are also paced, in two buckets: one per client
address (an IPv6 address by its /64, which one host holds whole), smaller than a code's
bound, so a stranger hammering from one address is answered 429 before she has burnt
anyone's code; and one per code, so that many addresses together still take hours, not
seconds, to burn one, while the front desk sees the tries in the audit log. The buckets
are the node's shared rate-limit buckets (`careledger.shared.Buckets`, in its database), so
N workers allow what one does, not N times as much.
"""

from __future__ import annotations

import ipaddress

from careledger.errors import TooMany
from careledger.shared import Buckets

# Refused claims one client address may make at once, then one more every twenty minutes.
ADDRESS_FAILURES = 3
ADDRESS_REFILL_SECONDS = 20 * 60.0
# Wrong tries one code may take at once, then one more every ten minutes.
CODE_FAILURES = 5
CODE_REFILL_SECONDS = 10 * 60.0


class FailureBudget:
    """A bucket of failures per key, shared by every worker: `burst` at once, one more every `refill` seconds."""

    def __init__(self, buckets: Buckets, name: str, burst: int, refill: float, *, refusal: str) -> None:
        """`name` keeps this budget's keys apart from other limits'; `refusal` is the 429's message, with `{wait}`
        for the minutes until the next try."""
        self._buckets = buckets
        self._name = name
        self._burst = burst
        self._refill = refill
        self._refusal = refusal

    def check(self, key: str) -> None:
        """`TooMany` if `key` has no failure left to spend (nothing is spent)."""
        self._refuse(self._buckets.due_in(self._key(key), self._refill, self._burst))

    def spend(self, key: str) -> None:
        """Count one failure of `key`, if it has one left (a refused claim was refused already)."""
        self._buckets.wait(self._key(key), self._refill, self._burst)

    def take(self, key: str) -> None:
        """Count one failure of `key`; `TooMany`, with nothing counted, if it has none left."""
        self._refuse(self._buckets.wait(self._key(key), self._refill, self._burst))

    def forget(self, key: str) -> None:
        """Start `key` afresh (a new code replaces a burnt or expired one)."""
        self._buckets.forget(self._key(key))

    def _key(self, key: str) -> str:
        return f"{self._name}:{key}"

    def _refuse(self, wait: float) -> None:
        if wait > 0:
            raise TooMany(self._refusal.format(wait=max(1, round(wait / 60))), retry_after=wait)


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
