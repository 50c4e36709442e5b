"""Studies as their sponsors, ethics boards and patients use them, and the sponsor's side of every release and query.

A patient joins with two signatures her wallet makes, wherever it is: the `Participation`
opt-in (Research.vy), and a research consent (HRESCH) to the sponsor for the study's
categories until it ends (ConsentRegistry), which the guarded door checks on every
release. Either alone releases nothing. Leaving is one signature: from its block on, no
node releases her data to the study; what was released before stays released.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from careledger.access import Accessor, Disclosures
from careledger.audit import Entry
from careledger.chain import ActorRecord, CareToken, IdentityRegistry, Research, StudyState, StudyTerms, TxRequest
from careledger.claims import amount_text, to_units
from careledger.consent import ConsentService, Grant, Purpose, SignedConsent
from careledger.crypto import Envelope, MerkleTree, PrivateKey, SealedKey, keccak, sign_typed_data, unseal
from careledger.errors import CareLedgerError, Conflict, DecryptionError, IntegrityError, NotFound, ValidationError
from careledger.records import Category
from careledger.research._desk import (
    DELIVERY_INTERACTION,
    delivered_records,
    release_context,
    study_categories,
    study_reference,
)
from careledger.research._privacy import AggregateQuery, combine, part_of
from careledger.research._request import RELEASE, StudyRequest

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_DAY = 86_400
SIGNATURE_DAYS = 1  # a participation signed here must be submitted within this
CARE_DECIMALS = 18
_MAX_DAYS = 36_500
_CHAIN_EPSILON = Decimal("0.001")  # Research.vy keeps a study's epsilon in thousandths


@dataclass(frozen=True, slots=True)
class NodeRelease:
    """One node's dataset as the sponsor's node opened and verified it, or why there is none."""

    custodian: str
    records: int
    root: str | None
    report: dict[str, Any]
    ndjson: bytes = b""
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One study a patient joined, as `study mine` shows it."""

    study: StudyState
    joined_at: int
    left_at: int
    rewarded: bool
    releases: tuple[Entry, ...]


class Studies:
    """The study registry's writes and reads, and the sponsor's gathering of releases and aggregates."""

    def __init__(
        self,
        research: Callable[..., Research],
        token: Callable[..., CareToken],
        identity: Callable[[], IdentityRegistry],
        consent: ConsentService,
        disclosures: Disclosures,
        *,
        node_wallet: str,
        account: Callable[[str], LocalAccount],
        key: Callable[[str], PrivateKey],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._research = research
        self._token = token
        self._identity = identity
        self.consent = consent
        self.disclosures = disclosures
        self._node_wallet = node_wallet
        self._account = account
        self._key = key
        self._clock = clock

    # The registry ----------------------------------------------------------------------

    def terms(
        self,
        protocol_hash: bytes,
        *,
        categories: Iterable[Category],
        data_from: int,
        data_to: int,
        days: float,
        epsilon: float,
        reward: int,
        budget: int,
    ) -> StudyTerms:
        """A study's terms from names: it runs `days` from now. Only the protocol's hash (`protocol_hash`) goes on
        chain."""
        if not 0 < days <= _MAX_DAYS:
            raise ValidationError(f"a study runs for more than no days and at most {_MAX_DAYS}")
        if len(protocol_hash) != 32:
            raise ValidationError("a protocol hash is the 32-byte keccak256 of the protocol")
        if not (0 < epsilon <= 100 and data_from < data_to and 0 < reward <= budget):
            raise ValidationError(
                "a study needs epsilon in (0, 100], a data period that ends after it starts, "
                "and a budget of at least one reward above zero"
            )
        if Decimal(repr(float(epsilon))) % _CHAIN_EPSILON:  # the chain would round it, maybe up
            raise ValidationError(
                f"a study's epsilon is a whole number of thousandths (as the chain keeps it), not {epsilon}"
            )
        mask = sum(c.bit for c in set(categories))
        ends = int(self._clock() + days * _DAY)
        return StudyTerms(protocol_hash, mask, data_from, data_to, ends, epsilon, reward, budget)

    def create(self, as_wallet: str, terms: StudyTerms) -> StudyState:
        """Register a study as `as_wallet` (a researcher kept here), escrowing its budget."""
        research = self._research(as_wallet=as_wallet)
        self._token(as_wallet=as_wallet).approve(research.address, terms.budget)
        return research.study(research.register_study(terms))

    def create_transactions(self, terms: StudyTerms) -> list[dict[str, str]]:
        """What a researcher's wallet elsewhere sends, in order, to register the study: CareToken's `approve` of
        the budget, then `register_study`."""
        research = self._research()
        requests = [
            self._token().approve_request(research.address, terms.budget),
            research.register_study_request(terms),
        ]
        return [_transaction(r) for r in requests]

    def approve_transaction(self, study_id: int) -> dict[str, str]:
        """What an ethics board's wallet elsewhere sends to approve the study."""
        research = self._research()
        research.study(study_id)
        return _transaction(research.approve_request(study_id))

    def approve(self, as_wallet: str, study_id: int) -> StudyState:
        """Approve a study as `as_wallet`, an ethics board."""
        research = self._research(as_wallet=as_wallet)
        research.approve(study_id)
        return research.study(study_id)

    def top_up(self, as_wallet: str, study_id: int, amount: int) -> StudyState:
        """Add `amount` to study `study_id`'s escrow from `as_wallet` (kept here; the sponsor, or anyone), so that
        it pays more participants. Checked before anything is sent: the amount, the study running (`Conflict`),
        the wallet holding the CARE (`Conflict`, and no approval left behind)."""
        research = self._research(as_wallet=as_wallet)
        study = self._running(research, study_id, amount)
        token = self._token(as_wallet=as_wallet)
        held = token.balance_of(token.signer.address if token.signer is not None else "")
        if held < amount:
            raise Conflict(
                f"{as_wallet} holds {care(held)} CARE, less than the {care(amount)} to add: nothing was done; "
                "send it more first"
            )
        token.approve(research.address, amount)
        research.top_up(study.study_id, amount)
        return research.study(study_id)

    def top_up_transactions(self, study_id: int, amount: int) -> list[dict[str, str]]:
        """What a wallet elsewhere sends, in order, to add `amount` to the study's escrow: CareToken's `approve`,
        then `top_up`."""
        research = self._research()
        self._running(research, study_id, amount)
        requests = [self._token().approve_request(research.address, amount), research.top_up_request(study_id, amount)]
        return [_transaction(r) for r in requests]

    def _running(self, research: Research, study_id: int, amount: int) -> StudyState:
        if amount <= 0:
            raise ValidationError(f"a top-up adds more than nothing, not {care(amount)} CARE")
        study = research.study(study_id)
        if self._clock() > study.terms.ends:
            raise Conflict(f"study {study_id} has ended: its escrow goes back to the sponsor and takes no more")
        return study

    def show(self, study_id: int) -> StudyState:
        """A study as the chain holds it; `NotFound` if there is none."""
        return self._research().study(study_id)

    def all(self) -> list[StudyState]:
        """Every study registered, the newest first."""
        research = self._research()
        return [research.study(i) for i in range(research.study_count(), 0, -1)]

    # Joining and leaving ---------------------------------------------------------------

    def prepare(self, study_id: int, patient: str, *, join: bool) -> dict[str, Any]:
        """What the patient's wallet signs to join (the participation and the research consent) or leave."""
        research = self._research()
        deadline = int(self._clock()) + SIGNATURE_DAYS * _DAY
        prepared = {"participation": research.participation_typed_data(study_id, patient, join, deadline)}
        if join:
            study = research.study(study_id)
            _check_place(research, study, patient)
            prepared["consent"] = self.consent.prepare(self._consent_terms(study, patient))
        return prepared

    def join(self, as_wallet: str, study_id: int, patient: str) -> tuple[StudyState, Grant]:
        """Join for `patient`, signed by `as_wallet` held here (she, or whoever acts for her)."""
        account = self._account(as_wallet)
        prepared = self.prepare(study_id, patient, join=True)
        signatures = {name: sign_typed_data(account, typed) for name, typed in prepared.items()}
        study, grant = self.submit_signed(patient, study_id, prepared, signatures)
        assert grant is not None
        return study, grant

    def submit_signed(
        self, patient: str, study_id: int, signed: dict[str, Any], signatures: dict[str, bytes]
    ) -> tuple[StudyState, Grant | None]:
        """Submit a join or a leave that `prepare` gave and a wallet signed (the node pays the gas): to join, the
        research consent first, then the participation, so a participant always has a consent. `signed` and
        `signatures` are keyed `participation` and, to join, `consent`. `ValidationError` unless they are about
        `patient` and study `study_id`."""
        if set(signed) != set(signatures) or "participation" not in signed:
            raise ValidationError("send the participation (and, to join, the consent) with a signature each")
        research = self._research(as_wallet=self._node_wallet)
        message = _participation_message(signed["participation"], research)
        if message["studyId"] != study_id:
            raise ValidationError(f"the signed participation is not for study {study_id}")
        if message["patient"] != patient or (message["join"] != ("consent" in signed)):
            raise ValidationError(f"the participation is not {patient}'s, or a join comes without its consent")
        grant = None
        if "consent" in signed:
            _check_place(research, research.study(study_id), patient)  # before a consent is granted for nothing
            consent = SignedConsent.from_typed_data(signed["consent"], signatures["consent"])
            if consent.terms.patient != patient or consent.terms.purposes != Purpose.HRESCH.bit:
                raise ValidationError(f"the consent is not {patient}'s research consent")
            grant = self.consent.submit(self._node_wallet, consent)
        research.participate_by_signature(
            study_id, message["patient"], message["join"], int(message["deadline"]), signatures["participation"]
        )
        return research.study(study_id), grant

    def leave(self, as_wallet: str, study_id: int, patient: str) -> StudyState:
        """Leave for `patient`, signed by `as_wallet` held here."""
        prepared = self.prepare(study_id, patient, join=False)
        signature = sign_typed_data(self._account(as_wallet), prepared["participation"])
        return self.submit_signed(patient, study_id, prepared, {"participation": signature})[0]

    def mine(self, patient: str, among: Sequence[StudyState] | None = None) -> list[Enrolment]:
        """The studies `patient` joined (of `among`, if the caller has read them already; else of all), with what
        this node released to each (releases the chain recorded, not attempts it refused) and whether she was
        paid."""
        research = self._research()
        entries = [
            e
            for e in self.disclosures.of(Accessor(patient, Purpose.PATRQT), patient, limit=500)
            if e.access.interaction == DELIVERY_INTERACTION and e.access.allowed
        ]
        found = []
        for study in self.all() if among is None else among:
            taking_part = research.participation(study.study_id, patient)
            if taking_part.joined_at:
                releases = tuple(
                    e
                    for e in entries
                    if e.access.agent == study.sponsor and study_reference(study.study_id) in e.access.entities
                )
                found.append(
                    Enrolment(study, taking_part.joined_at, taking_part.left_at, taking_part.rewarded, releases)
                )
        return found

    def held(self, patient: str) -> int:
        """Rewards held for `patient` until she claims her custodial identity."""
        return self._research().held(patient)

    def collect(self, patient: str) -> int:
        """Pay the rewards held for `patient`, whose identity was just claimed, to her wallet (the node pays the
        gas); what was paid. Nothing, and no error, on a chain without the Research contract."""
        try:
            held = self._research().held(patient)
        except NotFound:
            return 0
        if held:
            self._research(as_wallet=self._node_wallet).collect(patient)
        return held

    # The sponsor's side ----------------------------------------------------------------

    def gather_release(self, as_wallet: str, study_id: int) -> list[NodeRelease]:
        """Every node's dataset for the study, each opened with the sponsor's key and checked against the root it
        recorded on chain. A node that cannot answer is reported, not fatal."""
        answers = self._ask_every_node(as_wallet, study_id, RELEASE)
        return [self._opened(as_wallet, study_id, custodian, answer) for custodian, answer in answers]

    def gather_query(self, as_wallet: str, study_id: int, query: AggregateQuery) -> dict[str, Any]:
        """The aggregate over every node's participants, combined from each node's noised part. A node that
        cannot answer, or answers with something other than finite numbers, is reported, not combined."""
        parts, nodes = [], []
        for custodian, answer in self._ask_every_node(as_wallet, study_id, query.to_json()):
            problem = answer.get("problem")
            if problem is None:
                try:
                    parts.append(part_of(query, answer.get("part")))
                except IntegrityError as exc:
                    problem = f"{custodian}'s answer: {exc}"
            left = answer.get("epsilon_left")
            finite = isinstance(left, int | float) and not isinstance(left, bool) and math.isfinite(left)
            nodes.append({"custodian": custodian, "problem": problem, "epsilon_left": left if finite else None})
        return {"query": query.to_json(), "result": combine(query, parts), "nodes": nodes}

    def _ask_every_node(
        self, as_wallet: str, study_id: int, ask_for: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        from careledger.client import FhirClient  # httpx: imported for a gathering only

        identity = self._identity()
        self._research().study(study_id)  # NotFound before anything is signed
        account = self._account(as_wallet)
        chain_id = self._research().chain.chain_id

        def ask(node: ActorRecord) -> tuple[str, dict[str, Any]]:
            request = StudyRequest.new(study_id, node.address, ask_for).signed(account, chain_id, identity.address)
            try:
                with FhirClient(node.endpoint) as client:
                    return node.address, client.study(request.to_json())
            except CareLedgerError as exc:
                return node.address, {"problem": str(exc)}

        nodes = identity.nodes()
        with ThreadPoolExecutor(max_workers=min(8, len(nodes) or 1)) as pool:  # every node at once
            return list(pool.map(ask, nodes))

    def _opened(self, as_wallet: str, study_id: int, custodian: str, answer: dict[str, Any]) -> NodeRelease:
        if "problem" in answer or not answer.get("root"):
            return NodeRelease(custodian, 0, None, answer.get("report", {}), problem=answer.get("problem"))
        try:
            root = bytes.fromhex(str(answer["root"]).removeprefix("0x"))
            envelope = Envelope(
                bytes.fromhex(answer["ciphertext"]), (SealedKey.from_bytes(bytes.fromhex(answer["sealed_key"])),)
            )
            ndjson = unseal(envelope, release_context(study_id, custodian, root), self._key(as_wallet))
        except (KeyError, TypeError, ValueError, DecryptionError) as exc:
            raise IntegrityError(f"{custodian}'s release does not open: {exc}") from None
        lines = ndjson.splitlines(keepends=True)
        recorded = self._research().release_of(root)
        if MerkleTree([keccak(line) for line in lines]).root != root:
            raise IntegrityError(f"{custodian}'s release does not hash to the root it sent")
        if recorded is None or (recorded.study_id, recorded.custodian, recorded.records) != (
            study_id,
            custodian,
            len(lines),
        ):
            raise IntegrityError(f"{custodian}'s release is not the one recorded on chain under its root")
        return NodeRelease(custodian, len(lines), answer["root"], answer["report"], ndjson)

    def _consent_terms(self, study: StudyState, patient: str) -> Any:
        days = (study.terms.ends - self._clock()) / _DAY
        if days <= 0:
            raise ValidationError(f"study {study.study_id} has ended")
        return self.consent.terms(patient, study.sponsor, study_categories(study), [Purpose.HRESCH], days=days)


def _check_place(research: Research, study: StudyState, patient: str) -> None:
    """`Conflict` unless the escrow can pay `patient` one more reward (or she was paid already): the contract
    would refuse her participation, so she is told before she signs anything."""
    if study.places == 0 and not research.participation(study.study_id, patient).rewarded:
        raise Conflict(
            f"study {study.study_id}'s escrow cannot pay another participant: its {care(study.escrow)} CARE hold "
            f"the {care(study.terms.reward)} CARE rewards of the {study.unpaid} taking part and not paid yet; "
            "its sponsor can top it up"
        )


def protocol_hash(document: bytes) -> bytes:
    """What goes on chain of a study's protocol: its keccak256."""
    return keccak(document)


def care(units: int) -> str:
    """An amount of CareToken base units as a decimal string of CARE."""
    return amount_text(units, CARE_DECIMALS)


def care_units(amount: str) -> int:
    """A decimal string of CARE as CareToken base units (`ValidationError` if it is not an amount)."""
    return to_units(amount, CARE_DECIMALS)


def study_view(study: StudyState) -> dict[str, Any]:
    """A study as JSON: its terms in words, amounts in CARE (decimal strings), times in ISO 8601."""
    terms = study.terms
    return {
        "id": study.study_id,
        "sponsor": study.sponsor,
        "protocol_hash": "0x" + terms.protocol_hash.hex(),
        "categories": [c.value for c in Category.from_mask(terms.categories)],
        "data_from": _iso(terms.data_from)[:10],
        "data_to": _iso(terms.data_to)[:10],
        "ends": _iso(terms.ends),
        "epsilon": terms.epsilon,
        "reward": care(terms.reward),
        "budget": care(terms.budget),
        "escrow": care(study.escrow),
        "approved_by": study.approved_by,
        "participants": study.participants,
        "unpaid": study.unpaid,
        "places": study.places,
    }


def enrolment_view(e: Enrolment) -> dict[str, Any]:
    """One study a patient joined, as JSON."""
    return {
        "study": e.study.study_id,
        "sponsor": e.study.sponsor,
        "categories": [c.value for c in Category.from_mask(e.study.terms.categories)],
        "joined_at": _iso(e.joined_at),
        "left_at": _iso(e.left_at) if e.left_at else None,
        "earned": care(e.study.terms.reward) if e.rewarded else "0",
        "releases": [
            {"at": entry.recorded_at.isoformat(), "to": entry.access.agent, "records": delivered_records(entry)}
            for entry in e.releases
        ],
    }


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _transaction(request: TxRequest) -> dict[str, str]:
    return {"to": str(request.to), "data": "0x" + request.data.hex(), "value": "0x0"}


def _participation_message(typed: Any, research: Research) -> dict[str, Any]:
    """The message of a signed `Participation`, if it is this contract's on this chain, field for field."""
    if not isinstance(typed, dict) or typed.get("primaryType") != "Participation":
        raise ValidationError("not a participation: EIP-712 typed data of Participation")
    message = typed.get("message")
    if not isinstance(message, dict):
        raise ValidationError("a participation's typed data has a message object")
    try:
        join = {True: True, False: False, "true": True, "false": False}[message["join"]]
        expected = research.participation_typed_data(
            int(message["studyId"]), str(message["patient"]), join, int(message["deadline"])
        )
        stale = int(message["nonce"]) != expected["message"]["nonce"]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"malformed participation: {exc}") from None
    if stale:
        raise ValidationError("the participation was signed with another nonce: sign a fresh one")
    if json.dumps(expected["domain"], sort_keys=True) != json.dumps(typed.get("domain"), sort_keys=True):
        raise ValidationError("the participation is for another contract or chain")
    return dict(expected["message"])
