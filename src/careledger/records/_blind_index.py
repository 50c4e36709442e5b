"""The blind index: search tokens and record categories as keyed hashes, so the database alone tells nothing.

```
term (param, system, value) ─keyed BLAKE2b(index key)─► `value` column: H(param, value)
                                                  └─► `system` column: H(param, system, value), for codes
a day ─► one bucket per level, day >> 4k for k = 0..5 ─keyed BLAKE2b─► six rows
category of (record, version) ─HMAC-SHA256─► a tag only the key holder can tell apart from the nine others
```

Terms use BLAKE2b in its keyed mode (a MAC, in Python's standard library): a write hashes a few
dozen, and it is 2.5 times HMAC-SHA256's speed here. Category tags stay HMAC-SHA256, as stored
tags are read back by trying each category.

Exact-match search hashes the wanted value the same way. A date range is covered by at
most ~150 buckets of the six levels (base 16 over the day number, as range covers over
dyadic intervals do), so `date=ge2024-03-15` is one `IN` over hashes. What the index
still shows to a reader of the database without the key: which records share a token
value (equality), and the same at each date granularity; not the values, codes or dates
themselves. The key is the node's (`index.key` in its home, mode 0600), never in the
database, so a copied database file or backup gives none of it away. Dates are indexed
to the day; a search value with a time narrows to the days around it here, and is compared
to the second on the decrypted candidates (`_matching`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import date

from careledger.errors import IntegrityError
from careledger.records._categories import Category

KEY_BYTES = 32
_DIGEST_BYTES = 16  # 128 bits: no two distinct tokens collide in any real index
_LEVELS = 6  # day >> 4k for k < 6 spans every day number up to 9999-12-31 (< 2**22)
_LEVEL_BITS = 4
MIN_DAY = date(1, 1, 1).toordinal()
END_DAY = date(9999, 12, 31).toordinal() + 1
_TOLD_TAGS = 50_000  # ~15 MB at most; emptied when full


class BlindIndex:
    """Keyed hashes of one node's search tokens and record categories."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise IntegrityError(f"an index key is {KEY_BYTES} bytes, not {len(key)}")
        self._base = hmac.new(key, digestmod=hashlib.sha256)
        self._key = key
        # Tags told apart already, by (record, version, tag): a read by id tries up to ten HMACs otherwise.
        self._told: dict[tuple[str, int, str], Category] = {}

    def _hash(self, *parts: str) -> str:
        """HMAC-SHA256: category tags (kept as they were, since stored tags are read back by trying each)."""
        mac = self._base.copy()
        mac.update("\x1f".join(parts).encode())
        return mac.digest()[:_DIGEST_BYTES].hex()

    def _term(self, *parts: str) -> str:
        """Keyed BLAKE2b: search terms, a few dozen per write, rebuilt whenever the index is (2.5x HMAC's speed)."""
        return hashlib.blake2b("\x1f".join(parts).encode(), key=self._key, digest_size=_DIGEST_BYTES).hexdigest()

    def value(self, param: str, value: str) -> str:
        """The term a token is found by whatever its system."""
        return self._term("v", param, value)

    def system_value(self, param: str, system: str, value: str) -> str:
        """The term a token is found by with its system (`""` for none)."""
        return self._term("s", param, system, value)

    def day_buckets(self, day: int) -> list[str]:
        """The terms of one day, one per level."""
        return [self._term("d", str(level), str(day >> (_LEVEL_BITS * level))) for level in range(_LEVELS)]

    def day_range(self, start: int, end: int) -> list[str]:
        """Terms whose buckets together cover the days [start, end) exactly."""
        return [self._term("d", str(level), str(bucket)) for level, bucket in _cover(start, end)]

    def category_tag(self, record_id: str, version: int, category: Category) -> str:
        """The category as stored for one version: unlinkable across versions without the key."""
        return self._hash("c", record_id, str(version), category.value)

    def category_of(self, record_id: str, version: int, tag: str) -> Category:
        """Which category a stored tag is (a legacy plaintext value is read as itself)."""
        told = self._told.get((record_id, version, tag))
        if told is None:
            told = self._tell(record_id, version, tag)
            if len(self._told) >= _TOLD_TAGS:
                self._told.clear()
            self._told[record_id, version, tag] = told
        return told

    def _tell(self, record_id: str, version: int, tag: str) -> Category:
        """`category_of`, worked out: each category's tag for this version, tried in turn."""
        mac = self._base.copy()
        mac.update(f"c\x1f{record_id}\x1f{version}\x1f".encode())
        for category in Category:
            candidate = mac.copy()
            candidate.update(category.value.encode())
            if hmac.compare_digest(candidate.digest()[:_DIGEST_BYTES].hex(), tag):
                return category
        try:
            return Category(tag)
        except ValueError:
            raise IntegrityError(f"record {record_id} version {version} has a category tag of another key") from None


def _cover(start: int, end: int) -> Iterator[tuple[int, int]]:
    """(level, bucket) pairs that tile [start, end): whole buckets, the coarsest that fit."""
    start, end = max(start, 0), min(end, 1 << (_LEVEL_BITS * _LEVELS))
    for level in range(_LEVELS):
        width = 1 << (_LEVEL_BITS * level)
        coarser = width << _LEVEL_BITS
        top = level == _LEVELS - 1
        while start < end and (top or start % coarser):
            yield level, start >> (_LEVEL_BITS * level)
            start += width
        while start < end and end % coarser:
            end -= width
            yield level, end >> (_LEVEL_BITS * level)
