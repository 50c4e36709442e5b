"""What every route needs from a request: who is signed in, for what purpose, and the node's services.

The one place a request becomes a `Caller` (from its token) and an `Accessor` (the caller
with the purpose of use it declares), which the guarded repository `node.access` judges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request
from fastapi.concurrency import run_in_threadpool

from careledger import request_context
from careledger.access import Accessor, default_purpose
from careledger.api._auth import Caller, SiweAuth
from careledger.consent import Purpose
from careledger.fhir import in_patient_compartment
from careledger.records import Draft, Resource
from careledger.services import Services

_T = TypeVar("_T")

Authorization = Annotated[str | None, Header(description="Bearer <JWT from /auth/login>")]
PurposeOfUse = Annotated[str | None, Header(alias="X-Purpose-Of-Use", description="HL7 PurposeOfUse")]


class Deps:
    """The node and its sign-in, as the routers reach them."""

    def __init__(self, node: Services, auth: SiweAuth) -> None:
        self.node = node
        self.auth = auth

    def caller(self, authorization: str | None) -> Caller:
        """Who the `Bearer` token names (its role told to the request's access log line); `Unauthenticated` if
        there is none or it is not valid."""
        caller = self.auth.caller(authorization)
        request_context.note_role(caller.role.name.lower())
        return caller

    def accessor(self, caller: Caller, purpose: str | None) -> Accessor:
        """The caller asking for `purpose` (`X-Purpose-Of-Use`; when absent, `default_purpose` for her role, or for
        a proxy). A proxy's token reaches only the compartment of the patient it acts for, on every path of the door."""
        reason = Purpose.parse(purpose) if purpose else default_purpose(caller.role, proxy=caller.acts_for is not None)
        return Accessor(caller.address, reason, narrowing=caller.narrowing(), compartment=caller.acts_for)

    def signed_in(self, authorization: str | None, purpose: str | None, resource_type: str, access: str) -> Accessor:
        """The accessor of a request whose token's scopes allow `access` (read or write) of `resource_type`."""
        caller = self.caller(authorization)
        caller.require(resource_type, access)
        return self.accessor(caller, purpose)


async def call(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a synchronous service call in the server's thread pool."""
    return await run_in_threadpool(function, *args, **kwargs)


async def body_of(request: Request) -> bytes:
    """The body, which `BoundedRequests` has already read within its limits."""
    return await request.body()


def own_only(caller: Caller, resource_type: str) -> str | None:
    """Whose records a listing of `resource_type` is narrowed to: a patient's own (or, for a proxy's token, the
    patient's it acts for), inside the compartment."""
    return caller.compartment if caller.patient_context and in_patient_compartment(resource_type) else None


def draft(caller: Caller, data: Resource) -> Draft:
    """`data` (validated already) to store for `caller`; the guarded repository decides whether it may.

    A Patient written by a patient is hers; others the records service places (did:pkh, or custodial).
    """
    owner = caller.address if data["resourceType"] == "Patient" and caller.patient_context else None
    return Draft.of(data, owner)
