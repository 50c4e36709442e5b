"""Tokens: a verified token is remembered, but never past its expiry, and a changed one is checked afresh."""

from __future__ import annotations

import time

import jwt
import pytest

from careledger.api import SiweAuth, new_secret
from careledger.errors import Unauthenticated
from careledger.identity import IdentityService, Role

ADDRESS = "0x000000000000000000000000000000000000dEaD"


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _NoRegistry(IdentityService):
    def __init__(self) -> None:
        pass

    def signs_in_as(self, address: str) -> tuple[str, Role]:
        raise AssertionError("checking a token never asks the chain")


def _auth(clock: _Clock) -> tuple[SiweAuth, bytes]:
    secret = new_secret()
    auth = SiweAuth(
        domain="node.test", chain_id=1, secret=secret, issuer="careledger:test", identity=_NoRegistry(), clock=clock
    )
    return auth, secret


def _token(secret: bytes, expires: int) -> str:
    claims = {"iss": "careledger:test", "aud": "node.test", "sub": ADDRESS, "role": "org", "scope": "user/*.read"}
    return jwt.encode({**claims, "exp": expires}, secret, algorithm="HS256")


def test_a_remembered_token_stops_working_when_it_expires() -> None:
    now = time.time()
    clock = _Clock(now)
    auth, secret = _auth(clock)
    token = _token(secret, int(now) + 60)
    assert auth.caller(f"Bearer {token}").address == ADDRESS
    assert auth.caller(f"Bearer {token}").scopes == frozenset({"user/*.read"})  # the remembered answer
    clock.now = now + 61
    with pytest.raises(Unauthenticated, match="expired"):
        auth.caller(f"Bearer {token}")


def test_a_token_changed_after_a_good_one_is_verified_again() -> None:
    auth, secret = _auth(_Clock(time.time()))
    token = _token(secret, int(time.time()) + 60)
    auth.caller(f"Bearer {token}")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(Unauthenticated, match="invalid token"):
        auth.caller(f"Bearer {tampered}")
