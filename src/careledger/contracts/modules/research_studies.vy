# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Research: studies
@custom:contract-name research_studies
@license GNU Affero General Public License v3.0 or later
@notice The study registry and its escrow: a researcher registers a
        study and escrows its budget in CareToken, anyone may add to the
        escrow while it runs, an ethics board that is not the sponsor
        approves it, and once it ended the sponsor takes back what the
        rewards left. The escrow always holds the reward of every
        participant not yet paid (`_check_room` before each join), so a
        release never finds it short.
"""


from ethereum.ercs import IERC20

from . import roles


# @dev The credential an ethics board (an IRB) holds.
ETHICS_APPROVAL: public(constant(bytes32)) = keccak256("research-ethics-approval")


# @dev Record categories (careledger.records.Category), one bit each.
ALL_CATEGORIES: constant(uint16) = 1023


# @dev A study's terms and state. `budget` is everything escrowed for it
#      (at registration and by `top_up`), `escrow` what of it is left,
#      `participants` who take part now, and `unpaid` those of them not
#      paid yet: `escrow` never holds less than `unpaid` rewards.
struct Study:
    sponsor: address
    protocol_hash: bytes32
    categories: uint16
    data_from: uint64
    data_to: uint64
    ends: uint64
    epsilon_milli: uint32
    reward: uint256
    budget: uint256
    escrow: uint256
    approved_by: address
    approved_at: uint64
    participants: uint32
    unpaid: uint32


event StudyRegistered:
    study_id: indexed(uint256)
    sponsor: indexed(address)
    protocol_hash: bytes32
    categories: uint16
    reward: uint256
    budget: uint256


event StudyApproved:
    study_id: indexed(uint256)
    board: indexed(address)


event EscrowToppedUp:
    study_id: indexed(uint256)
    by: indexed(address)
    amount: uint256


event EscrowReturned:
    study_id: indexed(uint256)
    amount: uint256


# @dev The IdentityRegistry that says who is a researcher, an ethics board, a patient.
IDENTITY: public(immutable(address))

# @dev The token rewards and budgets are in (CareToken).
TOKEN: public(immutable(address))

study_count: public(uint256)
_studies: HashMap[uint256, Study]


@deploy
def __init__(identity: address, token: address):
    """
    @dev Bind studies to the registry and the token.
    @param identity The IdentityRegistry.
    @param token The reward token (CareToken).
    """
    assert identity != empty(address) and token != empty(address), "research: no registry or token"
    IDENTITY = identity
    TOKEN = token


@external
def register_study(
    protocol_hash: bytes32,
    categories: uint16,
    data_from: uint64,
    data_to: uint64,
    ends: uint64,
    epsilon_milli: uint32,
    reward: uint256,
    budget: uint256,
) -> uint256:
    """
    @notice Register a study and escrow its budget: the caller, a
            researcher, has approved this contract for `budget` CareToken.
    @param protocol_hash The hash of the study protocol (kept off chain).
    @param categories The record categories it asks for (a bitmask).
    @param data_from The start of the period of data it asks for.
    @param data_to The end of that period.
    @param ends When enrolment and releases end and the sponsor may take back the rest.
    @param epsilon_milli Each node's privacy budget for the study's aggregate queries, in thousandths of epsilon.
    @param reward What each participant is paid, once.
    @param budget The escrow, at least one reward.
    @return The study's id.
    """
    registry: roles.IIdentityRegistry = roles.IIdentityRegistry(IDENTITY)
    assert staticcall registry.role_of(msg.sender) == roles.RESEARCHER, "research: not a researcher"
    assert protocol_hash != empty(bytes32), "research: no protocol"
    assert categories != 0 and categories <= ALL_CATEGORIES, "research: invalid categories"
    assert data_from < data_to, "research: invalid data period"
    assert convert(ends, uint256) > block.timestamp, "research: ends in the past"
    assert epsilon_milli != 0, "research: no privacy budget"
    assert reward != 0 and budget >= reward, "research: the budget pays no reward"
    study_id: uint256 = self.study_count + 1
    self.study_count = study_id
    self._studies[study_id] = Study(
        sponsor=msg.sender,
        protocol_hash=protocol_hash,
        categories=categories,
        data_from=data_from,
        data_to=data_to,
        ends=ends,
        epsilon_milli=epsilon_milli,
        reward=reward,
        budget=budget,
        escrow=budget,
        approved_by=empty(address),
        approved_at=0,
        participants=0,
        unpaid=0,
    )
    assert extcall IERC20(TOKEN).transferFrom(msg.sender, self, budget, default_return_value=True), "research: transfer failed"
    log StudyRegistered(
        study_id=study_id, sponsor=msg.sender, protocol_hash=protocol_hash, categories=categories, reward=reward, budget=budget
    )
    return study_id


@external
def approve(study_id: uint256):
    """
    @notice Approve a study: the caller is an active actor with a valid
            ethics approval credential, and not the study's sponsor.
    @param study_id The study.
    """
    study: Study = self._study(study_id)
    assert study.approved_at == 0, "research: already approved"
    assert msg.sender != study.sponsor, "research: a sponsor cannot approve its own study"
    registry: roles.IIdentityRegistry = roles.IIdentityRegistry(IDENTITY)
    assert staticcall registry.role_of(msg.sender) != 0, "research: not an active actor"
    assert staticcall registry.has_valid_credential(msg.sender, ETHICS_APPROVAL), "research: no valid ethics approval credential"
    self._studies[study_id].approved_by = msg.sender
    self._studies[study_id].approved_at = convert(block.timestamp, uint64)
    log StudyApproved(study_id=study_id, board=msg.sender)


@external
def top_up(study_id: uint256, amount: uint256):
    """
    @notice Add `amount` CareToken to a study's escrow, so that it pays
            more participants: anyone may, the sponsor first of all,
            having approved this contract for `amount`. Refused once the
            study ended (what is left then goes back to the sponsor).
    @param study_id The study.
    @param amount What to add, in token base units.
    """
    study: Study = self._study(study_id)
    assert block.timestamp <= convert(study.ends, uint256), "research: the study has ended"
    assert amount != 0, "research: nothing to add"
    self._studies[study_id].budget = study.budget + amount
    self._studies[study_id].escrow = study.escrow + amount
    log EscrowToppedUp(study_id=study_id, by=msg.sender, amount=amount)
    assert extcall IERC20(TOKEN).transferFrom(msg.sender, self, amount, default_return_value=True), "research: transfer failed"


@external
def return_escrow(study_id: uint256):
    """
    @notice Give the sponsor what is left of the escrow once the study ended.
    @param study_id The study.
    """
    study: Study = self._study(study_id)
    assert msg.sender == study.sponsor, "research: not the sponsor"
    assert block.timestamp > convert(study.ends, uint256), "research: the study has not ended"
    amount: uint256 = study.escrow
    assert amount != 0, "research: nothing left"
    self._studies[study_id].escrow = 0
    log EscrowReturned(study_id=study_id, amount=amount)
    self._transfer(msg.sender, amount)


@external
@view
def study(study_id: uint256) -> Study:
    """
    @notice A study's terms and state.
    @param study_id The study.
    @return The study (all zero if there is none).
    """
    return self._studies[study_id]


@internal
@view
def _study(study_id: uint256) -> Study:
    study: Study = self._studies[study_id]
    assert study.sponsor != empty(address), "research: no such study"
    return study


@internal
@view
def _check_open(study: Study):
    assert study.approved_at != 0, "research: the study is not approved"
    assert block.timestamp <= convert(study.ends, uint256), "research: the study has ended"


@internal
@pure
def _check_room(study: Study):
    """
    @dev Refuse one more participant not yet paid unless the escrow holds
         her reward beside those of the `unpaid` already taking part.
         Divided, not multiplied, so no reward can overflow it.
    """
    assert study.escrow // study.reward > convert(study.unpaid, uint256), "research: escrow cannot pay another participant"


@internal
def _transfer(to: address, amount: uint256):
    assert extcall IERC20(TOKEN).transfer(to, amount, default_return_value=True), "research: transfer failed"
