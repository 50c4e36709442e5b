"""The facts the policy asks for (`_policy.Facts`): consents and delegations from the index, care-team membership
from the chain, break-glass windows from the node's database, who pays which claim and who insures whom from the
claims service.

Kept apart from the door so that what is decided (`_policy.py`), what it is decided from (here) and how
each access is carried out and audited (`_repository.py`) can each be read on their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from careledger.access._break_glass import BreakGlass, EmergencyWindow
from careledger.chain import IdentityRegistry, Role, credential_type_id
from careledger.consent import ConsentService, Purpose
from careledger.identity import AFFILIATION
from careledger.records import Category, StoredRecord

CARE_TEAM_TTL = 15.0  # seconds a care-team membership is remembered


class Payers(Protocol):
    """Who pays which claim and who insures whom, from the Claims contract (`careledger.claims.Payers`)."""

    def payer(self, record: StoredRecord) -> str | None:
        """The insurer whose plan the claim `record` is (or answers) was submitted to; None if none."""

    def paid_by(self, insurer: str) -> frozenset[str]:
        """The patients with a claim here submitted to a plan of `insurer`."""

    def insurer(self, member: str) -> str | None:
        """The insurer of `member`'s plan; None if she is not enrolled."""


class PolicyFacts:
    """What the policy may ask about one custodian node's patients, consents and care team.

    The consent index is reached only when a decision needs it (`consent()`), so the node's own reads of what
    it keeps, which the policy allows without asking, neither build it nor start the chain.
    """

    def __init__(
        self,
        consent: Callable[[], ConsentService],
        glass: BreakGlass,
        *,
        custodian: str,
        identity: Callable[[], IdentityRegistry],
        payers: Callable[[], Payers],
        visits: Callable[[str, str], bool],
        clock: Callable[[], datetime],
    ) -> None:
        self._consent = consent
        self._visits = visits
        self._payers = payers
        self.custodian = custodian
        self._glass = glass
        self._identity = identity
        self._clock = clock
        self._affiliations: dict[str, tuple[float, dict[str, int]]] = {}  # actor -> (when asked, issuers)
        self._insurers: dict[str, tuple[float, bool]] = {}  # actor -> (when asked, whether an insurer)

    def grant(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str | None:
        """The id of a live consent of `patient` to `grantee` for this category and purpose, if any."""
        grant = self._consent().check(patient, grantee, category, purpose)
        return None if grant is None else grant.hex_id

    def visited(self, patient: str, practitioner: str) -> bool:
        """Whether `patient` has a visit here with `practitioner` (`_messaging.visited`)."""
        return self._visits(patient, practitioner)

    def emergency_open(self, practitioner: str, patient: str) -> bool:
        """Whether `practitioner` has an open break-glass window on `patient`'s records."""
        return self._glass.is_open(practitioner, patient)

    def affiliations(self, actor: str) -> dict[str, int]:
        """The nodes that attested `actor` a live `affiliation` (each with its newest credential's id, which
        grows with time): looked up on chain at most every `CARE_TEAM_TTL` seconds per actor, so an attestation
        or its revocation is honoured within that time, and a read does not wait for the chain."""
        now = time.monotonic()
        cached = self._affiliations.get(actor)
        if cached is not None and now - cached[0] < CARE_TEAM_TTL:
            return cached[1]
        wanted, at = credential_type_id(AFFILIATION), self._clock().timestamp()
        issuers: dict[str, int] = {}
        for c in self._identity().credentials_of(actor):
            if c.credential_type == wanted and not c.revoked and c.expires_at > at:
                issuers[c.issuer] = max(issuers.get(c.issuer, 0), c.credential_id)
        self._affiliations[actor] = (now, issuers)
        return issuers

    def care_team(self, actor: str) -> bool:
        """Whether this node attested `actor` a live `affiliation` (`affiliations`)."""
        return self.custodian in self.affiliations(actor)

    def node_of(self, actor: str) -> str | None:
        """The node `actor` reads her messages at: this one if it is among her affiliations, else the one that
        attested her most recently; None if no node did."""
        issuers = self.affiliations(actor)
        if self.custodian in issuers:
            return self.custodian
        return max(issuers, key=issuers.__getitem__, default=None)

    def treats(self, patient: str, practitioner: str) -> bool:
        """Whether `patient` consents, for treatment now (any category: a visit's consent), to `practitioner` or
        to a node he is affiliated with."""
        consent = self._consent()
        return any(consent.treats(patient, who) for who in (practitioner, *self.affiliations(practitioner)))

    def is_insurer(self, actor: str) -> bool:
        """Whether the registry names `actor` an insurer, looked up at most every `CARE_TEAM_TTL` seconds."""
        now = time.monotonic()
        cached = self._insurers.get(actor)
        if cached is None or now - cached[0] >= CARE_TEAM_TTL:
            record = self._identity().actor(actor)
            cached = self._insurers[actor] = (now, record is not None and record.role == Role.INSURER)
        return cached[1]

    def care_team_restricted(self, patient: str, category: Category) -> bool:
        """Whether `patient` keeps `category` from this node's care team."""
        return self._consent().care_team_restricted(patient, self.custodian, category)

    def grantors(self, grantee: str, purpose: Purpose) -> frozenset[str]:
        """The patients with a live consent to `grantee` for `purpose` (the consent index, in memory)."""
        return self._consent().grantors(grantee, purpose)

    def represented(self, delegate: str) -> dict[str, frozenset[Category]]:
        """The patients `delegate` is a live delegate of, with the categories delegated (the consent index)."""
        return self._consent().represented(delegate)

    def payer(self, record: StoredRecord) -> str | None:
        """The insurer whose plan the claim `record` is (or answers) was submitted to, on chain."""
        return self._payers().payer(record)

    def paid_by(self, insurer: str) -> frozenset[str]:
        """The patients with a claim here submitted to a plan of `insurer` (the claims service's, kept)."""
        return self._payers().paid_by(insurer)

    def insurer(self, member: str) -> str | None:
        """The insurer of `member`'s plan, on chain."""
        return self._payers().insurer(member)

    def why_not(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> str:
        """Why no grant allows `grantee` `category` of `patient`'s records for `purpose`, as precisely as the
        index can tell."""
        now = self._clock().timestamp()
        wanted = f"{category.value} records for {purpose.value}"
        relevant = [g for g in self._consent().between(patient, grantee) if g.covers(category, purpose)]
        if any(g.revoked for g in relevant):
            return f"the patient revoked the consent to {wanted}"
        if any(g.expiry <= now for g in relevant):
            return f"the consent to {wanted} has expired"
        if any(g.not_before > now for g in relevant):
            return f"the consent to {wanted} is not valid yet"
        if category.sensitive:
            return f"no consent names {category.value}: sensitive records need a consent that names them ({wanted})"
        return f"no consent from the patient to {wanted}"

    def break_glass(self, practitioner: str, patient: str, reason: str) -> EmergencyWindow:
        """Open `practitioner`'s emergency window on `patient`'s records (`BreakGlass.open`)."""
        return self._glass.open(practitioner, patient, reason)
