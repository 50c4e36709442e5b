"""Refresh tokens of SMART apps and revoked access tokens, kept in the node's database.

```
issue   ─ secrets.token_urlsafe(32) ─► the app;  SHA-256 ─► refresh_tokens (family, client, subject, scope, end)
redeem  ─ SHA-256 ─► the row, if unused, unexpired, of a family still alive
rotate  ─ the row's used_at set (at most once) ─► a second use of it: the family deleted, its access tokens revoked
revoke  ─ access token ids (jti) ─► revoked_tokens ─► every worker's in-memory set (re-read each second)
```

Only hashes are stored, so a copy of the database holds no usable token. Rows live in the
database, not in the process, so a restart keeps them and another worker reads them.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from careledger.store import Database, RefreshToken, RevokedToken

# An access token's life: short, since only one minted with a `jti` can be revoked before it ends.
ACCESS_TOKEN_SECONDS = 15 * 60
# online_access lives as long as a working day's session: it ends twelve hours after the sign-in whatever
# its rotations. offline_access outlives sessions: ninety days after the sign-in, then she signs in again.
ONLINE_SECONDS = 12 * 3600
OFFLINE_SECONDS = 90 * 86400
# How often a worker re-reads the revoked access tokens: another worker's revocation is honoured within it.
REVOCATIONS_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """What a live refresh token stands for: the authorization it continues."""

    token_hash: str
    family: str
    client_id: str
    subject: str
    patient: str | None
    scope: str
    issued_at: float
    expires_at: float
    launch_patient: str | None = None  # an EHR launch's chart: its patient and encounter, given at each refresh
    launch_encounter: str | None = None


class RefreshTokens:
    """The refresh tokens this node issued, and the access tokens it revoked before they expire."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._revoked: frozenset[str] = frozenset()  # as last read from the database
        self._read_at = float("-inf")
        self._mine: dict[str, float] = {}  # revoked here (until they expire), so honoured before the next read
        self._lock = threading.Lock()

    def issue(
        self,
        grant: RefreshGrant | None,
        *,
        client_id: str,
        subject: str,
        patient: str | None,
        scope: str,
        offline: bool,
        access_jti: str,
        launch_patient: str | None = None,
        launch_encounter: str | None = None,
    ) -> str:
        """A new refresh token: the next of `grant`'s family (a rotation), or the first of a new one. A rotation
        keeps the family's end, but no later than the lifetime asked now: an app that gives up `offline_access`
        for `online_access` at a refresh has the online lifetime from then on."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        lifetime = OFFLINE_SECONDS if offline else ONLINE_SECONDS
        with self._db.session() as session:
            # What is past its end is dropped here, where tokens are made, not on the paths that read them.
            session.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now))
            session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
            session.add(
                RefreshToken(
                    token_hash=_hash(token),
                    family=grant.family if grant else secrets.token_hex(16),
                    client_id=client_id,
                    subject=subject,
                    patient=patient,
                    scope=scope,
                    issued_at=now,
                    expires_at=now + lifetime if grant is None else min(grant.expires_at, now + lifetime),
                    used_at=None,
                    access_jti=access_jti,
                    launch_patient=launch_patient,
                    launch_encounter=launch_encounter,
                )
            )
        return token

    def redeem(self, token: str) -> RefreshGrant | None:
        """The grant of a live refresh token, to be used; None if unknown, expired or revoked. A rotated token
        used again revokes its whole family (OAuth 2.0 Security BCP, 4.14): one of the two users of it is a thief."""
        with self._db.session() as session:
            row = session.get(RefreshToken, _hash(token))
            if row is not None and row.used_at is not None:
                self._revoke_family(session, row.family)
                return None
        return self.find(token)

    def find(self, token: str) -> RefreshGrant | None:
        """The grant of a live refresh token (not rotated, not expired, not revoked), looked at only."""
        with self._db.session() as session:
            row = session.get(RefreshToken, _hash(token))
            if row is None or row.used_at is not None or row.expires_at <= self._clock():
                return None
            return RefreshGrant(
                row.token_hash,
                row.family,
                row.client_id,
                row.subject,
                row.patient,
                row.scope,
                row.issued_at,
                row.expires_at,
                row.launch_patient,
                row.launch_encounter,
            )

    def rotate(self, grant: RefreshGrant) -> None:
        """Mark `grant`'s token used, once: if it already was (two refreshes at once), its family is revoked."""
        with self._db.session() as session:
            marked = session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == grant.token_hash, RefreshToken.used_at.is_(None))
                .values(used_at=self._clock())
            )
            if marked.rowcount == 0:  # type: ignore[attr-defined]
                self._revoke_family(session, grant.family)

    def revoke_family(self, grant: RefreshGrant) -> None:
        """End the authorization `grant` belongs to: its refresh tokens and the access tokens issued with them."""
        with self._db.session() as session:
            self._revoke_family(session, grant.family)

    def revoke_client(self, client_id: str) -> None:
        """End every authorization of a client (it is being removed)."""
        with self._db.session() as session:
            families = session.scalars(select(RefreshToken.family).where(RefreshToken.client_id == client_id))
            for family in set(families):
                self._revoke_family(session, family)

    def revoke_access(self, jti: str, expires_at: float) -> None:
        """Revoke one access token before it expires at `expires_at`."""
        with self._db.session() as session:
            if session.get(RevokedToken, jti) is None:
                session.add(RevokedToken(token_id=jti, expires_at=expires_at))
        self._add({jti: expires_at})

    def revoked(self, jti: str) -> bool:
        """Whether the access token `jti` was revoked: an in-memory set, re-read from the database each second."""
        now = self._clock()
        if now - self._read_at >= REVOCATIONS_SECONDS:
            with self._db.reading() as connection:
                found = connection.execute(select(RevokedToken.token_id).where(RevokedToken.expires_at > now))
                self._revoked = frozenset(found.scalars())
            self._read_at = now
        return jti in self._revoked or self._mine.get(jti, 0.0) > now

    def _revoke_family(self, session: Session, family: str) -> None:
        """Delete a family's refresh tokens; revoke the access tokens issued with them that may still be alive."""
        now = self._clock()
        rows = session.execute(
            select(RefreshToken.access_jti, RefreshToken.issued_at).where(RefreshToken.family == family)
        ).all()
        alive = {jti: issued + ACCESS_TOKEN_SECONDS for jti, issued in rows if issued + ACCESS_TOKEN_SECONDS > now}
        known = set(session.scalars(select(RevokedToken.token_id).where(RevokedToken.token_id.in_(alive))))
        session.add_all(RevokedToken(token_id=jti, expires_at=end) for jti, end in alive.items() if jti not in known)
        session.execute(delete(RefreshToken).where(RefreshToken.family == family))
        self._add(alive)

    def _add(self, jtis: dict[str, float]) -> None:
        with self._lock:
            now = self._clock()
            self._mine = {jti: end for jti, end in (self._mine | jtis).items() if end > now}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
