"""A custodian node's answers to a study's sponsor: a de-identified release, or one private aggregate.

```
sponsor's signed StudyRequest ─ signer is the study's sponsor? this node? fresh? unused? ─►
study approved and running ─► (release: the sponsor's registered key to seal to) ─►
this node's patients who are participants now (on chain) ─► their records in the study's categories, and their
Patients ─► the guarded door: their records the sponsor may see for research (HRESCH), audited per patient ─►
release: period ─► Safe Harbor ─► k-anonymity ─► Merkle root recorded on chain (rewards paid) ─►
         a `study-delivery` entry per patient in it ─► NDJSON sealed to the sponsor's registered key
query:   bounds and epsilon checked ─► the privacy budget spent here, in millionths rounded up
         (refused past the study's) ─► one noised part
```

A patient who never joined, or who left, is not a participant: her records never reach
the door, so nothing of hers is in an answer. Recording the release before sealing it
means a node that crashes in between answers the retried request with the same root
(pseudonyms and date shifts are keyed, so the same data gives the same lines), which pays
nobody twice.

The door's entry (`study-release`) says her records were opened for the sponsor; only the
`study-delivery` entry, written once the chain has recorded the release and paid (or held)
her reward, says they went. A release the chain refuses (this node no longer an active
actor, the study ended by the chain's clock, a participant who left meanwhile) reaches no
sponsor and is told to no patient as a release. The escrow never refuses one: the
contract lets nobody join whose reward it does not hold.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from careledger.access import Accessor, RecordAccess, SystemRepository
from careledger.audit import Access, Action, Entry, Outcome
from careledger.chain import IdentityRegistry, Research, StudyState
from careledger.consent import ConsentService, Purpose
from careledger.crypto import MerkleTree, RecordContext, keccak, seal
from careledger.errors import AccessDenied, Unauthenticated, ValidationError
from careledger.exchange import spend_fresh
from careledger.records import Category, Resource, StoredRecord
from careledger.research._budget import spend
from careledger.research._privacy import AggregateQuery, answer
from careledger.research._release import DEFAULT_K, Release, release
from careledger.research._request import RELEASE, StudyRequest
from careledger.store import Database

RELEASE_INTERACTION = "study-release"  # the door opened her records for a study's release
DELIVERY_INTERACTION = "study-delivery"  # the release was recorded on chain and sent: what `study mine` shows
QUERY_INTERACTION = "study-query"
TRAINING_INTERACTION = "study-train"  # opened on this node for a federated run: only model updates leave
_DATE_FIELDS = ("effectiveDateTime", "issued", "onsetDateTime", "recordedDate", "authoredOn", "occurrenceDateTime")


def release_context(study_id: int, custodian: str, root: bytes) -> RecordContext:
    """What a sealed release is bound to: this study, this node, this root."""
    return RecordContext(f"study/{study_id}/{root.hex()}", 1, custodian, RELEASE_INTERACTION)


def study_reference(study_id: int) -> str:
    """How an audit entry names the study (on chain) it was for."""
    return f"ResearchStudy/{study_id}"


def delivered_records(entry: Entry) -> int:
    """How many of her records a `study-delivery` entry says went (its entities, less the study)."""
    return sum(1 for e in entry.access.entities if not e.startswith("ResearchStudy/"))


def study_categories(study: StudyState) -> list[Category]:
    """The categories a participant's research consent covers: the study's, and the Patient's own (GENERAL),
    whose de-identified form (age band, sex, three ZIP digits) every release links the rest to."""
    return sorted(set(Category.from_mask(study.terms.categories)) | {Category.GENERAL}, key=list(Category).index)


class StudyDesk:
    """Answers the sponsors of studies for the records this node holds."""

    def __init__(
        self,
        db: Database,
        records: SystemRepository,
        access: RecordAccess,
        consent: ConsentService,
        research: Callable[..., Research],
        identity: Callable[[], IdentityRegistry],
        *,
        address: str,
        node_wallet: str,
        study_secret: bytes,
        chain_id: int,
        clock: Callable[[], float] = time.time,
        random_state: Any = None,
    ) -> None:
        self.db = db
        self._records = records
        self.access = access
        self._consent = consent
        self._research = research
        self._identity = identity
        self.address = address
        self._node_wallet = node_wallet
        self._secret = study_secret
        self.chain_id = chain_id
        self._clock = clock
        self._random_state = random_state

    def release(self, request: StudyRequest, *, k: int = DEFAULT_K) -> dict[str, Any]:
        """The study's de-identified dataset of this node's participants, recorded on chain and sealed to the
        sponsor; `Unauthenticated` for a forged, stale or replayed request."""
        if request.ask != RELEASE:
            raise ValidationError('a release request asks {"kind": "release"}')
        study = self.checked(request)
        sponsor_key = self._registered_key(study.sponsor)  # before anything is opened, recorded or paid
        resources = self._participants_records(study, RELEASE_INTERACTION)
        released = release(resources, self._study_key(study.study_id), today=self._today(), k=k)
        lines = released.lines()
        if not lines:
            return {"custodian": self.address, "root": None, "records": 0, "report": released.report.as_json()}
        root = MerkleTree([keccak(line) for line in lines]).root
        patients = [self._address_of_patient(patient_id) for patient_id in released.patient_ids]
        self._research(as_wallet=self._node_wallet).record_release(study.study_id, root, len(lines), patients)
        self._audit_delivery(study, root, released, patients)
        envelope = seal(b"".join(lines), release_context(study.study_id, self.address, root), [sponsor_key])
        return {
            "custodian": self.address,
            "root": "0x" + root.hex(),
            "records": len(lines),
            "report": released.report.as_json(),
            "ciphertext": envelope.ciphertext.hex(),
            "sealed_key": envelope.sealed_keys[0].to_bytes().hex(),
        }

    def query(self, request: StudyRequest) -> dict[str, Any]:
        """This node's noised part of one aggregate; `AccessDenied` when it would overspend the study's budget."""
        query = AggregateQuery.from_json(request.ask)
        study = self.checked(request)
        left = spend(self.db, self._research().address, study.study_id, study.terms.epsilon, query.epsilon)
        types = {"Patient"} if query.code is None else {"Patient", "Observation"}
        resources = self._participants_records(study, QUERY_INTERACTION, types)
        values = _values(query, resources)
        part = answer(query, values, random_state=self._random_state)
        return {"custodian": self.address, "part": part, "epsilon_left": left}

    def open_for_training(self, study_id: int) -> list[Resource]:
        """The participants' records in the study's categories, opened for its sponsor's federated training run on
        this node (audited per patient as `study-train`). They never leave: the run sends only model updates."""
        return self._participants_records(self._running(study_id), TRAINING_INTERACTION)

    # The checks and the door -----------------------------------------------------------

    def checked(self, request: StudyRequest) -> StudyState:
        """The study a request is for, if its sponsor signed it for this node, fresh and unused, and the study is
        approved and running: `Unauthenticated`, `ValidationError` or `AccessDenied` otherwise."""
        signer = request.signer(self.chain_id, self._identity().address)  # before anything is told
        study = self._research().study(request.study_id)
        if signer != study.sponsor:
            raise Unauthenticated(f"the request is signed by {signer}, not by study {study.study_id}'s sponsor")
        if request.custodian != self.address:
            raise ValidationError(f"the request is for {request.custodian}, not this node ({self.address})")
        spend_fresh(self.db, signer, request.nonce, request.expiry, int(self._clock()))
        return self._running(request.study_id)

    def _running(self, study_id: int) -> StudyState:
        """The study, if an ethics board approved it and it has not ended; `AccessDenied` otherwise."""
        study = self._research().study(study_id)
        if study.approved_by is None:
            raise AccessDenied(f"study {study.study_id} is not approved by an ethics board: nothing is released")
        if int(self._clock()) > study.terms.ends:
            raise AccessDenied(f"study {study.study_id} has ended")
        return study

    def _participants_records(
        self, study: StudyState, interaction: str, types: set[str] | None = None
    ) -> list[Resource]:
        """Participants' records in the study's categories and period, and their Patients (of `types`, if given: a
        query opens only what it counts), as the guarded door lets the sponsor have them for research (audited per
        patient). Her consent covers GENERAL for the Patient's sake; her other GENERAL records (Encounters,
        Conditions, …) go only to a study that asks for GENERAL."""
        research = self._research()
        asked = set(Category.from_mask(study.terms.categories))
        by_patient: dict[str, list[StoredRecord]] = defaultdict(list)
        for stored in self._records.listing():
            by_patient[stored.patient_address].append(stored)
        participants = research.participants_among(study.study_id, list(by_patient))
        candidates = [  # in the node's own order, so the same data gives the same lines and root
            s
            for patient, stored in by_patient.items()
            if patient in participants
            for s in stored
            if _asked_for(s, asked) and not s.deleted and (types is None or s.resource_type in types)
        ]
        self._consent.sync()
        accessor = Accessor(study.sponsor, Purpose.HRESCH, deidentified=True)
        shown = self.access.for_caller(accessor).open_visible(candidates, interaction)
        start, end = (_day(study.terms.data_from), _day(study.terms.data_to))
        return [r for r in shown if _within(r, start, end)]

    def _audit_delivery(self, study: StudyState, root: bytes, released: Release, patients: list[str]) -> None:
        """One `study-delivery` entry per patient the chain has just recorded the release of: which of her records
        went, to whom, for which study, under which root."""
        detail = f"de-identified, recorded on chain under root 0x{root.hex()}"
        for patient, sources in zip(patients, released.sources, strict=True):
            entities = (study_reference(study.study_id), *sources)
            self.access.audit.record(
                Access(
                    Action.EXECUTE,
                    DELIVERY_INTERACTION,
                    Outcome.SUCCESS,
                    study.sponsor,
                    patient,
                    entities,
                    Purpose.HRESCH.value,
                    detail=detail,
                )
            )

    # Helpers ---------------------------------------------------------------------------

    def _study_key(self, study_id: int) -> bytes:
        """The key of this study's pseudonyms and date shifts here: one per study, so two studies cannot link."""
        return hmac.new(self._secret, f"study/{self._research().address}/{study_id}".encode(), hashlib.sha256).digest()

    def _address_of_patient(self, patient_id: str) -> str:
        return self._records.get(patient_id).patient_address

    def _registered_key(self, actor: str) -> Any:
        record = self._identity().actor(actor)
        if record is None or not record.active:
            raise AccessDenied(f"{actor} is not an active registered actor to seal a release to")
        return record.encryption_key

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()


def _asked_for(stored: StoredRecord, asked: set[Category]) -> bool:
    """Whether a study of the categories `asked` takes this record: one of them, or the participant's Patient."""
    return stored.category in asked or (stored.resource_type == "Patient" and stored.category is Category.GENERAL)


def _day(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def _within(resource: Resource, start: date, end: date) -> bool:
    """Whether a record's clinical date is in the study's period (a Patient, or a record with no date, is kept)."""
    for name in _DATE_FIELDS:
        value = resource.get(name)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return start <= date.fromisoformat(value[:10]) <= end
            except ValueError:
                return False
    return True


def _values(query: AggregateQuery, resources: Iterable[Resource]) -> list[float]:
    """One value per participant: for a count, one per patient (with the code, if one is named); else her latest
    value of the code."""
    patients = {str(r["id"]) for r in resources if r.get("resourceType") == "Patient"}
    if query.code is None:
        return [1.0] * len(patients)
    system, _, code = query.code.rpartition("|")
    latest: dict[str, tuple[str, float]] = {}
    for r in resources:
        if r.get("resourceType") != "Observation" or not _has_code(r, system, code):
            continue
        patient = str(r.get("subject", {}).get("reference", "")).removeprefix("Patient/")
        value = r.get("valueQuantity", {}).get("value")
        when = str(r.get("effectiveDateTime", ""))
        if patient in patients and isinstance(value, int | float) and when >= latest.get(patient, ("", 0.0))[0]:
            latest[patient] = (when, float(value))
    if query.kind == "count":
        return [1.0] * len(latest)
    return [value for _, value in latest.values()]


def _has_code(resource: Resource, system: str, code: str) -> bool:
    codings = resource.get("code", {}).get("coding", [])
    return any(c.get("code") == code and (not system or c.get("system") == system) for c in codings)
