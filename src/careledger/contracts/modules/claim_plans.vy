# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims: plans and escrow
@custom:contract-name claim_plans
@license GNU Affero General Public License v3.0 or later
@notice An insurer's plans: the token a plan pays in, its fee schedule
        (the allowed amount per service class), its cost sharing and
        coverage period, the classes that need prior authorization and
        a manual-review threshold. The escrow that pays its claims
        shares the plan's first word (modules/claim_escrow.vy). The
        other claims modules read a plan through the helpers here.
"""


from snekmate.utils import pausable
uses: pausable

from . import packing
from . import roles


# @dev Service classes are 0..15; a plan's prior-authorization classes are a bitmask.
SERVICE_CLASSES: public(constant(uint256)) = 16


# @dev Claims are accepted up to a year after the service; a plan's
#      escrow may be withdrawn once its last claims are past that.
FILING_LIMIT: public(constant(uint256)) = 365 * 86400


BASIS_POINTS: constant(uint256) = 10000


# @dev A plan, as the `plan` view returns it.
struct Plan:
    insurer: address
    token: address
    escrow: uint256
    deductible: uint256
    coinsurance_bps: uint16
    oop_max: uint256
    coverage_start: uint64
    coverage_end: uint64
    preauth_classes: uint16
    review_threshold: uint256
    open_claims: uint256


event PlanCreated:
    plan_id: indexed(uint32)
    insurer: indexed(address)
    token: address
    deductible: uint256
    coinsurance_bps: uint16
    oop_max: uint256
    coverage_start: uint64
    coverage_end: uint64


event PlanTermsSet:
    plan_id: indexed(uint32)
    allowed: uint96[SERVICE_CLASSES]
    preauth_classes: uint16
    review_threshold: uint256


# @dev The IdentityRegistry that says who is an insurer, provider or patient.
IDENTITY: public(immutable(address))


# @dev The number of plans; plan ids are 1..plan_count.
plan_count: public(uint32)


# @dev Field offsets of a plan's words. Funds: token (160 bits) |
#      escrow (96). Costs: deductible (96) | out-of-pocket maximum (96) |
#      coinsurance in basis points (16) | prior-authorization classes (16).
#      Review: threshold (96) | coverage start (64) | coverage end (64).
_ESCROW: constant(uint256) = 160
_OOP_MAX: constant(uint256) = 96
_COINSURANCE: constant(uint256) = 192
_PREAUTH_CLASSES: constant(uint256) = 208
_COVERAGE_START: constant(uint256) = 96
_COVERAGE_END: constant(uint256) = 160


_plan_insurer: HashMap[uint32, address]
_plan_funds: HashMap[uint32, uint256]
_plan_costs: HashMap[uint32, uint256]
_plan_review: HashMap[uint32, uint256]
_plan_open_claims: HashMap[uint32, uint256]
_allowed: HashMap[uint32, HashMap[uint256, uint256]]


@deploy
def __init__(identity: address):
    """
    @dev Bind the plans to the IdentityRegistry that vouches for insurers.
    @param identity The IdentityRegistry's address.
    """
    assert identity != empty(address), "claims: no identity registry"
    IDENTITY = identity


@external
@nonreentrant
def create_plan(
    token: address,
    allowed: uint96[SERVICE_CLASSES],
    deductible: uint96,
    coinsurance_bps: uint16,
    oop_max: uint96,
    coverage_start: uint64,
    coverage_end: uint64,
    preauth_classes: uint16,
    review_threshold: uint96,
) -> uint32:
    """
    @notice Register a plan; the caller, an insurer, owns it.
    @dev The cost sharing and the coverage period are fixed for the
         plan's life (members' accumulators count against them); the
         fee schedule, prior-authorization classes and review threshold
         may change later. A review threshold of 0 reviews nothing.
    @param token The ERC-20 the plan pays in.
    @param allowed The allowed amount per service class (0: not covered).
    @param deductible What a member pays first in a period.
    @param coinsurance_bps The member's share after the deductible, in basis points.
    @param oop_max The most a member pays in a period.
    @param coverage_start The first second of coverage.
    @param coverage_end The last second of coverage.
    @param preauth_classes A bitmask of the classes that need prior authorization.
    @param review_threshold Allowed amounts above it wait for the insurer (0: none).
    @return The new plan's id.
    """
    pausable._require_not_paused()
    assert staticcall roles.IIdentityRegistry(IDENTITY).role_of(msg.sender) == roles.INSURER, "claims: not an insurer"
    assert token.is_contract, "claims: token is not a contract"
    assert convert(coinsurance_bps, uint256) <= BASIS_POINTS, "claims: coinsurance over 100%"
    assert deductible <= oop_max, "claims: deductible above the out-of-pocket maximum"
    assert coverage_start < coverage_end, "claims: empty coverage period"
    plan_id: uint32 = self.plan_count + 1
    self.plan_count = plan_id
    self._plan_insurer[plan_id] = msg.sender
    self._plan_funds[plan_id] = convert(token, uint256)
    costs: uint256 = packing._with_field(convert(deductible, uint256), _OOP_MAX, packing.U96, convert(oop_max, uint256))
    self._plan_costs[plan_id] = packing._with_field(costs, _COINSURANCE, packing.U16, convert(coinsurance_bps, uint256))
    review: uint256 = packing._with_field(0, _COVERAGE_START, packing.U64, convert(coverage_start, uint256))
    self._plan_review[plan_id] = packing._with_field(review, _COVERAGE_END, packing.U64, convert(coverage_end, uint256))
    log PlanCreated(
        plan_id=plan_id,
        insurer=msg.sender,
        token=token,
        deductible=convert(deductible, uint256),
        coinsurance_bps=coinsurance_bps,
        oop_max=convert(oop_max, uint256),
        coverage_start=coverage_start,
        coverage_end=coverage_end,
    )
    self._set_terms(plan_id, allowed, preauth_classes, review_threshold)
    return plan_id


@external
@nonreentrant
def set_plan_terms(plan_id: uint32, allowed: uint96[SERVICE_CLASSES], preauth_classes: uint16, review_threshold: uint96):
    """
    @notice Replace a plan's fee schedule, prior-authorization classes and
            review threshold (its insurer only).
    @dev Claims already decided keep their shares; open claims are
         settled under the new terms.
    @param plan_id The plan.
    @param allowed The allowed amount per service class (0: not covered).
    @param preauth_classes A bitmask of the classes that need prior authorization.
    @param review_threshold Allowed amounts above it wait for the insurer (0: none).
    """
    pausable._require_not_paused()
    self._check_insurer(plan_id)
    self._set_terms(plan_id, allowed, preauth_classes, review_threshold)


@external
@view
def plan(plan_id: uint32) -> Plan:
    """
    @notice A plan's terms, escrow and number of open claims.
    @param plan_id The plan.
    @return The plan (all zero if there is none).
    """
    costs: uint256 = self._plan_costs[plan_id]
    review: uint256 = self._plan_review[plan_id]
    return Plan(
        insurer=self._plan_insurer[plan_id],
        token=self._token(plan_id),
        escrow=self._escrow(plan_id),
        deductible=costs & packing.U96,
        coinsurance_bps=convert(packing._field(costs, _COINSURANCE, packing.U16), uint16),
        oop_max=packing._field(costs, _OOP_MAX, packing.U96),
        coverage_start=convert(packing._field(review, _COVERAGE_START, packing.U64), uint64),
        coverage_end=convert(packing._field(review, _COVERAGE_END, packing.U64), uint64),
        preauth_classes=convert(packing._field(costs, _PREAUTH_CLASSES, packing.U16), uint16),
        review_threshold=review & packing.U96,
        open_claims=self._plan_open_claims[plan_id],
    )


@external
@view
def allowed_amount(plan_id: uint32, service_class: uint8) -> uint256:
    """
    @notice The plan's allowed amount for a service class.
    @param plan_id The plan.
    @param service_class The service class (0..15).
    @return The allowed amount (0: not covered).
    """
    return self._allowed[plan_id][convert(service_class, uint256)]


@internal
def _set_terms(plan_id: uint32, allowed: uint96[SERVICE_CLASSES], preauth_classes: uint16, review_threshold: uint96):
    for index: uint256 in range(SERVICE_CLASSES):
        self._allowed[plan_id][index] = convert(allowed[index], uint256)
    self._plan_costs[plan_id] = packing._with_field(
        self._plan_costs[plan_id], _PREAUTH_CLASSES, packing.U16, convert(preauth_classes, uint256)
    )
    self._plan_review[plan_id] = packing._with_field(
        self._plan_review[plan_id], 0, packing.U96, convert(review_threshold, uint256)
    )
    log PlanTermsSet(
        plan_id=plan_id,
        allowed=allowed,
        preauth_classes=preauth_classes,
        review_threshold=convert(review_threshold, uint256),
    )


@internal
@view
def _token(plan_id: uint32) -> address:
    return convert(self._plan_funds[plan_id] & packing.U160, address)


@internal
@view
def _escrow(plan_id: uint32) -> uint256:
    return self._plan_funds[plan_id] >> _ESCROW


@internal
def _set_escrow(plan_id: uint32, escrow: uint256):
    """
    @dev Callers keep the escrow within 96 bits: funding checks it, and
         debits and withdrawals only lower it.
    """
    self._plan_funds[plan_id] = (self._plan_funds[plan_id] & packing.U160) | (escrow << _ESCROW)


@internal
@view
def _allowed_for(plan_id: uint32, service_class: uint8, billed: uint256) -> uint256:
    """
    @dev What the plan allows of `billed` for the class (0: not covered).
    """
    return min(billed, self._allowed[plan_id][convert(service_class, uint256)])


@internal
@view
def _needs_preauth(plan_id: uint32, service_class: uint8) -> bool:
    return (self._plan_costs[plan_id] >> _PREAUTH_CLASSES) & (1 << convert(service_class, uint256)) != 0


@internal
@view
def _review_threshold(plan_id: uint32) -> uint256:
    return self._plan_review[plan_id] & packing.U96


@internal
@view
def _coverage(plan_id: uint32) -> (uint256, uint256):
    review: uint256 = self._plan_review[plan_id]
    return packing._field(review, _COVERAGE_START, packing.U64), packing._field(review, _COVERAGE_END, packing.U64)


@internal
@view
def _cost_sharing(plan_id: uint32) -> (uint256, uint256, uint256):
    """
    @dev The plan's deductible, out-of-pocket maximum and coinsurance
         (in basis points).
    """
    costs: uint256 = self._plan_costs[plan_id]
    return costs & packing.U96, (costs >> _OOP_MAX) & packing.U96, (costs >> _COINSURANCE) & packing.U16


@internal
def _count_open(plan_id: uint32, was_open: bool, is_open: bool):
    """
    @dev Keep the plan's open-claim count as a claim opens or closes.
    """
    if is_open and not was_open:
        self._plan_open_claims[plan_id] += 1
    elif was_open and not is_open:
        self._plan_open_claims[plan_id] -= 1


@internal
@view
def _check_insurer(plan_id: uint32):
    insurer: address = self._plan_insurer[plan_id]
    assert insurer != empty(address), "claims: no such plan"
    assert msg.sender == insurer, "claims: only the plan's insurer"
