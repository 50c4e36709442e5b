"""`/Consent`: the patient's grants on chain, as FHIR Consent resources.

Consents are not records: they are read from the node's index of the ConsentRegistry,
synced first, so a grant made a moment ago is there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.access import consents_listed_for, may_see_consent
from careledger.api._deps import Authorization, Deps, call
from careledger.api._responses import fhir_response, searchset
from careledger.consent import consent_resource
from careledger.errors import NotFound, ValidationError


def consent_router(deps: Deps) -> APIRouter:
    """Read one Consent by its grant id, or search them by patient."""
    router = APIRouter(tags=["consent"])
    node = deps.node

    @router.get("/Consent/{grant_id}")
    async def read_consent(grant_id: str, authorization: Authorization = None) -> JSONResponse:
        """One grant; a patient reads only her own (as patient, grantee or granter), a proxy's token only those of
        the patient it acts for."""
        caller = deps.caller(authorization)
        caller.require("Consent", "read")
        await call(node.consent.sync)
        grant = await call(node.consent.get, _grant_id(grant_id))
        parties = (grant.patient, grant.grantee, grant.granted_by)
        may_see_consent(caller.compartment, parties, patient_context=caller.patient_context).require()
        return fhir_response(consent_resource(grant, chain_id=node.chain_id, now=datetime.now(UTC).timestamp()))

    @router.get("/Consent")
    async def search_consents(
        request: Request, patient: str | None = None, authorization: Authorization = None
    ) -> JSONResponse:
        """Every grant, or a patient's (`patient=<address>`); a patient sees only her own, and a proxy's token
        those of the patient it acts for (a delegate manages her consents), never the delegate's own."""
        caller = deps.caller(authorization)
        caller.require("Consent", "read")
        await call(node.consent.sync)
        asked = _address(patient) if patient else None
        wanted = consents_listed_for(caller.compartment, asked, patient_context=caller.patient_context)
        grants = await call(node.consent.grants, patient=wanted)
        now = datetime.now(UTC).timestamp()
        resources = [consent_resource(g, chain_id=node.chain_id, now=now) for g in grants]
        return fhir_response(searchset(request, resources))

    return router


def _address(value: str) -> str:
    if not is_address(value):
        raise ValidationError(f"not an address: {value!r}")
    return str(to_checksum_address(value))


def _grant_id(value: str) -> int:
    try:
        return int(value, 16)
    except ValueError:
        raise NotFound(f"no Consent/{value}") from None
