"""The OAuth 2 authorization server behind SMART App Launch and Backend Services, on authlib.

authlib does the protocol: the authorization code grant with PKCE (RFC 7636, required of
every app, which are public clients), the client credentials grant, and client
authentication by a signed JWT assertion (RFC 7523, `private_key_jwt`, RS384 or ES384 as
SMART Backend Services asks, whose `aud` is the token URL and nothing else). This module
is the glue authlib asks of a framework: how to read a request, find a client
(`node.clients`), keep authorization codes (single use, ten minutes) and seen assertion ids
(until they expire) as tickets in the node's database (`careledger.shared`, so a code issued by
one worker is redeemed at any, once), and mint the token, which is the node's own access
token (`SiweAuth.issue`) carrying the granted scopes and a `jti` (so it can be revoked).
An app granted `offline_access` or `online_access` gets a refresh token too (the refresh
token grant, rotated at each use; `identity.RefreshTokens` keeps them); the `aud` of an
authorization request must name this server's FHIR base URL.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, InvalidGrantError, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from careledger.api._auth import TOKEN_SECONDS, Caller, SiweAuth, role_scopes
from careledger.api._oauth_tokens import Audience, Introspection, IssuedRefresh, RefreshTokenGrant, Revocation
from careledger.errors import CareLedgerError, NotFound, ValidationError
from careledger.identity import (
    OTHER_SCOPES,
    SIGNING_ALGORITHMS,
    Client,
    ClientRegistry,
    LaunchContext,
    RefreshGrant,
    RefreshTokens,
    Role,
    Scope,
    granted,
    resource_scopes,
)
from careledger.shared import Tickets

CODE_SECONDS = 10 * 60
_CODE = "oauth-code"
# The most a proxy's token carries: she reads for the patient she acts for, and writes nothing of hers.
PROXY_SCOPES = resource_scopes(["patient/*.rs"])
# The scopes that ask for a refresh token (SMART App Launch 2: offline_access outlives the session).
REFRESH_SCOPES = ("offline_access", "online_access")


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The user an app's authorization is for: the identity she signs in as, her own Patient record, the
    chart she launched the app from (an EHR launch), and the patient she chose to act for at a standalone launch
    (a live delegate's choice in the picker: her address and Patient record)."""

    address: str
    role: Role
    patient_id: str | None
    launch: LaunchContext | None = None
    acts_for: tuple[str, str] | None = None

    @property
    def context_patient(self) -> str | None:
        """The Patient record a standalone launch opens: the one she chose to act for, else her own."""
        return self.patient_id if self.acts_for is None else self.acts_for[1]


class TokenContext(Protocol):
    """What an app's token says beyond its scopes (`_smart_routes._ContextClaims`)."""

    @property
    def issuer(self) -> str:
        """The ID token's `iss`, which introspection names for a token granted `openid` (SMART 2)."""
        ...

    def __call__(self, caller: Caller, user: SignedIn | None, client_id: str) -> dict[str, Any]:
        """The extra members of the token response: the launch context, an ID token."""
        ...

    def fhir_user(self, caller: Caller, user: SignedIn | None) -> str | None:
        """The user's own FHIR resource as the ID token names it (`fhirUser`), if the token was granted it."""
        ...


class _Client(ClientMixin):  # type: ignore[misc]
    """A registered client as authlib asks about it."""

    def __init__(self, client: Client, role_of: Callable[[str], Role]) -> None:
        self.client = client
        self._role_of = role_of

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        """The client's redirect URI if it registered only one (with several, a request must name one)."""
        return self.client.redirect_uris[0] if len(self.client.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        """The requested scopes this client may have (a system: within its registration and its actor's role)."""
        requested = scope.split() if scope else list(self.client.scopes)
        others = [name for name in requested if name in OTHER_SCOPES and self.client.kind == "app"]
        asked = resource_scopes([name for name in requested if name not in OTHER_SCOPES])
        if self.client.kind == "system":
            allowed = granted(resource_scopes(list(self.client.scopes)), _as_system(self.client.acts_as, self._role_of))
        else:
            allowed = resource_scopes(list(self.client.scopes)) or [
                scope for role in Role for scope in role_scopes(role)
            ]
        return " ".join([*others, *(s.text() for s in granted(asked, allowed))])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:  # noqa: ARG002 - authlib's signature
        return False  # no client here has a secret: apps use PKCE, systems sign

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:  # noqa: ARG002 - authlib's signature
        return method == ("private_key_jwt" if self.client.kind == "system" else "none")

    def check_response_type(self, response_type: str) -> bool:
        return self.client.kind == "app" and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        wanted = ("client_credentials",) if self.client.kind == "system" else ("authorization_code", "refresh_token")
        return grant_type in wanted


def _as_system(acts_as: str | None, role_of: Callable[[str], Role]) -> list[Scope]:
    """What the actor a system acts for may do, as system scopes."""
    if acts_as is None:
        return []
    return [replace(scope, context="system") for scope in role_scopes(role_of(acts_as))]


@dataclass(frozen=True, slots=True)
class _Code:
    """An issued authorization code, as authlib's `AuthorizationCodeMixin` reads it."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: SignedIn
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class OAuthRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as authlib reads it: method, URL, headers and its (query or form) parameters, and the
    FHIR base URL this server advertises to its sender (`base_url`, what an `aud` must name)."""

    def __init__(self, method: str, url: str, headers: dict[str, str], data: dict[str, str], *, base_url: str) -> None:
        super().__init__(method, url, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._data = data
        self.base_url = base_url

    @property
    def args(self) -> dict[str, str]:
        """The parameters (authlib reads a GET's here)."""
        return self._data

    @property
    def form(self) -> dict[str, str]:
        """The parameters (authlib reads a POST's here)."""
        return self._data


class _AuthorizationCode(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def save_authorization_code(self, code: str, request: OAuthRequest) -> None:
        data = request.payload.data
        self.server.codes.put(
            _Code(
                code,
                request.client.get_client_id(),
                str(data.get("redirect_uri", "")),
                str(request.scope or ""),
                request.user,
                data.get("code_challenge"),
                data.get("code_challenge_method"),
                time.time() + CODE_SECONDS,
            )
        )

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        found: _Code | None = self.server.codes.take(code, client.get_client_id())
        return found

    def delete_authorization_code(self, authorization_code: _Code) -> None:  # noqa: ARG002 - authlib's signature
        return None  # taken (so deleted) when it was queried: a code works once

    def authenticate_user(self, authorization_code: _Code) -> SignedIn:
        return authorization_code.user


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]


class _PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client assertions, signed RS384 or ES384 with a key of the client's registered JWKS; any that
    proves nothing (malformed, unsigned, another key, an app's client id, no such client) is `invalid_client`
    with 401, as RFC 6749 (5.2) has it for a client that tried to authenticate."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, token_url: Callable[[], list[str]], seen: Tickets) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._audiences = token_url
        self._seen = seen

    def get_audiences(self) -> list[str]:
        return self._audiences()

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        ttl = max(1.0, float(claims["exp"]) - time.time() + self.leeway)  # kept while it could still be accepted
        return self._seen.add("client-assertion", f"{claims['sub']}:{jti}", ttl)

    def __call__(self, query_client: Callable[[str], _Client | None], request: OAuthRequest) -> _Client | None:
        try:
            client: _Client | None = super().__call__(query_client, request)
        except InvalidClientError as exc:
            raise InvalidClientError(description=exc.description, status_code=401) from None
        return client

    def resolve_client_public_key(self, client: _Client) -> KeySet:
        """The client's registered keys; an app has none (it never signs: it names its `client_id`)."""
        if client.client.jwks is None:
            raise InvalidClientError(description="this client has no keys: an app authenticates by its client_id")
        return KeySet.import_key_set(client.client.jwks)  # type: ignore[arg-type]

    def _check_audience(self, audience: object) -> None:
        """`InvalidClientError` unless `aud` is this token URL alone: authlib takes a list naming it among
        others, and an assertion made for several servers is one any of them could replay here."""
        members = [audience] if isinstance(audience, str) else audience
        if not (isinstance(members, list) and len(members) == 1 and members[0] in self.get_audiences()):
            raise InvalidClientError(description="a client assertion's aud must be this token URL, and only it")

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(SIGNING_ALGORITHMS))
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        if float(token.claims.get("exp", 0)) > time.time() + 300 + self.leeway:
            raise InvalidClientError(description="a client assertion lives at most five minutes")
        self._check_audience(token.claims.get("aud"))
        self.verify_claims(token.claims)
        return dict(token.claims)


class _Codes:
    """Issued authorization codes, as tickets: each taken once, by the client it was issued to, before it
    expires, at whichever worker the token request reaches."""

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    def put(self, code: _Code) -> None:
        user = code.user
        kept = asdict(code) | {
            "user": {
                "address": user.address,
                "role": user.role.label,
                "patient_id": user.patient_id,
                "launch": None if user.launch is None else asdict(user.launch),
                "acts_for": user.acts_for,
            }
        }
        del kept["code"]
        self._tickets.put(_CODE, code.code, kept, CODE_SECONDS)

    def take(self, code: str, client_id: str) -> _Code | None:
        found = self._tickets.take(_CODE, code)
        if found is None or found["client_id"] != client_id or found["expires_at"] < time.time():
            return None
        user = found.pop("user")
        launch, acts_for = user["launch"], user["acts_for"]
        signed_in = SignedIn(
            user["address"],
            Role.parse(user["role"]),
            user["patient_id"],
            None if launch is None else LaunchContext(**launch),
            None if acts_for is None else (acts_for[0], acts_for[1]),
        )
        return _Code(code=code, user=signed_in, **found)


class SmartServer(AuthorizationServer):  # type: ignore[misc]
    """The node's authorization server: apps (code + PKCE) and systems (client credentials + signed JWT)."""

    def __init__(
        self,
        clients: ClientRegistry,
        auth: SiweAuth,
        tickets: Tickets,
        *,
        token_url: Callable[[], list[str]],
        role_of: Callable[[str], Role],
        context: TokenContext,
    ) -> None:
        super().__init__(scopes_supported=None)
        self.codes = _Codes(tickets)
        self.tokens: RefreshTokens = clients.tokens
        self.role_of = role_of
        self._clients = clients
        self.auth = auth
        self.context = context
        self.register_client_auth_method("private_key_jwt", _PrivateKeyJwt(token_url, tickets))
        self.register_grant(_AuthorizationCode, [CodeChallenge(required=True), Audience()])
        self.register_grant(_ClientCredentials)
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Introspection)
        self.register_endpoint(Revocation)
        self.register_token_generator("default", self._token)

    def error_redirect_uri(self, params: dict[str, str]) -> str | None:
        """Where an authorization request's error may be sent (RFC 6749, 4.1.2.1): the redirect URI it names if
        its client registered it (or the client's only one, if it names none); None for an unknown client or an
        unregistered URI, whose errors the user is told and the browser goes nowhere."""
        client = self.query_client(params.get("client_id", ""))
        if client is None:
            return None
        uri = params.get("redirect_uri")
        if not uri:
            return client.get_default_redirect_uri()
        return uri if client.check_redirect_uri(uri) else None

    def query_client(self, client_id: str) -> _Client | None:
        """The registered client, as authlib asks about it (None if there is none)."""
        try:
            return _Client(self._clients.get(client_id), self.role_of)
        except NotFound:
            return None

    def user_of(self, grant: RefreshGrant) -> SignedIn:
        """The user a refresh token was issued for, if she may still sign in (an active actor in the
        IdentityRegistry); else `invalid_grant`."""
        try:
            role = self.role_of(grant.subject)
        except CareLedgerError:
            raise InvalidGrantError(description="the user of this authorization may no longer sign in") from None
        launch = None
        if grant.launch_patient is not None:  # an EHR launch's chart, whose context each refresh gives again
            launch = LaunchContext(
                grant.client_id, grant.subject, grant.launch_patient, grant.launch_encounter, grant.expires_at
            )
        return SignedIn(grant.subject, role, grant.patient, launch)

    def save_token(self, token: dict[str, Any], request: OAuthRequest) -> None:
        """The access token is self-contained; a refresh token, when the granted scope asks for one, is added here
        (the next of its family when it replaces one) and kept hashed."""
        user: SignedIn | None = request.user
        if user is None or not any(scope in REFRESH_SCOPES for scope in token["scope"].split()):
            return
        replaced: IssuedRefresh | None = getattr(request, "refresh_token", None)
        token["refresh_token"] = self.tokens.issue(
            None if replaced is None else replaced.grant,
            client_id=request.client.get_client_id(),
            subject=user.address,
            patient=user.patient_id,
            scope=token["scope"],
            offline="offline_access" in token["scope"].split(),
            access_jti=str(self.auth.claims(token["access_token"])["jti"]),
            launch_patient=None if user.launch is None else user.launch.patient,
            launch_encounter=None if user.launch is None else user.launch.encounter,
        )

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        """The request, already in authlib's shape (`request_of`)."""
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        """authlib's answer as a response: a redirect, or JSON that no cache keeps."""
        fields = dict(headers)
        if status == 302:
            return RedirectResponse(fields["Location"], status_code=302)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002 - authlib's signature
        """No listeners: the audit of what a token reads is the guarded repository's."""
        return

    def _token(
        self,
        grant_type: str,  # noqa: ARG002 - authlib's signature
        client: _Client,
        user: SignedIn | None = None,
        scope: str | None = None,
        expires_in: int | None = None,  # noqa: ARG002 - every token lives TOKEN_SECONDS
        include_refresh_token: bool = True,  # noqa: ARG002 - `save_token` adds one if the scope asks for it
    ) -> dict[str, Any]:
        # authlib passes the requested scope through: what the client and the user may have is decided here.
        scopes = client.get_allowed_scope(scope or "").split()
        if user is None:  # a system, as the actor it acts for
            address = client.client.acts_as or ""
            caller = Caller(address, self.role_of(address), frozenset(scopes))
        else:  # an app, with no more than its user's role allows, or a proxy may (reads, and no refresh token)
            proxy = user.acts_for is not None
            mine = granted(resource_scopes(scopes), PROXY_SCOPES if proxy else role_scopes(user.role))
            others = [s for s in scopes if s in OTHER_SCOPES and not (proxy and s in REFRESH_SCOPES)]
            scopes = others + [s.text() for s in mine]
            caller = Caller(user.address, user.role, frozenset(scopes), user.acts_for[0] if user.acts_for else None)
        extra = self.context(caller, user, client.get_client_id())
        # What introspection tells a resource server of the token (SMART 2): its launch context and its user.
        carried: dict[str, str] = {name: str(extra[name]) for name in ("patient", "encounter") if name in extra}
        if (fhir_user := self.context.fhir_user(caller, user)) is not None:
            carried["fhirUser"] = fhir_user
        token: dict[str, Any] = {
            "access_token": self.auth.issue(
                caller, client_id=client.get_client_id(), jti=secrets.token_hex(16), **carried
            ),
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": " ".join(scopes),
        }
        token.update(extra)
        return token


async def request_of(request: Request) -> OAuthRequest:
    """An HTTP request as authlib reads it: its parameters are its query (GET) or its form (POST), which
    `BoundedRequests` has already read and bounded."""
    if request.method == "GET":
        data = dict(request.query_params)
    else:
        data = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    for name in _REPEATED_IN_ERRORS:
        if not _ERROR_TEXT.fullmatch(data.get(name, "")):
            raise ValidationError(f"{name} holds characters that no OAuth {name} has (RFC 6749, appendix A)")
    return OAuthRequest(request.method, str(request.url), dict(request.headers), data, base_url=str(request.base_url))


# The parameters authlib repeats in an error's description, which RFC 6749 (5.2) limits to these characters;
# a value outside them made authlib raise ValueError, a 500, instead of the error it meant.
_REPEATED_IN_ERRORS = ("response_type", "grant_type", "redirect_uri")
_ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
