# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims: adjudication, appeals and payment
@custom:contract-name claim_adjudication
@license GNU Affero General Public License v3.0 or later
@notice A provider submits a claim; it is checked (eligibility, coverage
        period, timely filing, network, coverage of the class, prior
        authorization), its allowed amount shared between payer and
        member, and the provider paid from escrow at once. A claim above
        the review threshold is pended for the insurer; a claim the
        escrow cannot pay waits for funds; neither is lost. A provider
        may appeal a denial the insurer can overturn, once.
"""


from ethereum.ercs import IERC20

from snekmate.tokens.interfaces import IERC20Permit

from snekmate.utils import pausable
uses: pausable

from . import claim_plans as plans
uses: plans

from . import claim_escrow as escrow
uses: escrow

from . import claim_members as members
uses: members

from . import claim_preauth as authorizations
uses: authorizations

from . import claim_ledger as ledger
uses: ledger


# @dev X12 claim adjustment reason codes of the other denials.
CARC_NOT_COVERED: public(constant(uint16)) = 96
CARC_PENDING_REVIEW: public(constant(uint16)) = 133
CARC_OUT_OF_NETWORK: public(constant(uint16)) = 242


event ClaimSubmitted:
    claim_id: indexed(bytes32)
    provider: indexed(address)
    member: indexed(address)
    plan_id: uint32
    service_class: uint8
    billed: uint256
    service_date: uint64
    preauth_id: uint256


event ClaimAppealed:
    claim_id: indexed(bytes32)
    evidence_hash: bytes32


event PatientSharePaid:
    claim_id: indexed(bytes32)
    member: indexed(address)
    amount: uint256


@external
@nonreentrant
def submit_claim(
    member: address, service_class: uint8, billed: uint96, service_date: uint64, commitment: bytes32, preauth_id: uint256
) -> bytes32:
    """
    @notice Submit and adjudicate a claim; the caller is the provider and
            is paid the payer's share at once when the claim is payable.
    @param member The member who received the service.
    @param service_class The service class (0..15).
    @param billed The amount billed.
    @param service_date When the service was given.
    @param commitment The salted commitment of the off-chain FHIR Claim.
    @param preauth_id The prior authorization it uses (0: none).
    @return The claim's id.
    """
    pausable._require_not_paused()
    assert commitment != empty(bytes32), "claims: no commitment"
    assert billed != 0, "claims: nothing billed"
    assert convert(service_class, uint256) < plans.SERVICE_CLASSES, "claims: unknown service class"
    assert convert(service_date, uint256) <= block.timestamp, "claims: service date in the future"
    claim_id: bytes32 = ledger._claim_id(msg.sender, commitment)
    assert not ledger._exists(claim_id), "claims: duplicate claim (CARC 18)"
    claim: ledger.Claim = ledger.Claim(
        provider=msg.sender,
        member=member,
        plan_id=members._plan_of(member),
        service_class=service_class,
        status=ledger.DENIED,
        reason=members._eligibility(member, service_date),
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
    allowed: uint256 = 0
    claim.reason, allowed = self._check(claim, preauth_id)
    if claim.reason != 0:
        ledger._record(claim_id, claim, empty(ledger.Shares), 0)
        return claim_id
    threshold: uint256 = plans._review_threshold(claim.plan_id)
    if threshold != 0 and allowed > threshold:
        claim.status = ledger.PENDED
        claim.reason = CARC_PENDING_REVIEW
        ledger._record(claim_id, claim, ledger.Shares(allowed=allowed, deductible=0, coinsurance=0, payer=0, patient=0), 0)
        return claim_id
    self._settle(claim_id, claim, allowed, 0)
    return claim_id


@external
@nonreentrant
def approve(claim_id: bytes32):
    """
    @notice The plan's insurer approves a pended or appealed claim: it is
            shared and paid as an automatic one would be now (or waits
            for funds if the escrow is short).
    @dev The member must still be enrolled for the service date and the
         class still covered.
    @param claim_id The claim.
    """
    pausable._require_not_paused()
    claim: ledger.Claim = ledger._claim(claim_id)
    plans._check_insurer(claim.plan_id)
    assert claim.status == ledger.PENDED or claim.status == ledger.APPEALED, "claims: claim is not pended or appealed"
    assert members._eligibility(claim.member, claim.service_date) == 0 and (
        members._plan_of(claim.member) == claim.plan_id
    ), "claims: member is no longer enrolled for the service date; deny instead"
    allowed: uint256 = plans._allowed_for(claim.plan_id, claim.service_class, claim.billed)
    assert allowed != 0, "claims: service class no longer covered; deny instead"
    self._settle(claim_id, claim, allowed, claim.status)


@external
@nonreentrant
def deny(claim_id: bytes32, reason: uint16):
    """
    @notice The plan's insurer denies a pended or appealed claim with a
            reason code (a CARC, e.g. 50: not medically necessary).
    @param claim_id The claim.
    @param reason The reason code.
    """
    pausable._require_not_paused()
    claim: ledger.Claim = ledger._claim(claim_id)
    plans._check_insurer(claim.plan_id)
    assert claim.status == ledger.PENDED or claim.status == ledger.APPEALED, "claims: claim is not pended or appealed"
    assert reason != 0, "claims: a denial needs a reason code"
    previous: uint8 = claim.status
    claim.status = ledger.DENIED
    claim.reason = reason
    ledger._record(claim_id, claim, empty(ledger.Shares), previous)


@external
@nonreentrant
def appeal(claim_id: bytes32, evidence_hash: bytes32):
    """
    @notice The provider appeals a denial, once, with a hash of the
            evidence it sends the insurer off chain.
    @dev Denials for eligibility, coverage period, filing limit, network
         or a class the plan does not cover cannot be overturned:
         correct the claim and submit it again instead.
    @param claim_id The denied claim.
    @param evidence_hash The hash of the evidence sent off chain.
    """
    pausable._require_not_paused()
    claim: ledger.Claim = ledger._claim(claim_id)
    assert msg.sender == claim.provider, "claims: only the provider appeals"
    assert claim.status == ledger.DENIED, "claims: only a denied claim can be appealed"
    assert convert(claim.flags, uint256) & ledger.APPEALED_FLAG == 0, "claims: already appealed once"
    assert claim.reason not in [
        members.CARC_NOT_INSURED,
        members.CARC_BEFORE_COVERAGE,
        members.CARC_AFTER_COVERAGE,
        members.CARC_FILING_LIMIT,
        CARC_OUT_OF_NETWORK,
        CARC_NOT_COVERED,
    ], "claims: this denial cannot be appealed; submit a corrected claim"
    claim.status = ledger.APPEALED
    claim.flags = convert(convert(claim.flags, uint256) | ledger.APPEALED_FLAG, uint8)
    ledger._record(claim_id, claim, empty(ledger.Shares), ledger.DENIED)
    log ClaimAppealed(claim_id=claim_id, evidence_hash=evidence_hash)


@external
@nonreentrant
def release(claim_id: bytes32):
    """
    @notice Pay a claim that was waiting for funds, once the escrow covers
            it; anyone may call it (usually the provider).
    @param claim_id The claim.
    """
    pausable._require_not_paused()
    claim: ledger.Claim = ledger._claim(claim_id)
    assert claim.status == ledger.AWAITING_FUNDS, "claims: claim is not waiting for funds"
    status: uint8 = self._settle(claim_id, claim, claim.payer_share + claim.patient_share, ledger.AWAITING_FUNDS)
    assert status == ledger.PAID, "claims: the escrow is still short"


@external
@nonreentrant
def pay_patient_share(claim_id: bytes32, deadline: uint256, v: uint8, r: bytes32, s: bytes32):
    """
    @notice Pay the member's share of a paid claim to the provider, in the
            plan's token.
    @dev With a deadline, (v, r, s) is the member's EIP-2612 permit for
         this contract and the share, and anyone may submit it (the
         member needs no gas); with deadline 0 the member calls and has
         approved this contract already.
    @param claim_id The paid claim.
    @param deadline The permit's deadline (0: no permit).
    @param v The permit signature's recovery id.
    @param r The permit signature's r.
    @param s The permit signature's s.
    """
    pausable._require_not_paused()
    claim: ledger.Claim = ledger._claim(claim_id)
    assert claim.status == ledger.PAID, "claims: claim is not paid"
    assert claim.patient_share != 0, "claims: the member owes nothing"
    assert convert(claim.flags, uint256) & ledger.PATIENT_PAID_FLAG == 0, "claims: the member's share is paid already"
    token: address = plans._token(claim.plan_id)
    if deadline == 0:
        assert msg.sender == claim.member, "claims: only the member pays without a permit"
    else:
        extcall IERC20Permit(token).permit(claim.member, self, claim.patient_share, deadline, v, r, s)
    claim.flags = convert(convert(claim.flags, uint256) | ledger.PATIENT_PAID_FLAG, uint8)
    ledger._store_head(claim_id, claim)
    log PatientSharePaid(claim_id=claim_id, member=claim.member, amount=claim.patient_share)
    assert extcall IERC20(token).transferFrom(
        claim.member, claim.provider, claim.patient_share, default_return_value=True
    ), "claims: transfer failed"


@internal
def _check(claim: ledger.Claim, preauth_id: uint256) -> (uint16, uint256):
    """
    @dev After eligibility: the network, coverage of the class, and
         prior authorization where the plan asks for it. The denial's
         code (0: none) and the allowed amount.
    """
    if claim.reason != 0:
        return claim.reason, 0
    if not members._in_network(claim.plan_id, claim.provider):
        return CARC_OUT_OF_NETWORK, 0
    allowed: uint256 = plans._allowed_for(claim.plan_id, claim.service_class, claim.billed)
    if allowed == 0:
        return CARC_NOT_COVERED, 0
    if plans._needs_preauth(claim.plan_id, claim.service_class):
        reason: uint16 = authorizations._use(
            preauth_id, claim.provider, claim.member, claim.plan_id, claim.service_class, claim.service_date
        )
        return reason, allowed
    return 0, allowed


@internal
def _settle(claim_id: bytes32, claim: ledger.Claim, allowed: uint256, previous: uint8) -> uint8:
    """
    @dev Share `allowed` between payer and member against her
         accumulators and pay the provider, or leave the claim waiting
         for funds (accumulators untouched) if the escrow is short.
         State is written before the token is called.
    """
    patient: uint256 = 0
    deductible: uint256 = 0
    patient, deductible = members._member_share(claim.member, claim.plan_id, allowed)
    shares: ledger.Shares = ledger.Shares(
        allowed=allowed, deductible=deductible, coinsurance=patient - deductible, payer=allowed - patient, patient=patient
    )
    claim.payer_share = shares.payer
    claim.patient_share = shares.patient
    claim.reason = 0
    if not escrow._debit(claim.plan_id, shares.payer):
        claim.status = ledger.AWAITING_FUNDS
        ledger._record(claim_id, claim, shares, previous)
        return ledger.AWAITING_FUNDS
    members._accumulate(claim.member, deductible, patient)
    claim.status = ledger.PAID
    ledger._record(claim_id, claim, shares, previous)
    escrow._pay(claim.plan_id, claim.provider, shares.payer)
    return ledger.PAID
