"""Sign-In with Ethereum (EIP-4361) and the short-lived JWT it earns.

`GET /auth/nonce` hands out a one-time nonce; `POST /auth/login` takes the SIWE message
the wallet signed and the signature. The message must name this node's domain and chain
and a nonce it issued and has not seen used; the signer's role in the IdentityRegistry
gives the SMART-on-FHIR style scopes of the token (HS256, PyJWT, 15 minutes). Nonces are
tickets in the node's database (`careledger.shared`): issued by one worker, spent once at
whichever worker the login reaches.

Anyone may call `/auth/login`, so what it costs is bounded before any parsing: the
message's size and line lengths, the signature's form, and a nonce this node issued
(taken from the message's `Nonce:` line by a plain split) are checked first, and the
message is parsed with siwe's regular expression rather than its ABNF parser, whose cost
grows much faster than the input.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from eth_utils import to_checksum_address
from siwe import SiweMessage
from siwe.siwe import VerificationError

from careledger.bearer import bearer_token
from careledger.errors import AccessDenied, Unauthenticated, ValidationError
from careledger.identity import (
    ACCESS_TOKEN_SECONDS,
    IdentityService,
    Role,
    Scope,
    narrowing,
    parse_signature,
    resource_scopes,
)
from careledger.shared import SharedState

Narrowing = tuple[tuple[str, tuple[tuple[tuple[str, str], ...], ...]], ...]

TOKEN_SECONDS = ACCESS_TOKEN_SECONDS
# Tokens verified once and remembered until they expire: checking a JWT (HMAC, base64,
# JSON, claims) was a sixth of a read's CPU; a repeat costs a dict lookup.
_REMEMBERED_TOKENS = 4096
NONCE_SECONDS = 5 * 60
_NONCE = "siwe-nonce"
_ALGORITHM = "HS256"
LOGINS_PER_MINUTE = 60
# A real SIWE message is a few hundred characters in about a dozen lines (more with resources).
MAX_MESSAGE_CHARS = 4096
MAX_LINE_CHARS = 300
MAX_LINES = 40
# How far in the future a message's `Issued At` may be: clocks differ a little, not by years.
CLOCK_SKEW_SECONDS = 120

# SMART on FHIR v1 scopes by on-chain role: patients act on their own records, everyone
# else as a user whose reads the consent rules still govern.
_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.PATIENT: ("patient/*.read", "patient/*.write"),
    Role.PRACTITIONER: ("user/*.read", "user/*.write"),
    Role.ORG: ("user/*.read", "user/*.write"),
    Role.LAB: ("user/*.read", "user/*.write"),
    Role.PHARMACY: ("user/*.read", "user/MedicationDispense.write", "user/SupplyEvent.write"),  # its supply chain
    Role.INSURER: ("user/*.read", "user/Claim.write", "user/ClaimResponse.write"),
    Role.RESEARCHER: ("user/*.read", "user/ResearchStudy.write"),  # registering studies (docs/research.md)
    Role.REGULATOR: ("user/AuditEvent.read", "user/Consent.read"),
    Role.DEVICE: ("user/Observation.write",),
}


def role_scopes(role: Role) -> list[Scope]:
    """The most a token of an actor with `role` may carry."""
    return resource_scopes(list(_SCOPES[role]))


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from, as its token says; `acts_for`, the patient a proxy's token acts for (a live
    delegate chose her at a standalone launch), whose compartment its patient scopes then reach instead."""

    address: str
    role: Role
    scopes: frozenset[str]
    acts_for: str | None = None

    def may(self, resource_type: str, access: str) -> bool:
        """Whether a scope covers `access` (read: r or s; write: c, u or d) of `resource_type`."""
        wanted = "rs" if access == "read" else "cud"
        return any(scope.allows(resource_type, p) for scope in _parsed(self.scopes) for p in wanted)

    def require(self, resource_type: str, access: str) -> None:
        """`AccessDenied` unless a scope of the token allows `access` (read or write) of `resource_type`."""
        if not self.may(resource_type, access):
            raise AccessDenied(f"the token's scopes do not allow {access} of {resource_type}")

    def narrowing(self) -> Narrowing:
        """What the token's SMART v2 scopes narrow reads to, per type (`Accessor.narrowing`)."""
        return _narrowing(self.scopes)

    @property
    def patient_context(self) -> bool:
        """Whether the token is a patient's, or a proxy's for one: its reads are narrowed to her compartment."""
        return self.role == Role.PATIENT or self.acts_for is not None

    @property
    def compartment(self) -> str:
        """Whose compartment a patient-context token reaches: the patient it acts for, else its own user's. Its
        listings are narrowed to it, its consents are hers, and its export jobs are hers alone."""
        return self.acts_for or self.address


class SiweAuth:
    """Nonces, logins and tokens of one node's API."""

    def __init__(
        self,
        *,
        domain: str,
        chain_id: int,
        secret: bytes,
        issuer: str,
        identity: IdentityService,
        shared: SharedState,
        clock: Callable[[], float] = time.time,
        revoked: Callable[[str], bool] | None = None,
    ) -> None:
        self.domain = domain
        self.chain_id = chain_id
        self._secret = secret
        self._issuer = issuer
        self._identity = identity
        self._clock = clock
        self._nonces = shared.tickets
        self._verified: dict[str, tuple[Caller, int, str | None]] = {}
        # Whether a token's `jti` was revoked (RFC 7009, or a portal sign-out).
        self._revoked = revoked or _never
        self._lock = threading.Lock()
        # Tokens minted per address; counted after the signature verified, so nobody can spend another's.
        self._logins = shared.buckets.limit("login", LOGINS_PER_MINUTE)

    def nonce(self) -> str:
        """A fresh one-use nonce for a SIWE message, valid for a few minutes."""
        nonce = secrets.token_hex(12)
        self._nonces.put(_NONCE, nonce, {}, NONCE_SECONDS)
        return nonce

    def login(self, message_text: str, signature: str) -> tuple[str, Caller]:
        """A token for the signer of a valid SIWE message; `Unauthenticated` says what was wrong.

        A wallet that claimed a custodial identity signs in as that identity: her records and
        consents name the identity, and her wallet acts for it.
        """
        return self.session_for(self.verify(message_text, signature))

    def session_for(self, wallet: str) -> tuple[str, Caller]:
        """A token for a wallet that has just proved itself (a verified signature), as whoever it signs in as."""
        acts_as, role = self.signed_in(wallet)
        caller = Caller(acts_as, role, frozenset(_SCOPES[role]))
        return self.issue(caller), caller

    def signed_in(self, address: str) -> tuple[str, Role]:
        """Who a wallet that proved itself signs in as (its claimed identity, if any) and its role; rate-limited."""
        self._logins.take(address)
        return self._identity.signs_in_as(address)

    def issue(self, caller: Caller, **claims: str) -> str:
        """A token for `caller` (with its scopes), valid for `TOKEN_SECONDS`; `claims` are added (the client).
        Every token has a `jti`, so a sign-out (or an app's RFC 7009 revocation) can end it at every worker."""
        now = int(self._clock())
        return jwt.encode(
            {
                "iss": self._issuer,
                "aud": self.domain,
                "sub": caller.address,
                "role": caller.role.label,
                "scope": " ".join(sorted(caller.scopes)),
                "iat": now,
                "exp": now + TOKEN_SECONDS,
                "jti": secrets.token_hex(16),
                **({} if caller.acts_for is None else {"acts_for": caller.acts_for}),
                **claims,
            },
            self._secret,
            algorithm=_ALGORITHM,
        )

    def verify(self, message_text: str, signature: str) -> str:
        """The address that signed a valid SIWE message for this node (its nonce used up); else `Unauthenticated`."""
        nonce = _nonce_of(_checked_lines(message_text))
        signature = "0x" + parse_signature(signature).hex()
        if self._nonces.take(_NONCE, nonce) is None:  # one use, even if the rest fails
            raise Unauthenticated("unknown, used or expired nonce: get a fresh one from /auth/nonce")
        try:
            message = SiweMessage.from_message(message=message_text, abnf=False)
        except (ValueError, TypeError) as exc:
            raise Unauthenticated(f"not a Sign-In with Ethereum message: {exc}") from None
        if message.domain != self.domain:
            raise Unauthenticated(f"the message is for {message.domain}, not {self.domain}")
        if int(message.chain_id) != self.chain_id:
            raise Unauthenticated(f"the message is for chain {message.chain_id}, not {self.chain_id}")
        now = self._clock()
        if message.issued_at._datetime.timestamp() > now + CLOCK_SKEW_SECONDS:
            raise Unauthenticated(f"the message is issued at {message.issued_at}, in the future: check the clock")
        try:
            message.verify(signature, domain=self.domain, nonce=nonce, timestamp=datetime.fromtimestamp(now, UTC))
        except VerificationError as exc:
            raise Unauthenticated(f"the signature does not verify: {type(exc).__name__}") from None
        except Exception:  # a malformed signature (zero r and s, a bad v) fails inside eth-keys
            raise Unauthenticated("the signature does not verify: InvalidSignature") from None
        return str(to_checksum_address(message.address))

    def caller(self, authorization: str | None) -> Caller:
        """The caller a `Bearer` token names; `Unauthenticated` if there is none or it is not valid."""
        token = bearer_token(authorization)
        if token is None:
            raise Unauthenticated("sign in first: POST /auth/login, then send Authorization: Bearer <token>")
        remembered = self._verified.get(token)
        if remembered is None:
            claims = self.claims(token)
            try:
                caller = Caller(
                    to_checksum_address(str(claims["sub"])),
                    Role.parse(str(claims["role"])),
                    frozenset(str(claims["scope"]).split()),
                    to_checksum_address(str(claims["acts_for"])) if "acts_for" in claims else None,
                )
            except (ValueError, ValidationError) as exc:
                raise Unauthenticated(f"invalid token: {exc}") from None
            remembered = (caller, int(claims["exp"]), claims.get("jti"))
            with self._lock:
                if len(self._verified) >= _REMEMBERED_TOKENS:
                    self._verified.clear()
                self._verified[token] = remembered
        caller, expires, jti = remembered
        if self._clock() >= expires:
            raise Unauthenticated("the token has expired: sign in again")
        if jti is not None and self._revoked(jti):
            raise Unauthenticated("the token has been revoked: sign in again")
        return caller

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a token this node issued, checked (signature, issuer, audience, expiry), whether revoked
        or not; `Unauthenticated` if it is not such a token."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=self.domain,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "scope", "role"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired: sign in again") from None
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        return claims

    def revoked(self, jti: str) -> bool:
        """Whether the token with this `jti` was revoked."""
        return self._revoked(jti)

    def derived_key(self, purpose: str) -> bytes:
        """A key for `purpose` (the portal's form tokens) derived from the token secret, so every worker of the
        node, which shares that secret, derives the same one."""
        return hmac.new(self._secret, f"careledger:{purpose}".encode(), hashlib.sha256).digest()


def _never(_jti: str) -> bool:
    return False


@functools.lru_cache(maxsize=256)
def _parsed(scopes: frozenset[str]) -> tuple[Scope, ...]:
    return tuple(resource_scopes(scopes))


@functools.lru_cache(maxsize=256)
def _narrowing(scopes: frozenset[str]) -> Narrowing:
    return narrowing(list(_parsed(scopes)))


def _checked_lines(message: str) -> list[str]:
    """The message's lines; refuses, before any parsing, a message no wallet would send."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise Unauthenticated(
            f"the message is {len(message):,} characters; a SIWE message has at most {MAX_MESSAGE_CHARS:,}"
        )
    lines = message.split("\n")
    if len(lines) > MAX_LINES or any(len(line) > MAX_LINE_CHARS for line in lines):
        raise Unauthenticated(
            f"not a Sign-In with Ethereum message: at most {MAX_LINES} lines of {MAX_LINE_CHARS} characters"
        )
    return lines


def _nonce_of(lines: list[str]) -> str:
    for line in lines:
        if line.startswith("Nonce: "):
            return line.removeprefix("Nonce: ")
    raise Unauthenticated("not a Sign-In with Ethereum message: no Nonce line")


def new_secret() -> bytes:
    """A random key to sign this node's tokens with."""
    return secrets.token_bytes(32)
