"""The claims service: a provider's Claim from an Encounter, submitted, followed, explained.

```
Encounter + coded lines ─► FHIR Claim (an encrypted record, category billing)
   ─► its salted commitment ─► Claims.submit_claim ─► adjudicated and paid on chain
   ─► ClaimAdjudicated events ─► ClaimResponse (provider) + ExplanationOfBenefit (patient)
```

The Claim is stored before it is submitted and its on-chain id is derived from its
commitment, so a crash between the two loses nothing: submitting again finds the stored
Claim and submits it, or finds it on chain already and only follows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address

from careledger._failpoints import crash_point
from careledger.access import Repository, SystemRepository
from careledger.chain import Adjudication, Claims, ClaimState, claim_id_of
from careledger.claims._classes import ServiceClass, classify
from careledger.claims._eligibility import Coverages
from careledger.claims._fhir import (
    EOB_SUFFIX,
    RESPONSE_SUFFIX,
    ClaimLine,
    Money,
    Parties,
    account_address,
    build_claim,
    claim_lines,
    claim_response,
    encounter_date,
    encounter_of,
    explanation_of_benefit,
)
from careledger.claims._payers import Payers
from careledger.claims._payments import Payments
from careledger.claims._plans import Plans
from careledger.config import NODE_WALLET
from careledger.errors import NotFound, ValidationError
from careledger.identity import did_pkh
from careledger.records import StoredRecord, search_query

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_PERMIT_LIFETIME = 3_600


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """Where a claim stands: on chain, every decision so far, and its FHIR records here."""

    claim_id: bytes
    state: ClaimState
    decisions: tuple[Adjudication, ...]
    record_id: str | None = None
    response_id: str | None = None
    eob_id: str | None = None

    @property
    def hex_id(self) -> str:
        """The claim's on-chain id as 0x-prefixed hex."""
        return "0x" + self.claim_id.hex()


def claim_record_id(encounter_id: str) -> str:
    """The Claim for an Encounter always has the same id, so a retry finds it."""
    return "claim-" + keccak(text=encounter_id)[:16].hex()


class ClaimsService:
    """Claims of the patients this node is custodian for: submitted, followed, reviewed, appealed, paid."""

    def __init__(
        self,
        records: SystemRepository,
        claims: Callable[..., Claims],
        plans: Plans,
        payments: Payments,
        *,
        chain_id: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`claims(as_wallet=None)`: the Claims facade, read-only or signing as one of the node's wallets."""
        self._records = records
        self._claims = claims
        self._plans = plans
        self._payments = payments
        self.chain_id = chain_id
        self._clock = clock
        # Who pays which claim (the door's policy asks), and members' coverage and eligibility, from the chain.
        self.payers = Payers(records, claims, plans)
        self.coverage = Coverages(plans, chain_id=chain_id, chain_time=lambda: claims().chain.timestamp(), clock=clock)
        # (Claim record, version) → (on-chain id, decisions seen): what `follow` need not open again.
        self._followed: dict[tuple[str, int], tuple[bytes, int]] = {}

    def submit(
        self,
        billing: Repository,
        encounter_id: str,
        lines: Sequence[ClaimLine],
        *,
        service_class: ServiceClass | None = None,
        preauth_id: int = 0,
        as_wallet: str = NODE_WALLET,
    ) -> ClaimOutcome:
        """Write the Claim for an Encounter (once) and submit it as the provider's wallet `as_wallet`.

        `billing` is the guarded repository of whoever bills (the node or its care team): the Encounter is
        read through it, refused and audited for anyone else. What follows (the Claim, the adjudication's
        ClaimResponse and EOB) is the node's own work for payment, audited as HPAYMT in her accounting."""
        encounter_record, encounter = billing.billable(encounter_id)
        return self._submit(encounter_record, encounter, lines, service_class, preauth_id, as_wallet)

    def submit_fhir(self, billing: Repository, claim: dict[str, Any], *, as_wallet: str = NODE_WALLET) -> ClaimOutcome:
        """Adjudicate a Claim a provider's system sent as FHIR: its items' codes and `net` amounts (whole tokens
        of the member's plan), the Encounter its items name (read through `billing`, as `submit` does), and a
        prior authorization in `preAuthRef`."""
        encounter_record, encounter = billing.billable(encounter_of(claim))
        plan_id, _ = self._plans.plan_of(encounter_record.patient_address)
        lines = claim_lines(claim, self._money(plan_id).decimals)
        refs = claim.get("insurance", [{}])[0].get("preAuthRef", []) if claim.get("insurance") else []
        preauth = int(refs[0]) if refs and str(refs[0]).isdigit() else 0
        return self._submit(encounter_record, encounter, lines, None, preauth, as_wallet)

    def _submit(
        self,
        encounter_record: StoredRecord,
        encounter: dict[str, Any],
        lines: Sequence[ClaimLine],
        service_class: ServiceClass | None,
        preauth_id: int,
        as_wallet: str,
    ) -> ClaimOutcome:
        claims = self._claims(as_wallet=as_wallet)
        if claims.signer is None:
            raise ValidationError("submitting a claim needs the provider's wallet")
        provider = claims.signer.address
        encounter_id = encounter_record.record_id
        if encounter_record.resource_type != "Encounter":
            raise ValidationError(f"{encounter_id} is a {encounter_record.resource_type}, not an Encounter")
        member = encounter_record.patient_address
        service_class = service_class if service_class is not None else _class_of(lines)
        plan_id, insurer = self._plans.plan_of(member)
        money = self._money(plan_id)
        draft = build_claim(
            claim_record_id(encounter_id),
            encounter,
            lines,
            service_class,
            Parties(
                patient=encounter["subject"],
                provider_did=did_pkh(self.chain_id, provider),
                insurer_did=did_pkh(self.chain_id, insurer) if insurer else None,
                plan_id=plan_id,
                chain_id=self.chain_id,
            ),
            money,
            created=self._clock(),
            preauth_id=preauth_id,
        )
        stored = self._claim_version(draft)
        crash_point("claim-written")
        commitment = self._records.commitment_of(stored)
        if claims.find_claim(claim_id_of(provider, commitment)) is None:
            claims.submit_claim(
                member,
                service_class,
                sum(line.charge for line in lines),
                int(encounter_date(encounter).timestamp()),
                commitment,
                preauth_id,
            )
        self.payers.submitted_as(stored, provider)
        return self.follow(stored.record_id)

    def follow_pending(self) -> None:
        """Bring up to date the ClaimResponses of claims still pended or appealed (awaiting funds or a decision).
        Run every few seconds by the server: a claim whose decisions have not changed since it was last followed
        here is not opened again, so waiting adds nothing to the patient's accounting."""
        query, _ = search_query("ClaimResponse", [("outcome", "queued")], patient_address=None)
        for stored in self._records.search(query):
            self.follow(stored.record_id.removesuffix(RESPONSE_SUFFIX))

    def follow(self, record_id: str) -> ClaimOutcome:
        """Where a Claim recorded here stands; a new ClaimResponse and EOB when the decision changed."""
        claims = self._claims()
        stored = self._records.get(record_id)
        if stored.resource_type != "Claim":
            raise ValidationError(f"{record_id} is a {stored.resource_type}, not a Claim")
        seen = self._followed.get((record_id, stored.version))
        claim: dict[str, Any] | None = None
        if seen is None:
            claim = opened = self._records.open(stored)
            claim_id = claim_id_of(account_address(opened["provider"]), self._records.commitment_of(stored))
        else:
            claim_id = seen[0]
        state = claims.find_claim(claim_id)
        if state is None:
            raise NotFound(f"Claim/{record_id} was never submitted; run `careledger claim submit` again")
        decisions = tuple(claims.adjudications(claim_id))
        if seen is None or seen[1] != len(decisions):
            self._explain(claim or self._records.open(stored), stored.patient_address, decisions[-1], state)
            self._followed[(record_id, stored.version)] = (claim_id, len(decisions))
        return ClaimOutcome(
            claim_id, state, decisions, record_id, f"{record_id}{RESPONSE_SUFFIX}", f"{record_id}{EOB_SUFFIX}"
        )

    def _explain(self, claim: dict[str, Any], member: str, decision: Adjudication, state: ClaimState) -> None:
        """The ClaimResponse and EOB of the latest decision, each written if it says something new; none if the
        Claim has a newer version since (its follow answers it: an answer is the Claim version current when
        written, which is how `Payers` tells whose it is)."""
        if str(self._records.get(claim["id"]).version) != claim["meta"]["versionId"]:
            return
        money = self._money(state.plan_id)
        response = claim_response(claim, decision, state.billed, money, created=self._clock())
        eob = explanation_of_benefit(claim, decision, state.billed, money, created=self._clock())
        for resource in (response, eob):
            if self._changed(resource):
                self._records.write(resource, patient_address=member)

    def outcome(self, claim_id: bytes) -> ClaimOutcome:
        """Where any claim stands on chain, by its id (an insurer's view: no FHIR here)."""
        claims = self._claims()
        return ClaimOutcome(claim_id, claims.claim(claim_id), tuple(claims.adjudications(claim_id)))

    def resolve(self, reference: str) -> ClaimOutcome:
        """A claim by its on-chain id (0x…) or by its Claim record on this node (`Claim/<id>` or the id)."""
        if reference.startswith("0x") and len(reference) == 66:
            return self.outcome(bytes.fromhex(reference[2:]))
        return self.follow(reference.removeprefix("Claim/"))

    def review(self, as_wallet: str, reference: str, *, deny: int = 0) -> ClaimOutcome:
        """The plan's insurer (`as_wallet`) approves a pended or appealed claim, or denies it with a reason code."""
        claims = self._claims(as_wallet=as_wallet)
        claim_id = self.resolve(reference).claim_id
        if deny:
            claims.deny(claim_id, deny)
        else:
            claims.approve(claim_id)
        return self.resolve(reference)

    def appeal(self, as_wallet: str, reference: str, evidence: str) -> ClaimOutcome:
        """The provider (`as_wallet`) appeals a denial, once, with the hash of what it sends the insurer."""
        claim_id = self.resolve(reference).claim_id
        self._claims(as_wallet=as_wallet).appeal(claim_id, keccak(text=evidence))
        return self.resolve(reference)

    def pay_share(self, claim_id: bytes, member: LocalAccount, *, submitter: str = NODE_WALLET) -> None:
        """Pay the member's share with her EIP-2612 permit; the `submitter` wallet sends it (and pays the gas)."""
        claims = self._claims(as_wallet=submitter)
        state = claims.claim(claim_id)
        if to_checksum_address(member.address) != state.member:
            raise ValidationError(f"{member.address} is not the member of this claim")
        deadline = int(time.time()) + _PERMIT_LIFETIME
        token = claims.plan_parties(state.plan_id)[1]
        signature = self._payments.permit(member, token, claims.address, state.patient_share, deadline)
        claims.pay_patient_share(claim_id, deadline, signature)

    def _money(self, plan_id: int) -> Money:
        return self._plans.money_of(plan_id) if plan_id else Money(decimals=0, token="", symbol="")

    def _claim_version(self, draft: dict[str, Any]) -> StoredRecord:
        """The stored Claim if it already says the same, else a new version (a corrected claim)."""
        try:
            current = self._records.get(draft["id"])
        except NotFound:
            return self._records.write(draft)
        if not current.deleted and _billing(self._records.open(current)) == _billing(draft):
            return current
        return self._records.write(draft)

    def _changed(self, resource: dict[str, Any]) -> bool:
        try:
            current = self._records.get(resource["id"])
        except NotFound:
            return True
        return current.deleted or _decision(self._records.open(current)) != _decision(resource)


def _class_of(lines: Sequence[ClaimLine]) -> ServiceClass:
    classes = {classify(line.system, line.code) for line in lines}
    if len(classes) != 1:
        names = ", ".join(sorted(c.label for c in classes))
        raise ValidationError(f"a claim is for one service class; these lines are {names}: submit one per class")
    return classes.pop()


def _billing(claim: dict[str, Any]) -> Any:
    """What makes two versions of a Claim the same claim: who, what and how much."""
    return (claim.get("insurance"), claim.get("item"), claim.get("total"), claim.get("insurer"))


def _decision(resource: dict[str, Any]) -> Any:
    """What makes two answers the same: the Claim version answered (each version's payer has its own), and what
    was decided."""
    answered = resource.get("request", resource.get("claim"))
    return (answered, *(resource.get(key) for key in ("outcome", "disposition", "item", "payment")))
