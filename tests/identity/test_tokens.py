"""Refresh tokens and revoked access tokens in the node's database, on SQLite and PostgreSQL: lifetimes,
rotation, reuse, and what another worker (another `RefreshTokens` over the same database) sees."""

from __future__ import annotations

import pytest

from careledger.identity import OFFLINE_SECONDS, ONLINE_SECONDS, RefreshTokens
from careledger.store import Database


@pytest.fixture
def now() -> list[float]:
    return [1_800_000_000.0]


def _issue(tokens: RefreshTokens, *, offline: bool, jti: str = "jti-1") -> str:
    subject = "0x" + "a" * 40
    return tokens.issue(
        None, client_id="app", subject=subject, patient=None, scope="patient/*.rs", offline=offline, access_jti=jti
    )


def test_online_access_ends_with_the_session_and_offline_access_later(database: Database, now: list[float]) -> None:
    tokens = RefreshTokens(database, clock=lambda: now[0])
    online, offline = _issue(tokens, offline=False), _issue(tokens, offline=True)
    now[0] += ONLINE_SECONDS - 1
    grant = tokens.redeem(online)
    assert grant is not None
    rotated = tokens.issue(
        grant, client_id="app", subject=grant.subject, patient=None, scope=grant.scope, offline=False, access_jti="j2"
    )
    tokens.rotate(grant)
    now[0] += 2
    assert tokens.redeem(rotated) is None  # rotation does not extend the session
    assert tokens.redeem(offline) is not None
    now[0] += OFFLINE_SECONDS
    assert tokens.redeem(offline) is None


def test_another_worker_finds_the_token_and_honours_a_revocation_within_a_second(
    database: Database, now: list[float]
) -> None:
    mine, theirs = RefreshTokens(database, clock=lambda: now[0]), RefreshTokens(database, clock=lambda: now[0])
    token = _issue(mine, offline=True, jti="access-1")
    assert theirs.revoked("access-1") is False
    grant = theirs.redeem(token)
    assert grant is not None
    mine.rotate(grant)
    assert mine.redeem(token) is None  # used again: the family ends, its access token too
    assert mine.revoked("access-1") is True
    assert theirs.revoked("access-1") is False  # read less than a second ago
    now[0] += 1
    assert theirs.revoked("access-1") is True
    theirs.rotate(grant)  # a second rotation of the same token (a race) is refused the same way
    assert theirs.find(token) is None


def test_giving_up_offline_access_at_a_refresh_brings_the_online_lifetime(database: Database, now: list[float]) -> None:
    tokens = RefreshTokens(database, clock=lambda: now[0])
    grant = tokens.redeem(_issue(tokens, offline=True))
    assert grant is not None
    now[0] += 86400
    online = tokens.issue(
        grant, client_id="app", subject=grant.subject, patient=None, scope="patient/*.rs", offline=False, access_jti="j"
    )
    tokens.rotate(grant)
    narrowed = tokens.find(online)
    assert narrowed is not None
    assert narrowed.expires_at == now[0] + ONLINE_SECONDS  # not the ninety days of offline_access
    now[0] += ONLINE_SECONDS
    assert tokens.redeem(online) is None


def test_an_ehr_launchs_context_is_kept_with_its_refresh_token(database: Database, now: list[float]) -> None:
    tokens = RefreshTokens(database, clock=lambda: now[0])
    first = tokens.issue(
        None,
        client_id="app",
        subject="0x" + "b" * 40,
        patient=None,
        scope="launch user/*.rs online_access",
        offline=False,
        access_jti="j1",
        launch_patient="patient-1",
        launch_encounter="encounter-1",
    )
    grant = tokens.redeem(first)
    assert grant is not None
    assert (grant.launch_patient, grant.launch_encounter) == ("patient-1", "encounter-1")
    assert tokens.find(_issue(tokens, offline=False)).launch_patient is None  # type: ignore[union-attr]
