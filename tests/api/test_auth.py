"""Tokens: a verified token is remembered, but never past its expiry, and a changed one is checked afresh; a SIWE
login names its signer, whatever else arrives is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import jwt
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from hypothesis import given
from hypothesis import strategies as st
from siwe import SiweMessage

from careledger.api import SiweAuth, new_secret
from careledger.errors import Unauthenticated
from careledger.identity import IdentityService, Role
from careledger.shared import Buckets, SharedState, Tickets
from careledger.store import Database, sqlite_url
from tests.exchange.hostile import PROPERTY, hex_strings, number_strings, refused_or_parsed

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


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedState]:
    """The nonces and rate limits of a node, in a database of their own (a module's worth)."""
    db = Database(sqlite_url(tmp_path_factory.mktemp("auth") / "node.db"))
    db.migrate()
    yield SharedState(Tickets(db), Buckets(db))
    db.close()


def _auth(clock: _Clock, shared: SharedState) -> tuple[SiweAuth, bytes]:
    secret = new_secret()
    auth = SiweAuth(
        domain="node.test",
        chain_id=1,
        secret=secret,
        issuer="careledger:test",
        identity=_NoRegistry(),
        shared=shared,
        clock=clock,
    )
    return auth, secret


def _token(secret: bytes, expires: int) -> str:
    claims = {"iss": "careledger:test", "aud": "node.test", "sub": ADDRESS, "role": "org", "scope": "user/*.read"}
    return jwt.encode({**claims, "exp": expires}, secret, algorithm="HS256")


def test_a_remembered_token_stops_working_when_it_expires(shared: SharedState) -> None:
    now = time.time()
    clock = _Clock(now)
    auth, secret = _auth(clock, shared)
    token = _token(secret, int(now) + 60)
    assert auth.caller(f"Bearer {token}").address == ADDRESS
    assert auth.caller(f"Bearer {token}").scopes == frozenset({"user/*.read"})  # the remembered answer
    clock.now = now + 61
    with pytest.raises(Unauthenticated, match="expired"):
        auth.caller(f"Bearer {token}")


def test_a_token_changed_after_a_good_one_is_verified_again(shared: SharedState) -> None:
    auth, secret = _auth(_Clock(time.time()), shared)
    token = _token(secret, int(time.time()) + 60)
    auth.caller(f"Bearer {token}")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(Unauthenticated, match="invalid token"):
        auth.caller(f"Bearer {tampered}")


# Sign-In with Ethereum as anyone may send it: whatever message and signature arrive, `verify` names the signer or
# refuses with a 4xx. Each example's message carries a nonce this node issued, so the parsing behind it runs.

CHAIN_ID = 1
_line_text = st.text(st.characters(exclude_characters="\n"), max_size=60)
_dates = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", "." + "9" * 30]),
    st.sampled_from(["Z", "z", "", "+00:00", "+23:59", "-23:59", "+99:99"]),
)
_values = _line_text | _dates | hex_strings | number_strings.filter(lambda s: "\n" not in s)
# Values of the right shape for their field, so a message still matches SIWE's grammar and the checks behind it run.
_HEX = "0123456789abcdefABCDEF"
_uris = st.sampled_from(["https://node.test/auth", "urn:x", "https://[::1]:99999/", "a:" + "b" * 280])
_SHAPES = {
    "domain": st.sampled_from(["node.test", "NODE.TEST", "node.test:0", "evil.test", "xn--n-ba.test", "a" * 280]),
    "address": st.tuples(st.sampled_from(["0x", "0X"]), st.text(_HEX, min_size=40, max_size=40)).map("".join),
    "Chain ID": st.integers(0, 10**290).map(str),
    "Issued At": _dates,
    "Expiration Time": _dates,
    "Not Before": _dates,
    "Request ID": _line_text,
    "Version": st.sampled_from(["1", "2", "0"]),
    "URI": _uris,
}


def _message(account: LocalAccount, nonce: str, issued_at: datetime) -> str:
    """A SIWE message as a wallet outside the project writes it (the siwe library)."""
    return str(
        SiweMessage(
            domain="node.test",
            address=account.address,
            statement="Sign in to CareLedger",
            uri="https://node.test/auth",
            version="1",
            chain_id=CHAIN_ID,
            nonce=nonce,
            issued_at=issued_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        ).prepare_message()
    )


@st.composite
def _shaped(draw: st.DrawFn, account: LocalAccount, nonce: str) -> str:
    """A message in SIWE's layout, each field its good value or another of the right shape, optional ones or not."""

    def field(name: str, good: str) -> str:
        return draw(st.just(good) | _SHAPES[name])

    issued = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = [
        f"{field('domain', 'node.test')} wants you to sign in with your Ethereum account:",
        field("address", account.address),
        "",
        "Sign in to CareLedger",
        "",
        f"URI: {field('URI', 'https://node.test/auth')}",
        f"Version: {field('Version', '1')}",
        f"Chain ID: {field('Chain ID', str(CHAIN_ID))}",
        f"Nonce: {nonce}",
        f"Issued At: {field('Issued At', issued)}",
    ]
    for name in ("Expiration Time", "Not Before", "Request ID"):
        if draw(st.booleans()):
            lines.append(f"{name}: {field(name, issued)}")
    if draw(st.booleans()):
        lines += ["Resources:", *(f"- {uri}" for uri in draw(st.lists(_uris, min_size=1, max_size=3)))]
    return "\n".join(lines)


@st.composite
def _damaged_lines(draw: st.DrawFn, message: str) -> str:
    """`message` with one to three of its lines given a hostile value, replaced, removed, or a line added."""
    lines = message.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines)))
        how = draw(st.sampled_from(["value", "line", "remove", "insert"]))
        if how == "insert" or at == len(lines):
            lines.insert(at, draw(_line_text))
        elif how == "value":
            key, found, _ = lines[at].partition(": ")
            lines[at] = f"{key}: {draw(_values)}" if found else draw(_values)
        elif how == "line":
            lines[at] = draw(_line_text)
        else:
            del lines[at]
    return "\n".join(lines)


def _messages(account: LocalAccount, nonce: str) -> st.SearchStrategy[str]:
    """What may arrive as a SIWE message for `account` with this node's `nonce`: well laid out, damaged, or text."""
    return _shaped(account, nonce) | _shaped(account, nonce).flatmap(_damaged_lines) | st.text(max_size=200)


@PROPERTY
@given(data=st.data())
def test_any_sign_in_names_its_signer_or_is_refused(shared: SharedState, data: st.DataObject) -> None:
    auth, _ = _auth(_Clock(time.time()), shared)
    wallet = Account.create()
    message = data.draw(_messages(wallet, auth.nonce()), label="message")
    utf8 = message.encode("utf-8", "surrogatepass")  # JSON may carry a lone surrogate ("\\ud800"); sign its bytes
    signed = "0x" + bytes(wallet.sign_message(encode_defunct(primitive=utf8)).signature).hex()
    signature = data.draw(st.just(signed) | hex_strings | st.text(max_size=140), label="signature")
    signer = refused_or_parsed(lambda: auth.verify(message, signature))
    assert signer in (None, wallet.address)


@PROPERTY
@given(skew=st.integers(-3600, 60))
def test_a_sign_in_by_a_fresh_wallet_names_it(shared: SharedState, skew: int) -> None:
    now = time.time()
    auth, _ = _auth(_Clock(now), shared)
    wallet = Account.create()
    message = _message(wallet, auth.nonce(), datetime.fromtimestamp(now + skew, UTC))
    signature = "0x" + bytes(wallet.sign_message(encode_defunct(text=message)).signature).hex()
    assert auth.verify(message, signature) == wallet.address
    with pytest.raises(Unauthenticated, match="nonce"):
        auth.verify(message, signature)  # the nonce is spent
