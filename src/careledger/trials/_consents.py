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
from careledger.crypto import canonical_json, sign_typed_data
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from careledger.records import Resource
from careledger.trials._econsent import (
    consent_digest,
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
    REQUEST_EXTENSION,
    WITHDRAWAL_EXTENSION,
    WITHDRAWN,
    Her,
    Subject,
    her_record,
    study_reference,
    subject_from,
    subject_of,
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

    # Consent and enrolment ----------------------------------------------------------------------

    def request(self, door: Repository, trial_id: int, patient_id: str, payee: str | None) -> dict[str, Any]:
        """The consent typed data of the current version for her wallet to sign (her payee: `payee`, else her own
        address), kept in her ResearchSubject with her salt; refused unless she is eligible, or if she is on study
        and signed the current version already (`Conflict`)."""
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
            verdict = self._eligibility(protocol, her)
            if not verdict.eligible:
                raise ValidationError(f"not eligible for trial {state.trial_id}: " + "; ".join(_reasons(verdict)))
        elif enrolled.withdrawn:
            raise Conflict(f"she withdrew from trial {state.trial_id}: she is not asked to consent again")
        elif enrolled.consented_version >= state.current_version:
            raise Conflict(f"she signed the consent of trial {state.trial_id}'s current version already")
        salt = subject.salt if subject is not None else new_salt()
        participant = participant_id(salt, state.trial_id, her.address)
        paid_to = enrolled.payee if enrolled is not None else _checksum(payee or her.address)
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
        patient's, signed here with her key), checked to be hers and of the current version, then her enrolment on
        chain, her Consent and ResearchSubject written. Refused before the trial's seed is committed (`Conflict`),
        if she is not eligible or signed another version (`ValidationError`)."""
        state = self._open(trial_id)
        her = her_record(door, patient_id)
        protocol = self._protocol(trial_id, state.current_version)
        subject = subject_of(door, trial_id, patient_id)
        on_chain = None if subject is None else self._trials().participant(trial_id, subject.participant)
        if on_chain is not None and subject is not None and subject.status != CANDIDATE:
            raise Conflict(f"she is enrolled in trial {trial_id} already ({subject.status})")
        if on_chain is None:
            if subject is None or subject.request is None or signature is None:  # signed here: asked afresh
                subject = self._request(door, state, protocol, her, payee)
            typed, signed = self._signed(subject, her, state, signature)
            stratum = _stratum(protocol, her.patient, self._today())
            message = typed["message"]
            self._site_chain().enrol(
                trial_id, subject.participant, stratum, state.current_version, consent_digest(signed), message["payee"]
            )
        else:  # enrolled on chain, her records not written: the typed data she signed is still kept
            assert subject is not None
            typed, signed = self._signed(subject, her, state, signature)
        return self._consented(door, trial_id, her, subject, typed, signed, ON_STUDY)

    def reconsent(
        self, door: Repository, trial_id: int, patient_id: str, signature: str | bytes | None = None
    ) -> Enrolment:
        """Her consent to the current version, after an amendment that asks for it: signed by her (`signature` of
        what `request` gave) or, custodial, here; then on chain and in her records. `Conflict` if she signed it
        already or withdrew."""
        state = self._open(trial_id)
        her = her_record(door, patient_id)
        subject = self._enrolled(door, trial_id, patient_id)[0]
        if subject.request is None or signature is None:
            subject = self._request(door, state, self._protocol(trial_id, state.current_version), her, None)
        typed, signed = self._signed(subject, her, state, signature)
        self._site_chain().reconsent(trial_id, subject.participant, state.current_version, consent_digest(signed))
        return self._consented(door, trial_id, her, subject, typed, signed, ON_STUDY)

    def withdrawal_request(self, door: Repository, trial_id: int, patient_id: str) -> dict[str, Any]:
        """The withdrawal typed data for her wallet to sign, kept in her ResearchSubject."""
        her = her_record(door, patient_id)
        subject, _ = self._enrolled(door, trial_id, patient_id)
        typed = self._withdrawal_typed(trial_id, subject)
        kept = self._keep(
            door,
            trial_id,
            her,
            subject.salt,
            subject.participant,
            subject.status,
            subject.stratum,
            subject,
            {REQUEST_EXTENSION: typed},
        )
        return kept.request or {}

    def withdraw(
        self, door: Repository, trial_id: int, patient_id: str, signature: str | bytes | None = None
    ) -> Enrolment:
        """Withdraw her (her signed withdrawal: `signature` of what `withdrawal_request` gave; none: a custodial
        patient's, signed here): withdrawn on chain (her remaining visits no longer owed), her ResearchSubject
        withdrawn with the signed withdrawal. What becomes of her data is the protocol's `data_on_withdrawal`."""
        her = her_record(door, patient_id)
        subject, _ = self._enrolled(door, trial_id, patient_id)
        typed = subject.request
        if signature is None or typed is None or typed.get("primaryType") != "TrialWithdrawal":
            typed = self._withdrawal_typed(trial_id, subject)
        signed = self._signature(typed, her, signature)
        self._site_chain().withdraw(trial_id, subject.participant)
        proof = {"typed": typed, "signature": "0x" + signed.hex()}
        kept = self._keep(
            door,
            trial_id,
            her,
            subject.salt,
            subject.participant,
            WITHDRAWN,
            subject.stratum,
            subject,
            {WITHDRAWAL_EXTENSION: proof},
        )
        return self.enrolment(trial_id, kept)

    def _withdrawal_typed(self, trial_id: int, subject: Subject) -> dict[str, Any]:
        deadline = int(self._clock()) + SIGNATURE_DAYS * 86_400
        return withdrawal_typed_data(self.chain_id, self._trials().address, trial_id, subject.participant, deadline)

    def enrolment(self, trial_id: int, subject: Subject) -> Enrolment:
        """Her place in the trial as the chain and her ResearchSubject tell it."""
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
        )

    # The pieces -------------------------------------------------------------------------------

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

    def _enrolled(self, door: Repository, trial_id: int, patient_id: str) -> tuple[Subject, TrialParticipant]:
        subject = subject_of(door, trial_id, patient_id)
        on_chain = None if subject is None else self._trials().participant(trial_id, subject.participant)
        if subject is None or on_chain is None:
            raise NotFound(f"Patient/{patient_id[:64]} is not enrolled in trial {trial_id} here")
        if on_chain.withdrawn:
            raise Conflict(f"participant {subject.participant_hex} withdrew from trial {trial_id}")
        return subject, on_chain

    def _protocol(self, trial_id: int, version: int | None = None) -> TrialProtocol:
        return self._registry.protocol(trial_id, version)

    def _signed(
        self, subject: Subject, her: Her, state: TrialState, signature: str | bytes | None
    ) -> tuple[dict[str, Any], bytes]:
        """The consent request kept for her and its signature, checked: of the current version, signed by her."""
        typed = subject.request
        if typed is None or typed.get("primaryType") != "TrialConsent":
            raise ValidationError("no consent is waiting for her signature: ask for one first")
        version = int(typed["message"]["version"])
        if version != state.current_version:
            raise ValidationError(
                f"she signed the consent of version {version}, not the current version {state.current_version}: "
                "she reads and signs the current one"
            )
        return typed, self._signature(typed, her, signature)

    def _signature(self, typed: dict[str, Any], her: Her, signature: str | bytes | None) -> bytes:
        """`signature` if it is hers of `typed`; none given: signed here with her custodial key (`ValidationError`
        if she holds her own key)."""
        if signature is None:
            account = self._custodial(her.address)
            if account is None:
                raise ValidationError("she holds her own wallet: it signs her consent or withdrawal, not this node")
            return sign_typed_data(account, typed)
        signed = signature if isinstance(signature, bytes) else _hex_bytes(signature)
        signer = signer_of(typed, signed)
        if _checksum(signer) != _checksum(her.address):
            raise AccessDenied(f"the signature is {signer}'s, not hers ({her.address})")
        deadline = int(typed["message"].get("deadline", 0))
        if deadline < int(self._clock()):
            raise ValidationError("what she signed has expired: ask for it again and sign the new one")
        return signed

    def _consented(
        self,
        door: Repository,
        trial_id: int,
        her: Her,
        subject: Subject,
        typed: dict[str, Any],
        signed: bytes,
        status: str,
    ) -> Enrolment:
        """Her Consent (the typed data she signed) and her ResearchSubject on study, written together."""
        message = typed["message"]
        consent = consent_resource(
            f"Patient/{her.patient_id}",
            study_reference(trial_id),
            int(message["version"]),
            bytes.fromhex(str(message["document"]).removeprefix("0x")),
            typed,
            signed,
        )
        on_chain = self._trials().participant(trial_id, subject.participant)
        stratum = on_chain.stratum if on_chain is not None else subject.stratum
        kept = self._keep(
            door, trial_id, her, subject.salt, subject.participant, status, stratum, subject, {}, also=consent
        )
        return self.enrolment(trial_id, kept)

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
    ) -> Subject:
        """Write her ResearchSubject (a new version of it, if she has one) with `extensions`' values as JSON
        strings (a signature request, a signed withdrawal), and `also` with it, all or nothing."""
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
        carried = subject.carried() if subject is not None else []
        added = [{"url": url, "valueString": canonical_json(value).decode()} for url, value in extensions.items()]
        resource["extension"] = [*resource.get("extension", []), *carried, *added]
        drafts = [door.prepare(also)] if also is not None else []
        if drafts:
            resource["consent"] = {"reference": f"{drafts[0].data['resourceType']}/{drafts[0].record_id}"}
        drafts.insert(0, door.prepare(resource))
        stored = door.store(drafts)
        return subject_from({**resource, "id": stored[0].record_id}, her.patient_id)


def _stratum(protocol: TrialProtocol, patient: Resource, today: date) -> int:
    return stratum_of(protocol.stratification, stratum_values(protocol.stratification, patient, today))


def _reasons(verdict: Eligibility) -> list[str]:
    return [*verdict.failed, *(f"unknown: {why}" for why in verdict.unknown)]


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


def _hex_bytes(signature: str) -> bytes:
    try:
        return bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise ValidationError("a signature is 65 bytes of hex") from None
