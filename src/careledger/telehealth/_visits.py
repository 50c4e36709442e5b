"""Visits: the quote before booking, booking in one flow (coverage, consent, escrow, slot), and the visit itself.

```
quote         the patient's door ─► the slot's Schedule (fee, class) ─► her plan on chain (`Coverages.estimate`)
prepare_book  the slot held (a pending Appointment: its id is the visit's key) ─► quote ─► typed data to sign:
              the visit's consent (EIP-712) and, when she pays, the escrow's permit and terms
book          her signatures checked, all of them, before any gas ─► the fee held in escrow ─► the consent
              granted ─► the Appointment booked. A step that fails undoes those before it: the fee refunded,
              the consent revoked where the node may (else the failure says so), the slot freed.
join / finish the practitioner's door ─► the Encounter (VR) begun / finished ─► the fee released to the provider
cancel        the Appointment cancelled, the slot freed, the whole fee refunded (by her only before the slot)
```

The fee is held before the consent is granted because the node can always undo the first (it refunds, as the
visit's provider) but not always the second (only the patient or her delegate revokes, unless the node manages her
consents). Amounts are integers of the token's base units: what a quote says she pays is what is held in escrow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from careledger.access import Repository
from careledger.chain import VisitTerms
from careledger.claims import Coverages, ServiceClass
from careledger.consent import ConsentService, Grant, SignedConsent
from careledger.crypto import sign_typed_data
from careledger.errors import CareLedgerError, Conflict, NotFound, ValidationError
from careledger.records import Category, Resource
from careledger.telehealth._booking import Hold, Scheduling, slot_ids
from careledger.telehealth._encounters import begin, encounter_of, finish
from careledger.telehealth._participants import practitioner_of, subject_of
from careledger.telehealth._payments import VisitPayment, VisitPayments
from careledger.telehealth._quotes import VisitQuote, quote_of
from careledger.telehealth._schedule import fee_of, parse_instant, service_class
from careledger.telehealth._visit_consent import VisitConsents, VisitWindow

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

Grantee = Literal["practitioner", "node"]  # whom the visit's consent names: her, or the node she works at


@dataclass(frozen=True, slots=True)
class BookingOffer:
    """A slot held for the patient (a pending Appointment, until `expires`), what it costs her, and what her
    wallet signs to book it: the visit's consent, and the escrow's permit and terms (None when she pays nothing)."""

    appointment: Resource
    quote: VisitQuote
    consent: dict[str, Any]
    payment: dict[str, Any] | None
    expires: datetime


@dataclass(frozen=True, slots=True)
class VisitSignatures:
    """What comes back from her wallet: the visit's consent, signed; the escrow's terms (typed data, as `payment`
    gave them) with her signatures of them and of the permit, when she pays."""

    consent: SignedConsent
    terms: dict[str, Any] | None = None
    terms_signature: bytes | None = None
    permit_signature: bytes | None = None


@dataclass(frozen=True, slots=True)
class Booked:
    """A booked visit: the Appointment, what she pays, her consent for it, and its fee in escrow (None: no fee)."""

    appointment: Resource
    quote: VisitQuote
    grant: Grant
    payment: VisitPayment | None


class Visits:
    """Quotes, the booking flow, and the visit's Encounter and fee, for one node."""

    def __init__(
        self,
        coverages: Coverages,
        scheduling: Scheduling,
        payments: VisitPayments,
        consent: ConsentService,
        *,
        node_address: str,
        fee_units: Callable[[int], int],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`fee_units(fee)`: a Schedule's fee (whole CARE, as FHIR's integer holds it) in the token's base units;
        `clock`: when a visit begins and ends."""
        self._coverages = coverages
        self._scheduling = scheduling
        self._payments = payments
        self._consent = consent
        self._consents = VisitConsents(consent, clock=lambda: clock().timestamp())
        self._node = node_address
        self._fee_units = fee_units
        self._clock = clock

    # Before booking.

    def quote(self, reader: Repository, patient_id: str, slot_id: str) -> VisitQuote:
        """What a visit in the open slot `slot_id` costs the patient `patient_id`, as `reader`'s caller may learn
        it (her Patient read through the door: `UnknownRecord` alike for one not here and one not hers to see)."""
        return self._quote(reader, patient_id, self._scheduling.opening(reader, slot_id).schedule)

    def prepare_book(
        self,
        repo: Repository,
        slot_id: str,
        patient_id: str,
        categories: Iterable[Category],
        *,
        grantee: Grantee = "practitioner",
        reason: str | None = None,
    ) -> BookingOffer:
        """Hold `slot_id` for the patient and say what she signs to book it: the visit's consent to `grantee`
        for `categories`, and the escrow's permit and terms for what the quote says she pays. The hold is released
        if any of it cannot be prepared (`Conflict` for a slot taken, in words for the rest)."""
        picked = list(categories)
        opening = self._scheduling.opening(repo, slot_id)
        quote = self._quote(repo, patient_id, opening.schedule)
        hold = self._scheduling.hold(repo, slot_id, patient_id, reason=reason)
        try:
            patient, window = repo.stored(patient_id).patient_address, _window(hold.appointment)
            terms = self._consents.terms(patient, self._grantee(repo, hold.appointment, grantee), picked, window)
            consent = self._consents.prepare(terms, valid_until=int(hold.expires.timestamp()))
            payment = None
            if quote.patient_pays:
                payment = self._payments.prepare(
                    patient, hold.appointment_id, quote.patient_pays, window.start, window.end
                )
        except BaseException:
            self._scheduling.release(repo, hold, "the booking could not be prepared")
            raise
        return BookingOffer(hold.appointment, quote, consent, payment, hold.expires)

    def sign(self, offer: BookingOffer, wallet: LocalAccount) -> VisitSignatures:
        """What `wallet` (the patient's, or a delegate's, held here: the CLI's) signs of `offer`, as her own wallet
        would in the portal or over the API."""
        consent = SignedConsent.from_typed_data(offer.consent, sign_typed_data(wallet, offer.consent))
        if offer.payment is None:
            return VisitSignatures(consent)
        terms, permit = offer.payment["terms"], offer.payment["permit"]
        return VisitSignatures(consent, terms, sign_typed_data(wallet, terms), sign_typed_data(wallet, permit))

    # Booking.

    def book(self, repo: Repository, appointment_id: str, signed: VisitSignatures) -> Booked:
        """Book the held Appointment `appointment_id` with what her wallet signed (`prepare_book`): every signature
        checked first and refused in words before any gas is spent; then the fee held, the consent granted and
        the Appointment booked, or, should a step fail, nothing left half done (the failure raised)."""
        hold, patient_id = self._held(repo, appointment_id)
        quote = self._quote(repo, patient_id, hold.appointment)
        patient, window = repo.stored(patient_id).patient_address, _window(hold.appointment)
        expected = self._consents.terms(
            patient, self._signed_grantee(repo, hold.appointment, signed.consent), _categories(signed.consent), window
        )
        self._consents.check(signed.consent, expected)
        self._consent.check_submittable(signed.consent)
        self._check_payment(quote, signed)
        try:
            payment = self._hold_fee(patient, appointment_id, signed)
        except BaseException:
            self._scheduling.release(repo, hold, "the visit's fee could not be held")
            raise
        try:
            grant = self._consents.submit(signed.consent, expected)
        except BaseException:
            self._undo(repo, hold, payment, None)
            raise
        try:
            appointment = self._scheduling.confirm(repo, hold)
        except CareLedgerError as failed:
            kept = self._undo(repo, hold, payment, grant)
            raise Conflict(f"{failed}{'; ' + kept if kept else ''}") from failed
        return Booked(appointment, quote, grant, payment)

    def cancel(
        self, repo: Repository, appointment_id: str, reason: str | None = None
    ) -> tuple[Resource, VisitPayment | None]:
        """Cancel a visit as the caller may (the patient, her practitioner, this node's care team: the door
        decides): the slot freed and the whole fee refunded by this node, the provider (None: none was held). A
        patient cancels only before her visit's slot starts (`Conflict` after: the provider settles it then)."""
        appointment = repo.read(appointment_id)
        by_patient = repo.stored(appointment_id).patient_address == repo.accessor.address
        if by_patient and _window(appointment).start <= self._clock().timestamp():
            raise Conflict(f"Appointment/{appointment_id} has started: ask the practitioner to cancel it")
        cancelled = self._scheduling.cancel(repo, appointment_id, reason)
        return cancelled, self._settled(appointment, self._payments.refund)

    # The visit.

    def join(self, repo: Repository, appointment_id: str) -> Resource:
        """The visit's Encounter, begun by its practitioner (`_encounters.begin`)."""
        return begin(repo, appointment_id, self._clock())

    def finish(self, repo: Repository, appointment_id: str) -> tuple[Resource, VisitPayment | None]:
        """The visit's Encounter finished by its practitioner, then its fee released to the provider (None: no fee
        was held). Should the release fail, the Encounter stays finished and the error says why: finishing again
        asks for the release again (`Conflict` once the fee was settled)."""
        encounter = finish(repo, appointment_id, self._clock())
        return encounter, self._settled(repo.read(appointment_id), self._payments.release)

    def encounter(self, repo: Repository, appointment_id: str) -> Resource | None:
        """The visit's Encounter, if it has begun (`_encounters.encounter_of`)."""
        return encounter_of(repo, appointment_id)

    # Steps and their undoing.

    def _quote(self, reader: Repository, patient_id: str, priced: Resource) -> VisitQuote:
        """The quote for the patient of a visit whose fee and class `priced` (the Schedule, or the Appointment
        that carries both) says; a visit of no class coded is quoted as telehealth."""
        patient = reader.read(patient_id)
        if patient.get("resourceType") != "Patient":
            raise NotFound(f"no Patient/{patient_id}")
        fee = self._fee_units(fee_of(priced) or 0)
        kind = service_class(priced) or ServiceClass.TELEHEALTH
        return quote_of(self._coverages.estimate(reader, patient_id, kind, fee), fee, kind)

    def _held(self, repo: Repository, appointment_id: str) -> tuple[Hold, str]:
        """The pending Appointment `prepare_book` held, as a hold, and the id of its patient."""
        appointment = repo.read(appointment_id)
        if appointment.get("resourceType") != "Appointment" or appointment.get("status") != "pending":
            raise Conflict(f"Appointment/{appointment_id} is not held for booking: prepare the booking again")
        (slot_id,) = slot_ids(appointment)
        patient_id = str(subject_of(appointment)["reference"]).removeprefix("Patient/")
        return Hold(appointment, slot_id, self._clock()), patient_id

    def _grantee(self, repo: Repository, appointment: Resource, grantee: Grantee) -> str:
        return self._node if grantee == "node" else practitioner_of(repo, appointment).address

    def _signed_grantee(self, repo: Repository, appointment: Resource, consent: SignedConsent) -> str:
        """Whom the visit's consent may name: the one she signed for if that is its practitioner or this node."""
        named = consent.terms.grantee
        allowed = {self._node.lower(), practitioner_of(repo, appointment).address.lower()}
        return named if named.lower() in allowed else self._grantee(repo, appointment, "practitioner")

    def _check_payment(self, quote: VisitQuote, signed: VisitSignatures) -> None:
        """Her signed escrow terms are for what the quote says she pays (the escrow checks the rest)."""
        if not quote.patient_pays:
            return
        if signed.terms is None or signed.terms_signature is None or signed.permit_signature is None:
            raise ValidationError("the visit has a fee: sign the escrow's permit and terms, and send both signatures")
        amount = VisitTerms.from_typed_data(signed.terms).amount
        if amount != quote.patient_pays:
            raise ValidationError(f"the signed terms hold {amount}, not the {quote.patient_pays} the visit costs her")

    def _hold_fee(self, patient: str, appointment_id: str, signed: VisitSignatures) -> VisitPayment | None:
        if signed.terms is None or signed.terms_signature is None or signed.permit_signature is None:
            return None
        return self._payments.hold(
            patient, appointment_id, signed.terms, signed.permit_signature, signed.terms_signature
        )

    def _undo(self, repo: Repository, hold: Hold, payment: VisitPayment | None, grant: Grant | None) -> str | None:
        """Undo a booking's steps done so far: the fee refunded, the consent revoked (or why it could not be), the
        slot freed. What could not be undone, in words (None: everything was)."""
        if payment is not None:
            self._payments.refund(hold.appointment_id)
        kept = self._consents.withdraw(grant) if grant is not None else None
        self._scheduling.release(repo, hold, "a step of the booking failed")
        return kept

    def _settled(self, appointment: Resource, movement: Callable[[str], VisitPayment]) -> VisitPayment | None:
        """`movement` of the visit's fee, if one is held for it (None if the visit had none)."""
        try:
            self._payments.state(str(appointment["id"]))
        except NotFound:
            return None
        return movement(str(appointment["id"]))


def _window(appointment: Resource) -> VisitWindow:
    """The visit's slot, as its consent's window is reckoned from."""
    start = parse_instant(str(appointment.get("start", "")), "start")
    end = parse_instant(str(appointment.get("end", "")), "end")
    return VisitWindow(int(start.timestamp()), int(end.timestamp()))


def _categories(consent: SignedConsent) -> list[Category]:
    """The categories she picked (the consent's bitmask)."""
    return Category.from_mask(consent.terms.categories)
