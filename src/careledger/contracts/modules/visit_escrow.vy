# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Visit escrow
@custom:contract-name visit_escrow
@license GNU Affero General Public License v3.0 or later
@notice A telehealth visit's fee, held in CareToken from booking until
        the visit is settled, modelled on a marketplace's escrow. The
        contract books a visit (`_hold`, under the patient's signed
        terms); then exactly one movement settles it: the provider
        releases the fee to the payee once the slot has started, or
        refunds it in full (its own cancellation); the patient cancels
        before the slot starts for a full refund; after the slot ends
        the provider may record a no-show, which pays the payee the
        published share (rounded down) and the patient the rest; if the
        provider never settles, anyone may return the fee to the patient
        `GRACE` after the slot's end. No one else can move the money:
        there is no owner and no pause.

        A visit's id is keccak256(provider ‖ reference), the reference a
        hash the provider picks, so no one can take another provider's
        ids. Only addresses, amounts and times are stored: no protected
        health information.
"""


from ethereum.ercs import IERC20

from . import packing


# @dev A visit's states; 0 is a visit id never used.
_UNUSED: constant(uint8) = 0
HELD: public(constant(uint8)) = 1
RELEASED: public(constant(uint8)) = 2
REFUNDED: public(constant(uint8)) = 3
NO_SHOW: public(constant(uint8)) = 4
RECLAIMED: public(constant(uint8)) = 5


# @dev How long after a slot's end the patient must wait to take back a
#      fee the provider never settled.
GRACE: public(constant(uint256)) = 30 * 86400


# @dev The whole fee, in basis points.
_BPS: constant(uint256) = 10_000


# @dev Offsets of the packed words below.
_AMOUNT: constant(uint256) = 160
_STARTS: constant(uint256) = 160
_NO_SHOW_BPS: constant(uint256) = 224
_STATE: constant(uint256) = 240
_ENDS: constant(uint256) = 160


# @dev A visit, as the `visit` view returns it; `to_payee` and
#      `to_patient` are what its settlement paid each (0 while held).
struct Visit:
    patient: address
    provider: address
    payee: address
    amount: uint256
    starts: uint64
    ends: uint64
    no_show_bps: uint16
    state: uint8
    to_payee: uint256
    to_patient: uint256


# @dev A fee taken from the patient and held for a booked visit.
event VisitHeld:
    visit_id: indexed(bytes32)
    patient: indexed(address)
    provider: indexed(address)
    payee: address
    amount: uint256
    starts: uint64
    ends: uint64
    no_show_bps: uint16


# @dev A fee paid to the payee: the visit happened.
event VisitReleased:
    visit_id: indexed(bytes32)
    payee: indexed(address)
    amount: uint256


# @dev A fee returned in full; `by` (the provider or the patient) cancelled.
event VisitRefunded:
    visit_id: indexed(bytes32)
    patient: indexed(address)
    amount: uint256
    by: address


# @dev A no-show settled: the payee's share and the rest returned.
event VisitNoShow:
    visit_id: indexed(bytes32)
    payee: indexed(address)
    patient: indexed(address)
    to_payee: uint256
    to_patient: uint256


# @dev A fee nobody settled, returned to the patient after the grace period.
event VisitReclaimed:
    visit_id: indexed(bytes32)
    patient: indexed(address)
    amount: uint256


# @dev The token fees are paid in (CareToken).
TOKEN: public(immutable(address))

# @dev Per visit id: patient (bits 0-159) | amount (160-255).
_parties: HashMap[bytes32, uint256]

# @dev Per visit id: payee (0-159) | starts (160-223) | no-show share in
#      basis points (224-239) | state (240-247).
_terms: HashMap[bytes32, uint256]

# @dev Per visit id: provider (0-159) | ends (160-223).
_provider: HashMap[bytes32, uint256]


@deploy
def __init__(token: address):
    """
    @dev Bind the escrow to the token fees are paid in.
    @param token CareToken.
    """
    TOKEN = token


@internal
def _hold(
    visit_id: bytes32, patient: address, payee: address, amount: uint256, starts: uint64, ends: uint64, no_show_bps: uint16
):
    """
    @dev Record a visit booked by the caller, its provider, and take its
         fee from the patient (who allowed it). Refuses a visit id already
         used, an amount of 0, a slot already over, a share above 100%.
    """
    assert self._terms[visit_id] == 0, "escrow: visit id already used"
    assert amount != 0, "escrow: nothing to hold"
    assert amount <= packing.U96, "escrow: amount too large"
    assert patient != empty(address) and payee != empty(address), "escrow: no patient or payee"
    assert starts < ends and convert(ends, uint256) > block.timestamp, "escrow: invalid slot"
    assert convert(no_show_bps, uint256) <= _BPS, "escrow: no-show share above 100%"
    self._parties[visit_id] = convert(patient, uint256) | (amount << _AMOUNT)
    self._terms[visit_id] = (
        convert(payee, uint256)
        | (convert(starts, uint256) << _STARTS)
        | (convert(no_show_bps, uint256) << _NO_SHOW_BPS)
        | (convert(HELD, uint256) << _STATE)
    )
    self._provider[visit_id] = convert(msg.sender, uint256) | (convert(ends, uint256) << _ENDS)
    log VisitHeld(
        visit_id=visit_id,
        patient=patient,
        provider=msg.sender,
        payee=payee,
        amount=amount,
        starts=starts,
        ends=ends,
        no_show_bps=no_show_bps,
    )
    assert extcall IERC20(TOKEN).transferFrom(patient, self, amount, default_return_value=True), "escrow: transfer failed"


@external
@nonreentrant
def release(visit_id: bytes32):
    """
    @notice Pay the fee to the payee: the visit happened (the provider
            only, once the slot has started).
    @param visit_id The visit.
    """
    visit: Visit = self._held_by_provider(visit_id)
    assert block.timestamp >= convert(visit.starts, uint256), "escrow: the visit has not started"
    self._settle(visit_id, RELEASED)
    log VisitReleased(visit_id=visit_id, payee=visit.payee, amount=visit.amount)
    self._pay(visit.payee, visit.amount)


@external
@nonreentrant
def refund(visit_id: bytes32):
    """
    @notice Return the whole fee to the patient: the provider cancelled
            (the provider only, at any time while the fee is held).
    @param visit_id The visit.
    """
    visit: Visit = self._held_by_provider(visit_id)
    self._refund(visit_id, visit, msg.sender)


@external
@nonreentrant
def cancel(visit_id: bytes32):
    """
    @notice Return the whole fee to the patient, who cancels before the
            slot starts (the patient only).
    @param visit_id The visit.
    """
    visit: Visit = self._held(visit_id)
    assert msg.sender == visit.patient, "escrow: caller is not the patient"
    self._cancel(visit_id, visit)


@external
@nonreentrant
def no_show(visit_id: bytes32):
    """
    @notice Settle a visit the patient did not attend: the payee gets the
            published share (rounded down), the patient the rest (the
            provider only, after the slot's end).
    @param visit_id The visit.
    """
    visit: Visit = self._held_by_provider(visit_id)
    assert block.timestamp >= convert(visit.ends, uint256), "escrow: the slot has not ended"
    to_payee: uint256 = visit.amount * convert(visit.no_show_bps, uint256) // _BPS
    to_patient: uint256 = visit.amount - to_payee
    self._settle(visit_id, NO_SHOW)
    log VisitNoShow(visit_id=visit_id, payee=visit.payee, patient=visit.patient, to_payee=to_payee, to_patient=to_patient)
    self._pay(visit.payee, to_payee)
    self._pay(visit.patient, to_patient)


@external
@nonreentrant
def reclaim(visit_id: bytes32):
    """
    @notice Return a fee the provider never settled to the patient, from
            `GRACE` after the slot's end (anyone may call: the money goes
            to the patient alone).
    @param visit_id The visit.
    """
    visit: Visit = self._held(visit_id)
    assert block.timestamp >= convert(visit.ends, uint256) + GRACE, "escrow: the grace period has not passed"
    self._settle(visit_id, RECLAIMED)
    log VisitReclaimed(visit_id=visit_id, patient=visit.patient, amount=visit.amount)
    self._pay(visit.patient, visit.amount)


@external
@view
def visit(visit_id: bytes32) -> Visit:
    """
    @notice A visit's terms, state, and what its settlement paid.
    @param visit_id The visit.
    @return The visit (all zero, state 0, if there is none).
    """
    visit: Visit = self._visit(visit_id)
    if visit.state == RELEASED:
        visit.to_payee = visit.amount
    elif visit.state == REFUNDED or visit.state == RECLAIMED:
        visit.to_patient = visit.amount
    elif visit.state == NO_SHOW:
        visit.to_payee = visit.amount * convert(visit.no_show_bps, uint256) // _BPS
        visit.to_patient = visit.amount - visit.to_payee
    return visit


@external
@view
def visit_id_of(provider: address, reference: bytes32) -> bytes32:
    """
    @notice The id of the visit `provider` books under `reference`.
    @param provider The provider.
    @param reference Its reference of the visit.
    @return keccak256(provider ‖ reference).
    """
    return keccak256(concat(convert(provider, bytes20), reference))


@internal
@view
def _visit(visit_id: bytes32) -> Visit:
    """
    @dev A visit unpacked from its three words.
    """
    parties: uint256 = self._parties[visit_id]
    terms: uint256 = self._terms[visit_id]
    provider: uint256 = self._provider[visit_id]
    return Visit(
        patient=convert(convert(parties & packing.U160, uint160), address),
        provider=convert(convert(provider & packing.U160, uint160), address),
        payee=convert(convert(terms & packing.U160, uint160), address),
        amount=parties >> _AMOUNT,
        starts=convert(packing._field(terms, _STARTS, packing.U64), uint64),
        ends=convert(packing._field(provider, _ENDS, packing.U64), uint64),
        no_show_bps=convert(packing._field(terms, _NO_SHOW_BPS, packing.U16), uint16),
        state=convert(packing._field(terms, _STATE, packing.U8), uint8),
        to_payee=0,
        to_patient=0,
    )


@internal
@view
def _held(visit_id: bytes32) -> Visit:
    """
    @dev The visit, if its fee is still held.
    """
    visit: Visit = self._visit(visit_id)
    assert visit.state != _UNUSED, "escrow: no such visit"
    assert visit.state == HELD, "escrow: visit already settled"
    return visit


@internal
@view
def _held_by_provider(visit_id: bytes32) -> Visit:
    """
    @dev The visit, if its fee is held and the caller is its provider.
    """
    visit: Visit = self._held(visit_id)
    assert msg.sender == visit.provider, "escrow: caller is not the visit's provider"
    return visit


@internal
def _cancel(visit_id: bytes32, visit: Visit):
    """
    @dev Refund a visit its patient cancels, before its slot starts.
    """
    assert block.timestamp < convert(visit.starts, uint256), "escrow: the visit has started"
    self._refund(visit_id, visit, visit.patient)


@internal
def _refund(visit_id: bytes32, visit: Visit, by: address):
    """
    @dev Return the whole fee to the patient; `by` cancelled the visit.
    """
    self._settle(visit_id, REFUNDED)
    log VisitRefunded(visit_id=visit_id, patient=visit.patient, amount=visit.amount, by=by)
    self._pay(visit.patient, visit.amount)


@internal
def _settle(visit_id: bytes32, state: uint8):
    """
    @dev Mark the visit settled; callers pay after.
    """
    self._terms[visit_id] = packing._with_field(self._terms[visit_id], _STATE, packing.U8, convert(state, uint256))


@internal
def _pay(to: address, amount: uint256):
    """
    @dev Transfer `amount` of the token, if any.
    """
    if amount != 0:
        assert extcall IERC20(TOKEN).transfer(to, amount, default_return_value=True), "escrow: transfer failed"
