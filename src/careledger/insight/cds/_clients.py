"""The CDS clients (EHRs) allowed to call this node's CDS services, and the check of the JWT each request carries.

```
Authorization: Bearer <JWT> ─► header: alg (RS/ES/PS, never none or HS*), kid, optional jku
                             ─► iss ─► registered client? ─► its keys: inline JWKS, or fetched from its
                                       registered jku (the header's jku must equal it; never a URL from the JWT alone)
                             ─► pyjwt: signature, aud = the service's URL as invoked, exp (short), iat, jti
                             ─► jti kept until exp in the node's shared tickets: a replay at any worker is refused
```

CDS Hooks 2.0, "Trusting CDS Clients": the client signs a JWT per request; the service knows the client by its
`iss` and trusts keys registered for it, out of band (here: `careledger insight cds-client add`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from sqlalchemy import select

from careledger.bearer import bearer_token
from careledger.errors import NotFound, Unauthenticated, ValidationError
from careledger.identity import web_origin
from careledger.shared import Tickets
from careledger.store import CdsClient, Database

# What a CDS client may sign with (the spec names ES384 and RS384; the others are as strong); never `none`, never
# an HMAC, whose "key" would be the public key anyone can read.
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_KEY_TYPES = frozenset({"RSA", "EC"})
LEEWAY_SECONDS = 10
MAX_LIFETIME_SECONDS = 5 * 60  # the spec: the JWT's exp a few minutes off at most
JWKS_MAX_BYTES = 64 * 1024
JWKS_TIMEOUT_SECONDS = 5.0
JWKS_CACHE_SECONDS = 300.0
JWKS_REFRESH_SECONDS = 30.0  # an unknown kid fetches the set again, at most this often
_JTI = "cds-jti"


@dataclass(frozen=True, slots=True)
class Client:
    """A registered CDS client: its `iss`, and its keys inline (`jwks`) or where they are published (`jku`)."""

    iss: str
    jwks: dict[str, Any] | None
    jku: str | None


@dataclass(frozen=True, slots=True)
class Verified:
    """Who signed a request's JWT, checked: the client's `iss` and the `tenant` it named, if any."""

    iss: str
    tenant: str | None = None


class CdsClients:
    """The registered CDS clients of one node, and the check of their JWTs."""

    def __init__(
        self,
        db: Database,
        tickets: Tickets,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._db = db
        self._tickets = tickets
        self._clock = clock
        self._keys = _KeySets(clock, transport)

    def add(self, iss: str, *, jwks: dict[str, Any] | None = None, jku: str | None = None) -> Client:
        """Register (or re-register) the client signing as `iss`, with its public keys or the URL of its JWKS."""
        if not iss or len(iss) > 255:
            raise ValidationError("a CDS client's iss is 1 to 255 characters")
        if (jwks is None) == (jku is None):
            raise ValidationError("give the client's JWKS or its jku URL, one of the two")
        if jwks is not None:
            _check_jwks(jwks)
        if jku is not None:
            _check_url(jku)
        with self._db.session() as session:
            row = session.get(CdsClient, iss)
            if row is None:
                row = CdsClient(iss=iss, created_at=self._clock())
                session.add(row)
            row.jwks = None if jwks is None else json.dumps(jwks)
            row.jku = jku
        return Client(iss, jwks, jku)

    def list(self) -> list[Client]:
        """Every registered client, oldest first."""
        with self._db.session() as session:
            return [_client(row) for row in session.scalars(select(CdsClient).order_by(CdsClient.created_at))]

    def get(self, iss: str) -> Client | None:
        """The client registered as `iss`, if there is one."""
        with self._db.session() as session:
            row = session.get(CdsClient, iss[:255])
            return None if row is None else _client(row)

    def remove(self, iss: str) -> None:
        """Unregister a client: its next request is refused."""
        with self._db.session() as session:
            row = session.get(CdsClient, iss[:255])
            if row is None:
                raise NotFound(f"no CDS client {iss[:80]!r}")
            session.delete(row)

    def verify(self, authorization: str | None, audience: str) -> Verified:
        """The client whose JWT `authorization` carries, for the service at `audience`; `Unauthenticated` (401)
        for a missing, unsigned, forged, expired, replayed or misaddressed one, or an unknown client."""
        token = bearer_token(authorization)
        if token is None:
            raise Unauthenticated("a CDS client signs each request: Authorization: Bearer <JWT>")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"not a JWT: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"the JWT's alg must be one of {', '.join(ALGORITHMS)}, not {str(alg)[:20]}")
        client = self.get(str(unverified.get("iss", "")))
        if client is None:
            raise Unauthenticated("the JWT's iss is not a CDS client registered with this node")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the JWT's header must name its key (kid)")
        key = self._key(client, kid, header.get("jku"))
        claims = _decode(token, key, str(alg), audience)
        if int(claims["exp"]) > self._clock() + MAX_LIFETIME_SECONDS + LEEWAY_SECONDS:
            raise Unauthenticated(f"the JWT lives too long: its exp is at most {MAX_LIFETIME_SECONDS} s away")
        ttl = max(1.0, float(claims["exp"]) - self._clock() + LEEWAY_SECONDS)  # kept while it could be accepted
        if not self._tickets.add(_JTI, f"{client.iss}\n{claims['jti']}", ttl):
            raise Unauthenticated("this JWT was used before: sign each request with a new jti")
        tenant = claims.get("tenant")
        return Verified(client.iss, tenant if isinstance(tenant, str) else None)

    def _key(self, client: Client, kid: str, jku: object) -> Any:
        """The public key `kid` of `client`: from its registered jku, or its inline JWKS. A jku the JWT names must be
        the registered one exactly (CDS Hooks 2.0: an allowlist), so a client registered with inline keys names none:
        a URL from the JWT alone is never fetched, and an EHR that names the wrong one is told."""
        if jku is not None and jku != client.jku:  # the same words whether or not one was registered
            raise Unauthenticated("the JWT's jku is not the one registered for this client")
        if client.jku is not None:
            found = self._keys.find(client.jku, kid)
        else:
            found = _kid(jwt.PyJWKSet.from_dict(client.jwks or {}), kid)
        if found is None:
            raise Unauthenticated(f"no key {kid[:40]!r} among the client's keys")
        return found.key


def _decode(token: str, key: Any, alg: str, audience: str) -> dict[str, Any]:
    """The JWT's claims, its signature checked with `key` and `alg` only, and iss, aud, exp, iat, jti required.

    `aud` is the service's URL, or a list of strings holding it (RFC 7519 §4.1.3, as CDS Hooks 2.0 allows)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the JWT has expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated(f"the JWT's aud must be the service's URL, {audience}") from None
    except (jwt.PyJWTError, TypeError, ValueError) as exc:  # a key of another type than alg's: TypeError
        raise Unauthenticated(f"the JWT does not verify: {exc}") from None
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise Unauthenticated("the JWT's jti must be a non-empty string")
    return claims


class _KeySets:
    """JWKS fetched from registered jku URLs: with a timeout, a size cap, no redirects, cached for a while."""

    def __init__(self, clock: Callable[[], float], transport: httpx.BaseTransport | None) -> None:
        self._clock = clock
        self._transport = transport
        self._cached: dict[str, tuple[float, jwt.PyJWKSet]] = {}
        self._lock = threading.Lock()

    def find(self, url: str, kid: str) -> jwt.PyJWK | None:
        """Key `kid` of the set at `url`; fetched again when unknown, if the cached set is not brand new."""
        now = self._clock()
        with self._lock:
            cached = self._cached.get(url)
        if cached is None or now - cached[0] >= JWKS_CACHE_SECONDS:
            cached = self._fetch(url)
        found = _kid(cached[1], kid)
        if found is None and now - cached[0] >= JWKS_REFRESH_SECONDS:
            found = _kid(self._fetch(url)[1], kid)
        return found

    def _fetch(self, url: str) -> tuple[float, jwt.PyJWKSet]:
        try:
            with (
                httpx.Client(timeout=JWKS_TIMEOUT_SECONDS, follow_redirects=False, transport=self._transport) as http,
                http.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise Unauthenticated(f"the client's JWKS at its jku answered {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > JWKS_MAX_BYTES:
                        raise Unauthenticated(f"the client's JWKS is larger than {JWKS_MAX_BYTES:,} bytes")
            keys = json.loads(body)
            _check_jwks(keys)
            fetched = (self._clock(), jwt.PyJWKSet.from_dict(keys))
        except httpx.HTTPError as exc:
            raise Unauthenticated(
                f"the client's JWKS could not be fetched from its jku: {type(exc).__name__}"
            ) from None
        except (ValueError, ValidationError, jwt.PyJWTError) as exc:
            raise Unauthenticated(f"the client's jku serves no usable JWKS: {exc}") from None
        with self._lock:
            self._cached[url] = fetched
        return fetched


def _kid(keys: jwt.PyJWKSet, kid: str) -> jwt.PyJWK | None:
    return next((k for k in keys.keys if k.key_id == kid), None)


def _check_jwks(jwks: object) -> None:
    """`ValidationError` unless `jwks` is a JWKS of public RSA or EC keys, each with a kid, that pyjwt reads."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValidationError('a JWKS is {"keys": [...]} with at least one key')
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in _KEY_TYPES or not key.get("kid"):
            raise ValidationError(f"each key must be RSA or EC with a kid, not {str(key)[:60]}")
        if "d" in key:
            raise ValidationError("the JWKS holds a private key: register only the public keys")
    try:
        jwt.PyJWKSet.from_dict(jwks)  # type: ignore[arg-type]
    except jwt.PyJWTError as exc:
        raise ValidationError(f"the JWKS cannot be read: {exc}") from None


def _check_url(url: str) -> None:
    """`ValidationError` unless `url` is https (or http on loopback, for tests and a local EHR)."""
    origin = web_origin(url)
    loopback = origin is not None and origin.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
    if origin is None or not (origin.startswith("https://") or loopback) or "#" in url:
        raise ValidationError(f"a jku is an https URL (http only on loopback), not {url[:80]!r}")


def _client(row: CdsClient) -> Client:
    return Client(row.iss, None if row.jwks is None else json.loads(row.jwks), row.jku)
