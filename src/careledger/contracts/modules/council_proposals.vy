# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Council: proposals, votes and the timelock
@custom:contract-name council_proposals
@license GNU Affero General Public License v3.0 or later
@notice A member proposes a batch of calls (targets, values, calldata)
        with a description; members vote, one vote each; the vote
        that reaches the threshold queues the batch in snekmate's
        `timelock_controller`, and after its delay anyone executes it,
        once, the calls in order (all or none). A proposal not queued
        within the voting period expires; a queued one not executed
        within `GRACE_PERIOD` of becoming ready expires too (as in
        Compound's Timelock); its proposer, while a member, may cancel
        it while it is open, but not once it is queued. The batch is kept only as its timelock operation id:
        the calls and the description are in `ProposalCreated`, and
        `execute` is given the calls again and checks them against
        the id, as OpenZeppelin's Governor does.
"""


from snekmate.governance import timelock_controller
uses: timelock_controller

from . import council_members as membership
uses: membership


# @dev The most calls one proposal makes.
MAX_CALLS: public(constant(uint256)) = 16


# @dev The longest calldata of one call, and the longest description
#      (`timelock_controller`'s payload bound).
PAYLOAD_BOUND: constant(uint256) = 1_024
DESCRIPTION_BOUND: constant(uint256) = 1_024


# @dev The shortest timelock delay, at bootstrap or set later: an hour,
#      so that every member, and everyone watching the chain, sees a
#      decision queued before it takes effect (a delay of 0 would make
#      the timelock a formality). The longest: 30 days.
MIN_DELAY: public(constant(uint256)) = 3_600
MAX_DELAY: public(constant(uint256)) = 30 * 86_400


# @dev How long a ready proposal stays executable: 14 days.
GRACE_PERIOD: public(constant(uint256)) = 14 * 86_400


# @dev A proposal's states, as `state` reports them.
ACTIVE: public(constant(uint8)) = 1
QUEUED: public(constant(uint8)) = 2
READY: public(constant(uint8)) = 3
EXECUTED: public(constant(uint8)) = 4
CANCELLED: public(constant(uint8)) = 5
EXPIRED: public(constant(uint8)) = 6
OUTDATED: public(constant(uint8)) = 7


# @dev One proposal; its calls are those `operation` hashes.
struct Proposal:
    operation: bytes32
    proposer: address
    description_hash: bytes32
    votes: uint256
    epoch: uint256
    created_at: uint256
    voting_ends: uint256
    eta: uint256
    cancelled: bool


# @dev Proposals by id; ids start at 1.
_proposals: HashMap[uint256, Proposal]


# @dev The number of proposals made so far (the newest one's id).
proposal_count: public(uint256)


# @dev Whether a member has voted for a proposal.
has_voted: public(HashMap[uint256, HashMap[address, bool]])


# @dev Emitted when a member proposes a batch of calls.
event ProposalCreated:
    proposal_id: indexed(uint256)
    proposer: indexed(address)
    operation: bytes32
    targets: DynArray[address, MAX_CALLS]
    amounts: DynArray[uint256, MAX_CALLS]
    payloads: DynArray[Bytes[PAYLOAD_BOUND], MAX_CALLS]
    description: String[DESCRIPTION_BOUND]
    voting_ends: uint256


# @dev Emitted when a member votes for a proposal.
event Voted:
    proposal_id: indexed(uint256)
    voter: indexed(address)
    votes: uint256


# @dev Emitted when a proposal has its votes and enters the timelock.
event ProposalQueued:
    proposal_id: indexed(uint256)
    operation: bytes32
    eta: uint256


# @dev Emitted when a proposal's calls have been made.
event ProposalExecuted:
    proposal_id: indexed(uint256)
    operation: bytes32
    executor: indexed(address)


# @dev Emitted when its proposer withdraws a proposal.
event ProposalCancelled:
    proposal_id: indexed(uint256)
    by: indexed(address)


# @dev Emitted when the timelock's delay changes.
event DelayChanged:
    old_delay: uint256
    new_delay: uint256


@external
def propose(
    targets: DynArray[address, MAX_CALLS],
    amounts: DynArray[uint256, MAX_CALLS],
    payloads: DynArray[Bytes[PAYLOAD_BOUND], MAX_CALLS],
    description: String[DESCRIPTION_BOUND],
) -> uint256:
    """
    @dev Records a proposal to make `targets[i]` calls with `payloads[i]`
         and `amounts[i]` wei, in order; proposing is not voting.
    @notice A member only. The description is public on chain.
    @param targets The contracts called (the council itself to change
           its members, threshold, voting period or delay).
    @param amounts The wei each call sends.
    @param payloads Each call's ABI-encoded calldata.
    @param description Why, in words.
    @return The proposal's id.
    """
    membership._check_member(msg.sender)
    count: uint256 = len(targets)
    assert count != 0, "council: a proposal makes at least one call"
    assert len(amounts) == count and len(payloads) == count, "council: targets, values and payloads differ in number"
    proposal_id: uint256 = self.proposal_count + 1
    self.proposal_count = proposal_id
    description_hash: bytes32 = keccak256(description)
    operation: bytes32 = self._operation(targets, amounts, payloads, proposal_id, description_hash)
    voting_ends: uint256 = block.timestamp + membership.voting_period
    self._proposals[proposal_id] = Proposal(
        operation=operation,
        proposer=msg.sender,
        description_hash=description_hash,
        votes=0,
        epoch=membership.epoch,
        created_at=block.timestamp,
        voting_ends=voting_ends,
        eta=0,
        cancelled=False,
    )
    log ProposalCreated(
        proposal_id=proposal_id,
        proposer=msg.sender,
        operation=operation,
        targets=targets,
        amounts=amounts,
        payloads=payloads,
        description=description,
        voting_ends=voting_ends,
    )
    return proposal_id


@external
def vote(proposal_id: uint256):
    """
    @dev Counts the caller's vote; the vote that reaches the threshold
         queues the proposal, executable after the delay.
    @notice A member only, once per proposal, while it is open: not
            queued, cancelled, expired or outdated by a change of members.
    @param proposal_id The proposal.
    """
    membership._check_member(msg.sender)
    self._check_open(proposal_id)
    assert not self.has_voted[proposal_id][msg.sender], "council: already voted"
    self.has_voted[proposal_id][msg.sender] = True
    votes: uint256 = self._proposals[proposal_id].votes + 1
    self._proposals[proposal_id].votes = votes
    log Voted(proposal_id=proposal_id, voter=msg.sender, votes=votes)
    if votes >= membership.threshold:
        self._queue(proposal_id)


@external
def queue(proposal_id: uint256):
    """
    @dev Queues an open proposal that has the votes: one that had
         enough only once the threshold was lowered.
    @notice Anyone.
    @param proposal_id The proposal.
    """
    self._check_open(proposal_id)
    assert self._proposals[proposal_id].votes >= membership.threshold, "council: not enough votes"
    self._queue(proposal_id)


@external
@payable
@nonreentrant
def execute(
    proposal_id: uint256,
    targets: DynArray[address, MAX_CALLS],
    amounts: DynArray[uint256, MAX_CALLS],
    payloads: DynArray[Bytes[PAYLOAD_BOUND], MAX_CALLS],
):
    """
    @dev Makes a ready proposal's calls, in order; if one reverts, all do
         and the proposal stays ready.
    @notice Anyone, once, after the delay and within the grace period.
    @param proposal_id The proposal.
    @param targets Its targets, as proposed.
    @param amounts Its values, as proposed.
    @param payloads Its calldata, as proposed.
    """
    proposal: Proposal = self._require(proposal_id)
    assert not proposal.cancelled, "council: proposal cancelled"
    assert proposal.eta != 0, "council: proposal not queued"
    assert not timelock_controller._is_operation_done(proposal.operation), "council: proposal already executed"
    assert block.timestamp >= proposal.eta, "council: timelock not yet passed"
    assert block.timestamp <= proposal.eta + GRACE_PERIOD, "council: proposal expired"
    assert len(amounts) == len(targets) and len(payloads) == len(targets), "council: calls differ from the proposal's"
    operation: bytes32 = self._operation(targets, amounts, payloads, proposal_id, proposal.description_hash)
    assert operation == proposal.operation, "council: calls differ from the proposal's"
    timelock_controller._before_call(operation, empty(bytes32))
    for i: uint256 in range(len(targets), bound=MAX_CALLS):
        timelock_controller._execute(targets[i], amounts[i], payloads[i])
    timelock_controller._after_call(operation)
    log ProposalExecuted(proposal_id=proposal_id, operation=operation, executor=msg.sender)


@external
def cancel(proposal_id: uint256):
    """
    @dev Withdraws a proposal while it is open: not yet queued, expired
         or outdated. Once k members have voted it into the timelock,
         one member alone does not undo it.
    @notice Its proposer only, while a member.
    @param proposal_id The proposal.
    """
    membership._check_member(msg.sender)
    self._check_open(proposal_id)
    assert msg.sender == self._proposals[proposal_id].proposer, "council: only its proposer cancels a proposal"
    self._proposals[proposal_id].cancelled = True
    log ProposalCancelled(proposal_id=proposal_id, by=msg.sender)


@external
def set_delay(new_delay: uint256):
    """
    @dev Changes the timelock's delay for proposals queued from now on.
    @notice The council itself only, through an executed proposal.
    @param new_delay Seconds, `MIN_DELAY` to `MAX_DELAY`.
    """
    membership._check_council()
    self._set_delay(new_delay)


@external
@view
def delay() -> uint256:
    """
    @notice How long a queued proposal waits before it may be executed.
    @return Seconds.
    """
    return timelock_controller.get_minimum_delay


@external
@view
def proposal(proposal_id: uint256) -> Proposal:
    """
    @notice A proposal as stored (proposer zero if there is none).
    @param proposal_id The proposal.
    @return The proposal.
    """
    return self._proposals[proposal_id]


@external
@view
def state(proposal_id: uint256) -> uint8:
    """
    @notice Where a proposal stands: one of the state constants, 0 if none.
    @param proposal_id The proposal.
    @return Its state.
    """
    proposal: Proposal = self._proposals[proposal_id]
    if proposal.proposer == empty(address):
        return 0
    if proposal.cancelled:
        return CANCELLED
    if proposal.eta == 0:
        if proposal.epoch != membership.epoch:
            return OUTDATED
        if block.timestamp > proposal.voting_ends:
            return EXPIRED
        return ACTIVE
    if timelock_controller._is_operation_done(proposal.operation):
        return EXECUTED
    if block.timestamp < proposal.eta:
        return QUEUED
    if block.timestamp > proposal.eta + GRACE_PERIOD:
        return EXPIRED
    return READY


@internal
def _set_delay(new_delay: uint256):
    assert new_delay >= MIN_DELAY and new_delay <= MAX_DELAY, "council: delay out of bounds"
    log DelayChanged(old_delay=timelock_controller.get_minimum_delay, new_delay=new_delay)
    timelock_controller.get_minimum_delay = new_delay


@internal
def _queue(proposal_id: uint256):
    delay: uint256 = timelock_controller.get_minimum_delay
    operation: bytes32 = self._proposals[proposal_id].operation
    timelock_controller._schedule(operation, delay)
    eta: uint256 = block.timestamp + delay
    self._proposals[proposal_id].eta = eta
    log ProposalQueued(proposal_id=proposal_id, operation=operation, eta=eta)


@internal
@view
def _require(proposal_id: uint256) -> Proposal:
    proposal: Proposal = self._proposals[proposal_id]
    assert proposal.proposer != empty(address), "council: no such proposal"
    return proposal


@internal
@view
def _check_open(proposal_id: uint256):
    # Field by field: a vote reads five of the proposal's nine slots, not all of them.
    assert self._proposals[proposal_id].proposer != empty(address), "council: no such proposal"
    assert not self._proposals[proposal_id].cancelled, "council: proposal cancelled"
    assert self._proposals[proposal_id].eta == 0, "council: proposal already queued"
    assert (
        self._proposals[proposal_id].epoch == membership.epoch
    ), "council: the members changed since it was proposed; propose it again"
    assert block.timestamp <= self._proposals[proposal_id].voting_ends, "council: voting has ended"


@internal
@pure
def _operation(
    targets: DynArray[address, MAX_CALLS],
    amounts: DynArray[uint256, MAX_CALLS],
    payloads: DynArray[Bytes[PAYLOAD_BOUND], MAX_CALLS],
    proposal_id: uint256,
    description_hash: bytes32,
) -> bytes32:
    """
    @dev The timelock operation id of a proposal's calls:
         `timelock_controller.hash_operation_batch` of them with no
         predecessor and a salt of the proposal's id and description,
         so two proposals of the same calls are two operations.
    """
    salt: bytes32 = keccak256(abi_encode(proposal_id, description_hash))
    return keccak256(abi_encode(targets, amounts, payloads, empty(bytes32), salt))
