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
"""

from __future__ import annotations

from collections.abc import Callable

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
        # (Claim, version) -> its plan's insurer; None until it is on chain, forgotten when a claim is submitted
        self._payers: dict[tuple[str, int], str | None] = {}
        self._submitted = EventWatch(claims, "ClaimSubmitted")
        self._paid: dict[str, frozenset[str]] = {}  # insurer -> the patients it pays a claim here for
        self._providers: dict[tuple[str, int], str | None] = {}  # (Claim, version) -> the provider it names
        self._answers: dict[tuple[str, int], StoredRecord] = {}  # (ClaimResponse or EOB, version) -> its Claim's

    def payer(self, record: StoredRecord) -> str | None:
        """The insurer whose plan the claim version `record` is (or answers) was submitted to; None for a record
        that is no claim's, a claim version not on chain, or one whose Claim is another patient's. Decided per
        version: a Claim corrected for a new plan (v2) is the new insurer's, its v1 and v1's answers the old's."""
        claim_id = claim_record_of(record.record_id, record.resource_type)
        if claim_id is None:
            return None
        self._forget_unsent()
        claim = record if record.resource_type == "Claim" else self._answered(claim_id, record)
        if claim is None or claim.resource_type != "Claim" or claim.deleted:
            return None
        return self._payer_of(claim) if claim.patient_address == record.patient_address else None

    def _answered(self, claim_id: str, answer: StoredRecord) -> StoredRecord | None:
        """The Claim version a ClaimResponse or EOB version answers, from the index alone: the claims work writes
        one only right after following the Claim's current version (and names it in `request`/`claim`), so it is
        the newest Claim version written before it."""
        key = (answer.record_id, answer.version)
        if key not in self._answers:
            try:
                claim = self._records.get(claim_id)
                while claim.version > 1 and claim.last_updated > answer.last_updated:
                    claim = self._records.get(claim_id, claim.version - 1)
            except NotFound:
                return None
            self._answers[key] = claim
        return self._answers[key]

    def paid_by(self, insurer: str) -> frozenset[str]:
        """The patients with a claim here submitted to a plan of `insurer` (from the index and what the chain
        said of each Claim version, kept)."""
        self._forget_unsent()
        if insurer not in self._paid:
            claims = self._records.listing(resource_type="Claim")
            self._paid[insurer] = frozenset(c.patient_address for c in claims if self._payer_of(c) == insurer)
        return self._paid[insurer]

    def insurer(self, member: str) -> str | None:
        """The insurer of `member`'s plan (her enrolment on chain, kept until she is enrolled again); None if she
        is not enrolled."""
        return self._enrolments.insurer(member)

    def submitted_as(self, claim: StoredRecord, provider: str) -> None:
        """The claims work submitted this Claim version as `provider`: it is found by it, not by opening it."""
        self._providers[(claim.record_id, claim.version)] = provider

    def _forget_unsent(self) -> None:
        """Forget which Claim versions were not on chain, and whom each insurer pays for, once a claim was
        submitted since they were asked (a Claim version the node writes is submitted before it has a payer)."""
        if self._submitted.since() != []:
            self._payers = {key: payer for key, payer in self._payers.items() if payer is not None}
            self._paid = {}

    def _payer_of(self, claim: StoredRecord) -> str | None:
        """Asked of the chain once per Claim version: an answer does not change, and a version found not yet
        submitted is asked again only once a claim was submitted since (a `ClaimSubmitted` event)."""
        key = (claim.record_id, claim.version)
        if key not in self._payers:
            state = self._on_chain(claim)
            on_chain = state is not None and state.member.lower() == claim.patient_address.lower()
            self._payers[key] = self._claims().plan_parties(state.plan_id)[0] if state and on_chain else None
        return self._payers[key]

    def _on_chain(self, claim: StoredRecord) -> ClaimState | None:
        """The claim a Claim version is on chain: submitted by its author (the node's wallet), else by the
        provider the claims work submitted it as (`submitted_as`), else by the one it names (opened: only a claim
        another wallet submitted before this process started); None if it was never submitted."""
        commitment = self._records.commitment_of(claim)
        claims = self._claims()
        if claim.author is not None and (state := claims.find_claim(claim_id_of(claim.author, commitment))):
            return state
        key = (claim.record_id, claim.version)
        if key not in self._providers:
            try:
                self._providers[key] = account_address(self._records.open(claim).get("provider", {}))
            except ValidationError:
                self._providers[key] = None
        provider = self._providers[key]
        return None if provider is None else claims.find_claim(claim_id_of(provider, commitment))
