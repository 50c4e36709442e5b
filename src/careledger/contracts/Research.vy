# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Research
@custom:contract-name Research
@license GNU Affero General Public License v3.0 or later
@notice A study registry with its reward escrow. A researcher
        (RESEARCHER in the IdentityRegistry) registers a study: the hash
        of its protocol, the record categories and period of data it
        asks for, the privacy budget (epsilon) of its aggregate queries,
        a reward per participant and a budget, escrowed in CareToken. An
        ethics board (an actor with a valid `research-ethics-approval`
        credential, not the sponsor) approves it; nothing is released
        before. Patients join and leave, directly or by an EIP-712
        signature anyone submits (she needs no gas), while the escrow
        holds the reward of every participant not yet paid; anyone may
        top it up. A custodian node records each de-identified dataset
        it delivers by its Merkle root, naming the participants it holds
        data of; each is paid her reward from the escrow once, and the
        escrow never pays past the budget. After the study ends the
        sponsor takes back what is left.

        No protected health information is stored: addresses, a protocol
        hash, bitmasks, times, amounts and roots.
"""


from snekmate.utils import ecdsa

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

from .modules import roles

from .modules import research_studies as studies
initializes: studies


exports: (eip712.eip712Domain, studies.__interface__)


interface ICustody:
    def custodian_of(actor: address) -> address: view
    def claimed_by(actor: address) -> address: view


# @dev Participants one `record_release` call may name (a node sends a large release in batches).
MAX_BATCH: public(constant(uint256)) = 128


# @dev Patients one `participants_among` call may ask about.
MAX_CANDIDATES: public(constant(uint256)) = 1000


# @dev The EIP-712 type of a signed opt-in (`join` true) or opt-out.
PARTICIPATION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Participation(uint256 studyId,address patient,bool join,uint256 nonce,uint256 deadline)"
)


struct Participation:
    joined_at: uint64
    left_at: uint64
    rewarded: bool


struct Release:
    study_id: uint256
    custodian: address
    records: uint32
    patients: uint32
    released_at: uint64


event ParticipationChanged:
    study_id: indexed(uint256)
    patient: indexed(address)
    joined: bool
    by: address


event DatasetReleased:
    study_id: indexed(uint256)
    custodian: indexed(address)
    root: indexed(bytes32)
    records: uint32
    patients: uint32


event RewardPaid:
    study_id: indexed(uint256)
    patient: indexed(address)
    payee: address
    amount: uint256


event RewardHeld:
    study_id: indexed(uint256)
    patient: indexed(address)
    amount: uint256


_participation: HashMap[uint256, HashMap[address, Participation]]
_releases: HashMap[bytes32, Release]

# @dev Rewards of custodial identities nobody has claimed yet: paid to
#      the wallet that claims them (`collect`), never to the custodian.
held: public(HashMap[address, uint256])

# @dev The next nonce of each patient's signed participations.
nonces: public(HashMap[address, uint256])


@deploy
def __init__(identity: address, token: address):
    """
    @dev Signed participations name this contract in their EIP-712 domain.
    @param identity The IdentityRegistry.
    @param token The reward token (CareToken).
    """
    eip712.__init__("CareLedger Research", "1")
    studies.__init__(identity, token)


@external
def join(study_id: uint256, patient: address):
    """
    @notice Enrol `patient` (the caller, or whoever acts for her) in an
            approved study that has not ended and whose escrow can pay
            her reward (unless she was paid before).
    @param study_id The study.
    @param patient The patient.
    """
    self._set_participation(study_id, patient, True, msg.sender)


@external
def leave(study_id: uint256, patient: address):
    """
    @notice Withdraw `patient` (the caller, or whoever acts for her):
            nothing of hers is released for the study from now on; what
            was released stays released.
    @param study_id The study.
    @param patient The patient.
    """
    self._set_participation(study_id, patient, False, msg.sender)


@external
def participate_by_signature(study_id: uint256, patient: address, join: bool, deadline: uint256, signature: Bytes[65]):
    """
    @notice Submit an opt-in (`join`) or opt-out that the patient, or
            whoever acts for her, signed as EIP-712 `Participation` with
            her next nonce; anyone may submit it, once, before `deadline`.
    @param study_id The study.
    @param patient The patient.
    @param join True to join, False to leave.
    @param deadline The last second the signature may be submitted.
    @param signature The 65-byte signature.
    """
    assert block.timestamp <= deadline, "research: signature past its deadline"
    nonce: uint256 = self.nonces[patient]
    digest: bytes32 = eip712._hash_typed_data_v4(
        keccak256(abi_encode(PARTICIPATION_TYPEHASH, study_id, patient, join, nonce, deadline))
    )
    signer: address = ecdsa._recover_sig(digest, signature)
    assert signer != empty(address), "research: invalid signature"
    self.nonces[patient] = nonce + 1
    self._set_participation(study_id, patient, join, signer)


@external
def record_release(study_id: uint256, root: bytes32, records: uint32, patients: DynArray[address, MAX_BATCH]):
    """
    @notice Record a de-identified dataset the caller (an active actor,
            the custodian node) delivers, by the Merkle root of its
            lines, and pay each participant it names her reward once.
            A large release is recorded in batches under the same root.
    @dev Reverts for a study not approved or ended, or a patient who is
         not a participant now. The escrow holds every unpaid
         participant's reward (`join` sees to it), so it pays the batch.
    @param study_id The study.
    @param root The Merkle root of the dataset's NDJSON lines.
    @param records The number of resources released.
    @param patients Participants whose data is in it (at most MAX_BATCH a call).
    """
    study: studies.Study = studies._study(study_id)
    studies._check_open(study)
    assert root != empty(bytes32), "research: no root"
    assert staticcall roles.IIdentityRegistry(studies.IDENTITY).role_of(msg.sender) != 0, "research: not an active actor"
    known: Release = self._releases[root]
    if known.released_at == 0:
        known = Release(
            study_id=study_id, custodian=msg.sender, records=records, patients=0, released_at=convert(block.timestamp, uint64)
        )
    else:
        assert known.study_id == study_id and known.custodian == msg.sender, "research: root recorded for another release"
    escrow: uint256 = study.escrow
    unpaid: uint32 = study.unpaid
    for patient: address in patients:
        entry: Participation = self._participation[study_id][patient]
        assert entry.joined_at != 0 and entry.left_at == 0, "research: not a participant"
        if not entry.rewarded:
            assert escrow >= study.reward, "research: the escrow cannot pay this batch"
            escrow -= study.reward
            unpaid -= 1
            self._participation[study_id][patient].rewarded = True
            self._reward(study_id, patient, study.reward)
    studies._studies[study_id].escrow = escrow
    studies._studies[study_id].unpaid = unpaid
    known.patients += convert(len(patients), uint32)
    self._releases[root] = known
    log DatasetReleased(study_id=study_id, custodian=msg.sender, root=root, records=records, patients=convert(len(patients), uint32))


@external
def collect(patient: address):
    """
    @notice Pay the rewards held for a custodial identity to the wallet
            that claimed it (anyone may call).
    @param patient The identity.
    """
    owner: address = staticcall ICustody(studies.IDENTITY).claimed_by(patient)
    assert owner != empty(address), "research: the identity is not claimed"
    amount: uint256 = self.held[patient]
    assert amount != 0, "research: nothing held"
    self.held[patient] = 0
    studies._transfer(owner, amount)


@external
@view
def participation(study_id: uint256, patient: address) -> Participation:
    """
    @notice A patient's participation in a study.
    @param study_id The study.
    @param patient The patient.
    @return When she joined and left (0 if not), and whether she was paid.
    """
    return self._participation[study_id][patient]


@external
@view
def is_participant(study_id: uint256, patient: address) -> bool:
    """
    @notice Whether the patient is in the study now (joined, not left).
    @param study_id The study.
    @param patient The patient.
    @return True if she is.
    """
    entry: Participation = self._participation[study_id][patient]
    return entry.joined_at != 0 and entry.left_at == 0


@external
@view
def participants_among(
    study_id: uint256, candidates: DynArray[address, MAX_CANDIDATES]
) -> DynArray[address, MAX_CANDIDATES]:
    """
    @notice Those of `candidates` who are in the study now: a node asks
            about all its patients in one call, not one call each.
    @param study_id The study.
    @param candidates The patients to ask about.
    @return The participants among them, in order.
    """
    found: DynArray[address, MAX_CANDIDATES] = []
    for patient: address in candidates:
        entry: Participation = self._participation[study_id][patient]
        if entry.joined_at != 0 and entry.left_at == 0:
            found.append(patient)
    return found


@external
@view
def release_of(root: bytes32) -> Release:
    """
    @notice The release recorded under a dataset's Merkle root.
    @param root The root.
    @return Its study, custodian and counts (all zero if none).
    """
    return self._releases[root]


@internal
def _set_participation(study_id: uint256, patient: address, join: bool, by: address):
    """
    @dev Join or leave for `patient` if `by` is she or acts for her.
    """
    study: studies.Study = studies._study(study_id)
    registry: roles.IIdentityRegistry = roles.IIdentityRegistry(studies.IDENTITY)
    assert by == patient or (by != empty(address) and staticcall registry.manager_of(patient) == by), "research: not the patient or her manager"
    entry: Participation = self._participation[study_id][patient]
    if join:
        studies._check_open(study)
        assert staticcall registry.role_of(patient) == roles.PATIENT, "research: not a registered patient"
        assert entry.joined_at == 0 or entry.left_at != 0, "research: already a participant"
        if not entry.rewarded:
            studies._check_room(study)
            studies._studies[study_id].unpaid = study.unpaid + 1
        studies._studies[study_id].participants = study.participants + 1
        entry.joined_at = convert(block.timestamp, uint64)
        entry.left_at = 0
    else:
        assert entry.joined_at != 0 and entry.left_at == 0, "research: not a participant"
        if not entry.rewarded:
            studies._studies[study_id].unpaid = study.unpaid - 1
        studies._studies[study_id].participants = study.participants - 1
        entry.left_at = convert(block.timestamp, uint64)
    self._participation[study_id][patient] = entry
    log ParticipationChanged(study_id=study_id, patient=patient, joined=join, by=by)


@internal
def _reward(study_id: uint256, patient: address, amount: uint256):
    """
    @dev Pay her own wallet: the identity itself, or the wallet that
         claimed it; a custodial identity nobody claimed yet has it held.
    """
    owner: address = staticcall ICustody(studies.IDENTITY).claimed_by(patient)
    if owner == empty(address) and staticcall ICustody(studies.IDENTITY).custodian_of(patient) != empty(address):
        self.held[patient] += amount
        log RewardHeld(study_id=study_id, patient=patient, amount=amount)
        return
    payee: address = patient if owner == empty(address) else owner
    log RewardPaid(study_id=study_id, patient=patient, payee=payee, amount=amount)
    studies._transfer(payee, amount)


