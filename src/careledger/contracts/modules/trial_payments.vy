# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Trials: the escrow, its top-ups and its milestone payments
@custom:contract-name trial_payments
@license GNU Affero General Public License v3.0 or later
@notice The escrow pays for each verified visit, in order: its site the
        site fee and the participant's payee her stipend, once the
        visit's case report form (CRF) is anchored: the site names the
        visit's leaf (a salted commitment to the CRF's version) and
        proves it belongs to a batch of records (RecordAnchor kind
        RECORDS) that the site itself anchored, so a site is paid only
        for what it put on record under its own name, never for another
        node's leaves or for audit heads. A leaf pays once, whatever the
        trial; a correction of a CRF after its visit was paid is a new
        leaf the chain does not tie to that visit (the site's own records
        do). A participant who withdrew, is not allocated yet, or has
        not consented to the version an amendment asked her to, is not
        paid. A participant with no payee yet has her stipends held
        (`held`) until her site names one (`set_payee`), which pays out
        everything held at once. Anyone may top the escrow up; after
        unblinding the sponsor takes back what it holds beyond what is
        still owed (held stipends are hers, never returned).

        No protected health information is stored: commitments, addresses
        and amounts; `PayeeNamed` does not carry the payee.
"""


from ethereum.ercs import IERC20

from . import packing

from . import trial_registry as registry
uses: registry

from . import trial_enrolment as enrolment
uses: enrolment


# @dev One anchored batch, as RecordAnchor's `batch` view returns it.
struct Batch:
    root: bytes32
    leaf_count: uint32
    kind: uint8
    anchorer: address
    timestamp: uint40


interface IRecordAnchor:
    def batch(root: bytes32) -> Batch: view
    def verify(root: bytes32, proof: DynArray[bytes32, MAX_PROOF], leaf: bytes32) -> bool: view


# @dev The longest Merkle proof a visit's CRF comes with (2**32 leaves).
MAX_PROOF: constant(uint256) = 32

# @dev RecordAnchor.KIND_RECORDS: a batch of record commitments (not audit heads).
KIND_RECORDS: constant(uint8) = 1


# @dev A visit was paid: the site fee to its site, the stipend to her
#      payee, or held for her (`held`) while she has none.
event VisitPaid:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)
    site: indexed(address)
    visit: uint8
    site_fee: uint256
    stipend: uint256
    crf_leaf: bytes32
    held: bool


# @dev Her site named (or changed) where her stipends go; the address is not logged.
event PayeeNamed:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)


# @dev The stipends held for her were paid to her new payee.
event HeldPaid:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)
    amount: uint256


# @dev Someone added to a trial's escrow.
event EscrowToppedUp:
    trial_id: indexed(uint256)
    by: indexed(address)
    amount: uint256


# @dev The sponsor took back what the escrow held beyond what is owed.
event EscrowReturned:
    trial_id: indexed(uint256)
    amount: uint256


# @dev The RecordAnchor whose batches prove a CRF was anchored.
ANCHOR: public(immutable(address))

# @dev Per visit leaf: whether a visit (of any trial) was paid for it.
crf_paid: public(HashMap[bytes32, bool])

# @dev Per trial and participant: stipends paid while she had no payee,
#      out of the escrow, kept by this contract until `set_payee`.
_held: HashMap[uint256, HashMap[bytes32, uint256]]


@deploy
def __init__(anchor: address):
    """
    @dev Bind payments to the RecordAnchor.
    @param anchor The RecordAnchor.
    """
    assert anchor != empty(address), "trials: no anchor"
    ANCHOR = anchor


@external
def pay_visit(trial_id: uint256, participant: bytes32, visit: uint8, crf_leaf: bytes32, root: bytes32, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @dev Pays visit `visit` of a participant: the site fee to the caller,
         the stipend to her payee (or held for her if she has none), out of
         the escrow, which held both since she was enrolled.
    @notice The participant's site, an active organisation. Refuses
            `trials: not enrolled`, `trials: not the participant's site`,
            `trials: site not active`, `trials: withdrawn`, `trials: not
            allocated`, `trials: re-consent
            needed`, `trials: visit out of order` (not the next visit, or
            past the last), `trials: CRF already paid`, `trials: CRF not
            anchored` (no such batch, or the proof fails), `trials: CRF
            batch anchored by another node`, `trials: CRF batch is not of
            records`.
    @param trial_id The trial.
    @param participant Her commitment.
    @param visit The visit's number: one more than those paid.
    @param crf_leaf The anchored leaf of the visit's CRF.
    @param root The Merkle root of a RECORDS batch the caller anchored.
    @param proof The sibling hashes from `crf_leaf` to `root`.
    """
    record: uint256 = enrolment._own_record(trial_id, participant)
    registry._check_active()
    refusal: String[32] = enrolment._visit_block(trial_id, participant, record)
    assert refusal == empty(String[32]), refusal
    paid: uint256 = packing._field(record, enrolment._PAID, packing.U8)
    assert convert(visit, uint256) == paid + 1 and visit <= registry._trials[trial_id].visits, "trials: visit out of order"
    assert not self.crf_paid[crf_leaf], "trials: CRF already paid"
    self._check_anchored(crf_leaf, root, proof)
    site_fee: uint256 = registry._trials[trial_id].site_fee
    stipend: uint256 = registry._trials[trial_id].stipend
    payee: address = enrolment._payee_of(trial_id, participant)
    enrolment._records[trial_id][participant] = packing._with_field(record, enrolment._PAID, packing.U8, paid + 1)
    self.crf_paid[crf_leaf] = True
    registry._trials[trial_id].escrow -= site_fee + stipend
    registry._trials[trial_id].owed -= site_fee + stipend
    if payee == empty(address):
        self._held[trial_id][participant] += stipend
    log VisitPaid(
        trial_id=trial_id, participant=participant, site=msg.sender, visit=visit, site_fee=site_fee, stipend=stipend,
        crf_leaf=crf_leaf, held=payee == empty(address),
    )
    self._transfer(msg.sender, site_fee)
    if payee != empty(address):
        self._transfer(payee, stipend)


@external
def set_payee(trial_id: uint256, participant: bytes32, payee: address):
    """
    @dev Names (or changes) the address her stipends go to, and pays it
         everything held for her; withdrawn, she is still paid what was held.
    @notice The participant's site, an active organisation. Refuses
            `trials: not enrolled`, `trials: not the participant's site`,
            `trials: site not active`, `trials: no payee`.
    @param trial_id The trial.
    @param participant Her commitment.
    @param payee The address she chose (a fresh one links nothing else to the trial).
    """
    enrolment._own_record(trial_id, participant)
    registry._check_active()
    assert payee != empty(address), "trials: no payee"
    word: uint256 = enrolment._payees[trial_id][participant]
    enrolment._payees[trial_id][participant] = (word & ~packing.U160) | convert(payee, uint256)
    amount: uint256 = self._held[trial_id][participant]
    self._held[trial_id][participant] = 0
    log PayeeNamed(trial_id=trial_id, participant=participant)
    if amount != 0:
        log HeldPaid(trial_id=trial_id, participant=participant, amount=amount)
        self._transfer(payee, amount)


@external
def top_up(trial_id: uint256, amount: uint256):
    """
    @dev Adds `amount` CareToken to the escrow: it holds more visits.
    @notice Anyone who approved this contract for `amount`. Refuses
            `trials: no such trial`, `trials: nothing to add`.
    @param trial_id The trial.
    @param amount What to add, in token base units.
    """
    assert registry._trials[trial_id].sponsor != empty(address), "trials: no such trial"
    assert amount != 0, "trials: nothing to add"
    registry._trials[trial_id].budget += amount
    registry._trials[trial_id].escrow += amount
    log EscrowToppedUp(trial_id=trial_id, by=msg.sender, amount=amount)
    registry._receive(msg.sender, amount)


@external
def return_escrow(trial_id: uint256) -> uint256:
    """
    @dev Gives the sponsor what the escrow holds beyond what the remaining
         visits of the participants still taking part may cost.
    @notice The sponsor, after unblinding. Refuses `trials: no such
            trial`, `trials: not the sponsor`, `trials: not unblinded yet`,
            `trials: nothing to return`.
    @param trial_id The trial.
    @return What was returned.
    """
    registry._check_sponsor(trial_id)
    trial: registry.Trial = registry._trials[trial_id]
    assert trial.revealed_at != 0, "trials: not unblinded yet"
    amount: uint256 = trial.escrow - trial.owed
    assert amount != 0, "trials: nothing to return"
    registry._trials[trial_id].escrow = trial.owed
    log EscrowReturned(trial_id=trial_id, amount=amount)
    self._transfer(msg.sender, amount)
    return amount


@external
@view
def held(trial_id: uint256, participant: bytes32) -> uint256:
    """
    @notice The stipends held for her until her site names a payee.
    @param trial_id The trial.
    @param participant Her commitment.
    """
    return self._held[trial_id][participant]


@internal
@view
def _check_anchored(leaf: bytes32, root: bytes32, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @dev Refuse a leaf not proved in a batch of records the caller anchored.
    """
    batch: Batch = staticcall IRecordAnchor(ANCHOR).batch(root)
    assert batch.anchorer != empty(address), "trials: CRF not anchored"
    assert batch.anchorer == msg.sender, "trials: CRF batch anchored by another node"
    assert batch.kind == KIND_RECORDS, "trials: CRF batch is not of records"
    assert staticcall IRecordAnchor(ANCHOR).verify(root, proof, leaf), "trials: CRF not anchored"


@internal
def _transfer(to: address, amount: uint256):
    """
    @dev Pay `amount` CareToken out of the escrow.
    """
    if amount != 0:
        assert extcall IERC20(registry.TOKEN).transfer(to, amount, default_return_value=True), "trials: transfer failed"
