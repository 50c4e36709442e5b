"""`POST /Patient/{id}/$claim`: a patient claims her custodial identity with her own wallet. No sign-in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.access import encryption_key_from_hex
from careledger.api._deps import Deps, body_of, call
from careledger.api._responses import fhir_response
from careledger.errors import ValidationError
from careledger.fhir import loads_object


def claim_router(deps: Deps) -> APIRouter:
    """The `$claim` operation on Patient."""
    router = APIRouter(tags=["fhir"])
    node, auth = deps.node, deps.auth

    @router.post("/Patient/{record_id}/$claim")
    async def claim(record_id: str, request: Request) -> JSONResponse:
        """A patient claims the custodial identity of `Patient/{record_id}` with the front desk's code and a
        SIWE signature of her own wallet (a `Parameters` body: code, message, signature, and encryptionKey
        if her wallet is not registered: hex of its suite byte and raw key, `01` + 32 bytes for X25519); no
        sign-in. Her wallet signs in as that patient afterwards. 400 for a malformed body or key, 401 for a bad
        signature, 403 for a code that does not claim this Patient, in the same words whether the id is unknown,
        no code was issued, or the code is wrong (only its holder learns that it expired or was used), 429 once
        this client address has failed too often of late, or for a wrong code this id (never for the right one)."""
        given = _parameters(loads_object(await body_of(request)), required=("code", "message", "signature"))
        wallet = await call(auth.verify, given["message"], given["signature"])
        key = encryption_key_from_hex(given["encryptionKey"]) if "encryptionKey" in given else None
        client = request.client.host if request.client else "unknown"
        claimed = await call(node.claiming.claim_record, record_id, given["code"], wallet, key, client=client)
        return fhir_response(
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "patient", "valueString": claimed.patient},
                    {"name": "wallet", "valueString": claimed.wallet},
                    {"name": "resealed", "valueInteger": claimed.resealed},
                ],
            }
        )

    return router


def _parameters(data: dict[str, Any], *, required: tuple[str, ...]) -> dict[str, str]:
    """The string values of a FHIR `Parameters` resource by name; the `required` ones must be there."""
    if data.get("resourceType") != "Parameters" or not isinstance(data.get("parameter"), list):
        raise ValidationError("this operation takes a FHIR Parameters resource")
    values: dict[str, str] = {}
    for parameter in data["parameter"]:
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
            value = parameter.get("valueString")
            if not isinstance(value, str):
                raise ValidationError(f"parameter {parameter['name']!r} needs a valueString")
            values[parameter["name"]] = value
    missing = [name for name in required if name not in values]
    if missing:
        raise ValidationError(f"missing parameter(s): {', '.join(missing)}")
    return values
