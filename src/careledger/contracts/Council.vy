# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Council
@custom:contract-name Council
@license GNU Affero General Public License v3.0 or later
@notice The network's governing body: its member organisations decide
        by k of n votes, behind a timelock, what a single deployer
        decides before it exists (DESIGN.md section 15): admitting and
        removing nodes, appointing credential issuers, pausing, who
        may mint CARE and how much, and the council's own members,
        threshold, voting period and delay. `careledger governance
        bootstrap` deploys it and hands it every admin role of every
        contract; from then on only an executed proposal changes them.
        The members and the threshold are modules/council_members.vy;
        proposals, votes and execution modules/council_proposals.vy,
        over snekmate's `timelock_controller`, which holds each queued
        batch until its delay has passed. No protected health
        information: addresses, calldata and the proposals' words.
"""


from snekmate.auth import access_control
initializes: access_control

from snekmate.governance import timelock_controller
initializes: timelock_controller[access_control := access_control]

from .modules import council_members as membership
initializes: membership

from .modules import council_proposals as proposals
initializes: proposals[timelock_controller := timelock_controller, membership := membership]


exports: (
    membership.__interface__,
    proposals.__interface__,
)


# @dev The block the council was deployed in: where a reader of its events starts.
deployed_at: public(uint256)


@deploy
def __init__(
    members_: DynArray[address, membership.MAX_MEMBERS],
    threshold_: uint256,
    delay_: uint256,
    voting_period_: uint256,
):
    """
    @dev Seats the founding members. The timelock administers itself
         and has no proposer or executor: only this contract's
         `vote` queues and its `execute` executes.
    @param members_ The founding members: distinct, non-zero.
    @param threshold_ Votes a proposal needs: 1 to the number of members.
    @param delay_ Seconds a queued proposal waits: an hour to 30 days.
    @param voting_period_ Seconds a proposal may gather votes.
    """
    access_control.__init__()
    timelock_controller.__init__(0, [], [], empty(address))
    membership.__init__(members_, threshold_, voting_period_)
    proposals._set_delay(delay_)
    self.deployed_at = block.number
