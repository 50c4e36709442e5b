"""`Appointment/$quote`, `$prepare-book`, `$book` with signatures, `$join` and `$finish`: a telehealth visit over FHIR.

```
$quote          patient, slot ─► what the visit costs her (and her plan's CoverageEligibilityResponse)
$prepare-book   patient, slot, category ─► the slot held (a pending Appointment), the quote, and the typed data
                her wallet signs: the visit's consent, the escrow's permit and terms
$book           appointment, consent + consent-signature, terms + terms-signature + permit-signature ─► booked
                (`book_held`, which the scheduling operations' `$book` hands a body naming an `appointment`)
$join / $finish the practitioner: the visit's Encounter (VR) begun / finished, its fee released
$respond        the practitioner accepts or declines (an AppointmentResponse); a decline cancels and refunds
$no-show        the practitioner, after the slot's end: the Appointment `noshow`, the fee split as published
```

Typed data travels as JSON text in `valueString` parts (integers exact, as `eth_signTypedData_v4` and eth-account
take them), signatures as `0x` hex; amounts as decimal strings of the token's base units. The decisions are the
visits service's (`telehealth.Visits`), every record read and written through the caller's door.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.access import Repository
from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._responses import fhir_response
from careledger.api.operations._parameters import Kind, operation_parameters, reference_id
from careledger.api.operations.appointment import BOOK_PARAMETERS
from careledger.consent import SignedConsent, parse_categories
from careledger.errors import InvalidSignature, ValidationError
from careledger.fhir import fhir_instant, loads_object
from careledger.identity import parse_signature
from careledger.records import Resource
from careledger.services import Services
from careledger.telehealth import BookingOffer, VisitPayment, VisitQuote, VisitSignatures

GRANTEES = ("practitioner", "node")
ANSWERS = ("accepted", "declined")  # a practitioner's `$respond`
_MAX_TYPED = 16_384  # characters of one typed data part
QUOTE_PARAMETERS = {"slot": Kind.REFERENCE, "patient": Kind.REFERENCE}
PREPARE_PARAMETERS = {**QUOTE_PARAMETERS, "grantee": Kind.TEXT, "category": Kind.TEXT, "reason": Kind.TEXT}
RESPOND_PARAMETERS = {"answer": Kind.TEXT, "comment": Kind.TEXT}


def visit_router(deps: Deps) -> APIRouter:
    """The visit operations on Appointment."""
    router = APIRouter(tags=["telehealth"])
    node = deps.node

    @router.post("/Appointment/$quote")  # a route per method: each its own OpenAPI operation id
    @router.get("/Appointment/$quote")
    async def quote(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """What a visit in `slot` costs `patient` (Parameters: covered, fee, copay, deductible-left, patient-pays,
        why, and her plan's CoverageEligibilityResponse as `eligibility`). In the query (GET) or a Parameters
        body (POST); 404 alike for a Patient not here and one the caller may not see."""
        accessor = deps.signed_in(authorization, purpose, "Appointment", "read")
        given = dict(request.query_params.items())
        if request.method == "POST":
            given.update(operation_parameters(loads_object(await body_of(request)), QUOTE_PARAMETERS))
        slot, patient = _required(given, "slot", "Slot"), _required(given, "patient", "Patient")
        reader = node.access.for_caller(accessor)
        return fhir_response(_parameters(quote_parts(await call(node.visits.quote, reader, patient, slot))))

    @router.post("/Appointment/$prepare-book")
    async def prepare_book(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Hold `slot` for `patient` and say what her wallet signs to book it: Parameters with `appointment` (the
        pending Appointment), the quote's parts, `consent` (the visit's consent to `grantee`, the practitioner or
        her node, for `category`: comma-separated categories), `permit` and `terms` (the escrow's, when she pays)
        and `expires` (when the hold lapses). 409 if the slot is taken."""
        accessor = deps.signed_in(authorization, purpose, "Appointment", "write")
        given = operation_parameters(loads_object(await body_of(request)), PREPARE_PARAMETERS)
        slot, patient = _required(given, "slot", "Slot"), _required(given, "patient", "Patient")
        grantee = given.get("grantee", "practitioner")
        if grantee not in GRANTEES:
            raise ValidationError(f"grantee is one of {', '.join(GRANTEES)}, not {grantee[:40]!r}")
        categories = parse_categories(given.get("category", ""))
        repo = node.access.for_caller(accessor)
        offer: BookingOffer = await call(
            node.visits.prepare_book, repo, slot, patient, categories, grantee=grantee, reason=given.get("reason")
        )
        return fhir_response(_parameters(offer_parts(offer)), 201)

    @router.post("/Appointment/{appointment_id}/$join")
    async def join(
        appointment_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The visit's Encounter (class VR, in progress), begun by its practitioner; the same one when she joins
        again. 403 for anyone else who may see the Appointment, 409 for one not booked."""
        accessor = deps.signed_in(authorization, purpose, "Encounter", "write")
        repo = node.access.for_caller(accessor)
        return fhir_response(await call(node.visits.join, repo, appointment_id))

    @router.post("/Appointment/{appointment_id}/$finish")
    async def finish(
        appointment_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The visit's Encounter finished by its practitioner, and its fee released to the provider: Parameters
        with `encounter` and, when a fee was held, `payment`. 409 before the slot's start (the Encounter stays
        finished; finish again after it) or once the fee was settled."""
        accessor = deps.signed_in(authorization, purpose, "Encounter", "write")
        repo = node.access.for_caller(accessor)
        encounter, payment = await call(node.visits.finish, repo, appointment_id)
        parts: list[dict[str, Any]] = [{"name": "encounter", "resource": encounter}]
        return fhir_response(_parameters(parts + payment_parts(payment)))

    _practitioners_answers(router, deps)
    return router


def _practitioners_answers(router: APIRouter, deps: Deps) -> None:
    """The practitioner's `$respond` and `$no-show` on `router`."""
    node = deps.node

    @router.post("/Appointment/{appointment_id}/$respond")
    async def respond(
        appointment_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The visit's practitioner answers it: a Parameters body with `answer` (`accepted` or `declined`) and a
        `comment` if any; Parameters with the `response` (her AppointmentResponse) and, for a decline of a visit
        whose fee was held, the `payment` refunded. 403 for anyone else who may see the Appointment, 409 for one
        cancelled or over."""
        accessor = deps.signed_in(authorization, purpose, "AppointmentResponse", "write")
        given = operation_parameters(loads_object(await body_of(request)), RESPOND_PARAMETERS)
        answer = given.get("answer", "")
        if answer not in ANSWERS:
            raise ValidationError(f"$respond takes an answer: accepted or declined, not {answer[:40]!r}")
        repo = node.access.for_caller(accessor)
        response, refund = await call(
            node.visits.respond, repo, appointment_id, accept=answer == "accepted", comment=given.get("comment")
        )
        return fhir_response(_parameters([{"name": "response", "resource": response}, *payment_parts(refund)]))

    @router.post("/Appointment/{appointment_id}/$no-show")
    async def no_show(
        appointment_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The patient missed the visit, as its practitioner records after the slot's end: Parameters with the
        `appointment` (`noshow`) and, when a fee was held, the `payment` (`no-show`: the published share to the
        provider, the rest refunded). 409 before the slot's end or once the fee was settled."""
        accessor = deps.signed_in(authorization, purpose, "Appointment", "write")
        repo = node.access.for_caller(accessor)
        appointment, payment = await call(node.visits.no_show, repo, appointment_id)
        return fhir_response(_parameters([{"name": "appointment", "resource": appointment}, *payment_parts(payment)]))


async def book_held(node: Services, repo: Repository, data: dict[str, Any]) -> Resource:
    """`$book` of a visit `$prepare-book` held: the Parameters `data` name the pending `appointment` and carry her
    signed `consent` with its `consent-signature`, and, when she pays, the escrow's `terms` with its
    `terms-signature` and the `permit-signature`; the booked Appointment. `ValidationError` for typed data that is
    not JSON or a signature that is not 65 bytes of hex (nor recovers any key); the visits service refuses the rest
    in words."""
    given = operation_parameters(data, BOOK_PARAMETERS)
    consent_signature = _signature(given, "consent-signature")
    try:
        consent = SignedConsent.from_typed_data(_typed(given, "consent"), consent_signature)
    except InvalidSignature as malformed:  # in range, yet no key made it
        raise ValidationError(f"consent-signature: {malformed}") from None
    appointment = _required(given, "appointment", "Appointment")
    signed = VisitSignatures(consent)
    if "terms" in given:
        terms, permit = _typed(given, "terms"), _signature(given, "permit-signature")
        signed = VisitSignatures(consent, terms, _signature(given, "terms-signature"), permit)
    booked = await call(node.visits.book, repo, appointment, signed)
    return booked.appointment


def quote_parts(quote: VisitQuote) -> list[dict[str, Any]]:
    """A quote as Parameters parts (amounts as decimal strings of base units)."""
    parts: list[dict[str, Any]] = [
        {"name": "covered", "valueBoolean": quote.covered},
        *({"name": name, "valueString": str(amount)} for name, amount in _amounts(quote)),
        {"name": "why", "valueString": quote.why},
    ]
    if quote.eligibility is not None:
        parts.append({"name": "eligibility", "resource": quote.eligibility})
    return parts


def offer_parts(offer: BookingOffer) -> list[dict[str, Any]]:
    """What `$prepare-book` answers, as Parameters parts."""
    parts: list[dict[str, Any]] = [
        {"name": "appointment", "resource": offer.appointment},
        *quote_parts(offer.quote),
        {"name": "consent", "valueString": json.dumps(offer.consent)},
        {"name": "expires", "valueInstant": fhir_instant(offer.expires, precision="seconds")},
    ]
    if offer.payment is not None:
        parts += [{"name": name, "valueString": json.dumps(offer.payment[name])} for name in ("permit", "terms")]
    return parts


def payment_parts(payment: VisitPayment | None) -> list[dict[str, Any]]:
    """A visit's fee as the escrow holds it, as a Parameters part with its state and amounts (none: no fee)."""
    if payment is None:
        return []
    fields = {"state": payment.state, "amount": str(payment.amount), "to-payee": str(payment.to_payee)}
    fields["to-patient"] = str(payment.to_patient)
    return [{"name": "payment", "part": [{"name": k, "valueString": v} for k, v in fields.items()]}]


def _amounts(quote: VisitQuote) -> list[tuple[str, int]]:
    return [
        ("fee", quote.fee),
        ("copay", quote.copay),
        ("deductible-left", quote.deductible_left),
        ("patient-pays", quote.patient_pays),
    ]


def _parameters(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": parts}


def _required(given: dict[str, str], name: str, kind: str) -> str:
    if name not in given:
        raise ValidationError(f"this operation needs {name} ({kind}/<id>)")
    return reference_id(given[name], kind, name)


def _typed(given: dict[str, str], name: str) -> dict[str, Any]:
    text = given.get(name, "")
    if not text or len(text) > _MAX_TYPED:
        raise ValidationError(f"{name} is the typed data signed, as JSON text (at most {_MAX_TYPED} characters)")
    try:
        typed = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, a number of more than 4300 digits, or nested past the limit
        raise ValidationError(f"{name} is not JSON, or holds a number too long or nesting too deep") from None
    if not isinstance(typed, dict):
        raise ValidationError(f"{name} is a JSON object")
    return typed


def _signature(given: dict[str, str], name: str) -> bytes:
    """A signature in the body: malformed, it is bad input (400), not a failed sign-in; she is signed in."""
    if name not in given:
        raise ValidationError(f"$book of a held visit needs {name} (0x and 130 hex digits)")
    try:
        return parse_signature(given[name])
    except InvalidSignature as malformed:
        raise ValidationError(f"{name}: {malformed}") from None
