"""Consent, enrolment, re-consent and withdrawal, through whichever door asks: a site's staff (the care team's) or
the participant herself (her own). The node that holds her record is the trial's site: it sends her enrolment to
the chain as its wallet.

```
request  ─► eligible? (her record through the door) ─► a participant id: keccak(salt ‖ trial ‖ her address)
           ─► the consent typed data of the current version (document hash, payee, deadline) ─► kept in her
              ResearchSubject (candidate, with the salt) ─► for her wallet to sign
enrol    ─► the request she signed (or the node signs with her custodial key) ─► signer is she, version is current
           ─► her stratum (protocol's factors, her record) ─► Trials.enrol as the node (consent digest = keccak(sig))
           ─► Consent (the signed typed data) + ResearchSubject on-study, written through the door
reconsent ─► the same, for the current version ─► Trials.reconsent
withdraw ─► her signed withdrawal (or her custodial key's) ─► Trials.withdraw ─► ResearchSubject withdrawn
```

Her salt and participant id live only in her ResearchSubject (sealed like any record, read through the door): no
table of this node ties her to the trial. If the chain took her enrolment but writing her records failed, enrolling
again finds her on chain and writes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from careledger.access import Repository
from careledger.crypto import canonical_json, parse_signature, sign_typed_data
from careledger.errors import AccessDenied, Conflict, IntegrityError, NotFound, ValidationError
from careledger.records import Resource
from careledger.research import care
from careledger.trials._econsent import (
    consent_resource,
    consent_typed_data,
    new_salt,
    participant_id,
    research_subject,
    signer_of,
    withdrawal_typed_data,
)
from careledger.trials._eligibility import Eligibility, check, stratum_values
from careledger.trials._protocol import TrialProtocol
from careledger.trials._randomise import stratum_of
from careledger.trials._registry import TrialRegistry
from careledger.trials._site_views import Enrolment
from careledger.trials._subjects import (
    CANDIDATE,
    ON_STUDY,
    PENDING_EXTENSION,
    REQUEST_EXTENSION,
    WITHDRAWAL_EXTENSION,
    WITHDRAWN,
    ZERO_ADDRESS,
    Her,
    Signed,
    Subject,
    her_record,
    payee_address,
    study_reference,
    subject_from,
    subject_of,
    witnessed,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from careledger.chain import TrialParticipant, Trials, TrialState

SIGNATURE_DAYS = 7  # a consent or withdrawal prepared for her wallet must be signed and sent within this


class Consents:
    """Eligibility, consent, enrolment, re-consent and withdrawal at this site, each through the door it is given."""

    def __init__(
        self,
        registry: TrialRegistry,
        trials: Callable[..., Trials],
        site_chain: Callable[[], Trials],
        custodial: Callable[[str], LocalAccount | None],
        *,
        here: str,
        chain_id: int,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`site_chain()`: the Trials contract sending as this node's wallet; `custodial(address)`: the key this
        node holds for a custodial patient (None: she holds her own)."""
        self._registry = registry
        self._trials = trials
        self._site_chain = site_chain
        self._custodial = custodial
        self.here = here
        self.chain_id = chain_id
        self._today = today
        self._clock = clock

    # Who she is, what she is ------------------------------------------------------------------

    def eligibility(self, door: Repository, trial_id: int, patient_id: str) -> Eligibility:
        """Whether she meets the current version's criteria, each said in words, read from her record."""
        her = her_record(door, patient_id)
        return self._eligibility(self._protocol(trial_id), her)

    def _eligibility(self, protocol: TrialProtocol, her: Her) -> Eligibility:
        return check(protocol.criteria, her.patient, her.records, self._today())

    def _check_eligible(self, trial_id: int, protocol: TrialProtocol, her: Her) -> None:
        verdict = self._eligibility(protocol, her)
        if not verdict.eligible:
            raise ValidationError(f"not eligible for trial {trial_id}: " + "; ".join(_reasons(verdict)))

    # Consent and enrolment ----------------------------------------------------------------------

    def request(self, door: Repository, trial_id: int, patient_id: str, payee: str | None) -> dict[str, Any]:
        """The consent typed data of the current version for her wallet to sign, kept in her ResearchSubject with
        her salt; her stipends go to `payee` (None: held in the escrow until she names one: her own address is never
        assumed, for it would link her to the trial). Refused unless she is eligible, or if she is on study and
        signed the current version already (`Conflict`)."""
        state = self._open(trial_id)
        her = her_record(door, patient_id)
        protocol = self._protocol(trial_id, state.current_version)
        return self._request(door, state, protocol, her, payee).request or {}

    def _request(
        self, door: Repository, state: TrialState, protocol: TrialProtocol, her: Her, payee: str | None
    ) -> Subject:
        subject = subject_of(door, state.trial_id, her.patient_id)
        enrolled = None if subject is None else self._trials().participant(state.trial_id, subject.participant)
        if enrolled is None:
            self._check_joinable(state)
            self._check_eligible(state.trial_id, protocol, her)
        elif enrolled.withdrawn:
            raise Conflict(f"she withdrew from trial {state.trial_id}: she is not asked to consent again")
        elif enrolled.consented_version >= state.current_version:
            raise Conflict(f"she signed the consent of trial {state.trial_id}'s current version already")
        salt = subject.salt if subject is not None else new_salt()
        participant = participant_id(salt, state.trial_id, her.address)
        if enrolled is not None:
            paid_to = enrolled.payee or ZERO_ADDRESS
        else:
            paid_to = ZERO_ADDRESS if payee is None else payee_address(payee)
        trials = self._trials()
        typed = consent_typed_data(
            self.chain_id,
            trials.address,
            state.trial_id,
            state.current_version,
            trials.version(state.trial_id, state.current_version).consent_hash,
            participant,
            paid_to,
            int(self._clock()) + SIGNATURE_DAYS * 86_400,
        )
        status = subject.status if subject is not None else CANDIDATE
        stratum = _stratum(protocol, her.patient, self._today())
        return self._keep(
            door, state.trial_id, her, salt, participant, status, stratum, subject, {REQUEST_EXTENSION: typed}
        )

    def enrol(
        self,
        door: Repository,
        trial_id: int,
        patient_id: str,
        *,
        payee: str | None = None,
        signature: str | bytes | None = None,
    ) -> Enrolment:
        """Enrol her: the consent she signed (`signature`, of the typed data `request` gave; none: a custodial
        patient's, signed here with her key, witnessed by the staff member when one asks), checked to be hers and
        of the current version, her eligibility checked again, then her enrolment on chain, her Consent and
        ResearchSubject written. Her stipends are held until a payee is named (`payee`, or later). Refused before
        the trial's seed is committed (`Conflict`), if she is not eligible or signed another version
        (`ValidationError`). After a crash past the chain, the same call writes her records from what was kept."""
        her = her_record(door, patient_id)
        subject = subject_of(door, trial_id, patient_id)
        on_chain = None if subject is None else self._trials().participant(trial_id, subject.participant)
        if on_chain is not None and subject is not None:
            if subject.status != CANDIDATE:
                raise Conflict(f"she is enrolled in trial {trial_id} already ({subject.status})")
            taken = subject.taken_by(on_chain)
            if taken is None:
                raise IntegrityError(
                    f"participant {subject.participant_hex} is enrolled on chain with a consent this node did not "
                    "keep: her records cannot be written from it"
                )
            return self._consented(door, trial_id, her, subject, taken)
        state = self._open(trial_id)
        protocol = self._protocol(trial_id, state.current_version)
        if subject is None or subject.waiting("TrialConsent") is None or signature is None:
            subject = self._request(door, state, protocol, her, payee)  # signed here: asked afresh
        else:
            self._check_joinable(state)  # what she signed may be days old
            self._check_eligible(trial_id, protocol, her)
        signed = self._signed(door, subject, her, state, signature)
        stratum = _stratum(protocol, her.patient, self._today())
        subject = self._ahead(door, trial_id, her, subject, signed)
        named = str(signed.typed["message"]["payee"])
        paid_to = None if int(named, 16) == 0 else named  # none named: her stipends are held
        self._site_chain().enrol(trial_id, subject.participant, stratum, state.current_version, signed.digest, paid_to)
        return self._consented(door, trial_id, her, subject, signed)

    def reconsent(
        self, door: Repository, trial_id: int, patient_id: str, signature: str | bytes | None = None
    ) -> Enrolment:
        """Her consent to the current version, after an amendment that asks for it: signed by her (`signature` of
        what `request` gave) or, custodial, here; then on chain and in her records. `Conflict` if she signed it
        already or withdrew. After a crash past the chain, the same call writes her records from what was kept."""
        her = her_record(door, patient_id)
        subject, on_chain = self._enrolled(door, trial_id, patient_id)
        taken = subject.taken_by(on_chain)
        if taken is not None:
            return self._consented(door, trial_id, her, subject, taken)
        state = self._open(trial_id)
        if subject.waiting("TrialConsent") is None or signature is None:
            subject = self._request(door, state, self._protocol(trial_id, state.current_version), her, None)
        signed = self._signed(door, subject, her, state, signature)
        subject = self._ahead(door, trial_id, her, subject, signed)
        self._site_chain().reconsent(trial_id, subject.participant, state.current_version, signed.digest)
        return self._consented(door, trial_id, her, subject, signed)

    def withdrawal_request(self, door: Repository, trial_id: int, patient_id: str) -> dict[str, Any]:
        """The withdrawal typed data for her wallet to sign, kept in her ResearchSubject."""
        her = her_record(door, patient_id)
        subject, _ = self._enrolled(door, trial_id, patient_id)
        typed = self._withdrawal_typed(trial_id, subject)
        kept = self._rewrite(door, trial_id, her, subject, {REQUEST_EXTENSION: typed})
        return kept.request or {}

    def withdraw(
        self, door: Repository, trial_id: int, patient_id: str, signature: str | bytes | None = None
    ) -> Enrolment:
        """Withdraw her (her signed withdrawal: `signature` of what `withdrawal_request` gave; none: a custodial
        patient's, signed here): withdrawn on chain (her remaining visits no longer owed), her ResearchSubject
        withdrawn with the signed withdrawal. What becomes of her data is the protocol's `data_on_withdrawal`.
        After a crash past the chain, the same call writes her records from what was kept."""
        her = her_record(door, patient_id)
        subject, on_chain = self._participant(door, trial_id, patient_id)
        if on_chain.withdrawn:
            kept_withdrawals = [s for s in subject.pending if s.kind == "TrialWithdrawal"]
            if subject.status == WITHDRAWN or not kept_withdrawals:
                raise Conflict(f"participant {subject.participant_hex} withdrew from trial {trial_id}")
            return self._withdrawn(door, trial_id, her, subject, kept_withdrawals[-1])
        typed = subject.waiting("TrialWithdrawal")
        if signature is None or typed is None:
            typed = self._withdrawal_typed(trial_id, subject)
        signed = self._signature(door, typed, her, signature)
        subject = self._ahead(door, trial_id, her, subject, signed)
        self._site_chain().withdraw(trial_id, subject.participant)
        return self._withdrawn(door, trial_id, her, subject, signed)

    def _withdrawn(self, door: Repository, trial_id: int, her: Her, subject: Subject, signed: Signed) -> Enrolment:
        kept = self._rewrite(
            door, trial_id, her, subject, {WITHDRAWAL_EXTENSION: signed.to_json()}, status=WITHDRAWN, settled=True
        )
        return self.enrolment(trial_id, kept, witness=signed.witness)

    def _withdrawal_typed(self, trial_id: int, subject: Subject) -> dict[str, Any]:
        deadline = int(self._clock()) + SIGNATURE_DAYS * 86_400
        return withdrawal_typed_data(self.chain_id, self._trials().address, trial_id, subject.participant, deadline)

    def enrolment(self, trial_id: int, subject: Subject, *, witness: str | None = None) -> Enrolment:
        """Her place in the trial as the chain and her ResearchSubject tell it (`witness`: the staff member who
        witnessed what she just signed in person)."""
        on_chain = self._trials().participant(trial_id, subject.participant)
        if on_chain is None:
            return Enrolment(
                trial_id,
                subject.participant_hex,
                subject.patient_id,
                self.here,
                subject.status,
                subject.stratum,
                0,
                witness=witness,
            )
        status = WITHDRAWN if on_chain.withdrawn else subject.status
        return Enrolment(
            trial_id,
            subject.participant_hex,
            subject.patient_id,
            on_chain.site,
            status,
            on_chain.stratum,
            on_chain.consented_version,
            on_chain.index,
            on_chain.payee,
            witness=witness,
        )

    # The pieces -------------------------------------------------------------------------------

    def _check_joinable(self, state: TrialState) -> None:
        """Refuse a new participant the chain would refuse (this node no site of the trial, never named or removed;
        no room), before she is asked to sign or anything is signed or kept. Her site's work for a participant on
        study (a re-consent) is not a new enrolment, and is never refused here."""
        if not self._trials().is_site(state.trial_id, self.here):
            raise AccessDenied(
                f"this node is not a site of trial {state.trial_id} (never named, or removed): it enrols none"
            )
        _check_room(state)

    def _open(self, trial_id: int) -> TrialState:
        """The trial, if it enrols now: a version approved, its seed committed, not unblinded."""
        state = self._trials().trial(trial_id)
        if state.current_version == 0:
            raise Conflict(f"trial {trial_id} is not approved by an ethics board yet: nobody is enrolled before")
        if not state.seed_committed:
            raise Conflict(
                f"trial {trial_id}'s randomisation seed is not committed yet: nobody is enrolled (randomised) before"
            )
        if not state.blinded:
            raise Conflict(f"trial {trial_id} is unblinded: its enrolment has ended")
        return state

    def _participant(self, door: Repository, trial_id: int, patient_id: str) -> tuple[Subject, TrialParticipant]:
        subject = subject_of(door, trial_id, patient_id)
        on_chain = None if subject is None else self._trials().participant(trial_id, subject.participant)
        if subject is None or on_chain is None:
            raise NotFound(f"Patient/{patient_id[:64]} is not enrolled in trial {trial_id} here")
        return subject, on_chain

    def _enrolled(self, door: Repository, trial_id: int, patient_id: str) -> tuple[Subject, TrialParticipant]:
        subject, on_chain = self._participant(door, trial_id, patient_id)
        if on_chain.withdrawn:
            raise Conflict(f"participant {subject.participant_hex} withdrew from trial {trial_id}")
        return subject, on_chain

    def _protocol(self, trial_id: int, version: int | None = None) -> TrialProtocol:
        return self._registry.protocol(trial_id, version)

    def _signed(
        self, door: Repository, subject: Subject, her: Her, state: TrialState, signature: str | bytes | None
    ) -> Signed:
        """The consent request kept for her and its signature, checked: of the current version, signed by her."""
        typed = subject.waiting("TrialConsent")
        if typed is None:
            raise ValidationError("no consent is waiting for her signature: ask for one first")
        version = int(typed["message"]["version"])
        if version != state.current_version:
            raise ValidationError(
                f"she signed the consent of version {version}, not the current version {state.current_version}: "
                "she reads and signs the current one"
            )
        return self._signature(door, typed, her, signature)

    def _signature(self, door: Repository, typed: dict[str, Any], her: Her, signature: str | bytes | None) -> Signed:
        """`signature` if it is hers of `typed`; none given: signed here with her custodial key (`ValidationError`
        if she holds her own key), witnessed by whoever asked if that is not she (staff: consent in person)."""
        if signature is None:
            account = self._custodial(her.address)
            if account is None:
                raise ValidationError("she holds her own wallet: it signs her consent or withdrawal, not this node")
            asking = door.accessor.address
            witness = None if asking == her.address else f"did:pkh:eip155:{self.chain_id}:{asking}"
            return Signed(typed, sign_typed_data(account, typed), witness)
        signed = parse_signature(signature if isinstance(signature, str) else "0x" + signature.hex())
        signer = signer_of(typed, signed)
        if signer.lower() != her.address.lower():
            raise AccessDenied(f"the signature is {signer}'s, not hers ({her.address})")
        deadline = int(typed["message"].get("deadline", 0))
        if deadline < int(self._clock()):
            raise ValidationError("what she signed has expired: ask for it again and sign the new one")
        return Signed(typed, signed)

    def _ahead(self, door: Repository, trial_id: int, her: Her, subject: Subject, signed: Signed) -> Subject:
        """What she signed, written ahead into her ResearchSubject before the chain is asked (module docstring)."""
        return self._rewrite(
            door, trial_id, her, subject, {REQUEST_EXTENSION: signed.typed, PENDING_EXTENSION: signed.to_json()}
        )

    def _consented(self, door: Repository, trial_id: int, her: Her, subject: Subject, signed: Signed) -> Enrolment:
        """Her Consent (the typed data she signed; witnessed in person: its Provenance) and her ResearchSubject on
        study, written together."""
        message = signed.typed["message"]
        consent = consent_resource(
            f"Patient/{her.patient_id}",
            study_reference(trial_id),
            int(message["version"]),
            bytes.fromhex(str(message["document"]).removeprefix("0x")),
            signed.typed,
            signed.signature,
        )
        on_chain = self._trials().participant(trial_id, subject.participant)
        stratum = on_chain.stratum if on_chain is not None else subject.stratum
        kept = self._rewrite(
            door,
            trial_id,
            her,
            subject,
            {},
            status=ON_STUDY,
            stratum=stratum,
            also=consent,
            witness=signed.witness,
            settled=True,
        )
        return self.enrolment(trial_id, kept, witness=signed.witness)

    def _rewrite(
        self,
        door: Repository,
        trial_id: int,
        her: Her,
        subject: Subject,
        extensions: dict[str, Any],
        *,
        status: str | None = None,
        stratum: int | None = None,
        also: Resource | None = None,
        witness: str | None = None,
        settled: bool = False,
    ) -> Subject:
        """A new version of her ResearchSubject `subject` (`_keep`): her participant id and salt as they are, her
        status and stratum unless given."""
        return self._keep(
            door,
            trial_id,
            her,
            subject.salt,
            subject.participant,
            status or subject.status,
            subject.stratum if stratum is None else stratum,
            subject,
            extensions,
            also=also,
            witness=witness,
            settled=settled,
        )

    def _keep(
        self,
        door: Repository,
        trial_id: int,
        her: Her,
        salt: bytes,
        participant: bytes,
        status: str,
        stratum: int,
        subject: Subject | None,
        extensions: dict[str, Any],
        *,
        also: Resource | None = None,
        witness: str | None = None,
        settled: bool = False,
    ) -> Subject:
        """Write her ResearchSubject (a new version of it, if she has one) with `extensions`' values as JSON
        strings (a signature request, a signed withdrawal), and `also` with it (and, `witness` given, the
        Provenance of `also` taken in person), all or nothing; `settled`: what was pending the chain is done."""
        resource = research_subject(
            f"Patient/{her.patient_id}",
            study_reference(trial_id),
            "0x" + participant.hex(),
            "0x" + salt.hex(),
            self.here,
            stratum,
            status,
        )
        if subject is not None:
            resource["id"] = subject.record_id
        carried = subject.carried(pending=not settled) if subject is not None else []
        added = [{"url": url, "valueString": canonical_json(value).decode()} for url, value in extensions.items()]
        resource["extension"] = [*resource.get("extension", []), *carried, *added]
        drafts = [door.prepare(also)] if also is not None else []
        if drafts:
            target = f"{drafts[0].data['resourceType']}/{drafts[0].record_id}"
            resource["consent"] = {"reference": target}
            if witness is not None:
                drafts.append(door.prepare(witnessed(target, witness, datetime.fromtimestamp(self._clock(), UTC))))
        drafts.insert(0, door.prepare(resource))
        stored = door.store(drafts)
        return subject_from({**resource, "id": stored[0].record_id}, her.patient_id)


def _check_room(state: TrialState) -> None:
    """`Conflict` for an enrolment the chain would refuse for want of room (its target reached, or an escrow that
    cannot hold one more participant's visits: the contract's own sums), before she signs or anything is kept."""
    if state.enrolled >= state.target:
        raise Conflict(f"trial {state.trial_id} has enrolled its target of {state.target}: it enrols nobody more")
    cost = state.visits * (state.site_fee + state.stipend)
    if state.held < cost:
        raise Conflict(
            f"trial {state.trial_id}'s escrow cannot hold another participant's visits ({care(cost)} CARE, "
            f"{care(state.held)} free): its sponsor tops it up first"
        )


def _stratum(protocol: TrialProtocol, patient: Resource, today: date) -> int:
    return stratum_of(protocol.stratification, stratum_values(protocol.stratification, patient, today))


def _reasons(verdict: Eligibility) -> list[str]:
    return [*verdict.failed, *(f"unknown: {why}" for why in verdict.unknown)]
