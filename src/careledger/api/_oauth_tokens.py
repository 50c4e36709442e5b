"""The token side of the SMART authorization server, on authlib: refresh, introspection, revocation, `aud`.

```
refresh_token ─► RefreshTokenGrant ─► redeem (live, this client's) ─► user re-checked ─► new access + refresh
                                      └─► the old one rotated (used twice: its family revoked)
token ─► IntrospectionEndpoint (RFC 7662) ─► {active, scope, client_id, sub, exp, iat, token_type}
                                             + SMART 2's: patient, encounter, fhirUser, iss (openid)
token ─► RevocationEndpoint (RFC 7009)    ─► an access token's jti revoked, or a refresh token's whole family
```

Who may introspect (RFC 7662, section 4): the client a token was issued to, and a system
registered as a resource server (`register_system(..., resource_server=True)`: a FHIR
server that trusts this node's tokens). Anyone else, another Backend Services system
included, is told `{"active": false}`, as for a token that does not exist: a token says
whose it is and what it may read. Revocation is the token's own client's only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from careledger.errors import Unauthenticated
from careledger.identity import RefreshGrant, web_origin

if TYPE_CHECKING:
    from careledger.api._oauth import OAuthRequest, SignedIn, _Client


@dataclass(frozen=True, slots=True)
class IssuedRefresh:
    """A live refresh token, as authlib's `TokenMixin` reads it."""

    grant: RefreshGrant

    def check_client(self, client: _Client) -> bool:
        """A refresh token works only for the client it was issued to."""
        return self.grant.client_id == client.get_client_id()

    def get_scope(self) -> str:
        """The scope it was granted with (a refresh may only narrow it)."""
        return self.grant.scope

    def is_expired(self) -> bool:
        """Never: an expired one is not found."""
        return False

    def is_revoked(self) -> bool:
        """Never: a revoked (or rotated) one is not found."""
        return False

    def introspection(self) -> dict[str, Any]:
        """What RFC 7662 tells of it."""
        grant = self.grant
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": grant.client_id,
            "scope": grant.scope,
            "sub": grant.subject,
            "iat": int(grant.issued_at),
            "exp": int(grant.expires_at),
        }


@dataclass(frozen=True, slots=True)
class IssuedAccess:
    """An access token this node issued (its checked claims), as authlib's `TokenMixin` reads it."""

    claims: dict[str, Any]
    revoked: bool

    def check_client(self, client: _Client) -> bool:
        """Whether it was issued to `client` (a token from `/auth/login` was issued to none)."""
        return bool(self.claims.get("client_id")) and self.claims["client_id"] == client.get_client_id()

    def get_scope(self) -> str:
        """The scopes it carries."""
        return str(self.claims["scope"])

    def is_expired(self) -> bool:
        """Never: an expired one does not verify, so is not found."""
        return False

    def is_revoked(self) -> bool:
        """Whether its `jti` was revoked."""
        return self.revoked

    def introspection(self) -> dict[str, Any]:
        """What RFC 7662 tells of it."""
        claims = self.claims
        told = {"active": True, "token_type": "Bearer", "scope": claims["scope"], "sub": claims["sub"]}
        told |= {name: claims[name] for name in _TOLD if name in claims}
        return told


# What introspection tells of an access token: RFC 7662's members, and the context SMART 2 adds.
_TOLD = ("client_id", "iss", "exp", "iat", "patient", "encounter", "fhirUser")


Issued = IssuedAccess | IssuedRefresh


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """The refresh token grant: only an app's (public: PKCE began it), rotated at each use, the scope only
    narrowed (authlib refuses a wider one), the user re-checked as at sign-in (`SmartServer.user_of`)."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedRefresh | None:
        """The live refresh token (None: `invalid_grant`); a rotated one used again ends its family."""
        grant = self.server.tokens.redeem(refresh_token)
        return None if grant is None else IssuedRefresh(grant)

    def authenticate_user(self, refresh_token: IssuedRefresh) -> SignedIn:
        """Its user, if she may still sign in; else `invalid_grant`."""
        user: SignedIn = self.server.user_of(refresh_token.grant)
        return user

    def revoke_old_credential(self, refresh_token: IssuedRefresh) -> None:
        """Rotate: the token just used is used up (a second use ends its family)."""
        self.server.tokens.rotate(refresh_token.grant)


def _found(server: Any, token: str, hint: str | None) -> Issued | None:
    """The access or refresh token `token` is, if this node issued it and it is live (the hint tried first)."""
    order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in order:
        if kind == "refresh_token":
            grant = server.tokens.find(token)
            if grant is not None:
                return IssuedRefresh(grant)
        else:
            try:
                claims = server.auth.claims(token)
            except Unauthenticated:
                continue
            return IssuedAccess(claims, "jti" in claims and server.auth.revoked(str(claims["jti"])))
    return None


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 at `/auth/introspect`."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none", "private_key_jwt"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Issued | None:
        """The live token this node issued, if `token_string` is one."""
        return _found(self.server, token_string, token_type_hint)

    def check_permission(self, token: Issued, client: _Client, request: OAuthRequest) -> bool:  # noqa: ARG002
        """Whether `client` may be told about `token`: its own, or any if it is a resource server (RFC 7662, 4)."""
        return token.check_client(client) or client.client.resource_server

    def introspect_token(self, token: Issued) -> dict[str, Any]:
        """What RFC 7662 (2.2) tells of an active token; for one granted `openid`, the `iss` is its ID token's
        (SMART 2), and `sub`, the signed-in address, is already the ID token's."""
        told = token.introspection()
        if "openid" in str(told["scope"]).split():
            told["iss"] = self.server.context.issuer
        return told


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009 at `/auth/revoke`: a refresh token ends its whole authorization (its family, and the access
    tokens issued with it); an access token is revoked alone."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none", "private_key_jwt"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Issued | None:
        """The live token this node issued, if `token_string` is one (else nothing to revoke: still 200)."""
        return _found(self.server, token_string, token_type_hint)

    def revoke_token(self, token: Issued, request: OAuthRequest) -> None:  # noqa: ARG002 - authlib's signature
        """Revoke it (authlib checked it is the asking client's)."""
        if isinstance(token, IssuedRefresh):
            self.server.tokens.revoke_family(token.grant)
        elif "jti" in token.claims:
            self.server.tokens.revoke_access(str(token.claims["jti"]), float(token.claims["exp"]))


class Audience:
    """The `aud` of an authorization request must name this server's FHIR base URL (SMART App Launch 2), so a
    token asked for another server is never issued here; refused as `invalid_request`, which carries the
    client's redirect URI (authlib checked the client and the URI first), so the app is told."""

    def __call__(self, grant: grants.AuthorizationCodeGrant) -> None:
        grant.register_hook("before_validate_authorization_request_payload", self.check)

    @staticmethod
    def check(grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:  # noqa: ARG004 - authlib's hook
        """`invalid_request` unless the request's `aud` names this server's FHIR base URL."""
        request: OAuthRequest = grant.request
        audience = request.payload.data.get("aud")
        if not audience or _normalised(str(audience)) != _normalised(request.base_url):
            raise InvalidRequestError(
                description=f"aud must name this server's FHIR base URL, {request.base_url.rstrip('/')}",
                state=request.payload.state,
            )


def _normalised(url: str) -> tuple[str, str] | None:
    """A URL as compared for `aud`: its origin (scheme and host in lower case, no default port) and its path
    without a trailing slash; None for what is not an http(s) URL, or one with a query or a fragment."""
    origin, parts = web_origin(url), urlsplit(url)
    if origin is None or parts.query or parts.fragment:
        return None
    return origin, parts.path.rstrip("/")
