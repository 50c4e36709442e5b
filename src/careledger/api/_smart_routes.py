"""SMART on FHIR: discovery, the wallet sign-in page of App Launch, and the token endpoint.

`/.well-known/smart-configuration` needs no sign-in. An app sends its user to
`/auth/authorize` (authorization code, PKCE S256 required); the page the node serves asks
her wallet to sign a Sign-In with Ethereum message, and the form posts it back; the
node checks it as `/auth/login` does and redirects to the app with a code. `/auth/token`
turns a code (with its verifier) or a system's signed assertion into an access token
(`_oauth`). With `launch/patient` the token response names her Patient record; with
`openid` it carries an ID token (ES256, key at `/.well-known/jwks.json`).
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from joserfc import jwt
from joserfc.jwk import ECKey

from careledger.access import Accessor
from careledger.api._auth import Caller
from careledger.api._deps import Deps, call
from careledger.api._oauth import OAuthRequest, SignedIn, SmartServer, request_of
from careledger.consent import Purpose
from careledger.errors import Unauthenticated, ValidationError
from careledger.files import secret_file
from careledger.identity import SIGNING_ALGORITHMS

AUTH_ASSETS = Path(__file__).resolve().parent / "auth_assets"
_PAGE_POLICY = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'"
SCOPES_SUPPORTED = (
    "openid",
    "fhirUser",
    "launch/patient",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
)
CAPABILITIES = (
    "launch-standalone",
    "client-public",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
)


def smart_router(deps: Deps, mount: Any) -> APIRouter:
    """The SMART routes; `mount` serves the sign-in page's script."""
    mount("/auth/assets", StaticFiles(directory=AUTH_ASSETS), name="auth-assets")
    router = APIRouter(tags=["smart"])
    node, auth = deps.node, deps.auth
    signing_key = _signing_key(secret_file(node.home.path / "oidc.key"))

    server = SmartServer(
        node.clients,
        auth,
        token_url=lambda: [f"{scheme}://{auth.domain}/auth/token" for scheme in ("https", "http")],
        role_of=lambda address: node.identity.signs_in_as(address)[1],
        extra_claims=_ContextClaims(f"http://{auth.domain}", signing_key),
    )
    _discovery(router, signing_key)

    async def checked(oauth: OAuthRequest) -> Any:
        """The grant of an authorization request whose client, redirect URI and PKCE hold."""
        _require_pkce(oauth.form)
        server.check_redirect_uri(oauth.form)
        return await call(server.get_consent_grant, oauth)

    @router.get("/auth/authorize")
    async def authorize_page(request: Request) -> Response:
        """The sign-in page for an app's authorization request (checked first: client, redirect, PKCE)."""
        try:
            oauth = await request_of(request)
            grant = await checked(oauth)
        except (OAuth2Error, ValidationError) as exc:
            return _refusal(exc)
        page = _page(oauth.form, grant.client.client.name, grant.request.scope or "")
        return HTMLResponse(page, headers=_page_headers(grant.redirect_uri))

    @router.post("/auth/authorize")
    async def authorize(request: Request) -> Response:
        """The signed-in answer to an authorization request: a redirect to the app with a code."""
        try:
            oauth = await request_of(request)
            params = oauth.form
            grant = await checked(oauth)
            address = await call(auth.verify, params.get("message", ""), params.get("signature", ""))
            acts_as, role = await call(auth.signed_in, address)
            door = node.access.for_caller(Accessor(acts_as, Purpose.PATRQT))
            patients = await call(door.listing, patient_address=acts_as, resource_type="Patient", limit=1)
            user = SignedIn(acts_as, role, patients[0].record_id if patients else None)
            return await call(server.create_authorization_response, oauth, grant_user=user, grant=grant)
        except (OAuth2Error, ValidationError, Unauthenticated) as exc:
            return _refusal(exc)

    @router.post("/auth/token")
    async def token(request: Request) -> Response:
        """An access token for an authorization code (with its PKCE verifier) or a system's signed assertion."""
        response: Response = await call(server.create_token_response, await request_of(request))
        return response

    return router


class _ContextClaims:
    """What a token response adds for an app's user: her Patient (`launch/patient`) and an ID token (`openid`)."""

    def __init__(self, issuer: str, signing_key: ECKey) -> None:
        self._issuer = issuer
        self._key = signing_key

    def __call__(self, caller: Caller, user: SignedIn | None, client_id: str) -> dict[str, Any]:
        """The extra members of the token response (none for a system)."""
        extra: dict[str, Any] = {}
        if user is None:
            return extra
        if "launch/patient" in caller.scopes and user.patient_id:
            extra["patient"] = user.patient_id
        if "openid" in caller.scopes:
            now = int(time.time())
            subject = {"iss": self._issuer, "sub": user.address, "aud": client_id, "iat": now, "exp": now + 300}
            if "fhirUser" in caller.scopes and user.patient_id:
                subject["fhirUser"] = f"{self._issuer}/Patient/{user.patient_id}"
            extra["id_token"] = jwt.encode({"alg": "ES256", "kid": self._key.kid}, subject, self._key)
        return extra


def _discovery(router: APIRouter, signing_key: ECKey) -> None:
    """`/.well-known/smart-configuration` and the ID-token key set, both open to anyone."""

    @router.get("/.well-known/smart-configuration")
    async def smart_configuration(request: Request) -> JSONResponse:
        """What this node's SMART authorization supports (no sign-in)."""
        url = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": url,
                "jwks_uri": f"{url}/.well-known/jwks.json",
                "authorization_endpoint": f"{url}/auth/authorize",
                "token_endpoint": f"{url}/auth/token",
                "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
                "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": list(SCOPES_SUPPORTED),
                "capabilities": list(CAPABILITIES),
            }
        )

    @router.get("/.well-known/jwks.json")
    async def jwks() -> JSONResponse:
        """The public key ID tokens are signed with."""
        return JSONResponse({"keys": [signing_key.as_dict(private=False)]})


def _require_pkce(params: dict[str, str]) -> None:
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        raise ValidationError("PKCE is required: send code_challenge with code_challenge_method=S256")


def _refusal(exc: Exception) -> Response:
    """An authorization request that cannot go on: told to the user, never redirected to an unchecked URI."""
    if isinstance(exc, OAuth2Error):
        body = {"error": exc.error, "error_description": exc.description or ""}
    else:
        body = {"error": "invalid_request", "error_description": str(exc)}
    return JSONResponse(body, status_code=401 if isinstance(exc, Unauthenticated) else 400)


def _page_headers(redirect_uri: str) -> dict[str, str]:
    """The sign-in page's headers: its form may go only here and, after the redirect, to the app (browsers
    apply `form-action` to where a form's answer redirects, too)."""
    parts = urlsplit(redirect_uri)
    policy = f"{_PAGE_POLICY}; form-action 'self' {parts.scheme}://{parts.netloc}"
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def _page(params: dict[str, str], app_name: str, scope: str) -> str:
    hidden = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in scope.split())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to CareLedger</title></head>
<body><main>
<h1>Sign in to let {html.escape(app_name)} use your records</h1>
<p>It asks for:</p><ul>{scopes}</ul>
<form id="authorize" method="post" action="/auth/authorize">
{hidden}
<button id="wallet" type="button">Sign in with your wallet</button>
<p id="status" role="status"></p>
<details><summary>My wallet is not in this browser</summary>
<label for="message">Sign-In with Ethereum message (from GET /auth/nonce)</label>
<textarea id="message" name="message" rows="10" cols="70"></textarea>
<label for="signature">Signature</label>
<input id="signature" name="signature">
<button type="submit">Sign in</button>
</details>
</form>
</main><script src="/auth/assets/authorize.js"></script></body></html>"""


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
