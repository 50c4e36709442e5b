"""Who pays which claim, and who insures whom: what the access policy asks of the Claims contract.

```
ClaimResponse/claim-…-response v2 ─► Claim/claim-… (same patient), the version current when v2 was written
   ─► its commitment and provider ─► claim_id_of(provider, commitment) ─► the claim on chain (its member, its
   plan) ─► the plan's insurer
```

A claim's records (its Claim, ClaimResponse and ExplanationOfBenefit) are its payer's to read, version by
version: the insurer whose plan the chain says that Claim version was submitted to, not whatever a record
says (a Claim corrected for a new plan is the new insurer's, its earlier versions and their answers the old
one's). The node submits as its own wallet, the Claim's author, so the claim is found without opening the
Claim; one another wallet submitted is found by the provider the claims work submitted it as, or, submitted
before this process started, the provider the Claim names. A submitted claim's plan never changes, so each
Claim version's payer is remembered once the chain has it.

What can change an answer is followed by the node's background loop (`follow`, once a second), never inside a
decision, which runs on the API's event loop and in its worker threads at once: a `ClaimSubmitted` event (a
Claim version found not on chain may be now), a member enrolled again, and any change to the index's Claims (a
new version, a deletion), after which whom each insurer pays for is worked out again. One lock keeps what is
remembered whole against those threads.
"""

from __future__ import annotations

from collections.abc import Callable
from threading import Lock
from typing import Any

from careledger.access import SystemRepository
from careledger.chain import Claims, ClaimState, claim_id_of
from careledger.claims._enrolments import Enrolments, EventWatch
from careledger.claims._fhir import account_address, claim_record_of
from careledger.claims._plans import Plans
from careledger.errors import NotFound, ValidationError
from careledger.records import StoredRecord


class Payers:
    """The payers of the claims recorded here, and the insurers of members, from the chain (`access.Payers`)."""

    def __init__(self, records: SystemRepository, claims: Callable[..., Claims], plans: Plans) -> None:
        """`records`: the claims work's system repository (a Claim opened to find its provider is audited so)."""
        self._records = records
        self._claims = claims
        self._enrolments = Enrolments(claims, plans)
        self._submitted = EventWatch(claims, "ClaimSubmitted")
        self._lock = Lock()  # around every dictionary below and `_forgotten`
        # (Claim, version) -> its plan's insurer; None until it is on chain, forgotten when a claim is submitted
        self._payers: dict[tuple[str, int], str | None] = {}
        self._paid: dict[str, frozenset[str]] = {}  # insurer -> the patients it pays a claim here for
        self._providers: dict[tuple[str, int], str | None] = {}  # (Claim, version) -> the provider it names
        self._answers: dict[tuple[str, int], StoredRecord] = {}  # (ClaimResponse or EOB, version) -> its Claim's
        self._forgotten = 0  # how many times answers were forgotten: one worked out before is not kept
        self._newest: tuple[str, int] | None = None  # the newest Claim version (deletions too) when last followed

    def payer(self, record: StoredRecord) -> str | None:
        """The insurer whose plan the claim version `record` is (or answers) was submitted to; None for a record
        that is no claim's, a claim version not on chain, or one whose Claim is another patient's. Decided per
        version: a Claim corrected for a new plan (v2) is the new insurer's, its v1 and v1's answers the old's."""
        claim_id = claim_record_of(record.record_id, record.resource_type)
        if claim_id is None:
            return None
        claim = record if record.resource_type == "Claim" else self._answered(claim_id, record)
        if claim is None or claim.resource_type != "Claim" or claim.deleted:
            return None
        return self._payer_of(claim) if claim.patient_address == record.patient_address else None

    def _answered(self, claim_id: str, answer: StoredRecord) -> StoredRecord | None:
        """The Claim version a ClaimResponse or EOB version answers, from the index alone: the claims work writes
        one only right after following the Claim's current version (and names it in `request`/`claim`), so it is
        the newest Claim version written before it."""
        key = (answer.record_id, answer.version)
        with self._lock:
            if key in self._answers:
                return self._answers[key]
        try:
            claim = self._records.get(claim_id)
            while claim.version > 1 and claim.last_updated > answer.last_updated:
                claim = self._records.get(claim_id, claim.version - 1)
        except NotFound:
            return None
        with self._lock:
            return self._answers.setdefault(key, claim)

    def paid_by(self, insurer: str) -> frozenset[str]:
        """The patients with a claim here submitted to a plan of `insurer` (from the index and what the chain
        said of each Claim version, kept until `follow` sees the Claims or the submissions change)."""
        with self._lock:
            if insurer in self._paid:
                return self._paid[insurer]
            asked = self._forgotten
        claims = self._records.listing(resource_type="Claim")
        patients = frozenset(c.patient_address for c in claims if self._payer_of(c) == insurer)
        with self._lock:
            if asked == self._forgotten:
                self._paid[insurer] = patients
        return patients

    def insurer(self, member: str) -> str | None:
        """The insurer of `member`'s plan (her enrolment on chain, kept until she is enrolled again); None if she
        is not enrolled."""
        return self._enrolments.insurer(member)

    def submitted_as(self, claim: StoredRecord, provider: str) -> None:
        """The claims work submitted this Claim version as `provider` (or found it on chain so): it is found by
        it, not by opening it, asked of the chain again if it was found not there before, and counted in whom
        its insurer pays for at once."""
        key = (claim.record_id, claim.version)
        with self._lock:
            self._providers[key] = provider
            self._forget({key} if key in self._payers and self._payers[key] is None else set())

    def follow(self) -> None:
        """Catch up with the chain and the index (the node's background loop, once a second): forget which Claim
        versions were not on chain once a claim was submitted, whom each insurer pays for once a claim was
        submitted or a Claim written or deleted here, and the members enrolled again."""
        self._enrolments.follow()
        newest = next(iter(self._records.versions("Claim", limit=1)), None)
        changed = None if newest is None else (newest.record_id, newest.version)

        def forget(submitted: list[Any] | None) -> None:
            """Apply one look at the events, with what the index said, in one step."""
            with self._lock:
                if submitted != []:
                    self._forget({key for key, payer in self._payers.items() if payer is None})
                elif changed != self._newest:
                    self._forget(set())
                self._newest = changed

        self._submitted.follow(forget)

    def _forget(self, unsent: set[tuple[str, int]]) -> None:
        """Forget the payers of `unsent` and whom each insurer pays for (under the lock)."""
        for key in unsent:
            del self._payers[key]
        self._paid = {}
        self._forgotten += 1

    def _payer_of(self, claim: StoredRecord) -> str | None:
        """Asked of the chain once per Claim version: an answer does not change, and a version found not yet
        submitted is asked again only once a claim was submitted since (a `ClaimSubmitted` event)."""
        key = (claim.record_id, claim.version)
        with self._lock:
            if key in self._payers:
                return self._payers[key]
            asked = self._forgotten
        state = self._on_chain(claim)
        on_chain = state is not None and state.member.lower() == claim.patient_address.lower()
        payer = self._claims().plan_parties(state.plan_id)[0] if state and on_chain else None
        with self._lock:
            if payer is not None or asked == self._forgotten:  # a claim's plan never changes; "not yet" may have
                self._payers[key] = payer
        return payer

    def _on_chain(self, claim: StoredRecord) -> ClaimState | None:
        """The claim a Claim version is on chain: submitted by its author (the node's wallet), else by the
        provider the claims work submitted it as (`submitted_as`), else by the one it names (opened: only a claim
        another wallet submitted before this process started); None if it was never submitted."""
        commitment = self._records.commitment_of(claim)
        claims = self._claims()
        if claim.author is not None and (state := claims.find_claim(claim_id_of(claim.author, commitment))):
            return state
        key = (claim.record_id, claim.version)
        with self._lock:
            known, provider = key in self._providers, self._providers.get(key)
        if not known:
            try:
                provider = account_address(self._records.open(claim).get("provider", {}))
            except ValidationError:
                provider = None
            with self._lock:
                provider = self._providers.setdefault(key, provider)
        return None if provider is None else claims.find_claim(claim_id_of(provider, commitment))
