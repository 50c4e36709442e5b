"""`/auth`: Sign-In with Ethereum. A nonce, then a signed message for a token; and `/metadata` and `$versions`,
also open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from careledger import __version__
from careledger.api._auth import TOKEN_SECONDS
from careledger.api._deps import Deps, body_of, call
from careledger.api._responses import fhir_response
from careledger.errors import ValidationError
from careledger.fhir import capability_statement, loads_object, versions
from careledger.records import MAX_RESOURCE_BYTES


class LoginRequest(BaseModel):
    message: str
    signature: str


class Token(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    scope: str
    address: str


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its JSON body itself (bounded, see `careledger.fhir`)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def auth_router(deps: Deps) -> APIRouter:
    """The routes that need no sign-in: the nonce, the login, the CapabilityStatement and `$versions`."""
    router = APIRouter()
    auth = deps.auth

    @router.get("/metadata", tags=["fhir"])
    async def metadata(request: Request) -> JSONResponse:
        """The CapabilityStatement: what this server supports."""
        statement = capability_statement(
            str(request.base_url),
            datetime.now(UTC).date().isoformat(),
            version=__version__,
            max_body=MAX_RESOURCE_BYTES,
        )
        return fhir_response(statement)

    @router.get("/$versions", tags=["fhir"])
    async def fhir_versions() -> JSONResponse:
        """The FHIR versions this server serves and its default (FHIR R4's `$versions`): 4.0 alone."""
        return fhir_response(versions())

    @router.get("/auth/nonce", tags=["auth"])
    async def nonce() -> dict[str, str | int]:
        """A one-use nonce for a SIWE message, with the domain and chain it must name (EIP-4361's Chain ID, a
        number, as a SIWE library takes it)."""
        return {"nonce": await call(auth.nonce), "domain": auth.domain, "chain_id": auth.chain_id}

    @router.post("/auth/login", tags=["auth"], openapi_extra=json_body(LoginRequest))
    async def login(request: Request) -> Token:
        """A bearer token for the signer of a valid SIWE message (401 says what was wrong)."""
        try:
            body = LoginRequest.model_validate(loads_object(await body_of(request)))
        except PydanticValidationError as exc:
            raise ValidationError(f"a login is {{message, signature}}: {exc.errors()[0]['msg']}") from None
        token, caller = await call(auth.login, body.message, body.signature)
        return Token(
            access_token=token,
            expires_in=TOKEN_SECONDS,
            scope=" ".join(sorted(caller.scopes)),
            address=caller.address,
        )

    return router
