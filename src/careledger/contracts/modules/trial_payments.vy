# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Trials: milestone payments from the escrow
@custom:contract-name trial_payments
@license GNU Affero General Public License v3.0 or later
@notice The escrow pays for each verified visit, in order: its site the
        site fee and the participant's payee her stipend, once the
        visit's case report form (CRF) is anchored in the RecordAnchor:
        the site names the CRF's leaf (the salted commitment of the
        QuestionnaireResponse version) and proves it belongs to an
        anchored root. A leaf pays once. A participant who withdrew, is
        not allocated yet, or has not consented to the version an
        amendment asked her to, is not paid. After unblinding the sponsor
        takes back what the escrow holds beyond what is still owed.

        No protected health information is stored: commitments, addresses
        and amounts.
"""


from ethereum.ercs import IERC20

from . import packing

from . import trial_registry as registry
uses: registry

from . import trial_enrolment as enrolment
uses: enrolment


interface IRecordAnchor:
    def verify(root: bytes32, proof: DynArray[bytes32, MAX_PROOF], leaf: bytes32) -> bool: view


# @dev The longest Merkle proof a visit's CRF comes with (2**32 leaves).
MAX_PROOF: constant(uint256) = 32


# @dev A visit was paid: the site fee to its site, the stipend to her payee.
event VisitPaid:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)
    site: indexed(address)
    visit: uint8
    site_fee: uint256
    stipend: uint256
    crf_leaf: bytes32


# @dev The sponsor took back what the escrow held beyond what is owed.
event EscrowReturned:
    trial_id: indexed(uint256)
    amount: uint256


# @dev The RecordAnchor whose batches prove a CRF was anchored.
ANCHOR: public(immutable(address))

# @dev Per trial and CRF leaf: whether a visit was paid for it.
crf_paid: public(HashMap[uint256, HashMap[bytes32, bool]])


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
         the stipend to her payee, out of the escrow, which held both
         since she was enrolled.
    @notice The participant's site. Refuses `trials: not enrolled`,
            `trials: not the participant's site`, `trials: withdrawn`,
            `trials: not allocated`, `trials: re-consent needed`,
            `trials: visit out of order` (not the next visit, or past the
            last), `trials: CRF already paid`, `trials: CRF not anchored`.
    @param trial_id The trial.
    @param participant Her commitment.
    @param visit The visit's number: one more than those paid.
    @param crf_leaf The anchored commitment of the visit's CRF.
    @param root The anchored batch's Merkle root.
    @param proof The sibling hashes from `crf_leaf` to `root`.
    """
    record: uint256 = enrolment._own_record(trial_id, participant)
    refusal: String[32] = enrolment._visit_block(trial_id, participant, record)
    assert refusal == empty(String[32]), refusal
    paid: uint256 = packing._field(record, enrolment._PAID, packing.U8)
    assert convert(visit, uint256) == paid + 1 and visit <= registry._trials[trial_id].visits, "trials: visit out of order"
    assert not self.crf_paid[trial_id][crf_leaf], "trials: CRF already paid"
    assert staticcall IRecordAnchor(ANCHOR).verify(root, proof, crf_leaf), "trials: CRF not anchored"
    site_fee: uint256 = registry._trials[trial_id].site_fee
    stipend: uint256 = registry._trials[trial_id].stipend
    enrolment._records[trial_id][participant] = packing._with_field(record, enrolment._PAID, packing.U8, paid + 1)
    self.crf_paid[trial_id][crf_leaf] = True
    registry._trials[trial_id].escrow -= site_fee + stipend
    registry._trials[trial_id].owed -= site_fee + stipend
    log VisitPaid(
        trial_id=trial_id, participant=participant, site=msg.sender, visit=visit, site_fee=site_fee, stipend=stipend, crf_leaf=crf_leaf
    )
    self._transfer(msg.sender, site_fee)
    self._transfer(enrolment._payee_of(trial_id, participant), stipend)


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


@internal
def _transfer(to: address, amount: uint256):
    """
    @dev Pay `amount` CareToken out of the escrow.
    """
    if amount != 0:
        assert extcall IERC20(registry.TOKEN).transfer(to, amount, default_return_value=True), "trials: transfer failed"
