"""Apps and systems that get tokens from this node: the SMART client registry.

An **app** (SMART App Launch) has redirect URIs and no secret (a public client, so PKCE is
required); whoever uses it signs in with her own wallet, and the app gets no more than she
may. A **system** (SMART Backend Services) has a JSON Web Key Set of public keys, signs its
token requests with the private half (`private_key_jwt`, RS384 or ES384), and acts for one
of the node's actors (`acts_as`): the guarded repository judges its requests as that
actor's, consents and all. A system registered as a **resource server** may introspect any
token this node issued (RFC 7662); every other client only its own. An app that declares a
**launch URI** can be launched from a patient's chart in the portal (SMART EHR launch,
`launches`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from careledger.errors import NotFound, ValidationError
from careledger.identity._launches import Launches
from careledger.identity._scopes import resource_scopes
from careledger.identity._tokens import RefreshTokens
from careledger.shared import Tickets
from careledger.store import Database, OAuthClient

SIGNING_ALGORITHMS = ("RS384", "ES384")
# How long a worker trusts the origins it read: a client registered by another process is seen within it.
ORIGINS_SECONDS = 1.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
_KEY_TYPES = frozenset({"RSA", "EC"})  # for RS384 and ES384


@dataclass(frozen=True, slots=True)
class Client:
    """A registered app or system."""

    client_id: str
    name: str
    acts_as: str | None
    redirect_uris: tuple[str, ...]
    jwks: dict[str, Any] | None
    scopes: tuple[str, ...]
    launch_uri: str | None = None  # an app's, where the portal sends the browser to launch it (EHR launch)
    resource_server: bool = False  # a system's, that may introspect any token (others only their own)

    @property
    def kind(self) -> str:
        """`system` (Backend Services: signs with a key, acts for an actor) or `app` (App Launch)."""
        return "system" if self.jwks is not None else "app"


# The characters RFC 3986 lets a URI hold (unreserved, reserved, and %-escapes).
_URI = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


class ClientRegistry:
    """The node's registered clients, in its database."""

    def __init__(self, db: Database, tickets: Tickets, *, clock: Any = time.time) -> None:
        self.db = db
        self._clock = clock
        self.launches = Launches(tickets, clock=clock)
        self.tokens = RefreshTokens(db, clock=clock)
        self._origins: tuple[float, frozenset[str]] | None = None

    def register_app(
        self, name: str, redirect_uris: list[str], scopes: list[str], *, launch_uri: str | None = None
    ) -> Client:
        """A public app that users sign in to with their wallets; redirect URIs (and the launch URI of an app
        the portal may launch from a chart) must be https (or loopback http)."""
        if not redirect_uris:
            raise ValidationError("an app needs at least one redirect URI")
        for uri in redirect_uris:
            _check_uri("redirect URI", uri)
        if launch_uri is not None:
            _check_uri("launch URI", launch_uri)
        return self._add(name, None, redirect_uris, None, scopes, launch_uri)

    def register_system(
        self, name: str, acts_as: str, jwks: dict[str, Any], scopes: list[str], *, resource_server: bool = False
    ) -> Client:
        """A backend system acting for `acts_as`, proving itself with a key of `jwks` (public keys only); a
        `resource_server` may introspect any token, as a FHIR server that trusts this node's tokens must."""
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list) or not keys:
            raise ValidationError('a JWKS is {"keys": [...]} with at least one key')
        for key in keys:
            if not isinstance(key, dict) or key.get("kty") not in _KEY_TYPES:
                raise ValidationError(f"each key must be RSA (RS384) or EC P-384 (ES384), not {str(key)[:60]}")
            if "d" in key:
                raise ValidationError("the JWKS holds a private key: register only the public keys")
        if any(not scope.startswith("system/") for scope in scopes):
            raise ValidationError("a system's scopes are system/… scopes")
        return self._add(name, acts_as, [], {"keys": keys}, scopes, resource_server=resource_server)

    def _add(
        self,
        name: str,
        acts_as: str | None,
        redirect_uris: list[str],
        jwks: dict[str, Any] | None,
        scopes: list[str],
        launch_uri: str | None = None,
        *,
        resource_server: bool = False,
    ) -> Client:
        if not name or len(name) > 100:
            raise ValidationError("a client's name is 1 to 100 characters")
        resource_scopes(scopes)  # each one must parse
        # Hex, not URL-safe base64: an id that began with "-" was read as an option by the CLI (and any other).
        client = Client(
            secrets.token_hex(16), name, acts_as, tuple(redirect_uris), jwks, tuple(scopes), launch_uri, resource_server
        )
        with self.db.session() as session:
            session.add(
                OAuthClient(
                    client_id=client.client_id,
                    name=name,
                    acts_as=acts_as,
                    redirect_uris=json.dumps(redirect_uris),
                    jwks=None if jwks is None else json.dumps(jwks),
                    scopes=" ".join(scopes),
                    created_at=self._clock(),
                    launch_uri=launch_uri,
                    resource_server=resource_server,
                )
            )
        self._origins = None
        return client

    def get(self, client_id: str) -> Client:
        """A registered client; `NotFound` if there is none with this id."""
        with self.db.session() as session:
            row = session.get(OAuthClient, client_id[:64])
            if row is None:
                raise NotFound(f"no client {client_id[:64]!r}")
            return _client(row)

    def list(self) -> list[Client]:
        """Every registered client, oldest first."""
        with self.db.session() as session:
            return [_client(row) for row in session.scalars(select(OAuthClient).order_by(OAuthClient.created_at))]

    def origins(self) -> frozenset[str]:
        """The web origins of the registered apps (their redirect URIs'), which may call the API from a browser
        (CORS); read from the database at most once a second, and at once after a change made here."""
        now = self._clock()
        if self._origins is None or now - self._origins[0] >= ORIGINS_SECONDS:
            with self.db.session() as session:
                uris = session.scalars(select(OAuthClient.redirect_uris).where(OAuthClient.jwks.is_(None)))
                found = {web_origin(uri) for listed in uris for uri in json.loads(listed)}
            self._origins = (now, frozenset(origin for origin in found if origin is not None))
        return self._origins[1]

    def remove(self, client_id: str) -> None:
        """Unregister a client: its tokens stop being issued at once, its refresh tokens and the access tokens
        issued with them are revoked (any other access token it holds expires within minutes)."""
        with self.db.session() as session:
            row = session.get(OAuthClient, client_id[:64])
            if row is None:
                raise NotFound(f"no client {client_id[:64]!r}")
            session.delete(row)
        self._origins = None
        self.tokens.revoke_client(client_id[:64])


def web_origin(url: str) -> str | None:
    """The origin of an http(s) URL as a browser writes it in `Origin` (RFC 6454): scheme and host in lower case,
    a default port left out; None for anything else (`null`, another scheme)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname.lower()
    return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")


def _check_uri(what: str, uri: str) -> None:
    """`ValidationError` unless `uri` is https (or http on loopback), with no fragment."""
    if not _URI.fullmatch(uri):  # a backslash reads as "/" in a browser: evil.example\@127.0.0.1
        raise ValidationError(f"{what} {uri[:80]!r}: only the characters a URI may hold (RFC 3986)")
    parts = urlsplit(uri)
    loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.fragment or not parts.hostname or not (parts.scheme == "https" or loopback):
        raise ValidationError(f"{what} {uri[:80]!r}: https (or http on loopback), and no fragment")


def _client(row: OAuthClient) -> Client:
    return Client(
        row.client_id,
        row.name,
        row.acts_as,
        tuple(json.loads(row.redirect_uris)),
        None if row.jwks is None else json.loads(row.jwks),
        tuple(row.scopes.split()),
        row.launch_uri,
        row.resource_server,
    )
