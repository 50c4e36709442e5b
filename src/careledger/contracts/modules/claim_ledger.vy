# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims: the claim ledger
@custom:contract-name claim_ledger
@license GNU Affero General Public License v3.0 or later
@notice Every claim's state, packed into three storage words, and the
        event that announces each decision. A claim's id is
        keccak256(provider, commitment), so the same claim cannot be
        paid twice and no one can take a provider's id first.
"""


from . import claim_plans as plans
uses: plans

from . import packing


# @dev Claim statuses. PENDED, AWAITING_FUNDS and APPEALED are open.
PAID: public(constant(uint8)) = 1
PENDED: public(constant(uint8)) = 2
AWAITING_FUNDS: public(constant(uint8)) = 3
DENIED: public(constant(uint8)) = 4
APPEALED: public(constant(uint8)) = 5


# @dev Flags of a claim.
APPEALED_FLAG: constant(uint256) = 1
PATIENT_PAID_FLAG: constant(uint256) = 2


# @dev A claim, as stored and as the `claim` view returns it.
struct Claim:
    provider: address
    member: address
    plan_id: uint32
    service_class: uint8
    status: uint8
    reason: uint16
    flags: uint8
    billed: uint256
    payer_share: uint256
    patient_share: uint256
    service_date: uint64


# @dev How one claim's allowed amount is shared.
struct Shares:
    allowed: uint256
    deductible: uint256
    coinsurance: uint256
    payer: uint256
    patient: uint256


event ClaimAdjudicated:
    claim_id: indexed(bytes32)
    plan_id: indexed(uint32)
    status: uint8
    reason: uint16
    allowed: uint256
    deductible: uint256
    coinsurance: uint256
    payer_share: uint256
    patient_share: uint256


# @dev Field offsets. Head: provider (160 bits) | plan (32) | class (8) |
#      status (8) | reason (16) | flags (8). Member: member (160) |
#      billed (96). Shares: payer share (96) | patient share (96) |
#      service date (64).
_PLAN: constant(uint256) = 160
_CLASS: constant(uint256) = 192
_STATUS: constant(uint256) = 200
_REASON: constant(uint256) = 208
_FLAGS: constant(uint256) = 224
_BILLED: constant(uint256) = 160
_PATIENT_SHARE: constant(uint256) = 96
_SERVICE_DATE: constant(uint256) = 192


_claim_head: HashMap[bytes32, uint256]
_claim_member: HashMap[bytes32, uint256]
_claim_shares: HashMap[bytes32, uint256]


@external
@view
def claim(claim_id: bytes32) -> Claim:
    """
    @notice A claim by its id.
    @param claim_id The claim's id.
    @return The claim (status 0 if there is none).
    """
    return self._unpack(claim_id)


@external
@pure
def claim_id_of(provider: address, commitment: bytes32) -> bytes32:
    """
    @notice The id of a provider's claim.
    @param provider The provider that submits it.
    @param commitment The salted commitment of the off-chain FHIR Claim.
    @return keccak256(provider, commitment).
    """
    return self._claim_id(provider, commitment)


@internal
@pure
def _claim_id(provider: address, commitment: bytes32) -> bytes32:
    return keccak256(concat(convert(provider, bytes20), commitment))


@internal
@view
def _exists(claim_id: bytes32) -> bool:
    return self._claim_head[claim_id] != 0


@internal
@view
def _claim(claim_id: bytes32) -> Claim:
    claim: Claim = self._unpack(claim_id)
    assert claim.status != 0, "claims: no such claim"
    return claim


@internal
def _record(claim_id: bytes32, claim: Claim, shares: Shares, previous: uint8):
    """
    @dev Store a claim's new state, keep the plan's open-claim count,
         and announce the decision. `previous` is the status it had (0
         for a new claim).
    """
    plans._count_open(claim.plan_id, self._is_open(previous), self._is_open(claim.status))
    self._store_head(claim_id, claim)
    if previous == 0:
        self._claim_member[claim_id] = convert(claim.member, uint256) | (claim.billed << _BILLED)
    self._claim_shares[claim_id] = (
        claim.payer_share
        | (claim.patient_share << _PATIENT_SHARE)
        | (convert(claim.service_date, uint256) << _SERVICE_DATE)
    )
    log ClaimAdjudicated(
        claim_id=claim_id,
        plan_id=claim.plan_id,
        status=claim.status,
        reason=claim.reason,
        allowed=shares.allowed,
        deductible=shares.deductible,
        coinsurance=shares.coinsurance,
        payer_share=shares.payer,
        patient_share=shares.patient,
    )


@internal
def _store_head(claim_id: bytes32, claim: Claim):
    """
    @dev Store the word that changes with every decision (and a flag).
         Every field is typed to its width, so none can spill over.
    """
    self._claim_head[claim_id] = (
        convert(claim.provider, uint256)
        | (convert(claim.plan_id, uint256) << _PLAN)
        | (convert(claim.service_class, uint256) << _CLASS)
        | (convert(claim.status, uint256) << _STATUS)
        | (convert(claim.reason, uint256) << _REASON)
        | (convert(claim.flags, uint256) << _FLAGS)
    )


@internal
@pure
def _is_open(status: uint8) -> bool:
    return status == PENDED or status == AWAITING_FUNDS or status == APPEALED


@internal
@view
def _unpack(claim_id: bytes32) -> Claim:
    head: uint256 = self._claim_head[claim_id]
    member: uint256 = self._claim_member[claim_id]
    shares: uint256 = self._claim_shares[claim_id]
    return Claim(
        provider=convert(head & packing.U160, address),
        member=convert(member & packing.U160, address),
        plan_id=convert(packing._field(head, _PLAN, packing.U32), uint32),
        service_class=convert(packing._field(head, _CLASS, packing.U8), uint8),
        status=convert(packing._field(head, _STATUS, packing.U8), uint8),
        reason=convert(packing._field(head, _REASON, packing.U16), uint16),
        flags=convert(packing._field(head, _FLAGS, packing.U8), uint8),
        billed=member >> _BILLED,
        payer_share=shares & packing.U96,
        patient_share=packing._field(shares, _PATIENT_SHARE, packing.U96),
        service_date=convert(shares >> _SERVICE_DATE, uint64),
    )
