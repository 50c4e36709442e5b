"""Facade of Trials.vy: clinical trials, their protocol versions and sites, enrolment under a consent version,
allocations committed while blinded and the seed revealed at unblinding, and visits paid from the escrow.

A participant is named on chain only by her salted commitment (32 bytes); amounts are CARE base units. The sponsor
signs registration (this facade approves the escrow's CareToken first), amendments, the seed, allocations (sent in
batches of `MAX_ALLOCATIONS`, pipelined) and the reveal; a site's node wallet signs enrolments, re-consents,
withdrawals, payees and visit payments (for a visit leaf of a RECORDS batch that node anchored itself). A participant
enrolled with no payee has her stipends held on chain until her site names one (`set_payee` pays them out). Logs are
read from the contract's deployment block on, `log_span` blocks a request, filtered by the trial (and participant)
topics. The contract's `trials: …` refusals come back as the
`careledger.errors` a face maps to an HTTP status (`trial_refusal`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address
from hexbytes import HexBytes

from careledger.chain._facades import ChainEvent, ContractFacade
from careledger.chain._token import CareToken
from careledger.errors import AccessDenied, CareLedgerError, Conflict, NotFound, ValidationError

if TYPE_CHECKING:
    from careledger.chain._backends import Receipt

MAX_ALLOCATIONS = 64  # trial_enrolment.MAX_ALLOCATIONS: allocations one transaction records
MAX_ARMS, MAX_MULTIPLES, MAX_SITES, MAX_PROOF = 8, 4, 32, 32  # the lengths of the contract's arrays
_ZERO = bytes(32)
_ZERO_ADDRESS = "0x" + "00" * 20  # an enrolment with no payee: her stipends are held


@dataclass(frozen=True, slots=True)
class TrialTerms:
    """What a sponsor registers: the documents' hashes, the design, the schedule, the money, the sites."""

    protocol_hash: bytes
    consent_hash: bytes
    target: int
    ratios: tuple[int, ...]  # each arm's allocation ratio, in arm order
    block_multiples: tuple[int, ...]  # the multiples of sum(ratios) a permuted block may have
    visits: int
    site_fee: int  # paid to the site per visit
    stipend: int  # paid to the participant's payee per visit
    budget: int  # escrowed at registration
    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrialState:
    """A trial as the chain holds it (Trials.vy's `Trial`, with its id)."""

    trial_id: int
    sponsor: str
    target: int
    enrolled: int  # every participant ever enrolled, withdrawn ones too
    withdrawn: int
    visits: int
    site_fee: int
    stipend: int
    budget: int  # all ever escrowed
    escrow: int  # what is left
    owed: int  # the most the remaining visits of those taking part can cost
    current_version: int  # 0 until the first is approved
    latest_version: int
    reconsent_from: int  # a participant who consented to an earlier version is not paid before she consents again
    seed_hash: bytes  # zero until committed
    seed: bytes  # zero while blinded
    revealed_at: int
    arms: int
    allocated: int

    @property
    def blinded(self) -> bool:
        """Whether the seed, and with it every allocation, is still secret."""
        return self.seed == _ZERO

    @property
    def seed_committed(self) -> bool:
        """Whether the sponsor committed its seed (enrolment is refused before)."""
        return self.seed_hash != _ZERO

    @property
    def held(self) -> int:
        """What the escrow holds beyond what is owed: enrols more participants, or returns to the sponsor."""
        return self.escrow - self.owed


@dataclass(frozen=True, slots=True)
class TrialVersion:
    """One protocol version: its documents' hashes, whether it asks for re-consent, its approval."""

    version: int
    protocol_hash: bytes
    consent_hash: bytes
    reconsent: bool
    approved_by: str | None
    approved_at: int

    @property
    def approved(self) -> bool:
        """Whether an ethics board approved it."""
        return self.approved_by is not None


@dataclass(frozen=True, slots=True)
class TrialParticipant:
    """A participant's enrolment as the chain holds it (Trials.vy's `Participant`)."""

    participant: bytes
    site: str
    index: int  # her place in the trial's enrolment order, from 0
    stratum: int
    consented_version: int
    payee: str | None  # None while her stipends are held
    allocation: bytes | None  # the sponsor's commitment to her arm, once allocated
    withdrawn: bool
    visits_paid: int
    enrolled_at: int
    consent_digest: bytes  # keccak256 of her latest consent signature


@dataclass(frozen=True, slots=True)
class EnrolmentEvent:
    """An `Enrolled` log: who was enrolled, where, in which place of the order and stratum, under which version."""

    index: int
    participant: bytes
    site: str
    stratum: int
    version: int
    block: int


@dataclass(frozen=True, slots=True)
class AllocationEvent:
    """An `Allocated` log: the commitment to a participant's arm."""

    participant: bytes
    commitment: bytes


@dataclass(frozen=True, slots=True)
class VisitPayment:
    """A `VisitPaid` log: a visit paid, the site's fee and the participant's stipend (`held` on chain while she has no
    payee), for its visit leaf."""

    participant: bytes
    site: str
    visit: int
    site_fee: int
    stipend: int
    crf_leaf: bytes
    tx_hash: str
    block: int
    held: bool


class Trials(ContractFacade):
    """The trial registry, enrolment, allocation and milestone payments on chain."""

    contract_name = "Trials"

    def register_trial(self, terms: TrialTerms) -> int:
        """Register a trial as the signer (a researcher), approving the escrow's CareToken for the budget first;
        its id."""
        _check_terms(terms)
        args = (terms.protocol_hash, terms.consent_hash, terms.target, list(terms.ratios))
        more = (list(terms.block_multiples), terms.visits, terms.site_fee, terms.stipend, terms.budget)
        sites = [to_checksum_address(site) for site in terms.sites]
        with self._approved(terms.budget):
            receipt = self._send("register_trial", *args, *more, sites)
        (event,) = self.events_in(receipt, "TrialRegistered")
        return int(event.args["trial_id"])

    def approve_version(self, trial_id: int, version: int) -> None:
        """Approve the pending version as the signer, an ethics board that is not the sponsor."""
        self._send("approve_version", trial_id, version)

    def amend(self, trial_id: int, protocol_hash: bytes, consent_hash: bytes, reconsent: bool) -> int:
        """Add a protocol version, pending approval, as the sponsor; its number."""
        (event,) = self.events_in(self._send("amend", trial_id, protocol_hash, consent_hash, reconsent), "TrialAmended")
        return int(event.args["version"])

    def add_site(self, trial_id: int, site: str) -> None:
        """Name one more site (an active ORG actor's node wallet) as the sponsor."""
        self._send("add_site", trial_id, to_checksum_address(site))

    def remove_site(self, trial_id: int, site: str) -> None:
        """Stop new enrolments at `site`, as the sponsor; the participants it enrolled stay its own."""
        self._send("remove_site", trial_id, to_checksum_address(site))

    def top_up(self, trial_id: int, amount: int) -> None:
        """Add `amount` to the escrow from the signer, approving the CareToken for it first."""
        with self._approved(amount):
            self._send("top_up", trial_id, amount)

    def commit_seed(self, trial_id: int, seed_hash: bytes) -> None:
        """Commit keccak256 of the randomisation seed as the sponsor, before anyone is enrolled."""
        self._send("commit_seed", trial_id, seed_hash)

    def enrol(
        self, trial_id: int, participant: bytes, stratum: int, version: int, consent_digest: bytes, payee: str | None
    ) -> int:
        """Enrol a participant as the signer, a site, under the consent version she signed; her index. With no payee
        her stipends are held until `set_payee`."""
        paid_to = _ZERO_ADDRESS if payee is None else to_checksum_address(payee)
        args = (trial_id, participant, stratum, version, consent_digest, paid_to)
        (event,) = self.events_in(self._send("enrol", *args), "Enrolled")
        return int(event.args["index"])

    def reconsent(self, trial_id: int, participant: bytes, version: int, consent_digest: bytes) -> None:
        """Record her consent to the current version, as her site."""
        self._send("reconsent", trial_id, participant, version, consent_digest)

    def set_payee(self, trial_id: int, participant: bytes, payee: str) -> int:
        """Name (or change) where her stipends go, as her site; what was held for her is paid to it: that amount."""
        receipt = self._send("set_payee", trial_id, participant, to_checksum_address(payee))
        return sum(int(event.args["amount"]) for event in self.events_in(receipt, "HeldPaid"))

    def withdraw(self, trial_id: int, participant: bytes) -> None:
        """Withdraw a participant, as her site: no more visits are paid, what they were owed is freed."""
        self._send("withdraw", trial_id, participant)

    def allocate(self, trial_id: int, pairs: Sequence[tuple[bytes, bytes]]) -> list[Receipt]:
        """Record (participant, commitment) allocations as the sponsor, `MAX_ALLOCATIONS` a transaction, pipelined;
        nothing is sent for none."""
        if len({participant for participant, _ in pairs}) != len(pairs):
            raise ValidationError("allocations: a participant is listed twice")
        batches = [pairs[start : start + MAX_ALLOCATIONS] for start in range(0, len(pairs), MAX_ALLOCATIONS)]
        requests = [self._request("allocate", trial_id, [p for p, _ in b], [c for _, c in b]) for b in batches]
        with self._refusals():
            return self._send_many(requests)

    def reveal(self, trial_id: int, seed: bytes) -> None:
        """Reveal the seed as the sponsor, once every participant is allocated: the trial is unblinded."""
        self._send("reveal", trial_id, seed)

    def pay_visit(
        self, trial_id: int, participant: bytes, visit: int, crf_leaf: bytes, root: bytes, proof: Sequence[bytes]
    ) -> VisitPayment:
        """Pay a visit whose leaf is in `root`, a RECORDS batch the signer (her site) anchored; the payment."""
        if len(proof) > MAX_PROOF:
            raise ValidationError(f"proof: at most {MAX_PROOF} hashes, got {len(proof)}")
        receipt = self._send("pay_visit", trial_id, participant, visit, crf_leaf, root, list(proof))
        (event,) = self.events_in(receipt, "VisitPaid")
        return _payment(event)

    def return_escrow(self, trial_id: int) -> int:
        """Take back what the escrow holds beyond what is owed, as the sponsor after unblinding; the amount."""
        (event,) = self.events_in(self._send("return_escrow", trial_id), "EscrowReturned")
        return int(event.args["amount"])

    def returned(self, trial_id: int) -> int:
        """What the sponsor took back from the escrow after unblinding (`return_escrow`), in all."""
        return sum(int(event.args["amount"]) for event in self._trial_logs("EscrowReturned", trial_id))

    def trial(self, trial_id: int) -> TrialState:
        """A trial; `NotFound` if there is none."""
        raw = self._call("trial", trial_id)
        if int(raw[0], 16) == 0:
            raise NotFound(f"no trial {trial_id} on chain")
        (sponsor, target, enrolled, withdrawn, visits, site_fee, stipend, budget, escrow, owed) = raw[:10]
        (current, latest, reconsent_from, seed_hash, seed, revealed_at, arms, allocated) = raw[10:]
        return TrialState(
            trial_id, to_checksum_address(sponsor), target, enrolled, withdrawn, visits, site_fee, stipend, budget,
            escrow, owed, current, latest, reconsent_from, bytes(seed_hash), bytes(seed), revealed_at, arms, allocated,
        )  # fmt: skip

    def trial_count(self) -> int:
        """How many trials were ever registered (ids run 1..count)."""
        return int(self._call("trial_count"))

    def version(self, trial_id: int, version: int) -> TrialVersion:
        """One protocol version of a trial; `NotFound` if there is none."""
        protocol, consent, reconsent, approved_by, approved_at = self._call("version", trial_id, version)
        if bytes(protocol) == _ZERO:
            raise NotFound(f"trial {trial_id} has no version {version}")
        board = None if int(approved_by, 16) == 0 else to_checksum_address(approved_by)
        return TrialVersion(version, bytes(protocol), bytes(consent), bool(reconsent), board, int(approved_at))

    def ratios(self, trial_id: int) -> tuple[int, ...]:
        """Each arm's allocation ratio, in arm order."""
        return tuple(int(r) for r in self._call("ratios", trial_id))

    def block_multiples(self, trial_id: int) -> tuple[int, ...]:
        """The multiples of the ratios' sum a permuted block may have."""
        return tuple(int(m) for m in self._call("block_multiples", trial_id))

    def sites(self, trial_id: int) -> tuple[str, ...]:
        """The trial's sites' node wallets, in the order they were named."""
        return tuple(to_checksum_address(site) for site in self._call("sites", trial_id))

    def is_site(self, trial_id: int, site: str) -> bool:
        """Whether `site` is one of the trial's sites."""
        return bool(self._call("is_site", trial_id, to_checksum_address(site)))

    def participant(self, trial_id: int, participant: bytes) -> TrialParticipant | None:
        """A participant's enrolment; None if she is not enrolled."""
        site, index, stratum, consented, payee, allocation, withdrawn, paid, enrolled_at, digest = self._call(
            "participant", trial_id, participant
        )
        if int(site, 16) == 0:
            return None
        allocated = None if bytes(allocation) == _ZERO else bytes(allocation)
        site, payee = to_checksum_address(site), (None if int(payee, 16) == 0 else to_checksum_address(payee))
        return TrialParticipant(
            bytes(participant),
            site,
            index,
            stratum,
            consented,
            payee,
            allocated,
            withdrawn,
            paid,
            enrolled_at,
            bytes(digest),
        )

    def may_visit(self, trial_id: int, participant: bytes) -> bool:
        """Whether her next visit may be paid: enrolled, allocated, not withdrawn, consented to what was asked."""
        return bool(self._call("may_visit", trial_id, participant))

    def crf_paid(self, crf_leaf: bytes) -> bool:
        """Whether a visit (of any trial: a leaf pays once) was paid for this leaf."""
        return bool(self._call("crf_paid", crf_leaf))

    def held(self, trial_id: int, participant: bytes) -> int:
        """The stipends held for her until her site names a payee."""
        return int(self._call("held", trial_id, participant))

    def enrolments(self, trial_id: int) -> list[EnrolmentEvent]:
        """Every enrolment of the trial, in index order: what the allocations are recomputed from."""
        found = [_enrolment(e) for e in self._trial_logs("Enrolled", trial_id)]
        return sorted(found, key=lambda enrolment: enrolment.index)

    def allocations(self, trial_id: int) -> list[AllocationEvent]:
        """Every allocation's commitment recorded for the trial, in the order recorded."""
        return [
            AllocationEvent(bytes(e.args["participant"]), bytes(e.args["commitment"]))
            for e in self._trial_logs("Allocated", trial_id)
        ]

    def payments(self, trial_id: int, participant: bytes | None = None) -> list[VisitPayment]:
        """Every visit paid in the trial (or to one participant), oldest first."""
        return [_payment(e) for e in self._trial_logs("VisitPaid", trial_id, participant)]

    def site_openings(self, trial_id: int) -> dict[str, int]:
        """The block from which each current site could enrol: the later of the block that made it a site (its
        last `SiteAdded`, else the trial's registration) and the seed's commitment (nobody enrols before it). What
        a forecast fits each site's rate over, so a site added late is not judged by days it was not open."""
        registered = [e.block for e in self._trial_logs("TrialRegistered", trial_id)]
        if not registered:
            raise NotFound(f"no trial {trial_id}")
        seeded = max((e.block for e in self._trial_logs("SeedCommitted", trial_id)), default=0)
        added: dict[str, int] = {
            to_checksum_address(e.args["site"]): e.block for e in self._trial_logs("SiteAdded", trial_id)
        }
        return {site: max(added.get(site, registered[0]), seeded) for site in self.sites(trial_id)}

    def _trial_logs(self, event: str, trial_id: int, participant: bytes | None = None) -> list[ChainEvent]:
        """This contract's `event` logs of one trial (and participant), oldest first."""
        topics = [self._topic(event), _word(trial_id)]
        return self._logs(topics if participant is None else [*topics, HexBytes(participant).to_0x_hex()])

    @contextmanager
    def _approved(self, amount: int) -> Iterator[None]:
        """The escrow's CareToken approved for `amount` for one call that takes it all; if the call is refused the
        approval is withdrawn (set to 0), so no allowance stays live for a later call to take."""
        token = self._token()
        token.approve(self.address, amount)
        try:
            yield
        except Exception:
            token.approve(self.address, 0)
            raise

    def _token(self) -> CareToken:
        """The escrow's token, signing as this facade's signer."""
        return CareToken(self.chain, self._call("TOKEN"), self._writer())

    def _refusal(self, reason: str) -> CareLedgerError | None:
        """The contract's `trials: …` refusals as the errors faces map (`trial_refusal`); the token's own, out of
        gas or no reason stay the chain's error."""
        return trial_refusal(reason) if reason.startswith("trials: ") else None


# Each refusal that is not malformed input: who may not (403), what is not there (404), what clashes with the
# trial's state (409); with words saying what to do where the revert string alone does not.
_REFUSALS: dict[str, tuple[type[CareLedgerError], str]] = {
    "not a researcher": (AccessDenied, "only a registered researcher may sponsor a trial"),
    "not the sponsor": (AccessDenied, "only the trial's sponsor may do this"),
    "not an active actor": (AccessDenied, "only an active actor with an ethics approval credential may approve"),
    "no valid ethics approval credential": (AccessDenied, "an ethics board needs a valid research-ethics-approval"),
    "the sponsor cannot approve its own trial": (AccessDenied, "an ethics board other than the sponsor approves"),
    "not a site of the trial": (AccessDenied, "the trial names no such site, or removed it"),
    "not the participant's site": (AccessDenied, "only the site that enrolled her acts for her"),
    "site not active": (AccessDenied, "a site acts only while it is an active organisation"),
    "no such trial": (NotFound, ""),
    "not enrolled": (NotFound, "she is not enrolled in this trial"),
    "not approved": (Conflict, "no version of the trial is approved yet"),
    "not the current version": (Conflict, "her consent must be to the trial's current version"),
    "not the pending version": (Conflict, "only the latest version, while pending, is approved"),
    "a version is pending approval": (Conflict, "the latest amendment waits for approval"),
    "seed not committed": (Conflict, "the sponsor commits the randomisation seed before anyone is enrolled"),
    "seed already committed": (Conflict, ""),
    "enrolment has ended": (Conflict, "the trial is unblinded"),
    "already enrolled": (Conflict, ""),
    "target reached": (Conflict, "the trial has enrolled its target"),
    "escrow short": (Conflict, "the escrow cannot hold another participant's visits: top it up"),
    "site listed twice": (Conflict, ""),
    "too many sites": (Conflict, f"a trial has at most {MAX_SITES} sites"),
    "withdrawn": (Conflict, "she withdrew from the trial"),
    "already withdrawn": (Conflict, ""),
    "already consented to this version": (Conflict, ""),
    "already allocated": (Conflict, ""),
    "already revealed": (Conflict, "the trial is unblinded"),
    "not every participant is allocated": (Conflict, "randomise every enrolled participant before unblinding"),
    "not allocated": (Conflict, "she is not randomised yet"),
    "re-consent needed": (Conflict, "an amendment asks her to consent again before her next visit"),
    "visit out of order": (Conflict, "visits are paid one after the other, up to the protocol's last"),
    "CRF already paid": (Conflict, "a visit was paid for this CRF already"),
    "not unblinded yet": (Conflict, "the escrow is returned after unblinding"),
    "nothing to return": (Conflict, "the escrow holds nothing beyond what is owed"),
    "CRF not anchored": (ValidationError, "the visit leaf is not proved in an anchored batch"),
    "CRF batch anchored by another node": (ValidationError, "a site is paid only for leaves its own node anchored"),
    "CRF batch is not of records": (ValidationError, "the visit leaf must be in a batch of records, not audit heads"),
    "seed does not match": (ValidationError, "the seed is not the one committed"),
}


def trial_refusal(reason: str, message: str | None = None) -> CareLedgerError:
    """The error a `trials: …` refusal is, whether the contract reverted with it or a node's check found it first:
    who may not (403), what is not there (404), what clashes with the trial's state (409), any other as malformed
    input (400). It says `message` if given, else the reason with what it means."""
    kind, meaning = _REFUSALS.get(reason.removeprefix("trials: "), (ValidationError, ""))
    return kind(message or (f"{reason}: {meaning}" if meaning else reason))


def _check_terms(terms: TrialTerms) -> None:
    """Refuse lists longer than the contract's arrays hold: the call would revert without a reason (a value out of
    its type's range is refused when encoded, and the contract checks the rest)."""
    for field, values, most in (
        ("ratios", terms.ratios, MAX_ARMS),
        ("block multiples", terms.block_multiples, MAX_MULTIPLES),
        ("sites", terms.sites, MAX_SITES),
    ):
        if len(values) > most:
            raise ValidationError(f"{field}: at most {most} at registration, got {len(values)}")


def _enrolment(event: ChainEvent) -> EnrolmentEvent:
    """An `Enrolled` log, read."""
    args = event.args
    site, order = to_checksum_address(args["site"]), (int(args["index"]), bytes(args["participant"]))
    return EnrolmentEvent(*order, site, int(args["stratum"]), int(args["version"]), event.block)


def _payment(event: ChainEvent) -> VisitPayment:
    """A `VisitPaid` log, read."""
    args = event.args
    site, leaf = to_checksum_address(args["site"]), bytes(args["crf_leaf"])
    fees = (int(args["visit"]), int(args["site_fee"]), int(args["stipend"]))
    return VisitPayment(bytes(args["participant"]), site, *fees, leaf, event.tx_hash, event.block, bool(args["held"]))


def _word(value: int) -> str:
    """An integer as the 32-byte topic word an indexed uint256 is."""
    return "0x" + value.to_bytes(32, "big").hex()
