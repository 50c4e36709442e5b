# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Trials: registry, protocol versions, sites and ethics approval
@custom:contract-name trial_registry
@license GNU Affero General Public License v3.0 or later
@notice A clinical trial as its sponsor (RESEARCHER) registers it: the hashes of
        its protocol and consent document, its target, its arms' allocation ratios
        and its permuted blocks' multiples, the visits each participant makes, a
        site's fee and a participant's stipend per visit, its sites (active ORG
        actors), and the budget it escrows in CareToken. Each protocol version waits
        for an ethics board (a valid `research-ethics-approval` credential, not the
        sponsor) to approve it; an amendment may ask participants to consent again.
        Modelled on research_studies.vy. No protected health information.
"""


from ethereum.ercs import IERC20

from . import roles
from . import research_studies as studies  # the ethics board's credential, ETHICS_APPROVAL


# @dev The most arms, block multiples, visits and sites a trial has.
MAX_ARMS: constant(uint256) = 8
MAX_MULTIPLES: constant(uint256) = 4
MAX_VISITS: constant(uint8) = 16
MAX_SITES: constant(uint256) = 32


# @dev A trial's terms and state. `budget` is all ever escrowed, `escrow`
#      what is left, `owed` the most the remaining visits of those taking
#      part can cost (`enrol` keeps `escrow >= owed`). `enrolled` counts
#      everyone ever enrolled (withdrawn too: the enrolment order keeps
#      them), `allocated` those allocated. `seed` is zero while blinded.
struct Trial:
    sponsor: address
    target: uint32
    enrolled: uint32
    withdrawn: uint32
    visits: uint8
    site_fee: uint256
    stipend: uint256
    budget: uint256
    escrow: uint256
    owed: uint256
    current_version: uint32
    latest_version: uint32
    reconsent_from: uint32
    seed_hash: bytes32
    seed: bytes32
    revealed_at: uint64
    arms: uint8
    allocated: uint32


# @dev One protocol version: its protocol's and consent document's hashes, whether
#      participants must consent again, who approved it when (zero while pending).
struct Version:
    protocol_hash: bytes32
    consent_hash: bytes32
    reconsent: bool
    approved_by: address
    approved_at: uint64


# @dev A sponsor registered a trial; its version 1 waits for approval.
event TrialRegistered:
    trial_id: indexed(uint256)
    sponsor: indexed(address)
    protocol_hash: bytes32
    consent_hash: bytes32
    target: uint32
    visits: uint8
    site_fee: uint256
    stipend: uint256
    budget: uint256


# @dev An ethics board approved a version: it is the current one.
event VersionApproved:
    trial_id: indexed(uint256)
    version: uint32
    board: indexed(address)


# @dev The sponsor amended the protocol: a new version waits for approval.
event TrialAmended:
    trial_id: indexed(uint256)
    version: uint32
    protocol_hash: bytes32
    consent_hash: bytes32
    reconsent: bool


# @dev The sponsor added a site.
event SiteAdded:
    trial_id: indexed(uint256)
    site: indexed(address)


# @dev The sponsor removed a site: it enrols no one more there.
event SiteRemoved:
    trial_id: indexed(uint256)
    site: indexed(address)


# @dev The IdentityRegistry that says who is a researcher, an ethics board, an organisation.
IDENTITY: public(immutable(address))

# @dev The token budgets, fees and stipends are in (CareToken).
TOKEN: public(immutable(address))

# @dev The number of trials registered; ids run 1..trial_count.
trial_count: public(uint256)

# @dev Per trial: its terms and state.
_trials: HashMap[uint256, Trial]

# @dev Per trial and version number (1..latest_version): the version.
_versions: HashMap[uint256, HashMap[uint32, Version]]

# @dev Per trial: the allocation ratio of each arm, in arm order.
_ratios: HashMap[uint256, DynArray[uint8, MAX_ARMS]]

# @dev Per trial: the multiples of the ratios' sum a permuted block may have.
_block_multiples: HashMap[uint256, DynArray[uint8, MAX_MULTIPLES]]

# @dev Per trial: its sites, in the order they were named.
_sites: HashMap[uint256, DynArray[address, MAX_SITES]]

# @dev Per trial and address: whether it is one of the trial's sites.
_is_site: HashMap[uint256, HashMap[address, bool]]


@deploy
def __init__(identity: address, token: address):
    """
    @dev Bind trials to the registry and the token.
    @param identity The IdentityRegistry.
    @param token The escrow's token (CareToken).
    """
    assert identity != empty(address) and token != empty(address), "trials: no registry or token"
    IDENTITY = identity
    TOKEN = token


@external
def register_trial(
    protocol_hash: bytes32, consent_hash: bytes32, target: uint32, ratios: DynArray[uint8, MAX_ARMS],
    block_multiples: DynArray[uint8, MAX_MULTIPLES], visits: uint8, site_fee: uint256, stipend: uint256, budget: uint256,
    sites: DynArray[address, MAX_SITES],
) -> uint256:
    """
    @dev Creates the trial, version 1 pending approval, and escrows `budget`.
    @notice A researcher (the sponsor) who approved this contract for
            `budget` CareToken. Refuses `trials: not a researcher`,
            `trials: no protocol`, `trials: no consent document`,
            `trials: no target`, `trials: fewer than two arms`,
            `trials: an arm's ratio is zero`, `trials: no block multiple`,
            `trials: a block multiple is zero`, `trials: visits are 1 to 16`,
            and for a site `trials: site is not an active organisation`,
            `trials: site listed twice`.
    @param protocol_hash The hash of the protocol document (kept off chain).
    @param consent_hash The hash of version 1's consent document.
    @param target The number of participants to enrol.
    @param ratios Each arm's allocation ratio, in arm order (2 to 8 arms).
    @param block_multiples The multiples of the ratios' sum a block may have.
    @param visits The visits each participant makes (1 to 16).
    @param site_fee What a site is paid for each visit.
    @param stipend What a participant is paid for each visit.
    @param budget The escrow.
    @param sites The trial's sites.
    @return The trial's id.
    """
    assert staticcall roles.IIdentityRegistry(IDENTITY).role_of(msg.sender) == roles.RESEARCHER, "trials: not a researcher"
    assert protocol_hash != empty(bytes32), "trials: no protocol"
    assert consent_hash != empty(bytes32), "trials: no consent document"
    assert target != 0, "trials: no target"
    self._check_design(ratios, block_multiples, visits)
    trial_id: uint256 = self.trial_count + 1
    self.trial_count = trial_id
    self._trials[trial_id] = Trial(
        sponsor=msg.sender, target=target, enrolled=0, withdrawn=0, visits=visits, site_fee=site_fee, stipend=stipend,
        budget=budget, escrow=budget, owed=0, current_version=0, latest_version=1, reconsent_from=0,
        seed_hash=empty(bytes32), seed=empty(bytes32), revealed_at=0, arms=convert(len(ratios), uint8), allocated=0,
    )
    self._versions[trial_id][1] = Version(
        protocol_hash=protocol_hash, consent_hash=consent_hash, reconsent=False, approved_by=empty(address), approved_at=0
    )
    self._ratios[trial_id] = ratios
    self._block_multiples[trial_id] = block_multiples
    for site: address in sites:
        self._add_site(trial_id, site)
    log TrialRegistered(
        trial_id=trial_id, sponsor=msg.sender, protocol_hash=protocol_hash, consent_hash=consent_hash, target=target,
        visits=visits, site_fee=site_fee, stipend=stipend, budget=budget,
    )
    self._receive(msg.sender, budget)
    return trial_id


@external
def approve_version(trial_id: uint256, version: uint32):
    """
    @dev Makes the pending version current; one that asks for re-consent
         makes every participant who consented to an earlier version
         consent again before her next visit.
    @notice An ethics board: an active actor with a valid ethics approval
            credential, not the sponsor. Refuses `trials: no such trial`,
            `trials: the sponsor cannot approve its own trial`,
            `trials: not an active actor`, `trials: no valid ethics
            approval credential`, `trials: not the pending version`.
    @param trial_id The trial.
    @param version The version, the latest one, pending approval.
    """
    sponsor: address = self._trials[trial_id].sponsor
    assert sponsor != empty(address), "trials: no such trial"
    assert msg.sender != sponsor, "trials: the sponsor cannot approve its own trial"
    registry: roles.IIdentityRegistry = roles.IIdentityRegistry(IDENTITY)
    assert staticcall registry.role_of(msg.sender) != 0, "trials: not an active actor"
    assert staticcall registry.has_valid_credential(msg.sender, studies.ETHICS_APPROVAL), "trials: no valid ethics approval credential"
    assert version == self._trials[trial_id].latest_version and self._versions[trial_id][version].approved_at == 0, "trials: not the pending version"
    self._versions[trial_id][version].approved_by = msg.sender
    self._versions[trial_id][version].approved_at = convert(block.timestamp, uint64)
    self._trials[trial_id].current_version = version
    if self._versions[trial_id][version].reconsent:
        self._trials[trial_id].reconsent_from = version
    log VersionApproved(trial_id=trial_id, version=version, board=msg.sender)


@external
def amend(trial_id: uint256, protocol_hash: bytes32, consent_hash: bytes32, reconsent: bool) -> uint32:
    """
    @dev Adds a protocol version, pending approval (the current one stays).
    @notice The sponsor, when no version is pending. Refuses `trials: no
            such trial`, `trials: not the sponsor`, `trials: a version is
            pending approval`, `trials: no protocol`, `trials: no consent
            document`.
    @param trial_id The trial.
    @param protocol_hash The hash of the amended protocol.
    @param consent_hash The hash of its consent document.
    @param reconsent Whether every participant must consent to it again.
    @return The new version's number.
    """
    self._check_sponsor(trial_id)
    latest: uint32 = self._trials[trial_id].latest_version
    assert self._versions[trial_id][latest].approved_at != 0, "trials: a version is pending approval"
    assert protocol_hash != empty(bytes32), "trials: no protocol"
    assert consent_hash != empty(bytes32), "trials: no consent document"
    version: uint32 = latest + 1
    self._trials[trial_id].latest_version = version
    self._versions[trial_id][version] = Version(
        protocol_hash=protocol_hash, consent_hash=consent_hash, reconsent=reconsent, approved_by=empty(address), approved_at=0
    )
    log TrialAmended(trial_id=trial_id, version=version, protocol_hash=protocol_hash, consent_hash=consent_hash, reconsent=reconsent)
    return version


@external
def add_site(trial_id: uint256, site: address):
    """
    @dev Names one more site of the trial.
    @notice The sponsor. Refuses `trials: no such trial`, `trials: not the
            sponsor`, `trials: site is not an active organisation`,
            `trials: site listed twice`, `trials: too many sites`.
    @param trial_id The trial.
    @param site The site's node wallet, an active ORG actor.
    """
    self._check_sponsor(trial_id)
    self._add_site(trial_id, site)


@external
def remove_site(trial_id: uint256, site: address):
    """
    @dev Stops new enrolments at `site`; those it enrolled stay its own
         (it re-consents, withdraws and is paid for them while active).
    @notice The sponsor. Refuses `trials: no such trial`, `trials: not the
            sponsor`, `trials: not a site of the trial`.
    @param trial_id The trial.
    @param site The site's node wallet.
    """
    self._check_sponsor(trial_id)
    assert self._is_site[trial_id][site], "trials: not a site of the trial"
    self._is_site[trial_id][site] = False
    kept: DynArray[address, MAX_SITES] = []
    for named: address in self._sites[trial_id]:
        if named != site:
            kept.append(named)
    self._sites[trial_id] = kept
    log SiteRemoved(trial_id=trial_id, site=site)


@external
@view
def trial(trial_id: uint256) -> Trial:
    """
    @notice A trial's terms and state (all zero if there is none).
    @param trial_id The trial.
    """
    return self._trials[trial_id]


@external
@view
def version(trial_id: uint256, version: uint32) -> Version:
    """
    @notice Version `version` (1..latest_version) of a trial (all zero if there is none).
    @param trial_id The trial.
    """
    return self._versions[trial_id][version]


@external
@view
def sites(trial_id: uint256) -> DynArray[address, MAX_SITES]:
    """
    @notice The trial's sites' node wallets, in the order they were named.
    @param trial_id The trial.
    """
    return self._sites[trial_id]


@external
@view
def is_site(trial_id: uint256, site: address) -> bool:
    """
    @notice Whether `site` is one of the trial's sites.
    @param trial_id The trial.
    """
    return self._is_site[trial_id][site]


@internal
@view
def _check_sponsor(trial_id: uint256):
    """
    @dev Refuse an unknown trial, or a caller other than its sponsor.
    """
    sponsor: address = self._trials[trial_id].sponsor
    assert sponsor != empty(address), "trials: no such trial"
    assert msg.sender == sponsor, "trials: not the sponsor"


@internal
@view
def _check_active():
    """
    @dev Refuse a caller that is not an active organisation now (the council may have deactivated a site).
    """
    assert staticcall roles.IIdentityRegistry(IDENTITY).role_of(msg.sender) == roles.ORG, "trials: site not active"


@internal
@pure
def _check_design(ratios: DynArray[uint8, MAX_ARMS], block_multiples: DynArray[uint8, MAX_MULTIPLES], visits: uint8):
    """
    @dev Refuse a randomisation or schedule the trial cannot run.
    """
    assert len(ratios) >= 2, "trials: fewer than two arms"
    for ratio: uint8 in ratios:
        assert ratio != 0, "trials: an arm's ratio is zero"
    assert len(block_multiples) != 0, "trials: no block multiple"
    for multiple: uint8 in block_multiples:
        assert multiple != 0, "trials: a block multiple is zero"
    assert visits != 0 and visits <= MAX_VISITS, "trials: visits are 1 to 16"


@internal
def _add_site(trial_id: uint256, site: address):
    """
    @dev Name `site` a site of the trial: an active organisation, once.
    """
    assert staticcall roles.IIdentityRegistry(IDENTITY).role_of(site) == roles.ORG, "trials: site is not an active organisation"
    assert not self._is_site[trial_id][site], "trials: site listed twice"
    assert len(self._sites[trial_id]) < MAX_SITES, "trials: too many sites"
    self._is_site[trial_id][site] = True
    self._sites[trial_id].append(site)
    log SiteAdded(trial_id=trial_id, site=site)


@internal
def _receive(sender: address, amount: uint256):
    """
    @dev Move `amount` CareToken from `sender` (who approved it) into the escrow.
    """
    if amount != 0:
        assert extcall IERC20(TOKEN).transferFrom(sender, self, amount, default_return_value=True), "trials: transfer failed"
