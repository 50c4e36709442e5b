"""SMART on FHIR: discovery, the wallet sign-in page of App Launch, and the token endpoint.

`/.well-known/smart-configuration` needs no sign-in. An app sends its user to
`/auth/authorize` (authorization code, PKCE S256 required); the page the node serves (in
the portal's look, signing with the portal's own wallet script) asks her wallet to sign a
Sign-In with Ethereum message, and the form posts it back; the node checks it as
`/auth/login` does and redirects to the app with a code. `/auth/token` turns a code (with
its verifier) or a system's signed assertion into an access token (`_oauth`). With
`launch/patient` the token response names her Patient record, or, when she is a live delegate of other
patients, the one she picks on the page after signing (`_picker`); with `launch` and the
launch id the portal gave the app (an EHR launch from a chart) it names the chart's
patient and encounter; with `openid` it carries an ID token (ES256, key at
`/.well-known/jwks.json`). A request that cannot go on goes back to the app as an OAuth
error, unless its client or redirect URI is unknown: then the user is told, on a page.

The issuer is the FHIR base URL as the request reached the node (`https://…` through a TLS proxy
whose forwarded headers the node believes): what the discovery documents advertise for a request
is what the ID tokens issued at the same address carry as `iss`, so an app's OpenID library finds
the keys where the token says.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from joserfc import jwt
from joserfc.jwk import ECKey

from careledger.api._auth import Caller, SiweAuth
from careledger.api._deps import Deps, call
from careledger.api._oauth import OAuthRequest, SignedIn, SmartServer, request_of
from careledger.api._picker import Picker, offers_others, picked
from careledger.api._responses import retry_after
from careledger.errors import AccessDenied, CareLedgerError, TooMany, Unauthenticated, ValidationError, http_status
from careledger.identity import SIGNING_ALGORITHMS, LaunchContext, Role, web_origin
from careledger.portal import outside_page, page_headers

SCOPES_SUPPORTED = (
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
)
ID_SIGNATURE = "ES256"  # the JOSE algorithm ID tokens are signed with
CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-asymmetric",
    "context-banner",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
)


def smart_router(deps: Deps) -> APIRouter:
    """The SMART routes (the authorization page's script and styles are the portal's)."""
    router = APIRouter(tags=["smart"])
    node, auth = deps.node, deps.auth
    signing_key = _signing_key(node.vault.secret(node.home.oidc_key_file))

    server = SmartServer(
        node.clients,
        auth,
        node.shared.tickets,
        token_url=lambda: [f"{scheme}://{auth.domain}/auth/token" for scheme in ("https", "http")],
        role_of=lambda address: node.identity.signs_in_as(address)[1],
        context=_ContextClaims(signing_key),
    )
    _discovery(router, signing_key)

    launches = node.clients.launches
    picker = Picker(node.access, node.consent.represented, node.shared.tickets)

    async def checked(oauth: OAuthRequest) -> tuple[Any, LaunchContext | None]:
        """The grant of an authorization request whose client, redirect URI, scopes and PKCE hold, and the EHR
        launch it names (checked, still unused)."""
        try:
            grant = await call(server.get_consent_grant, oauth)
        except ValidationError as exc:  # a scope that is not one
            raise InvalidScopeError(description=_error_text(exc.public)) from None
        _require_pkce(oauth.form)
        return grant, _launch(launches.check, oauth.form)

    @router.get("/auth/authorize")
    async def authorize_page(request: Request) -> Response:
        """The sign-in page for an app's authorization request (checked first: client, redirect, PKCE, launch)."""
        params: dict[str, str] = {}
        try:
            oauth = await request_of(request)
            params = oauth.form
            grant, launch = await checked(oauth)
        except (OAuth2Error, ValidationError) as exc:
            return _refusal(server, params, exc)
        return _page(auth, grant, params, launch)

    @router.post("/auth/authorize")
    async def authorize(request: Request) -> Response:
        """The signed-in answer to an authorization request: a redirect to the app with a code."""
        params: dict[str, str] = {}
        try:
            oauth = await request_of(request)
            params = oauth.form
            grant, launch = await checked(oauth)
            choosing = "ticket" in params  # her choice from the picker, for a sign-in held meanwhile
            acts_as, role = await call(picker.take, params) if choosing else await _signed_in(auth, params)
            if launch is not None:  # used up now, and only by whoever launched it
                launch = _launch(lambda launch_id, client: launches.take(launch_id, client, acts_as), params)
            choices = await call(picker.choices, acts_as, others=choosing or _standalone(params, launch))
            chosen = picked(choices, params.get("patient", ""), acts_as) if choosing else None
            if not choosing and _standalone(params, launch) and offers_others(choices, acts_as):
                ticket = picker.hold(acts_as, role, params)
                return _page(auth, grant, params, launch, choices=choices, user=acts_as, ticket=ticket)
            own = next((choice.patient_id for choice in choices if choice.address == acts_as), None)
            user = SignedIn(acts_as, role, own, launch, None if chosen is None else (chosen.address, chosen.patient_id))
            return await call(server.create_authorization_response, oauth, grant_user=user, grant=grant)
        except (OAuth2Error, ValidationError, Unauthenticated, TooMany) as exc:
            return _refusal(server, params, exc)

    _token_endpoints(router, server)
    return router


def _token_endpoints(router: APIRouter, server: SmartServer) -> None:
    """`/auth/token`, `/auth/introspect` (RFC 7662) and `/auth/revoke` (RFC 7009), each authlib's."""

    @router.post("/auth/token")
    async def token(request: Request) -> Response:
        """An access token for an authorization code (with its PKCE verifier), a refresh token, or a system's
        signed assertion."""
        with _issuing(request):
            response: Response = await call(server.create_token_response, await request_of(request))
        return response

    @router.post("/auth/introspect")
    async def introspect(request: Request) -> Response:
        """Whether a token is active, and what it holds (RFC 7662): asked by its client or a resource server."""
        with _issuing(request):
            oauth = await request_of(request)
            response: Response = await call(server.create_endpoint_response, "introspection", oauth)
        return response

    @router.post("/auth/revoke")
    async def revoke(request: Request) -> Response:
        """Revoke an access or a refresh token (RFC 7009), by the client it was issued to."""
        response: Response = await call(server.create_endpoint_response, "revocation", await request_of(request))
        return response


# The issuer of the token request being answered (`_issuing`); read in the thread pool the request's work runs in.
_issuer: ContextVar[str] = ContextVar("careledger_smart_issuer")


def _issuer_of(request: Request) -> str:
    """The issuer (and FHIR base URL) as `request` reached the node: scheme and host as the client sent them, or
    as a believed proxy forwarded them."""
    return str(request.base_url).rstrip("/")


@contextmanager
def _issuing(request: Request) -> Iterator[None]:
    """Tokens issued (or introspected) within the block name `request`'s issuer."""
    token = _issuer.set(_issuer_of(request))
    try:
        yield
    finally:
        _issuer.reset(token)


class _ContextClaims:
    """What a token response adds for an app's user: the chart's patient and encounter (`launch`, an EHR
    launch), her own Patient (`launch/patient`), and an ID token (`openid`)."""

    def __init__(self, signing_key: ECKey) -> None:
        self._key = signing_key

    @property
    def issuer(self) -> str:
        """The ID token's `iss`: the issuer the discovery documents advertise at the address of this request."""
        return _issuer.get()

    def __call__(self, caller: Caller, user: SignedIn | None, client_id: str) -> dict[str, Any]:
        """The extra members of the token response (none for a system)."""
        extra: dict[str, Any] = {}
        if user is None:
            return extra
        if "launch" in caller.scopes and user.launch is not None:
            extra["patient"] = user.launch.patient
            if user.launch.encounter:
                extra["encounter"] = user.launch.encounter
            extra["need_patient_banner"] = True  # the app left the portal's chart, banner and all
        elif "launch/patient" in caller.scopes and user.context_patient:
            extra["patient"] = user.context_patient
        if "openid" in caller.scopes:
            now = int(time.time())
            subject = {"iss": self.issuer, "sub": user.address, "aud": client_id, "iat": now, "exp": now + 300}
            if (fhir_user := self.fhir_user(caller, user)) is not None:
                subject["fhirUser"] = fhir_user
            extra["id_token"] = jwt.encode({"alg": ID_SIGNATURE, "kid": self._key.kid}, subject, self._key)
        return extra

    def fhir_user(self, caller: Caller, user: SignedIn | None) -> str | None:
        """Her own Patient, as the ID token's `fhirUser` names it, when the token was granted `openid fhirUser`."""
        if user is None or not {"openid", "fhirUser"} <= caller.scopes or not user.patient_id:
            return None
        return f"{self.issuer}/Patient/{user.patient_id}"


def _discovery(router: APIRouter, signing_key: ECKey) -> None:
    """`/.well-known/smart-configuration`, `/.well-known/openid-configuration` (where an OpenID library looks
    for the ID tokens' keys, from their `iss`) and the key set, all open to anyone."""

    @router.get("/.well-known/smart-configuration")
    async def smart_configuration(request: Request) -> JSONResponse:
        """What this node's SMART authorization supports (no sign-in)."""
        return JSONResponse({**_advertised(_issuer_of(request)), "capabilities": list(CAPABILITIES)})

    @router.get("/.well-known/openid-configuration")
    async def openid_configuration(request: Request) -> JSONResponse:
        """The OpenID Provider metadata of the ID tokens this node issues (no sign-in)."""
        return JSONResponse(
            {
                **_advertised(_issuer_of(request)),
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ID_SIGNATURE],
                "claims_supported": ["iss", "sub", "aud", "iat", "exp", "fhirUser"],
            }
        )

    @router.get("/.well-known/jwks.json")
    async def jwks() -> JSONResponse:
        """The public key ID tokens are signed with."""
        return JSONResponse({"keys": [signing_key.as_dict(private=False)]})


def _advertised(issuer: str) -> dict[str, Any]:
    """What both discovery documents say of the authorization server at `issuer`."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "authorization_endpoint": f"{issuer}/auth/authorize",
        "token_endpoint": f"{issuer}/auth/token",
        "introspection_endpoint": f"{issuer}/auth/introspect",
        "revocation_endpoint": f"{issuer}/auth/revoke",
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES_SUPPORTED),
    }


def _require_pkce(params: dict[str, str]) -> None:
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        raise InvalidRequestError(description="PKCE is required: send code_challenge with code_challenge_method=S256")


def _page(auth: SiweAuth, grant: Any, params: dict[str, str], launch: LaunchContext | None, **picker: Any) -> Response:
    """The authorization page: the sign-in, or, once she signed, the patient picker (`picker`'s context)."""
    shown = outside_page(
        "authorize.html",
        app_name=grant.client.client.name,
        scopes=(grant.request.scope or "").split(),
        params={k: v for k, v in params.items() if k not in ("message", "signature")},
        launched=launch is not None,
        domain=auth.domain,
        chain=auth.chain_id,
        **picker,
    )
    return HTMLResponse(shown, headers=_page_headers(grant.redirect_uri))


async def _signed_in(auth: SiweAuth, params: dict[str, str]) -> tuple[str, Role]:
    """Who signed the Sign-In with Ethereum message the page posts, checked as `/auth/login` checks it."""
    message = params.get("message", "").replace("\r\n", "\n")  # a form sends its line breaks as CRLF
    return await call(auth.signed_in, await call(auth.verify, message, params.get("signature", "")))


def _standalone(params: dict[str, str], launch: LaunchContext | None) -> bool:
    """Whether the request is a standalone launch asking for a patient (`launch/patient`): the picker's case."""
    return launch is None and "launch/patient" in params.get("scope", "").split()


def _launch(find: Callable[[str, str], LaunchContext], params: dict[str, str]) -> LaunchContext | None:
    """The EHR launch a request with scope `launch` names by its `launch` id, as `find` gives it (None for a
    standalone launch); `invalid_request` for a launch id unknown, used, expired or another app's."""
    if "launch" not in params.get("scope", "").split():
        return None
    try:
        return find(params.get("launch", ""), params.get("client_id", ""))
    except AccessDenied as exc:
        raise InvalidRequestError(description=exc.public) from None


def _refusal(server: SmartServer, params: dict[str, str], exc: OAuth2Error | CareLedgerError) -> Response:
    """An authorization request that cannot go on (RFC 6749, 4.1.2.1): sent back to the app's redirect URI as
    `error`, `error_description` and `state`; told on a page (400), the browser going nowhere, when its client
    or redirect URI is not one to trust, when her sign-in failed (401: she may sign again), and when she signed
    in too often (429, with `Retry-After`)."""
    error = exc if isinstance(exc, OAuth2Error) else InvalidRequestError(description=_error_text(exc.public))
    target = server.error_redirect_uri(params)
    if target is None or isinstance(exc, Unauthenticated | TooMany):
        message = exc.public if isinstance(exc, CareLedgerError) else error.description or error.error
        page = outside_page("authorize_error.html", message=message)
        headers = _page_headers(None)
        if isinstance(exc, TooMany):
            headers["Retry-After"] = retry_after(exc)
        status = http_status(exc)[0] if isinstance(exc, Unauthenticated | TooMany) else 400
        return HTMLResponse(page, status_code=status, headers=headers)
    error.redirect_uri, error.state = target, params.get("state")
    response: Response = server.handle_response(*error())
    return response


def _error_text(text: str) -> str:
    """`text` in the characters RFC 6749 (5.2) allows an `error_description`."""
    return re.sub(r"[^\x20\x21\x23-\x5b\x5d-\x7e]", "?", text)


def _page_headers(redirect_uri: str | None) -> dict[str, str]:
    """An authorization page's headers, the portal's: its form may go only here and, after the redirect, to the
    app's origin (browsers apply `form-action` to where a form's answer redirects, too)."""
    app = None if redirect_uri is None else web_origin(redirect_uri)
    return page_headers(() if app is None else (app,))


def _signing_key(secret: bytes) -> ECKey:
    """The node's ID-token key (P-256), derived from a secret kept in its home."""
    private = ec.derive_private_key(int.from_bytes(secret, "big") % _P256_ORDER or 1, ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = ECKey.import_key(pem)
    key.ensure_kid()  # its thumbprint, so clients pick it from the JWKS
    return key


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
