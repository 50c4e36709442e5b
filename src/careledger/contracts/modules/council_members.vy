# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Council: members and threshold
@custom:contract-name council_members
@license GNU Affero General Public License v3.0 or later
@notice The member organisations of a CareLedger network's council,
        how many of them must vote for a proposal (k of n) and how
        long a proposal stays open for votes. They change only by a
        proposal the council executes on itself
        (modules/council_proposals.vy); the threshold is never below
        one nor above the number of members. Adding or removing a
        member starts a new epoch: a proposal not yet queued must then
        be proposed again, so no vote of a removed member counts and
        every new member may vote on what is still open. Modelled on
        Safe's owner manager and snekmate's self-administered
        `timelock_controller`.
"""


# @dev The most members a council may have.
MAX_MEMBERS: public(constant(uint256)) = 32


# @dev The bounds of the voting period, in seconds: an hour to a year.
MIN_VOTING_PERIOD: public(constant(uint256)) = 3_600
MAX_VOTING_PERIOD: public(constant(uint256)) = 365 * 86_400


# @dev The members, in the order they joined (a removed one's place is
#      taken by the last).
_members: DynArray[address, MAX_MEMBERS]


# @dev Whether an address is a member.
is_member: public(HashMap[address, bool])


# @dev How many members' votes queue a proposal (k of n).
threshold: public(uint256)


# @dev How long, in seconds, a proposal may gather votes.
voting_period: public(uint256)


# @dev Counts the changes of membership; proposals of an earlier epoch
#      that were not queued cannot be voted on any more.
epoch: public(uint256)


# @dev Emitted when a member joins the council.
event MemberAdded:
    member: indexed(address)


# @dev Emitted when a member leaves the council.
event MemberRemoved:
    member: indexed(address)


# @dev Emitted when the number of votes a proposal needs changes.
event ThresholdChanged:
    old_threshold: uint256
    new_threshold: uint256


# @dev Emitted when the voting period changes.
event VotingPeriodChanged:
    old_period: uint256
    new_period: uint256


@deploy
def __init__(members_: DynArray[address, MAX_MEMBERS], threshold_: uint256, voting_period_: uint256):
    """
    @dev Seats the founding members with their threshold and voting period.
    @param members_ Distinct, non-zero addresses.
    @param threshold_ Votes a proposal needs: 1 to the number of members.
    @param voting_period_ Seconds a proposal may gather votes.
    """
    for member: address in members_:
        self._add_member(member)
    self._set_threshold(threshold_)
    self._set_voting_period(voting_period_)


@external
def add_member(member: address):
    """
    @dev Seats `member`; proposals not yet queued must be proposed again.
    @notice The council itself only, through an executed proposal.
    @param member A non-zero address that is not a member.
    """
    self._check_council()
    self._add_member(member)
    self.epoch += 1


@external
def remove_member(member: address):
    """
    @dev Unseats `member`; proposals not yet queued must be proposed again.
    @notice The council itself only, through an executed proposal;
            refused when the remaining members would be fewer than the
            threshold (lower it first, in the same proposal).
    @param member A member.
    """
    self._check_council()
    assert self.is_member[member], "council: not a member"
    assert len(self._members) > self.threshold, "council: the threshold would exceed the members"
    last: address = self._members.pop()
    if last != member:
        for i: uint256 in range(MAX_MEMBERS):
            if self._members[i] == member:
                self._members[i] = last
                break
    self.is_member[member] = False
    self.epoch += 1
    log MemberRemoved(member=member)


@external
def set_threshold(new_threshold: uint256):
    """
    @dev Changes how many votes queue a proposal; open proposals keep
         their votes, and one that now has enough may be queued.
    @notice The council itself only, through an executed proposal.
    @param new_threshold 1 to the number of members.
    """
    self._check_council()
    self._set_threshold(new_threshold)


@external
def set_voting_period(new_period: uint256):
    """
    @dev Changes how long new proposals may gather votes.
    @notice The council itself only, through an executed proposal.
    @param new_period Seconds, from an hour to a year.
    """
    self._check_council()
    self._set_voting_period(new_period)


@external
@view
def members() -> DynArray[address, MAX_MEMBERS]:
    """
    @notice The members.
    @return Their addresses.
    """
    return self._members


@internal
@view
def _check_council():
    assert msg.sender == self, "council: only through an executed proposal"


@internal
@view
def _check_member(account: address):
    assert self.is_member[account], "council: not a member"


@internal
def _add_member(member: address):
    assert member != empty(address), "council: zero address"
    assert not self.is_member[member], "council: already a member"
    assert len(self._members) < MAX_MEMBERS, "council: too many members"
    self._members.append(member)
    self.is_member[member] = True
    log MemberAdded(member=member)


@internal
def _set_threshold(new_threshold: uint256):
    assert new_threshold >= 1, "council: the threshold must be at least one"
    assert new_threshold <= len(self._members), "council: the threshold would exceed the members"
    log ThresholdChanged(old_threshold=self.threshold, new_threshold=new_threshold)
    self.threshold = new_threshold


@internal
def _set_voting_period(new_period: uint256):
    assert new_period >= MIN_VOTING_PERIOD and new_period <= MAX_VOTING_PERIOD, "council: voting period out of bounds"
    log VotingPeriodChanged(old_period=self.voting_period, new_period=new_period)
    self.voting_period = new_period
