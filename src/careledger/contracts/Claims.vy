# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims
@custom:contract-name Claims
@license GNU Affero General Public License v3.0 or later
@notice Health insurance plans, enrolment, prior authorization and
        claims that are adjudicated and paid the moment they are
        submitted, when the plan's terms are met.

        An insurer (INSURER in the IdentityRegistry) registers a plan:
        the ERC-20 token it pays in, the allowed amount per service
        class (a fee schedule), deductible, coinsurance, out-of-pocket
        maximum, coverage period, the classes that need prior
        authorization and a manual-review threshold. Anyone may fund
        the plan's escrow; the insurer enrols members for a period.

        The insurer admits providers (organisations, practitioners,
        labs, pharmacies registered in the IdentityRegistry) to the
        plan's network. A provider submits a claim: member, service
        class, billed amount, service date, and the salted commitment
        of the FHIR Claim that stays off chain. The claim's id is
        keccak256(provider, commitment), so the same claim cannot be
        paid twice and no one can take a provider's id first. The
        contract checks eligibility, the coverage period, timely
        filing, the network, coverage of the class, prior
        authorization, then shares the allowed amount between payer
        and patient (deductible first, then coinsurance, capped by the
        out-of-pocket maximum) and pays the provider from escrow at
        once. A claim above the review threshold is pended for the
        insurer; a claim the escrow cannot pay waits for funds. Neither
        is lost. Denials carry X12 claim adjustment reason codes
        (CARC); a provider may appeal a denial the insurer can overturn,
        once. Every step is an event.

        No protected health information is stored: addresses, codes,
        amounts, dates and hashes only.
"""


from ethereum.ercs import IERC20

from snekmate.tokens.interfaces import IERC20Permit


interface IIdentityRegistry:
    def role_of(account: address) -> uint8: view


# @dev IdentityRegistry roles.
_ORG: constant(uint8) = 1
_PRACTITIONER: constant(uint8) = 2
_PATIENT: constant(uint8) = 3
_INSURER: constant(uint8) = 5
_PHARMACY: constant(uint8) = 6
_LAB: constant(uint8) = 7


# @dev Claim statuses. PENDED, AWAITING_FUNDS and APPEALED are open.
PAID: public(constant(uint8)) = 1
PENDED: public(constant(uint8)) = 2
AWAITING_FUNDS: public(constant(uint8)) = 3
DENIED: public(constant(uint8)) = 4
APPEALED: public(constant(uint8)) = 5


# @dev Prior-authorization statuses.
AUTH_REQUESTED: public(constant(uint8)) = 1
AUTH_APPROVED: public(constant(uint8)) = 2
AUTH_DENIED: public(constant(uint8)) = 3
AUTH_USED: public(constant(uint8)) = 4


# @dev X12 claim adjustment reason codes this contract assigns.
CARC_AUTH_INVALID: public(constant(uint16)) = 15
CARC_BEFORE_COVERAGE: public(constant(uint16)) = 26
CARC_AFTER_COVERAGE: public(constant(uint16)) = 27
CARC_FILING_LIMIT: public(constant(uint16)) = 29
CARC_NOT_INSURED: public(constant(uint16)) = 31
CARC_AUTH_DENIED: public(constant(uint16)) = 39
CARC_NOT_COVERED: public(constant(uint16)) = 96
CARC_PENDING_REVIEW: public(constant(uint16)) = 133
CARC_AUTH_ABSENT: public(constant(uint16)) = 197
CARC_OUT_OF_NETWORK: public(constant(uint16)) = 242


# @dev Service classes are 0..15; a plan's prior-authorization classes are a bitmask.
SERVICE_CLASSES: public(constant(uint256)) = 16


# @dev Claims are accepted up to a year after the service; a plan's
#      escrow may be withdrawn once its last claims are past that.
FILING_LIMIT: public(constant(uint256)) = 365 * 86400


_BASIS_POINTS: constant(uint256) = 10000
_U16: constant(uint256) = 2**16 - 1
_U32: constant(uint256) = 2**32 - 1
_U64: constant(uint256) = 2**64 - 1
_U96: constant(uint256) = 2**96 - 1
_U160: constant(uint256) = 2**160 - 1


# @dev Set in every enrolled member's accumulator slot, so the first
#      claim of a period updates a used slot rather than a fresh one.
_ENROLLED_BIT: constant(uint256) = 1 << 255


# @dev Flags of a claim.
_APPEALED_FLAG: constant(uint256) = 1
_PATIENT_PAID_FLAG: constant(uint256) = 2


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


# @dev A member's enrolment and accumulators for the period.
struct Enrolment:
    plan_id: uint32
    start: uint64
    end: uint64
    deductible_met: uint256
    out_of_pocket: uint256


# @dev A claim, as stored (packed into three slots) and as the `claim` view returns it.
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


# @dev A prior authorization.
struct Preauth:
    provider: address
    member: address
    plan_id: uint32
    service_class: uint8
    status: uint8
    reason: uint16
    valid_until: uint64


# @dev How one claim's allowed amount is shared.
struct Shares:
    allowed: uint256
    deductible: uint256
    coinsurance: uint256
    payer: uint256
    patient: uint256


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


event EscrowFunded:
    plan_id: indexed(uint32)
    funder: indexed(address)
    amount: uint256
    escrow: uint256


event EscrowWithdrawn:
    plan_id: indexed(uint32)
    recipient: indexed(address)
    amount: uint256
    escrow: uint256


event NetworkChanged:
    plan_id: indexed(uint32)
    provider: indexed(address)
    in_network: bool


event MemberEnrolled:
    member: indexed(address)
    plan_id: indexed(uint32)
    start: uint64
    end: uint64


event PreauthRequested:
    preauth_id: indexed(uint256)
    provider: indexed(address)
    member: indexed(address)
    plan_id: uint32
    service_class: uint8
    request_hash: bytes32


event PreauthDecided:
    preauth_id: indexed(uint256)
    approved: bool
    reason: uint16
    valid_until: uint64


event ClaimSubmitted:
    claim_id: indexed(bytes32)
    provider: indexed(address)
    member: indexed(address)
    plan_id: uint32
    service_class: uint8
    billed: uint256
    service_date: uint64
    preauth_id: uint256


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


event ClaimAppealed:
    claim_id: indexed(bytes32)
    evidence_hash: bytes32


event PatientSharePaid:
    claim_id: indexed(bytes32)
    member: indexed(address)
    amount: uint256


# @dev The IdentityRegistry that says who is an insurer, provider or patient.
IDENTITY: public(immutable(address))


# @dev The number of plans; plan ids are 1..plan_count.
plan_count: public(uint32)


# @dev The number of prior-authorization requests; ids are 1..preauth_count.
preauth_count: public(uint256)


# @dev Plans, packed: insurer; token | escrow << 160; deductible |
#      oop_max << 96 | coinsurance << 192 | preauth classes << 208;
#      review threshold | coverage start << 96 | coverage end << 160.
_plan_insurer: HashMap[uint32, address]
_plan_funds: HashMap[uint32, uint256]
_plan_costs: HashMap[uint32, uint256]
_plan_review: HashMap[uint32, uint256]
_plan_open_claims: HashMap[uint32, uint256]
_allowed: HashMap[uint32, HashMap[uint256, uint256]]
_network: HashMap[uint32, HashMap[address, bool]]


# @dev Members, packed: plan | start << 32 | end << 96; deductible met |
#      out of pocket << 96 | the enrolled bit.
_enrolment: HashMap[address, uint256]
_accumulators: HashMap[address, uint256]


# @dev Claims by commitment, packed: provider | plan << 160 | class << 192 |
#      status << 200 | reason << 208 | flags << 224; member | billed << 160;
#      payer share | patient share << 96 | service date << 192. A claim's
#      id is keccak256(provider, commitment).
_claim_head: HashMap[bytes32, uint256]
_claim_member: HashMap[bytes32, uint256]
_claim_shares: HashMap[bytes32, uint256]


# @dev Prior authorizations, packed: provider | class << 160 | status << 168 |
#      reason << 176 | valid until << 192; member | plan << 160.
_preauth_head: HashMap[uint256, uint256]
_preauth_member: HashMap[uint256, uint256]


@deploy
def __init__(identity: address):
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
    @dev Register a plan; the caller, an insurer, owns it. The cost
         sharing and the coverage period are fixed for the plan's
         life (members' accumulators count against them); the fee
         schedule, prior-authorization classes and review threshold
         may change later. A review threshold of 0 reviews nothing.
    """
    assert staticcall IIdentityRegistry(IDENTITY).role_of(msg.sender) == _INSURER, "claims: not an insurer"
    assert token.is_contract, "claims: token is not a contract"
    assert convert(coinsurance_bps, uint256) <= _BASIS_POINTS, "claims: coinsurance over 100%"
    assert deductible <= oop_max, "claims: deductible above the out-of-pocket maximum"
    assert coverage_start < coverage_end, "claims: empty coverage period"
    plan_id: uint32 = self.plan_count + 1
    self.plan_count = plan_id
    self._plan_insurer[plan_id] = msg.sender
    self._plan_funds[plan_id] = convert(token, uint256)
    self._plan_costs[plan_id] = (
        convert(deductible, uint256)
        | (convert(oop_max, uint256) << 96)
        | (convert(coinsurance_bps, uint256) << 192)
    )
    self._plan_review[plan_id] = (convert(coverage_start, uint256) << 96) | (convert(coverage_end, uint256) << 160)
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
    @dev Replace a plan's fee schedule, prior-authorization classes and
         review threshold (its insurer only). Claims already decided
         keep their shares; open claims are settled under the new terms.
    """
    self._check_insurer(plan_id)
    self._set_terms(plan_id, allowed, preauth_classes, review_threshold)


@external
@nonreentrant
def fund(plan_id: uint32, amount: uint256):
    """
    @dev Move `amount` of the plan's token from the caller (who has
         approved this contract) into the plan's escrow. The escrow
         grows by what actually arrived, so a token that charges a
         fee on transfer cannot overstate it.
    """
    assert plan_id != 0 and plan_id <= self.plan_count, "claims: no such plan"
    assert amount != 0, "claims: nothing to fund"
    funds: uint256 = self._plan_funds[plan_id]
    token: IERC20 = IERC20(convert(funds & _U160, address))
    before: uint256 = staticcall token.balanceOf(self)
    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), "claims: transfer failed"
    received: uint256 = staticcall token.balanceOf(self) - before
    escrow: uint256 = (funds >> 160) + received
    assert escrow <= _U96, "claims: escrow too large"
    self._plan_funds[plan_id] = (funds & _U160) | (escrow << 160)
    log EscrowFunded(plan_id=plan_id, funder=msg.sender, amount=received, escrow=escrow)


@external
@nonreentrant
def withdraw(plan_id: uint32, amount: uint256, recipient: address):
    """
    @dev Return unspent escrow to `recipient` (the insurer only), once
         no claim for the plan can still arrive (coverage end plus the
         filing limit) and none is open.
    """
    self._check_insurer(plan_id)
    assert recipient != empty(address), "claims: no recipient"
    coverage_end: uint256 = (self._plan_review[plan_id] >> 160) & _U64
    assert block.timestamp > coverage_end + FILING_LIMIT, "claims: claims may still arrive for this plan"
    assert self._plan_open_claims[plan_id] == 0, "claims: the plan has open claims"
    funds: uint256 = self._plan_funds[plan_id]
    escrow: uint256 = funds >> 160
    assert amount <= escrow, "claims: more than the escrow holds"
    escrow -= amount
    self._plan_funds[plan_id] = (funds & _U160) | (escrow << 160)
    log EscrowWithdrawn(plan_id=plan_id, recipient=recipient, amount=amount, escrow=escrow)
    self._pay(funds, recipient, amount)


@external
@nonreentrant
def set_network(plan_id: uint32, provider: address, in_network: bool):
    """
    @dev Admit a registered provider to the plan's network, or remove
         it (the plan's insurer only). Only network providers request
         authorizations and are paid for claims.
    """
    self._check_insurer(plan_id)
    if in_network:
        role: uint8 = staticcall IIdentityRegistry(IDENTITY).role_of(provider)
        assert role in [_ORG, _PRACTITIONER, _LAB, _PHARMACY], "claims: not a registered provider"
    self._network[plan_id][provider] = in_network
    log NetworkChanged(plan_id=plan_id, provider=provider, in_network=in_network)


@external
@nonreentrant
def enroll(member: address, plan_id: uint32, start: uint64, end: uint64):
    """
    @dev Enrol a registered patient in a plan for [start, end], inside
         the plan's coverage period (the plan's insurer only). The
         member's accumulators start again at zero, so a new
         enrolment may not overlap the current one.
    """
    self._check_insurer(plan_id)
    assert staticcall IIdentityRegistry(IDENTITY).role_of(member) == _PATIENT, "claims: member is not a registered patient"
    review: uint256 = self._plan_review[plan_id]
    assert start < end, "claims: empty enrolment period"
    assert convert(start, uint256) >= (review >> 96) & _U64, "claims: enrolment starts before the plan's coverage"
    assert convert(end, uint256) <= (review >> 160) & _U64, "claims: enrolment ends after the plan's coverage"
    current: uint256 = self._enrolment[member]
    assert current == 0 or (current >> 96) & _U64 < convert(start, uint256), "claims: member is enrolled for part of this period"
    self._enrolment[member] = (
        convert(plan_id, uint256) | (convert(start, uint256) << 32) | (convert(end, uint256) << 96)
    )
    self._accumulators[member] = _ENROLLED_BIT
    log MemberEnrolled(member=member, plan_id=plan_id, start=start, end=end)


@external
@nonreentrant
def request_preauth(member: address, service_class: uint8, request_hash: bytes32) -> uint256:
    """
    @dev A provider asks the member's plan to authorize a service in
         advance. `request_hash` commits to the off-chain request (a
         FHIR Claim with use = preauthorization). Returns the id.
    """
    assert convert(service_class, uint256) < SERVICE_CLASSES, "claims: unknown service class"
    plan_id: uint256 = self._enrolment[member] & _U32
    assert plan_id != 0, "claims: member is not enrolled"
    assert self._network[convert(plan_id, uint32)][msg.sender], "claims: not a provider in the plan's network"
    preauth_id: uint256 = self.preauth_count + 1
    self.preauth_count = preauth_id
    self._preauth_head[preauth_id] = (
        convert(msg.sender, uint256)
        | (convert(service_class, uint256) << 160)
        | (convert(AUTH_REQUESTED, uint256) << 168)
    )
    self._preauth_member[preauth_id] = convert(member, uint256) | (plan_id << 160)
    log PreauthRequested(
        preauth_id=preauth_id,
        provider=msg.sender,
        member=member,
        plan_id=convert(plan_id, uint32),
        service_class=service_class,
        request_hash=request_hash,
    )
    return preauth_id


@external
@nonreentrant
def decide_preauth(preauth_id: uint256, approved: bool, reason: uint16, valid_until: uint64):
    """
    @dev The plan's insurer approves a request until `valid_until` (a
         claim for a service on or before then may use it, once), or
         denies it with a reason code.
    """
    head: uint256 = self._preauth_head[preauth_id]
    assert head != 0, "claims: no such prior authorization"
    self._check_insurer(convert(self._preauth_member[preauth_id] >> 160, uint32))
    assert (head >> 168) & 255 == convert(AUTH_REQUESTED, uint256), "claims: prior authorization already decided"
    status: uint8 = AUTH_DENIED
    if approved:
        assert convert(valid_until, uint256) > block.timestamp, "claims: authorization would already have lapsed"
        status = AUTH_APPROVED
    else:
        assert reason != 0, "claims: a denial needs a reason code"
    self._preauth_head[preauth_id] = (
        (head & (_U160 | (255 << 160)))
        | (convert(status, uint256) << 168)
        | (convert(reason, uint256) << 176)
        | (convert(valid_until, uint256) << 192)
    )
    log PreauthDecided(preauth_id=preauth_id, approved=approved, reason=reason, valid_until=valid_until)


@external
@nonreentrant
def submit_claim(
    member: address, service_class: uint8, billed: uint96, service_date: uint64, commitment: bytes32, preauth_id: uint256
) -> bytes32:
    """
    @dev Submit and adjudicate a claim; the caller is the provider and
         is paid the payer's share at once when the claim is payable.
         `commitment` is the salted commitment of the off-chain FHIR
         Claim. Returns the claim's id.
    """
    assert commitment != empty(bytes32), "claims: no commitment"
    assert billed != 0, "claims: nothing billed"
    assert convert(service_class, uint256) < SERVICE_CLASSES, "claims: unknown service class"
    assert convert(service_date, uint256) <= block.timestamp, "claims: service date in the future"
    claim_id: bytes32 = self._claim_id(msg.sender, commitment)
    assert self._claim_head[claim_id] == 0, "claims: duplicate claim (CARC 18)"
    enrolment: uint256 = self._enrolment[member]
    claim: Claim = Claim(
        provider=msg.sender,
        member=member,
        plan_id=convert(enrolment & _U32, uint32),
        service_class=service_class,
        status=DENIED,
        reason=self._eligibility(enrolment, service_date),
        flags=0,
        billed=convert(billed, uint256),
        payer_share=0,
        patient_share=0,
        service_date=service_date,
    )
    log ClaimSubmitted(
        claim_id=claim_id,
        provider=msg.sender,
        member=member,
        plan_id=claim.plan_id,
        service_class=service_class,
        billed=claim.billed,
        service_date=service_date,
        preauth_id=preauth_id,
    )
    if claim.reason == 0 and not self._network[claim.plan_id][msg.sender]:
        claim.reason = CARC_OUT_OF_NETWORK
    allowed: uint256 = 0
    if claim.reason == 0:
        allowed = min(claim.billed, self._allowed[claim.plan_id][convert(service_class, uint256)])
        if allowed == 0:
            claim.reason = CARC_NOT_COVERED
    costs: uint256 = 0
    if claim.reason == 0:
        costs = self._plan_costs[claim.plan_id]
        if (costs >> 208) & (1 << convert(service_class, uint256)) != 0:
            claim.reason = self._use_preauth(preauth_id, claim)
    if claim.reason != 0:
        self._record(claim_id, claim, empty(Shares), 0)
        return claim_id
    threshold: uint256 = self._plan_review[claim.plan_id] & _U96
    if threshold != 0 and allowed > threshold:
        claim.status = PENDED
        claim.reason = CARC_PENDING_REVIEW
        self._record(claim_id, claim, Shares(allowed=allowed, deductible=0, coinsurance=0, payer=0, patient=0), 0)
        return claim_id
    self._settle(claim_id, claim, allowed, costs, 0)
    return claim_id


@external
@nonreentrant
def approve(claim_id: bytes32):
    """
    @dev The plan's insurer approves a pended or appealed claim: it is
         shared and paid as an automatic one would be now (or waits for
         funds if the escrow is short). The member must still be
         enrolled for the service date and the class still covered.
    """
    claim: Claim = self._claim(claim_id)
    self._check_insurer(claim.plan_id)
    assert claim.status == PENDED or claim.status == APPEALED, "claims: claim is not pended or appealed"
    assert self._eligibility(self._enrolment[claim.member], claim.service_date) == 0 and (
        self._enrolment[claim.member] & _U32 == convert(claim.plan_id, uint256)
    ), "claims: member is no longer enrolled for the service date; deny instead"
    allowed: uint256 = min(claim.billed, self._allowed[claim.plan_id][convert(claim.service_class, uint256)])
    assert allowed != 0, "claims: service class no longer covered; deny instead"
    self._settle(claim_id, claim, allowed, self._plan_costs[claim.plan_id], claim.status)


@external
@nonreentrant
def deny(claim_id: bytes32, reason: uint16):
    """
    @dev The plan's insurer denies a pended or appealed claim with a
         reason code (a CARC, e.g. 50: not medically necessary).
    """
    claim: Claim = self._claim(claim_id)
    self._check_insurer(claim.plan_id)
    assert claim.status == PENDED or claim.status == APPEALED, "claims: claim is not pended or appealed"
    assert reason != 0, "claims: a denial needs a reason code"
    previous: uint8 = claim.status
    claim.status = DENIED
    claim.reason = reason
    self._record(claim_id, claim, empty(Shares), previous)


@external
@nonreentrant
def appeal(claim_id: bytes32, evidence_hash: bytes32):
    """
    @dev The provider appeals a denial, once, with a hash of the
         evidence it sends the insurer off chain. Denials for
         eligibility, coverage period, filing limit, network or a
         class the plan does not cover cannot be overturned: correct
         the claim and submit it again instead.
    """
    claim: Claim = self._claim(claim_id)
    assert msg.sender == claim.provider, "claims: only the provider appeals"
    assert claim.status == DENIED, "claims: only a denied claim can be appealed"
    assert convert(claim.flags, uint256) & _APPEALED_FLAG == 0, "claims: already appealed once"
    assert claim.reason not in [
        CARC_NOT_INSURED,
        CARC_BEFORE_COVERAGE,
        CARC_AFTER_COVERAGE,
        CARC_FILING_LIMIT,
        CARC_OUT_OF_NETWORK,
        CARC_NOT_COVERED,
    ], "claims: this denial cannot be appealed; submit a corrected claim"
    claim.status = APPEALED
    claim.flags = convert(convert(claim.flags, uint256) | _APPEALED_FLAG, uint8)
    self._record(claim_id, claim, empty(Shares), DENIED)
    log ClaimAppealed(claim_id=claim_id, evidence_hash=evidence_hash)


@external
@nonreentrant
def release(claim_id: bytes32):
    """
    @dev Pay a claim that was waiting for funds, once the escrow covers
         it; anyone may call it (usually the provider).
    """
    claim: Claim = self._claim(claim_id)
    assert claim.status == AWAITING_FUNDS, "claims: claim is not waiting for funds"
    allowed: uint256 = claim.payer_share + claim.patient_share
    status: uint8 = self._settle(claim_id, claim, allowed, self._plan_costs[claim.plan_id], AWAITING_FUNDS)
    assert status == PAID, "claims: the escrow is still short"


@external
@nonreentrant
def pay_patient_share(claim_id: bytes32, deadline: uint256, v: uint8, r: bytes32, s: bytes32):
    """
    @dev Pay the member's share of a paid claim to the provider, in the
         plan's token. With a deadline, (v, r, s) is the member's
         EIP-2612 permit for this contract and the share, and anyone
         may submit it (the member needs no gas); with deadline 0 the
         member calls and has approved this contract already.
    """
    claim: Claim = self._claim(claim_id)
    assert claim.status == PAID, "claims: claim is not paid"
    assert claim.patient_share != 0, "claims: the member owes nothing"
    assert convert(claim.flags, uint256) & _PATIENT_PAID_FLAG == 0, "claims: the member's share is paid already"
    token: address = convert(self._plan_funds[claim.plan_id] & _U160, address)
    if deadline == 0:
        assert msg.sender == claim.member, "claims: only the member pays without a permit"
    else:
        extcall IERC20Permit(token).permit(claim.member, self, claim.patient_share, deadline, v, r, s)
    claim.flags = convert(convert(claim.flags, uint256) | _PATIENT_PAID_FLAG, uint8)
    self._claim_head[claim_id] = self._pack_head(claim)
    log PatientSharePaid(claim_id=claim_id, member=claim.member, amount=claim.patient_share)
    assert extcall IERC20(token).transferFrom(
        claim.member, claim.provider, claim.patient_share, default_return_value=True
    ), "claims: transfer failed"


@external
@view
def plan(plan_id: uint32) -> Plan:
    """
    @dev A plan's terms, escrow and number of open claims (all zero if none).
    """
    funds: uint256 = self._plan_funds[plan_id]
    costs: uint256 = self._plan_costs[plan_id]
    review: uint256 = self._plan_review[plan_id]
    return Plan(
        insurer=self._plan_insurer[plan_id],
        token=convert(funds & _U160, address),
        escrow=funds >> 160,
        deductible=costs & _U96,
        coinsurance_bps=convert((costs >> 192) & _U16, uint16),
        oop_max=(costs >> 96) & _U96,
        coverage_start=convert((review >> 96) & _U64, uint64),
        coverage_end=convert((review >> 160) & _U64, uint64),
        preauth_classes=convert((costs >> 208) & _U16, uint16),
        review_threshold=review & _U96,
        open_claims=self._plan_open_claims[plan_id],
    )


@external
@view
def allowed_amount(plan_id: uint32, service_class: uint8) -> uint256:
    """
    @dev The plan's allowed amount for a service class (0: not covered).
    """
    return self._allowed[plan_id][convert(service_class, uint256)]


@external
@view
def enrolment(member: address) -> Enrolment:
    """
    @dev A member's current enrolment and accumulators (all zero if none).
    """
    enrolment: uint256 = self._enrolment[member]
    accumulators: uint256 = self._accumulators[member]
    return Enrolment(
        plan_id=convert(enrolment & _U32, uint32),
        start=convert((enrolment >> 32) & _U64, uint64),
        end=convert((enrolment >> 96) & _U64, uint64),
        deductible_met=accumulators & _U96,
        out_of_pocket=(accumulators >> 96) & _U96,
    )


@external
@view
def claim(claim_id: bytes32) -> Claim:
    """
    @dev A claim by its id (status 0 if there is none).
    """
    return self._unpack(claim_id)


@external
@pure
def claim_id_of(provider: address, commitment: bytes32) -> bytes32:
    """
    @dev The id of `provider`'s claim with `commitment`.
    """
    return self._claim_id(provider, commitment)


@external
@view
def preauth(preauth_id: uint256) -> Preauth:
    """
    @dev A prior authorization (status 0 if there is none).
    """
    head: uint256 = self._preauth_head[preauth_id]
    member: uint256 = self._preauth_member[preauth_id]
    return Preauth(
        provider=convert(head & _U160, address),
        member=convert(member & _U160, address),
        plan_id=convert(member >> 160, uint32),
        service_class=convert((head >> 160) & 255, uint8),
        status=convert((head >> 168) & 255, uint8),
        reason=convert((head >> 176) & _U16, uint16),
        valid_until=convert((head >> 192) & _U64, uint64),
    )


@internal
def _set_terms(plan_id: uint32, allowed: uint96[SERVICE_CLASSES], preauth_classes: uint16, review_threshold: uint96):
    for index: uint256 in range(SERVICE_CLASSES):
        self._allowed[plan_id][index] = convert(allowed[index], uint256)
    costs: uint256 = self._plan_costs[plan_id]
    self._plan_costs[plan_id] = (costs & (2**208 - 1)) | (convert(preauth_classes, uint256) << 208)
    review: uint256 = self._plan_review[plan_id]
    self._plan_review[plan_id] = (review & ~_U96) | convert(review_threshold, uint256)
    log PlanTermsSet(
        plan_id=plan_id,
        allowed=allowed,
        preauth_classes=preauth_classes,
        review_threshold=convert(review_threshold, uint256),
    )


@internal
@view
def _eligibility(enrolment: uint256, service_date: uint64) -> uint16:
    """
    @dev 0 if the enrolment covers the service date and the claim is
         within the filing limit, else the reason code of the denial.
    """
    if enrolment == 0:
        return CARC_NOT_INSURED
    date: uint256 = convert(service_date, uint256)
    if date < (enrolment >> 32) & _U64:
        return CARC_BEFORE_COVERAGE
    if date > (enrolment >> 96) & _U64:
        return CARC_AFTER_COVERAGE
    if block.timestamp > date + FILING_LIMIT:
        return CARC_FILING_LIMIT
    return 0


@internal
def _use_preauth(preauth_id: uint256, claim: Claim) -> uint16:
    """
    @dev Spend an approved authorization of this provider, member and
         class that covers the service date; else the denial's code.
    """
    if preauth_id == 0:
        return CARC_AUTH_ABSENT
    head: uint256 = self._preauth_head[preauth_id]
    status: uint256 = (head >> 168) & 255
    if status == convert(AUTH_DENIED, uint256):
        return CARC_AUTH_DENIED
    if (
        status != convert(AUTH_APPROVED, uint256)
        or head & _U160 != convert(claim.provider, uint256)
        or (head >> 160) & 255 != convert(claim.service_class, uint256)
        or self._preauth_member[preauth_id] != convert(claim.member, uint256) | (convert(claim.plan_id, uint256) << 160)
        or convert(claim.service_date, uint256) > (head >> 192) & _U64
    ):
        return CARC_AUTH_INVALID
    self._preauth_head[preauth_id] = (head & ~(255 << 168)) | (convert(AUTH_USED, uint256) << 168)
    return 0


@internal
def _settle(claim_id: bytes32, claim: Claim, allowed: uint256, costs: uint256, previous: uint8) -> uint8:
    """
    @dev Share `allowed` between payer and patient against the member's
         accumulators and pay the provider, or leave the claim waiting
         for funds (accumulators untouched) if the escrow is short.
         State is written before the token is called.
    """
    accumulators: uint256 = self._accumulators[claim.member]
    shares: Shares = self._shares(allowed, costs, accumulators)
    claim.payer_share = shares.payer
    claim.patient_share = shares.patient
    claim.reason = 0
    funds: uint256 = self._plan_funds[claim.plan_id]
    if shares.payer > funds >> 160:
        claim.status = AWAITING_FUNDS
        self._record(claim_id, claim, shares, previous)
        return AWAITING_FUNDS
    self._plan_funds[claim.plan_id] = funds - (shares.payer << 160)
    self._accumulators[claim.member] = accumulators + shares.deductible + (shares.patient << 96)
    claim.status = PAID
    self._record(claim_id, claim, shares, previous)
    self._pay(funds, claim.provider, shares.payer)
    return PAID


@internal
@pure
def _shares(allowed: uint256, costs: uint256, accumulators: uint256) -> Shares:
    """
    @dev Deductible first, then coinsurance on the rest (rounded down,
         in the member's favour), the member's total capped by what is
         left of the out-of-pocket maximum; the payer pays the rest of
         the allowed amount.
    """
    deductible_left: uint256 = (costs & _U96) - (accumulators & _U96)
    oop_left: uint256 = ((costs >> 96) & _U96) - ((accumulators >> 96) & _U96)
    deductible: uint256 = min(allowed, deductible_left)
    coinsurance: uint256 = (allowed - deductible) * ((costs >> 192) & _U16) // _BASIS_POINTS
    patient: uint256 = min(deductible + coinsurance, oop_left)
    deductible = min(deductible, patient)
    return Shares(
        allowed=allowed,
        deductible=deductible,
        coinsurance=patient - deductible,
        payer=allowed - patient,
        patient=patient,
    )


@internal
def _pay(funds: uint256, recipient: address, amount: uint256):
    if amount != 0:
        assert extcall IERC20(convert(funds & _U160, address)).transfer(
            recipient, amount, default_return_value=True
        ), "claims: transfer failed"


@internal
def _record(claim_id: bytes32, claim: Claim, shares: Shares, previous: uint8):
    """
    @dev Store a claim's new state, keep the plan's open-claim count,
         and announce the decision.
    """
    was_open: bool = previous == PENDED or previous == AWAITING_FUNDS or previous == APPEALED
    is_open: bool = claim.status == PENDED or claim.status == AWAITING_FUNDS or claim.status == APPEALED
    if is_open and not was_open:
        self._plan_open_claims[claim.plan_id] += 1
    elif was_open and not is_open:
        self._plan_open_claims[claim.plan_id] -= 1
    self._claim_head[claim_id] = self._pack_head(claim)
    if previous == 0:
        self._claim_member[claim_id] = convert(claim.member, uint256) | (claim.billed << 160)
    self._claim_shares[claim_id] = (
        claim.payer_share | (claim.patient_share << 96) | (convert(claim.service_date, uint256) << 192)
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
@pure
def _claim_id(provider: address, commitment: bytes32) -> bytes32:
    return keccak256(concat(convert(provider, bytes20), commitment))


@internal
@pure
def _pack_head(claim: Claim) -> uint256:
    return (
        convert(claim.provider, uint256)
        | (convert(claim.plan_id, uint256) << 160)
        | (convert(claim.service_class, uint256) << 192)
        | (convert(claim.status, uint256) << 200)
        | (convert(claim.reason, uint256) << 208)
        | (convert(claim.flags, uint256) << 224)
    )


@internal
@view
def _unpack(claim_id: bytes32) -> Claim:
    head: uint256 = self._claim_head[claim_id]
    member: uint256 = self._claim_member[claim_id]
    shares: uint256 = self._claim_shares[claim_id]
    return Claim(
        provider=convert(head & _U160, address),
        member=convert(member & _U160, address),
        plan_id=convert((head >> 160) & _U32, uint32),
        service_class=convert((head >> 192) & 255, uint8),
        status=convert((head >> 200) & 255, uint8),
        reason=convert((head >> 208) & _U16, uint16),
        flags=convert((head >> 224) & 255, uint8),
        billed=member >> 160,
        payer_share=shares & _U96,
        patient_share=(shares >> 96) & _U96,
        service_date=convert(shares >> 192, uint64),
    )


@internal
@view
def _claim(claim_id: bytes32) -> Claim:
    claim: Claim = self._unpack(claim_id)
    assert claim.status != 0, "claims: no such claim"
    return claim


@internal
@view
def _check_insurer(plan_id: uint32):
    insurer: address = self._plan_insurer[plan_id]
    assert insurer != empty(address), "claims: no such plan"
    assert msg.sender == insurer, "claims: only the plan's insurer"
