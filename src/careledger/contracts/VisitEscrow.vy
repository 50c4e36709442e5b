# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Visit Escrow
@custom:contract-name VisitEscrow
@license GNU Affero General Public License v3.0 or later
@notice Telehealth visit fees held in CareToken from booking until the
        visit is settled (modules/visit_escrow.vy), booked without gas
        for the patient.

        The provider's node submits `hold` with two signatures of the
        patient: an EIP-2612 permit letting this contract take the fee,
        and EIP-712 `VisitTerms` naming the visit's id, the payee, the
        amount, the slot, the payee's share on a no-show, a deadline and
        her nonce. The visit's id is computed from the caller, so terms
        signed for one provider's visit book nothing for anyone else,
        and a permit replayed alone (by a front-runner) only allows this
        contract to take what signed terms say. She cancels before the
        slot herself, or by a signed `VisitCancellation` the node relays.

        There is no admin: no one but the parties can move a fee.
        No protected health information is stored.
"""


from ethereum.ercs import IERC20

from snekmate.utils import ecdsa

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

from .modules import visit_escrow as escrow
initializes: escrow


exports: (eip712.eip712Domain, escrow.__interface__)


# @dev The EIP-712 type of the terms a patient signs to book a visit.
TERMS_TYPEHASH: public(constant(bytes32)) = keccak256(
    "VisitTerms(bytes32 visitId,address patient,address payee,uint256 amount,uint64 starts,uint64 ends,uint16 noShowBps,uint256 nonce,uint256 deadline)"
)


# @dev The EIP-712 type of a patient's signed cancellation. A visit is
#      cancelled once, so its id is the replay guard: no nonce.
CANCELLATION_TYPEHASH: public(constant(bytes32)) = keccak256("VisitCancellation(bytes32 visitId,uint256 deadline)")


# @dev The nonce each patient's next signed `VisitTerms` must carry.
nonces: public(HashMap[address, uint256])


@deploy
def __init__(token: address):
    """
    @dev Signed terms and cancellations name this contract in their
         EIP-712 domain.
    @param token The token fees are paid in (CareToken).
    """
    eip712.__init__("CareLedger VisitEscrow", "1")
    escrow.__init__(token)


@external
@nonreentrant
def hold(
    reference: bytes32,
    patient: address,
    payee: address,
    amount: uint256,
    starts: uint64,
    ends: uint64,
    no_show_bps: uint16,
    deadline: uint256,
    permit_signature: Bytes[65],
    terms_signature: Bytes[65],
) -> bytes32:
    """
    @notice Book a visit's fee: take `amount` from the patient under her
            permit and hold it until the visit is settled. The caller
            becomes the visit's provider, the only one who settles it.
            Refuses terms the patient did not sign with her next nonce, a
            deadline passed, a permit that neither works nor was already
            used to allow the fee, and what `escrow._hold` refuses (a
            visit id used, an amount of 0, a slot over).
    @dev The permit is tried, not required: if a front-runner submitted
         it first, the allowance it set is there and the fee is taken all
         the same.
    @param reference The provider's reference of the visit (a hash).
    @param patient Who pays.
    @param payee Who is paid when the visit happened.
    @param amount The fee, in the token's smallest unit.
    @param starts When the slot starts (unix seconds).
    @param ends When it ends.
    @param no_show_bps The payee's share of the fee on a no-show, in basis points.
    @param deadline The last second both signatures may be submitted.
    @param permit_signature The patient's 65-byte EIP-2612 permit of
           `amount` to this contract until `deadline`.
    @param terms_signature The patient's 65-byte signature of `VisitTerms`.
    @return The visit's id, keccak256(caller ‖ reference).
    """
    assert block.timestamp <= deadline, "escrow: signature past its deadline"
    visit_id: bytes32 = keccak256(concat(convert(msg.sender, bytes20), reference))
    nonce: uint256 = self.nonces[patient]
    struct_hash: bytes32 = keccak256(
        abi_encode(TERMS_TYPEHASH, visit_id, patient, payee, amount, starts, ends, no_show_bps, nonce, deadline)
    )
    assert self._signer_of(struct_hash, terms_signature) == patient, "escrow: terms not signed by the patient"
    self.nonces[patient] = nonce + 1
    self._permit(patient, amount, deadline, permit_signature)
    escrow._hold(visit_id, patient, payee, amount, starts, ends, no_show_bps)
    return visit_id


@external
@nonreentrant
def cancel_by_signature(visit_id: bytes32, deadline: uint256, signature: Bytes[65]):
    """
    @notice Submit a cancellation the patient signed as EIP-712
            `VisitCancellation`; anyone (her provider's node) may submit
            it before `deadline` and before the slot starts, for a full
            refund.
    @param visit_id The visit.
    @param deadline The last second the signature may be submitted.
    @param signature The patient's 65-byte signature.
    """
    visit: escrow.Visit = escrow._held(visit_id)
    assert block.timestamp <= deadline, "escrow: signature past its deadline"
    struct_hash: bytes32 = keccak256(abi_encode(CANCELLATION_TYPEHASH, visit_id, deadline))
    assert self._signer_of(struct_hash, signature) == visit.patient, "escrow: cancellation not signed by the patient"
    escrow._cancel(visit_id, visit)


@internal
def _permit(patient: address, amount: uint256, deadline: uint256, signature: Bytes[65]):
    """
    @dev Submit the patient's permit, tolerating one already used: what
         counts is that this contract may take `amount`.
    """
    accepted: bool = False
    if len(signature) == 65:
        accepted = raw_call(
            escrow.TOKEN,
            abi_encode(
                patient,
                self,
                amount,
                deadline,
                convert(slice(signature, 64, 1), uint8),
                extract32(signature, 0),
                extract32(signature, 32),
                method_id=method_id("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"),
            ),
            revert_on_failure=False,
        )
    if not accepted:
        assert staticcall IERC20(escrow.TOKEN).allowance(patient, self) >= amount, "escrow: permit refused"


@internal
@view
def _signer_of(struct_hash: bytes32, signature: Bytes[65]) -> address:
    """
    @dev Who signed the typed data of `struct_hash` in this contract's
         domain; a signature that recovers no one is refused here, so an
         empty patient can never match it.
    """
    signer: address = ecdsa._recover_sig(eip712._hash_typed_data_v4(struct_hash), signature)
    assert signer != empty(address), "escrow: invalid signature"
    return signer
