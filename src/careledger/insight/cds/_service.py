"""The CDS Hooks 2.0 service: a checked hook call in, cards out, every invocation audited for the patient.

```
HookCall ─► service (404) ─► hook matches (400) ─► prefetch complete? ─ yes ─► checked (400) ─► facts_from_resources
                                                        └─ no ─► fhirAuthorization's door? ─ no ─► 412
                                                                  └─ yes ─► gather(door, patient)  (consent, audit)
         ─► SCORES / draft orders ─► cards (patient_view_cards / order_cards) ─► card uuids kept for feedback
         ─► one audit entry for the patient: the hook, the service, the client's iss, the outcome (no card text)
```

The client was authenticated before (its JWT, `CdsClients.verify`); a request that is not signed by a registered
client is refused before it costs an audit entry, so a stranger cannot fill a patient's accounting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from careledger.access import Repository
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.consent import Purpose
from careledger.errors import CareLedgerError, NotFound, PreconditionFailed, ValidationError
from careledger.insight._gather import facts_from_resources, gather
from careledger.insight._model import Facts, Result, Score
from careledger.insight.cds._cards import order_cards, patient_view_cards
from careledger.insight.cds._clients import CdsClients, Verified
from careledger.insight.cds._hooks import SERVICES, HookService, Resource, about, prefetched, service_named, valid
from careledger.insight.scores import SCORES
from careledger.shared import Tickets
from careledger.store import CdsFeedback, Database, one_at_a_time

CARD_SECONDS = 30 * 86_400  # how long feedback on a card is taken
_CARD = "cds-card"
INTERACTION = "cds-hooks"
CHARTS = "/portal/staff/patients"  # where the portal shows a patient's chart (and her scores' alerts) to staff
# The most entries of context.draftOrders (and of context.selections) one call may hold: the spec's examples have 1-3,
# and each order is validated and checked, so a bound here bounds the work of one signed request.
MAX_DRAFT_ORDERS = 50


@dataclass(frozen=True, slots=True)
class HookCall:
    """A CDS Hooks request, parsed at the edge: the hook, its instance, the patient in context, what the client
    prefetched (by key; a null value: it has none), and for the order hooks the draft orders and the selection."""

    hook: str
    hook_instance: str
    patient_id: str
    prefetch: Mapping[str, Any]
    draft_orders: Mapping[str, Any] | None = None
    selections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feedback:
    """One feedback entry: the card, accepted or overridden, the override reason's Coding, and when."""

    card: str
    outcome: str
    outcome_at: str
    override_reason: Mapping[str, Any] | None = None


class CdsHooks:
    """The node's CDS services: discovery, invocation and feedback."""

    def __init__(
        self,
        clients: CdsClients,
        audit: AuditLog,
        db: Database,
        tickets: Tickets,
        *,
        custodian: str,
        whose: Callable[[str], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`whose(patient_id)`: the address of the patient whose Patient record has that id here (None if there is
        none), so an invocation is audited in her accounting; `custodian`: the node, the agent of a prefetch call."""
        self.clients = clients
        self._audit = audit
        self._db = db
        self._tickets = tickets
        self._custodian = custodian
        self._whose = whose
        self._clock = clock

    @staticmethod
    def discovery() -> dict[str, Any]:
        """The answer of `GET /cds-services`."""
        return {"services": [service.discovery() for service in SERVICES]}

    @staticmethod
    def service(service_id: str) -> HookService:
        """The service `service_id`; `NotFound` if this node offers none by that id."""
        found = service_named(service_id)
        if found is None:
            raise NotFound(f"no CDS service {service_id[:64]!r}: GET /cds-services lists them")
        return found

    def invoke(
        self,
        service_id: str,
        call: HookCall,
        client: Verified,
        *,
        door: Callable[[], Repository | None],
        base: str | None = None,
    ) -> dict[str, Any]:
        """The cards of `service_id` for `call` from `client`; the data prefetched, else read through `door()` (the
        guarded repository of the fhirAuthorization token's caller, None without one: its refusal is audited too);
        `PreconditionFailed` if neither. `base`: the node's public base URL, where a score card links her chart."""
        service = self.service(service_id)
        agent = self._custodian
        try:
            reader = door()
            agent = agent if reader is None else reader.accessor.address
            if call.hook != service.hook:
                raise ValidationError(f"{service.id} answers the {service.hook} hook, not {call.hook[:40]!r}")
            orders = None if service.hook == "patient-view" else _orders(call)  # refused before any read
            facts = self._facts(call, reader)
            cards = _cards(facts, orders, None if base is None else f"{base}{CHARTS}")
        except CareLedgerError as exc:
            self._audited(service, call, client, agent, Outcome.DENIED, f"refused: {exc}")
            raise
        self._audited(service, call, client, agent, Outcome.SUCCESS, f"{len(cards)} cards")
        for card in cards:
            offered = [[reason["system"], reason["code"]] for reason in card.get("overrideReasons", ())]
            given = {"service": service.id, "iss": client.iss, "reasons": offered}
            self._tickets.put(_CARD, str(card["uuid"]), given, CARD_SECONDS)
        return {"cards": cards, "systemActions": []}

    def _facts(self, call: HookCall, door: Repository | None) -> Facts:
        on = datetime.fromtimestamp(self._clock(), UTC).date()
        found = prefetched(call.prefetch, call.patient_id)
        if found is not None:
            return facts_from_resources(found[0], found[1], on)
        if door is None:
            raise PreconditionFailed(
                "the prefetch is incomplete and there is no fhirAuthorization to read the rest with: prefetch every "
                "key the service's discovery entry names, or send a token this node issued"
            )
        return gather(door, call.patient_id, on)

    def _audited(
        self, service: HookService, call: HookCall, client: Verified, agent: str, outcome: Outcome, what: str
    ) -> None:
        """One audit entry of this invocation, in the patient's accounting when she is kept here."""
        self._audit.record(
            Access(
                action=Action.EXECUTE,
                interaction=INTERACTION,
                outcome=outcome,
                agent=agent,
                patient=self._whose(call.patient_id),
                entities=(f"Patient/{call.patient_id}",),
                purpose=Purpose.TREAT.value,
                detail=f"{call.hook} by {service.id} for CDS client {client.iss}: {what}"[:500],
            )
        )

    def feedback(self, service_id: str, client: Verified, entries: Sequence[Feedback]) -> None:
        """Keep what `client` says became of cards `service_id` gave it; `NotFound` for a card it was not given,
        `ValidationError` for an override reason the card did not offer (CDS Hooks 2.0: the clinician picks one of
        its `overrideReasons`), so that the counts hold only reasons a card gave. Feedback on a card replaces what
        was said of it before: a retry, or a change of mind, is counted once."""
        service = self.service(service_id)
        for entry in entries:
            issued = self._tickets.peek(_CARD, entry.card)
            if issued is None or (issued.get("service"), issued.get("iss")) != (service.id, client.iss):
                raise NotFound(f"no card {entry.card[:64]!r} of {service.id} was given to this client")
            if "reasons" in issued:  # a card given before its reasons were kept (until 30 days after): any is taken
                _check_reason(entry, issued["reasons"])
        latest: dict[str, Feedback] = {}  # each card's newest word, by when it was said: a retry is no second
        for entry in entries:
            if entry.card not in latest or _said_at(entry) >= _said_at(latest[entry.card]):
                latest[entry.card] = entry
        with self._db.session() as session:
            one_at_a_time(session, "cds-feedback")  # two retries at once: the second sees the first's row
            kept = session.execute(
                select(CdsFeedback.card, CdsFeedback.outcome_at).where(
                    CdsFeedback.service == service.id, CdsFeedback.card.in_(latest)
                )
            )
            for card, outcome_at in kept:
                if datetime.fromisoformat(outcome_at) > _said_at(latest[card]):
                    del latest[card]  # a late retry of an older word: what was said since stands
            session.execute(delete(CdsFeedback).where(CdsFeedback.service == service.id, CdsFeedback.card.in_(latest)))
            session.add_all(
                CdsFeedback(
                    card=entry.card,
                    service=service.id,
                    iss=client.iss,
                    outcome=entry.outcome,
                    override_reason=None if entry.override_reason is None else json.dumps(entry.override_reason),
                    outcome_at=entry.outcome_at,
                    received_at=self._clock(),
                )
                for entry in latest.values()
            )

    def counts(self, service_id: str) -> dict[str, int]:
        """How many cards of `service_id` were accepted and how many overridden, by outcome."""
        with self._db.session() as session:
            rows = session.execute(
                select(CdsFeedback.outcome, func.count())
                .where(CdsFeedback.service == service_id)
                .group_by(CdsFeedback.outcome)
            )
            return {outcome: count for outcome, count in rows}


def _said_at(entry: Feedback) -> datetime:
    """When the clinician's word on the card was given (`outcomeTimestamp`, an aware time)."""
    return datetime.fromisoformat(entry.outcome_at)


def _check_reason(entry: Feedback, offered: list[list[str]]) -> None:
    """`ValidationError` unless the entry's override reason, if it has one, is one its card offered."""
    reason = entry.override_reason
    if reason is None:
        return
    if entry.outcome != "overridden":
        raise ValidationError(f"card {entry.card}: an overrideReason goes with the outcome overridden only")
    if [reason.get("system"), reason.get("code")] not in offered:
        raise ValidationError(
            f"card {entry.card} offered no overrideReasons: send a userComment alone"
            if not offered
            else f"card {entry.card} offered no override reason {str(reason.get('code'))[:64]!r} of that system"
        )


def _cards(facts: Facts, orders: list[Resource] | None, app_url: str | None) -> list[dict[str, Any]]:
    """The cards of an order hook's `orders`, or, for patient-view (None), of the scores."""
    if orders is not None:
        return order_cards(facts, orders)
    results: list[tuple[Score, Result]] = [(score, score.assess(facts)) for score in SCORES]
    return patient_view_cards(facts, results, app_url=app_url)


def _orders(call: HookCall) -> list[Resource]:
    """The draft MedicationRequests of an order hook (for order-select, those selected), each about the patient;
    more than `MAX_DRAFT_ORDERS` entries or selections is a 400 saying so."""
    bundle = call.draft_orders
    entries = bundle.get("entry", []) if bundle is not None else []
    if bundle is None or bundle.get("resourceType") != "Bundle" or not isinstance(entries, list):
        raise ValidationError(f"context.draftOrders must be a Bundle of the {call.hook} hook's orders")
    for name, count in (("context.draftOrders", len(entries)), ("context.selections", len(call.selections))):
        if count > MAX_DRAFT_ORDERS:
            raise ValidationError(f"{name} holds {count} entries: at most {MAX_DRAFT_ORDERS} are checked in one call")
    drafted = {
        f"{resource.get('resourceType')}/{resource.get('id')}"
        for entry in entries
        if isinstance(entry, dict) and isinstance(resource := entry.get("resource"), dict)
    }
    for selection in call.selections:
        if selection not in drafted:
            raise ValidationError(f"context.selections names {selection[:80]!r}, not in context.draftOrders")
    orders = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "MedicationRequest":
            continue  # other kinds of order (a ServiceRequest) are not checked here
        if not about(resource, call.patient_id):
            raise ValidationError(f"every draft order must be about Patient/{call.patient_id[:64]}")
        if call.selections and f"MedicationRequest/{resource.get('id')}" not in call.selections:
            continue
        orders.append(valid("context.draftOrders", resource))
    return orders
