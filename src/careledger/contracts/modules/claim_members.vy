# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims: network and enrolment
@custom:contract-name claim_members
@license GNU Affero General Public License v3.0 or later
@notice Who a plan deals with: the providers an insurer admits to a
        plan's network, and the patients it enrols for a period, with
        each member's deductible and out-of-pocket accumulators.
"""


from snekmate.utils import pausable
uses: pausable

from . import claim_plans as plans
uses: plans

from . import packing
from . import roles


# @dev X12 claim adjustment reason codes of eligibility denials.
CARC_BEFORE_COVERAGE: public(constant(uint16)) = 26
CARC_AFTER_COVERAGE: public(constant(uint16)) = 27
CARC_FILING_LIMIT: public(constant(uint16)) = 29
CARC_NOT_INSURED: public(constant(uint16)) = 31


# @dev A member's enrolment and accumulators for the period.
struct Enrolment:
    plan_id: uint32
    start: uint64
    end: uint64
    deductible_met: uint256
    out_of_pocket: uint256


event NetworkChanged:
    plan_id: indexed(uint32)
    provider: indexed(address)
    in_network: bool


event MemberEnrolled:
    member: indexed(address)
    plan_id: indexed(uint32)
    start: uint64
    end: uint64


# @dev Field offsets. Enrolment: plan (32 bits) | start (64) | end (64).
#      Accumulators: deductible met (96) | out of pocket (96) | the
#      enrolled bit, set so that the first claim of a period updates a
#      used slot rather than a fresh one.
_START: constant(uint256) = 32
_END: constant(uint256) = 96
_OUT_OF_POCKET: constant(uint256) = 96
_ENROLLED_BIT: constant(uint256) = 1 << 255


_network: HashMap[uint32, HashMap[address, bool]]
_enrolment: HashMap[address, uint256]
_accumulators: HashMap[address, uint256]


@external
@nonreentrant
def set_network(plan_id: uint32, provider: address, in_network: bool):
    """
    @notice Admit a registered provider to the plan's network, or remove
            it (the plan's insurer only).
    @dev Only network providers request authorizations and are paid for claims.
    @param plan_id The plan.
    @param provider An organisation, practitioner, lab or pharmacy in the IdentityRegistry.
    @param in_network Admit (True) or remove (False).
    """
    pausable._require_not_paused()
    plans._check_insurer(plan_id)
    if in_network:
        role: uint8 = staticcall roles.IIdentityRegistry(plans.IDENTITY).role_of(provider)
        assert role in [roles.ORG, roles.PRACTITIONER, roles.LAB, roles.PHARMACY], "claims: not a registered provider"
    self._network[plan_id][provider] = in_network
    log NetworkChanged(plan_id=plan_id, provider=provider, in_network=in_network)


@external
@nonreentrant
def enroll(member: address, plan_id: uint32, start: uint64, end: uint64):
    """
    @notice Enrol a registered patient in a plan for [start, end], inside
            the plan's coverage period (the plan's insurer only).
    @dev The member's accumulators start again at zero, so a new
         enrolment may not overlap the current one.
    @param member A patient in the IdentityRegistry.
    @param plan_id The plan.
    @param start The first second of the enrolment.
    @param end The last second of the enrolment.
    """
    pausable._require_not_paused()
    plans._check_insurer(plan_id)
    assert staticcall roles.IIdentityRegistry(plans.IDENTITY).role_of(member) == roles.PATIENT, "claims: member is not a registered patient"
    coverage_start: uint256 = 0
    coverage_end: uint256 = 0
    coverage_start, coverage_end = plans._coverage(plan_id)
    assert start < end, "claims: empty enrolment period"
    assert convert(start, uint256) >= coverage_start, "claims: enrolment starts before the plan's coverage"
    assert convert(end, uint256) <= coverage_end, "claims: enrolment ends after the plan's coverage"
    current: uint256 = self._enrolment[member]
    assert current == 0 or packing._field(current, _END, packing.U64) < convert(start, uint256), "claims: member is enrolled for part of this period"
    enrolment: uint256 = packing._with_field(convert(plan_id, uint256), _START, packing.U64, convert(start, uint256))
    self._enrolment[member] = packing._with_field(enrolment, _END, packing.U64, convert(end, uint256))
    self._accumulators[member] = _ENROLLED_BIT
    log MemberEnrolled(member=member, plan_id=plan_id, start=start, end=end)


@external
@view
def enrolment(member: address) -> Enrolment:
    """
    @notice A member's current enrolment and accumulators.
    @param member The member.
    @return The enrolment (all zero if none).
    """
    enrolment: uint256 = self._enrolment[member]
    accumulators: uint256 = self._accumulators[member]
    return Enrolment(
        plan_id=convert(enrolment & packing.U32, uint32),
        start=convert(packing._field(enrolment, _START, packing.U64), uint64),
        end=convert(packing._field(enrolment, _END, packing.U64), uint64),
        deductible_met=accumulators & packing.U96,
        out_of_pocket=packing._field(accumulators, _OUT_OF_POCKET, packing.U96),
    )


@internal
@view
def _plan_of(member: address) -> uint32:
    """
    @dev The plan the member is enrolled in (0: none).
    """
    return convert(self._enrolment[member] & packing.U32, uint32)


@internal
@view
def _in_network(plan_id: uint32, provider: address) -> bool:
    return self._network[plan_id][provider]


@internal
@view
def _eligibility(member: address, service_date: uint64) -> uint16:
    """
    @dev 0 if the member's enrolment covers the service date and the
         claim is within the filing limit, else the reason code of the
         denial.
    """
    enrolment: uint256 = self._enrolment[member]
    if enrolment == 0:
        return CARC_NOT_INSURED
    date: uint256 = convert(service_date, uint256)
    if date < (enrolment >> _START) & packing.U64:
        return CARC_BEFORE_COVERAGE
    if date > (enrolment >> _END) & packing.U64:
        return CARC_AFTER_COVERAGE
    if block.timestamp > date + plans.FILING_LIMIT:
        return CARC_FILING_LIMIT
    return 0


@internal
@view
def _member_share(member: address, plan_id: uint32, allowed: uint256) -> (uint256, uint256):
    """
    @dev How much of `allowed` the member pays, and how much of that
         counts towards the deductible, against her accumulators:
         deductible first, then coinsurance on the rest (rounded down,
         in her favour), the total capped by what is left of the
         out-of-pocket maximum.
    """
    accumulators: uint256 = self._accumulators[member]
    deductible_max: uint256 = 0
    oop_max: uint256 = 0
    coinsurance_bps: uint256 = 0
    deductible_max, oop_max, coinsurance_bps = plans._cost_sharing(plan_id)
    deductible: uint256 = min(allowed, deductible_max - (accumulators & packing.U96))
    coinsurance: uint256 = (allowed - deductible) * coinsurance_bps // plans.BASIS_POINTS
    patient: uint256 = min(deductible + coinsurance, oop_max - ((accumulators >> _OUT_OF_POCKET) & packing.U96))
    return patient, min(deductible, patient)


@internal
def _accumulate(member: address, deductible: uint256, patient: uint256):
    """
    @dev Count a paid claim's deductible and member share.
    """
    self._accumulators[member] += deductible + (patient << _OUT_OF_POCKET)
