# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Trials: seed, enrolment, consent versions, allocation, unblinding
@custom:contract-name trial_enrolment
@license GNU Affero General Public License v3.0 or later
@notice The sponsor commits the hash of its randomisation seed before
        anyone is enrolled. A site enrols a participant, named only by a
        salted commitment (keccak256(salt, trial id, her address), kept
        off chain), in a stratum, under the consent version she signed
        (the keccak256 of her signature is kept), with the address her
        stipends go to, or none yet (they are held: trial_payments.vy);
        her place in the enrolment order is her `index`. A site acts only
        while it is an active organisation; one the sponsor removed
        enrols no one more.
        She consents again after an amendment that asks for it, and may
        withdraw at any time. The sponsor records each participant's
        allocation as a commitment while the trial is blinded, and at
        unblinding reveals the seed: anyone then recomputes every
        allocation from the seed and the enrolment order (`Enrolled`
        logs) and checks it against the commitments.

        No protected health information is stored: commitments, site and
        payee addresses, small integers and times.
"""


from . import packing

from . import trial_registry as registry
uses: registry


# @dev The most allocations one `allocate` call records.
MAX_ALLOCATIONS: constant(uint256) = 64

# @dev Offsets of a participant's record word (`_records`).
_INDEX: constant(uint256) = 160
_STRATUM: constant(uint256) = 192
_CONSENTED: constant(uint256) = 208
_PAID: constant(uint256) = 240
_WITHDRAWN: constant(uint256) = 248

# @dev Offset of the enrolment time in a participant's payee word (`_payees`).
_ENROLLED_AT: constant(uint256) = 160


# @dev A participant as the `participant` view returns it (all zero if
#      not enrolled). `payee` is zero while her stipends are held,
#      `allocation` the sponsor's commitment to her arm, `consent_digest`
#      the keccak256 of her latest consent signature.
struct Participant:
    site: address
    index: uint32
    stratum: uint16
    consented_version: uint32
    payee: address
    allocation: bytes32
    withdrawn: bool
    visits_paid: uint8
    enrolled_at: uint64
    consent_digest: bytes32


# @dev The sponsor committed to its randomisation seed.
event SeedCommitted:
    trial_id: indexed(uint256)
    seed_hash: bytes32


# @dev A site enrolled a participant, `index`-th in the trial's enrolment order.
event Enrolled:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)
    site: indexed(address)
    index: uint32
    stratum: uint16
    version: uint32


# @dev A participant consented to a later version.
event Reconsented:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)
    version: uint32


# @dev A participant withdrew.
event Withdrawn:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)


# @dev The sponsor recorded a participant's allocation, as a commitment.
event Allocated:
    trial_id: indexed(uint256)
    participant: indexed(bytes32)
    commitment: bytes32


# @dev The sponsor revealed the seed: the trial is unblinded, enrolment ended.
event SeedRevealed:
    trial_id: indexed(uint256)
    seed: bytes32


# @dev Per trial and participant: site (bits 0-159) | index (160-191) |
#      stratum (192-207) | consented version (208-239) | visits paid
#      (240-247) | withdrawn (248-255); zero for one never enrolled.
_records: HashMap[uint256, HashMap[bytes32, uint256]]

# @dev Per trial and participant: payee (bits 0-159) | enrolled at (160-223).
_payees: HashMap[uint256, HashMap[bytes32, uint256]]

# @dev Per trial and participant: the commitment to her arm (zero until allocated).
_allocations: HashMap[uint256, HashMap[bytes32, bytes32]]

# @dev Per trial and participant: the keccak256 of her latest consent signature.
_consents: HashMap[uint256, HashMap[bytes32, bytes32]]


@external
def commit_seed(trial_id: uint256, seed_hash: bytes32):
    """
    @dev Records keccak256 of the seed the allocations are drawn from.
    @notice The sponsor, once, before anyone is enrolled. Refuses `trials:
            no such trial`, `trials: not the sponsor`, `trials: no seed
            hash`, `trials: seed already committed`.
    @param trial_id The trial.
    @param seed_hash keccak256 of the 32-byte seed.
    """
    registry._check_sponsor(trial_id)
    assert seed_hash != empty(bytes32), "trials: no seed hash"
    assert registry._trials[trial_id].seed_hash == empty(bytes32), "trials: seed already committed"
    registry._trials[trial_id].seed_hash = seed_hash
    log SeedCommitted(trial_id=trial_id, seed_hash=seed_hash)


@external
def enrol(trial_id: uint256, participant: bytes32, stratum: uint16, version: uint32, consent_digest: bytes32, payee: address):
    """
    @dev Enrols a participant at the caller's site, last in the enrolment
         order, and holds her visits' fees and stipends in the escrow.
    @notice A site of the trial, an active organisation. Refuses `trials:
            not a site of the trial`, `trials: site not active`, `trials:
            not approved`, `trials: not the current version`, `trials:
            seed not committed`, `trials: enrolment has ended`,
            `trials: no participant`, `trials: no consent`, `trials:
            already enrolled`, `trials: target reached`,
            `trials: escrow short`.
    @param trial_id The trial.
    @param participant Her salted commitment.
    @param stratum Her stratum, as the protocol numbers them.
    @param version The consent version she signed: the current one.
    @param consent_digest keccak256 of her consent signature.
    @param payee The address her stipends go to; zero holds them until her site names one.
    """
    assert registry._is_site[trial_id][msg.sender], "trials: not a site of the trial"
    registry._check_active()
    current: uint32 = registry._trials[trial_id].current_version
    assert current != 0, "trials: not approved"
    assert version == current, "trials: not the current version"
    assert registry._trials[trial_id].seed_hash != empty(bytes32), "trials: seed not committed"
    assert registry._trials[trial_id].revealed_at == 0, "trials: enrolment has ended"
    assert participant != empty(bytes32), "trials: no participant"
    assert consent_digest != empty(bytes32), "trials: no consent"
    assert self._records[trial_id][participant] == 0, "trials: already enrolled"
    index: uint32 = registry._trials[trial_id].enrolled
    assert index < registry._trials[trial_id].target, "trials: target reached"
    owed: uint256 = registry._trials[trial_id].owed + self._cost_of(trial_id, convert(registry._trials[trial_id].visits, uint256))
    assert registry._trials[trial_id].escrow >= owed, "trials: escrow short"
    registry._trials[trial_id].enrolled = index + 1
    registry._trials[trial_id].owed = owed
    self._records[trial_id][participant] = (
        convert(msg.sender, uint256)
        | (convert(index, uint256) << _INDEX)
        | (convert(stratum, uint256) << _STRATUM)
        | (convert(version, uint256) << _CONSENTED)
    )
    self._payees[trial_id][participant] = convert(payee, uint256) | (block.timestamp << _ENROLLED_AT)
    self._consents[trial_id][participant] = consent_digest
    log Enrolled(trial_id=trial_id, participant=participant, site=msg.sender, index=index, stratum=stratum, version=version)


@external
def reconsent(trial_id: uint256, participant: bytes32, version: uint32, consent_digest: bytes32):
    """
    @dev Records her consent to the current version, which lets her
         visits go on after an amendment that asked for it.
    @notice The participant's site, an active organisation. Refuses
            `trials: not enrolled`, `trials: not the participant's site`,
            `trials: site not active`, `trials: withdrawn`, `trials: not
            the current version`, `trials: already consented to this
            version`, `trials: no consent`.
    @param trial_id The trial.
    @param participant Her commitment.
    @param version The version she signed: the current one.
    @param consent_digest keccak256 of her signature.
    """
    record: uint256 = self._own_record(trial_id, participant)
    registry._check_active()
    assert packing._field(record, _WITHDRAWN, packing.U8) == 0, "trials: withdrawn"
    assert version == registry._trials[trial_id].current_version, "trials: not the current version"
    assert packing._field(record, _CONSENTED, packing.U32) < convert(version, uint256), "trials: already consented to this version"
    assert consent_digest != empty(bytes32), "trials: no consent"
    self._records[trial_id][participant] = packing._with_field(record, _CONSENTED, packing.U32, convert(version, uint256))
    self._consents[trial_id][participant] = consent_digest
    log Reconsented(trial_id=trial_id, participant=participant, version=version)


@external
def withdraw(trial_id: uint256, participant: bytes32):
    """
    @dev Ends her participation: no more visits are paid, and what her
         remaining visits were owed is freed. Her place in the enrolment
         order and her allocation stay.
    @notice The participant's site, even one no longer active: a
            withdrawal pays no one and only frees the escrow. Refuses
            `trials: not enrolled`, `trials: not the participant's site`,
            `trials: already withdrawn`.
    @param trial_id The trial.
    @param participant Her commitment.
    """
    record: uint256 = self._own_record(trial_id, participant)
    assert packing._field(record, _WITHDRAWN, packing.U8) == 0, "trials: already withdrawn"
    self._records[trial_id][participant] = packing._with_field(record, _WITHDRAWN, packing.U8, 1)
    remaining: uint256 = convert(registry._trials[trial_id].visits, uint256) - packing._field(record, _PAID, packing.U8)
    registry._trials[trial_id].owed -= self._cost_of(trial_id, remaining)
    registry._trials[trial_id].withdrawn += 1
    log Withdrawn(trial_id=trial_id, participant=participant)


@external
def allocate(trial_id: uint256, participants: DynArray[bytes32, MAX_ALLOCATIONS], commitments: DynArray[bytes32, MAX_ALLOCATIONS]):
    """
    @dev Records each participant's allocation as the commitment
         keccak256(seed, trial id, participant, arm) while the trial is
         blinded; withdrawn participants are allocated too, since their
         places in the enrolment order fill the blocks.
    @notice The sponsor, before it reveals the seed. Refuses `trials: not
            the sponsor`, `trials: already revealed`, `trials: participants
            and commitments differ in number`, `trials: not enrolled`,
            `trials: already allocated`, `trials: no commitment`.
    @param trial_id The trial.
    @param participants Enrolled participants not allocated yet.
    @param commitments Their allocations' commitments, in the same order.
    """
    registry._check_sponsor(trial_id)
    assert registry._trials[trial_id].revealed_at == 0, "trials: already revealed"
    assert len(participants) == len(commitments), "trials: participants and commitments differ in number"
    for i: uint256 in range(len(participants), bound=MAX_ALLOCATIONS):
        participant: bytes32 = participants[i]
        assert self._records[trial_id][participant] != 0, "trials: not enrolled"
        assert self._allocations[trial_id][participant] == empty(bytes32), "trials: already allocated"
        assert commitments[i] != empty(bytes32), "trials: no commitment"
        self._allocations[trial_id][participant] = commitments[i]
        log Allocated(trial_id=trial_id, participant=participant, commitment=commitments[i])
    registry._trials[trial_id].allocated += convert(len(participants), uint32)


@external
def reveal(trial_id: uint256, seed: bytes32):
    """
    @dev Unblinds the trial and ends its enrolment: the seed is public,
         and with it every allocation.
    @notice The sponsor, once every enrolled participant is allocated.
            Refuses `trials: not the sponsor`, `trials: seed not
            committed`, `trials: already revealed`, `trials: seed does not
            match`, `trials: not every participant is allocated`.
    @param trial_id The trial.
    @param seed The seed whose keccak256 was committed.
    """
    registry._check_sponsor(trial_id)
    trial: registry.Trial = registry._trials[trial_id]
    assert trial.seed_hash != empty(bytes32), "trials: seed not committed"
    assert trial.revealed_at == 0, "trials: already revealed"
    assert seed != empty(bytes32) and keccak256(seed) == trial.seed_hash, "trials: seed does not match"
    assert trial.allocated == trial.enrolled, "trials: not every participant is allocated"
    registry._trials[trial_id].seed = seed
    registry._trials[trial_id].revealed_at = convert(block.timestamp, uint64)
    log SeedRevealed(trial_id=trial_id, seed=seed)


@external
@view
def participant(trial_id: uint256, participant: bytes32) -> Participant:
    """
    @notice A participant's enrolment, consent, allocation and visits paid.
    @param trial_id The trial.
    @param participant Her commitment.
    @return Her record (all zero if she is not enrolled).
    """
    record: uint256 = self._records[trial_id][participant]
    payee: uint256 = self._payees[trial_id][participant]
    return Participant(
        site=self._site_of(record),
        index=convert(packing._field(record, _INDEX, packing.U32), uint32),
        stratum=convert(packing._field(record, _STRATUM, packing.U16), uint16),
        consented_version=convert(packing._field(record, _CONSENTED, packing.U32), uint32),
        payee=self._payee_of(trial_id, participant),
        allocation=self._allocations[trial_id][participant],
        withdrawn=packing._field(record, _WITHDRAWN, packing.U8) != 0,
        visits_paid=convert(packing._field(record, _PAID, packing.U8), uint8),
        enrolled_at=convert(packing._field(payee, _ENROLLED_AT, packing.U64), uint64),
        consent_digest=self._consents[trial_id][participant],
    )


@external
@view
def may_visit(trial_id: uint256, participant: bytes32) -> bool:
    """
    @notice Whether a visit of hers may be paid now: she is enrolled,
            allocated, not withdrawn, and consented to the version the
            last re-consent was asked for (or a later one).
    @param trial_id The trial.
    @param participant Her commitment.
    @return True if she may.
    """
    return self._visit_block(trial_id, participant, self._records[trial_id][participant]) == empty(String[32])


# The randomisation's parameters (registered with the trial) are read here, beside the allocations.
@external
@view
def ratios(trial_id: uint256) -> DynArray[uint8, registry.MAX_ARMS]:
    """
    @notice Each arm's allocation ratio, in arm order.
    @param trial_id The trial.
    """
    return registry._ratios[trial_id]


@external
@view
def block_multiples(trial_id: uint256) -> DynArray[uint8, registry.MAX_MULTIPLES]:
    """
    @notice The multiples of the ratios' sum a permuted block may have.
    @param trial_id The trial.
    """
    return registry._block_multiples[trial_id]


@internal
@view
def _visit_block(trial_id: uint256, participant: bytes32, record: uint256) -> String[32]:
    """
    @dev Why a visit of hers may not be paid now (the revert string), or
         empty if it may.
    """
    if record == 0:
        return "trials: not enrolled"
    if packing._field(record, _WITHDRAWN, packing.U8) != 0:
        return "trials: withdrawn"
    if self._allocations[trial_id][participant] == empty(bytes32):
        return "trials: not allocated"
    if packing._field(record, _CONSENTED, packing.U32) < convert(registry._trials[trial_id].reconsent_from, uint256):
        return "trials: re-consent needed"
    return empty(String[32])


@internal
@view
def _own_record(trial_id: uint256, participant: bytes32) -> uint256:
    """
    @dev Her record word; refuses one not enrolled, or a caller other than her site.
    """
    record: uint256 = self._records[trial_id][participant]
    assert record != 0, "trials: not enrolled"
    assert self._site_of(record) == msg.sender, "trials: not the participant's site"
    return record


@internal
@pure
def _site_of(record: uint256) -> address:
    return convert(convert(record & packing.U160, uint160), address)


@internal
@view
def _payee_of(trial_id: uint256, participant: bytes32) -> address:
    return convert(convert(self._payees[trial_id][participant] & packing.U160, uint160), address)


@internal
@view
def _cost_of(trial_id: uint256, visits: uint256) -> uint256:
    """
    @dev What `visits` visits cost the escrow: site fee and stipend each.
    """
    return visits * (registry._trials[trial_id].site_fee + registry._trials[trial_id].stipend)
