# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims: escrow
@custom:contract-name claim_escrow
@license GNU Affero General Public License v3.0 or later
@notice Each plan's escrow, in the plan's token: anyone may fund it,
        claims are paid from it, and its insurer may take back what is
        left once no claim can still arrive. The escrow is kept in the
        plan's first storage word beside its token, so paying a claim
        reads one slot for both.
"""


from ethereum.ercs import IERC20

from snekmate.utils import pausable
uses: pausable

from . import claim_plans as plans
uses: plans

from . import packing


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


@external
@nonreentrant
def fund(plan_id: uint32, amount: uint256):
    """
    @notice Move `amount` of the plan's token from the caller (who has
            approved this contract) into the plan's escrow.
    @dev The escrow grows by what actually arrived, so a token that
         charges a fee on transfer cannot overstate it.
    @param plan_id The plan.
    @param amount How much to move, in the token's smallest unit.
    """
    pausable._require_not_paused()
    assert plan_id != 0 and plan_id <= plans.plan_count, "claims: no such plan"
    assert amount != 0, "claims: nothing to fund"
    token: IERC20 = IERC20(plans._token(plan_id))
    before: uint256 = staticcall token.balanceOf(self)
    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), "claims: transfer failed"
    received: uint256 = staticcall token.balanceOf(self) - before
    escrow: uint256 = plans._escrow(plan_id) + received
    assert escrow <= packing.U96, "claims: escrow too large"
    plans._set_escrow(plan_id, escrow)
    log EscrowFunded(plan_id=plan_id, funder=msg.sender, amount=received, escrow=escrow)


@external
@nonreentrant
def withdraw(plan_id: uint32, amount: uint256, recipient: address):
    """
    @notice Return unspent escrow to `recipient` (the insurer only), once
            no claim for the plan can still arrive (coverage end plus the
            filing limit) and none is open.
    @param plan_id The plan.
    @param amount How much to return.
    @param recipient Who receives it.
    """
    pausable._require_not_paused()
    plans._check_insurer(plan_id)
    assert recipient != empty(address), "claims: no recipient"
    coverage_start: uint256 = 0
    coverage_end: uint256 = 0
    coverage_start, coverage_end = plans._coverage(plan_id)
    assert block.timestamp > coverage_end + plans.FILING_LIMIT, "claims: claims may still arrive for this plan"
    assert plans._plan_open_claims[plan_id] == 0, "claims: the plan has open claims"
    escrow: uint256 = plans._escrow(plan_id)
    assert amount <= escrow, "claims: more than the escrow holds"
    escrow -= amount
    plans._set_escrow(plan_id, escrow)
    log EscrowWithdrawn(plan_id=plan_id, recipient=recipient, amount=amount, escrow=escrow)
    self._pay(plan_id, recipient, amount)


@internal
def _debit(plan_id: uint32, amount: uint256) -> bool:
    """
    @dev Take `amount` from the plan's escrow; False (and nothing taken)
         if the escrow is short.
    """
    escrow: uint256 = plans._escrow(plan_id)
    if amount > escrow:
        return False
    plans._set_escrow(plan_id, escrow - amount)
    return True


@internal
def _pay(plan_id: uint32, recipient: address, amount: uint256):
    """
    @dev Transfer `amount` of the plan's token; callers write their
         state first.
    """
    if amount != 0:
        assert extcall IERC20(plans._token(plan_id)).transfer(
            recipient, amount, default_return_value=True
        ), "claims: transfer failed"
