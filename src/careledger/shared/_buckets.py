"""Rate limits every worker counts together: a token bucket per key in the node's database.

Each bucket is kept as its theoretical arrival time (GCRA, the generic cell rate algorithm):
`due` is when the bucket would be full again. A request moves `due` on by one interval
(60 / per minute) from the later of `due` and now, unless that puts it more than `burst`
intervals ahead, when it is refused and `due` stays. One upsert does both, on SQLite and
PostgreSQL alike, so a rate-limited request costs one statement:

```
INSERT (key, now + interval) ON CONFLICT (key) DO UPDATE
  SET due = next if next - now <= burst * interval else due, refused = not that   RETURNING due, refused
```

Buckets whose `due` has passed are full, the same as no row: they are purged at most once a
minute per process.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from sqlalchemy import case, delete, literal, not_, select

from careledger.errors import TooMany
from careledger.shared._tickets import Purges
from careledger.store import Database, dialect_insert
from careledger.store.models import RateBucket

_BUCKETS = RateBucket.__table__
_KEY_CHARS = 128


class Buckets:
    """The node's rate-limit buckets."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._purges = Purges()

    def limit(self, name: str, per_minute: float, *, burst: int | None = None) -> RateLimit:
        """A limit of `per_minute` requests per key (`burst` at once, by default half a minute's), named
        `name` so that its keys are apart from other limits'."""
        return RateLimit(self, name, per_minute, burst if burst is not None else max(1, int(per_minute // 2)))

    def wait(self, key: str, interval: float, burst: int) -> float:
        """Spend one request of `key`'s bucket: 0 if allowed, else the seconds until one would be."""
        now = self._clock()
        due = _BUCKETS.c.due
        later = case((due > now, due), else_=literal(now))
        allowed = later + interval - now <= burst * interval
        insert = dialect_insert(self._db.backend)(_BUCKETS).values(key=_stored(key), due=now + interval, refused=False)
        statement = insert.on_conflict_do_update(
            index_elements=["key"],
            set_={"due": case((allowed, later + interval), else_=due), "refused": not_(allowed)},
        ).returning(due, _BUCKETS.c.refused)
        with self._db.writing() as connection:
            found = connection.execute(statement).one()
            if self._purges.due(now):
                connection.execute(delete(RateBucket).where(RateBucket.due < now))
        if not found.refused:
            return 0.0
        return max(0.0, float(found.due) + interval - now - burst * interval)

    def due_in(self, key: str, interval: float, burst: int) -> float:
        """What `wait` would answer for `key`, spending nothing: 0 if a request would be allowed now."""
        now = self._clock()
        with self._db.reading() as connection:
            due = connection.execute(select(RateBucket.due).where(RateBucket.key == _stored(key))).scalar()
        if due is None:
            return 0.0
        return max(0.0, max(float(due), now) + interval - now - burst * interval)

    def forget(self, key: str) -> None:
        """Make `key`'s bucket full again."""
        with self._db.writing() as connection:
            connection.execute(delete(RateBucket).where(RateBucket.key == _stored(key)))


class RateLimit:
    """One named limit over the node's buckets: `per_minute` per key, `burst` at once."""

    def __init__(self, buckets: Buckets, name: str, per_minute: float, burst: int) -> None:
        self.name = name
        self.per_minute = per_minute
        self.burst = burst
        self._buckets = buckets

    def take(self, key: str) -> None:
        """Spend one request of `key`; `TooMany` (with the wait, whole seconds) if it has none left."""
        if self.per_minute <= 0:
            raise TooMany(f"too many requests from {key}; try again in 60 s", retry_after=60)
        wait = self._buckets.wait(f"{self.name}:{key}", 60.0 / self.per_minute, self.burst)
        if wait > 0:
            # whole seconds, rounded up, so the words say what `Retry-After` says (never "in 0 s")
            seconds = max(1, math.ceil(wait))
            raise TooMany(f"too many requests from {key}; try again in {seconds} s", retry_after=seconds)


def _stored(key: str) -> str:
    """The key as stored: itself if short, else a hash (an IPv6 network and a name fit; anything longer is hashed)."""
    return key if len(key) <= _KEY_CHARS else hashlib.sha256(key.encode()).hexdigest()
