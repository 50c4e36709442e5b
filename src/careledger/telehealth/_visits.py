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
respond       the practitioner's AppointmentResponse; a decline cancels as `cancel` does (the whole fee refunded)
no_show       after the slot's end, by the practitioner: the Appointment `noshow`, the published share of the fee to
              the provider, the rest refunded
book_free     a slot booked with no signatures (`$book` of a slot and a patient, a plain FHIR write): only a visit
              she pays nothing for (no fee, or her plan covers it all); else she is told to prepare and sign
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
from careledger.errors import AccessDenied, CareLedgerError, Conflict, InvalidSignature, NotFound, ValidationError
from careledger.records import Category, Resource, StoredRecord
from careledger.telehealth._admission import ACTIVE
from careledger.telehealth._booking import HOLDING, Hold, Scheduling, slot_ids
from careledger.telehealth._encounters import begin, encounter_of, finish
from careledger.telehealth._participants import practitioner_of, subject_of
from careledger.telehealth._payments import Agreed, VisitPayment, VisitPayments
from careledger.telehealth._quotes import VisitQuote, quote_of
from careledger.telehealth._schedule import appointment_window, fee_of, service_class
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

    def book_free(self, repo: Repository, slot_id: str, patient_id: str, *, reason: str | None = None) -> Resource:
        """Book `slot_id` for the patient with no signatures (`Scheduling.book`): a visit she pays nothing for (its
        Schedule has no fee, or her plan covers all of it). One she would pay for is refused in words (`$prepare-book`
        and her signatures book it), so no visit is booked unpaid."""
        self._check_unpaid(repo, patient_id, [slot_id])
        return self._scheduling.book(repo, slot_id, patient_id, reason=reason)

    def written(self, repo: Repository, appointment: Resource) -> StoredRecord:
        """Store an Appointment as the FHIR API's create and update do (`Scheduling.written`). Only the provider
        changes its slot, times, participants or status by hand (the access policy's `may_change_by_hand`: refused,
        audited, for anyone else, who books, moves and cancels through the operations); a status made `cancelled`
        alone cancels the visit as `cancel` does (its fee refunded). Refused as `book_free` refuses if it takes a
        slot she would pay for that it does not hold already (one booked with her signatures keeps its slot)."""
        record_id = str(appointment.get("id", ""))
        before = self._current(repo, record_id)
        decision = self._scheduling.by_hand(repo, before, appointment)
        if not decision.allowed:
            whose = record_id if before is not None else _patient_id(appointment)
            owner = repo.stored(whose).patient_address if whose else repo.accessor.address
            raise repo.refuse(owner, decision.why, "update" if before else "create")
        if before is not None and before.get("status") != "cancelled" and appointment.get("status") == "cancelled":
            self.cancel(repo, record_id, _reason(appointment))
            return repo.stored(record_id)
        if appointment.get("status") in HOLDING:
            kept = self._scheduling.booked_slots(str(appointment.get("id", "")))
            patient = _patient_id(appointment)
            self._check_unpaid(repo, patient, [s for s in slot_ids(appointment) if s not in kept])
        return self._scheduling.written(repo, appointment)

    def book(self, repo: Repository, appointment_id: str, signed: VisitSignatures) -> Booked:
        """Book the held Appointment `appointment_id` with what her wallet signed (`prepare_book`): every signature
        checked first and refused in words before any gas is spent; then the fee held, the consent granted and
        the Appointment booked, or, should a step fail, nothing left half done (the failure raised)."""
        hold, patient_id = self._held(repo, appointment_id)
        quote = self._quote(repo, patient_id, hold.appointment)
        patient, window = repo.stored(patient_id).patient_address, _window(hold.appointment)
        agreed = Agreed(quote.patient_pays, window.start, window.end)
        expected = self._consents.terms(
            patient, self._signed_grantee(repo, hold.appointment, signed.consent), _categories(signed.consent), window
        )
        try:  # all of it before anything changes: a refusal keeps her hold, for her to sign again
            self._consents.check(signed.consent, expected)
            self._consent.check_submittable(signed.consent)
            self._check_payment(quote, signed, patient, appointment_id, agreed)
        except InvalidSignature as wrong:  # she is signed in: what she sent is someone else's signature
            raise AccessDenied(f"{wrong}: sign what $prepare-book gave you with the patient's wallet") from None
        self._scheduling.claim(hold)  # a second submission of this hold stops here, undoing nothing
        try:
            payment = self._hold_fee(patient, appointment_id, signed, agreed)
        except BaseException:
            self._scheduling.release(repo, hold, "the visit's fee could not be held")
            raise
        try:
            grant = self._consents.submit(signed.consent, expected)
        except BaseException as failed:
            _noted(failed, self._undo(repo, hold, payment, None))
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
        visit that took place (fulfilled, missed, its Encounter finished) or whose fee was settled is not cancelled
        (`Conflict`). Only the provider (`Scheduling.provider`: this node, its care team) cancels once the slot has
        begun, as the escrow holds its start (never the Appointment's, which is not what she paid for); anyone
        else, the patient or her delegate, only before it (`Conflict`). The Appointment is written first (that
        write is the caller's right to cancel), then the fee refunded: should the refund fail, cancelling again
        asks for it again."""
        appointment = repo.read(appointment_id)
        if appointment.get("resourceType") != "Appointment":
            raise NotFound(f"no Appointment/{appointment_id}")
        payment = self._payment(appointment_id)
        if appointment.get("status") == "cancelled" and (payment is None or payment.state != "held"):
            return appointment, None
        self._check_cancellable(repo, appointment, payment)
        cancelled = self._scheduling.cancel(repo, appointment_id, reason)
        return cancelled, None if payment is None else self._payments.refund(appointment_id)

    def reschedule(self, repo: Repository, appointment_id: str, slot_id: str) -> Resource:
        """Move a visit to another slot (`Scheduling.reschedule`), unless its fee is in escrow: the escrow's slot
        and her signed terms cannot follow it (nor the visit's consent, signed for its window), so a paid visit is
        cancelled, refunded, and booked again (`Conflict` says so)."""
        if self._payment(appointment_id) is not None:
            raise Conflict(
                f"Appointment/{appointment_id} is paid for its slot: cancel it ($cancel: her fee is refunded) and"
                " book the other slot ($prepare-book)"
            )
        return self._scheduling.reschedule(repo, appointment_id, slot_id)

    def respond(
        self, repo: Repository, appointment_id: str, *, accept: bool, comment: str | None = None
    ) -> tuple[Resource, VisitPayment | None]:
        """The visit's practitioner accepts or declines it (`AccessDenied` for anyone else, who could otherwise
        decline for her to be refunded after the slot began): her AppointmentResponse; a decline cancels the visit
        as `cancel` does (the slot freed, the whole fee refunded: None when none was held)."""
        appointment = self._own_visit(repo, appointment_id, "answers")
        if appointment.get("status") not in ("pending", "booked"):
            raise Conflict(f"Appointment/{appointment_id} is {appointment.get('status')}: there is nothing to answer")
        response = self._scheduling.respond(repo, appointment_id, accept=accept, comment=comment)
        return response, None if accept else self.cancel(repo, appointment_id, comment)[1]

    def no_show(self, repo: Repository, appointment_id: str) -> tuple[Resource, VisitPayment | None]:
        """The patient missed her visit, as its practitioner records after the slot's end (`Conflict` before it;
        `AccessDenied` for anyone else): the Appointment `noshow`, and of its fee the share the terms published
        to the provider, the rest refunded (None: no fee was held). Should the settlement fail, the Appointment
        stays `noshow`: asking again asks for the settlement again (`Conflict` once it was settled)."""
        appointment = self._own_visit(repo, appointment_id, "records a no-show of")
        status = appointment.get("status")
        if status not in ("booked", "noshow"):
            raise Conflict(f"Appointment/{appointment_id} is {status}: only a booked visit can be missed")
        payment = self._payment(appointment_id)  # a paid visit ends when the escrow says, not the Appointment
        if self._clock().timestamp() < (_window(appointment).end if payment is None else payment.ends):
            raise Conflict(f"Appointment/{appointment_id}'s slot has not ended: a no-show is recorded after it")
        if status == "booked":
            self._scheduling.written(repo, {**appointment, "status": "noshow"})
        return repo.read(appointment_id), self._settled(appointment, self._payments.no_show)

    # The visit.

    def join(self, repo: Repository, appointment_id: str) -> Resource:
        """The visit's Encounter, begun by its practitioner (`_encounters.begin`)."""
        return begin(repo, appointment_id, self._clock())

    def finish(self, repo: Repository, appointment_id: str) -> tuple[Resource, VisitPayment | None]:
        """The visit's Encounter finished by its practitioner, its Appointment `fulfilled` through her door (its room
        closes, reminders pass it by, it counts as a visit had), then its fee released to the provider (None: no fee
        was held). Should the release fail, the Encounter stays finished and the error says why: finishing again
        asks for the release again (`Conflict` once the fee was settled)."""
        encounter = finish(repo, appointment_id, self._clock())
        appointment = repo.read(appointment_id)
        if appointment.get("status") in ACTIVE:  # not one finished before, nor one cancelled while under way
            self._scheduling.written(repo, {**appointment, "status": "fulfilled"})
        return encounter, self._settled(appointment, self._payments.release)

    def encounter(self, repo: Repository, appointment_id: str) -> Resource | None:
        """The visit's Encounter, if it has begun (`_encounters.encounter_of`)."""
        return encounter_of(repo, appointment_id)

    # Steps and their undoing.

    def _check_unpaid(self, reader: Repository, patient_id: str | None, slots: Iterable[str]) -> None:
        """Refuse a booking without her signatures of any of `slots` whose Schedule has a fee she would pay (her
        Patient read first, so a refusal tells nothing of the slot to one who may not book for her)."""
        for slot_id in slots:
            schedule = _schedule_of(reader, slot_id)
            fee = fee_of(schedule) if schedule is not None else None
            if schedule is None or not fee:
                continue
            pays = self._quote(reader, patient_id, schedule).patient_pays if patient_id else self._fee_units(fee)
            if pays:
                raise ValidationError(
                    f"Slot/{slot_id} has a fee: the visit costs the patient {pays} base units of CARE. Book it with"
                    " $prepare-book and her signatures of its consent and payment (`careledger visit book`)"
                )

    def _current(self, repo: Repository, record_id: str) -> Resource | None:
        """The Appointment a write would replace, as the caller reads it (None: a new one)."""
        try:
            return repo.read(record_id) if record_id else None
        except NotFound:
            return None

    def _payment(self, appointment_id: str) -> VisitPayment | None:
        """The visit's fee as the escrow holds it: its slot and state (None: no fee was held for it)."""
        try:
            return self._payments.state(appointment_id)
        except NotFound:
            return None

    def _check_cancellable(self, repo: Repository, appointment: Resource, payment: VisitPayment | None) -> None:
        """Refuse to cancel a visit that took place or was settled, or one begun, unless by the provider."""
        appointment_id, status = str(appointment["id"]), appointment.get("status")
        encounter = encounter_of(repo, appointment_id)
        if status in ("fulfilled", "noshow") or (encounter is not None and encounter.get("status") == "finished"):
            raise Conflict(f"Appointment/{appointment_id} took place ({status}): it is settled, not cancelled")
        if payment is not None and payment.state != "held":
            raise Conflict(f"Appointment/{appointment_id}'s fee was already settled: {payment.state}")
        starts = _window(appointment).start if payment is None else payment.starts
        if starts <= self._clock().timestamp() and not self._scheduling.provider(repo):
            raise Conflict(f"Appointment/{appointment_id} has started: ask the practitioner to cancel it")

    def _own_visit(self, repo: Repository, appointment_id: str, does: str) -> Resource:
        """The Appointment, if the caller is its practitioner (else `AccessDenied`: only she `does` it)."""
        appointment = repo.read(appointment_id)
        if appointment.get("resourceType") != "Appointment":
            raise NotFound(f"no Appointment/{appointment_id}")
        if practitioner_of(repo, appointment).address != repo.accessor.address:
            raise AccessDenied(f"only the visit's practitioner {does} it")
        return appointment

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
        slot_id = _the_slot(appointment)
        patient_id = str(subject_of(appointment)["reference"]).removeprefix("Patient/")
        return Hold(appointment, slot_id, self._clock()), patient_id

    def _grantee(self, repo: Repository, appointment: Resource, grantee: Grantee) -> str:
        return self._node if grantee == "node" else practitioner_of(repo, appointment).address

    def _signed_grantee(self, repo: Repository, appointment: Resource, consent: SignedConsent) -> str:
        """Whom the visit's consent may name: the one she signed for if that is its practitioner or this node."""
        named = consent.terms.grantee
        allowed = {self._node.lower(), practitioner_of(repo, appointment).address.lower()}
        return named if named.lower() in allowed else self._grantee(repo, appointment, "practitioner")

    def _check_payment(
        self, quote: VisitQuote, signed: VisitSignatures, patient: str, appointment_id: str, agreed: Agreed
    ) -> None:
        """Her signed escrow terms are for what the quote says she pays, and they and her permit are what the
        escrow would take (`VisitPayments.check`, off chain)."""
        if not quote.patient_pays:
            return
        if signed.terms is None or signed.terms_signature is None or signed.permit_signature is None:
            raise ValidationError("the visit has a fee: sign the escrow's permit and terms, and send both signatures")
        amount = VisitTerms.from_typed_data(signed.terms).amount
        if amount != quote.patient_pays:
            raise ValidationError(f"the signed terms hold {amount}, not the {quote.patient_pays} the visit costs her")
        self._payments.check(
            patient, appointment_id, signed.terms, signed.permit_signature, signed.terms_signature, agreed=agreed
        )

    def _hold_fee(
        self, patient: str, appointment_id: str, signed: VisitSignatures, agreed: Agreed
    ) -> VisitPayment | None:
        """Her fee held in escrow on the terms she signed, if they are the `agreed` ones (None: she pays nothing)."""
        if signed.terms is None or signed.terms_signature is None or signed.permit_signature is None:
            return None
        return self._payments.hold(
            patient, appointment_id, signed.terms, signed.permit_signature, signed.terms_signature, agreed=agreed
        )

    def _undo(self, repo: Repository, hold: Hold, payment: VisitPayment | None, grant: Grant | None) -> str | None:
        """Undo a booking's steps done so far: the fee refunded, the consent revoked (or why it could not be), the
        slot freed, each tried whatever became of the others (a refund that fails leaves no consent granted nor slot
        held), and none raising over the booking's own failure. What could not be undone, in words (None:
        everything was)."""
        steps: list[tuple[str, Callable[[], object]]] = []
        if payment is not None:
            steps.append(("the fee's refund", lambda: self._payments.refund(hold.appointment_id)))
        if grant is not None:
            steps.append(("the consent's withdrawal", lambda: self._consents.withdraw(grant)))
        steps.append(
            ("the slot's release", lambda: self._scheduling.release(repo, hold, "a step of the booking failed"))
        )
        kept: list[str] = []
        for step, undo in steps:
            try:
                said = undo()
            except Exception as failed:  # reported with the booking's failure, which is raised
                kept.append(f"{step} failed: {failed}")
                continue
            if isinstance(said, str):  # the consent stays granted: why
                kept.append(said)
        return "; ".join(kept) or None

    def _settled(self, appointment: Resource, movement: Callable[[str], VisitPayment]) -> VisitPayment | None:
        """`movement` of the visit's fee, if one is held for it (None if the visit had none)."""
        try:
            self._payments.state(str(appointment["id"]))
        except NotFound:
            return None
        return movement(str(appointment["id"]))


def _noted(failure: BaseException, kept: str | None) -> None:
    """Note on a booking's failure what its undoing left undone (`Visits._undo`), for it to be raised as it was."""
    if kept:
        failure.add_note(f"not undone: {kept}")


def _window(appointment: Resource) -> VisitWindow:
    """The visit's slot (`appointment_window`, as the room reckons it), as its consent's window is reckoned from."""
    start, end = appointment_window(appointment)
    return VisitWindow(int(start.timestamp()), int(end.timestamp()))


def _the_slot(appointment: Resource) -> str:
    """The id of the one Slot a visit's Appointment takes; `Conflict` for one that names none or several (edited by
    hand: no visit to book or pay for)."""
    found = slot_ids(appointment)
    if len(found) != 1:
        raise Conflict(f"Appointment/{str(appointment.get('id', ''))[:64]} names {len(found)} slots, not a visit's one")
    return found[0]


def _reason(appointment: Resource) -> str | None:
    """The text of an Appointment's cancellation reason, if it gives one."""
    reason = appointment.get("cancelationReason")
    text = reason.get("text") if isinstance(reason, dict) else None
    return text if isinstance(text, str) else None


def _patient_id(appointment: Resource) -> str | None:
    """The id of the Patient an Appointment is for (None if it names none)."""
    try:
        return str(subject_of(appointment)["reference"]).removeprefix("Patient/")
    except ValidationError:
        return None


def _schedule_of(reader: Repository, slot_id: str) -> Resource | None:
    """The Schedule of Slot `slot_id` (None for a record that is no Slot: the scheduling refuses it)."""
    slot = reader.read(slot_id)
    if slot.get("resourceType") != "Slot":
        return None
    return reader.read(str(slot.get("schedule", {}).get("reference", "")).removeprefix("Schedule/"))


def _categories(consent: SignedConsent) -> list[Category]:
    """The categories she picked (the consent's bitmask)."""
    return Category.from_mask(consent.terms.categories)
