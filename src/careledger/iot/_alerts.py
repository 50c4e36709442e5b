"""Remote monitoring: rules over accepted readings, and the alerts they raise.

Two kinds of rule, both per patient and per rule, each an episode: a threshold (a reading
out of range) alerts on its first breach; a trend (e.g. heart rate above 100/min for two
minutes) alerts once the breach has lasted its duration. Either way an episode raises one
alert, and ends only once readings have stayed in range for `settle` seconds, so a value
hovering at the limit does not page the care team every few seconds.

An alert is a FHIR `Flag` on the patient and a `Communication` (category alert) about it,
written through the guarded repository as the node (so audited, and in the patient's
accounting), then handed to listeners: the API's server-sent event stream and webhooks.

Readings reach whichever worker of `serve --workers N` took their request, so each worker
follows the episodes in what it sees, and the episode itself is a ticket in the node's
database (`careledger.shared`): the first worker to raise its alert adds it, any other finds
it there and stays quiet, so one episode pages the care team once however its readings were
spread. A worker that sees it go on keeps it alive; one that sees it settle ends it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from careledger.access import Accessor, RecordAccess
from careledger.consent import Purpose
from careledger.fhir import concept, fhir_instant
from careledger.iot._frames import Reading
from careledger.iot._intake import Accepted
from careledger.iot._vitals import MEASURES
from careledger.shared import Tickets

_EPISODE = "alert-episode"
# How long a shared episode outlives the last breach any worker saw, beyond `settle`; kept alive at most this often.
_EPISODE_SLACK_SECONDS = 300.0
_KEEP_ALIVE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Rule:
    """Readings of `code` (its `component`-th value) outside `low`..`high`, for at least `lasting` seconds."""

    name: str
    code: str
    low: float | None = None
    high: float | None = None
    lasting: float = 0.0
    component: int = 0

    def breached(self, reading: Reading) -> bool:
        """Whether one reading is out of this rule's range."""
        value = reading.values[self.component][0]
        return (self.low is not None and value < self.low) or (self.high is not None and value > self.high)

    def describe(self) -> str:
        """What the rule watches, for the Flag's text."""
        measure = MEASURES[self.code]
        display, unit = measure.components[self.component][1], measure.components[self.component][2]
        bounds = " or ".join(
            part
            for part in (
                f"below {self.low:g} {unit}" if self.low is not None else "",
                f"above {self.high:g} {unit}" if self.high is not None else "",
            )
            if part
        )
        held = f" for {self.lasting:g} s" if self.lasting else ""
        return f"{self.name}: {display} {bounds}{held}"


DEFAULT_RULES = (
    Rule("Sustained tachycardia", "8867-4", high=100, lasting=120),
    Rule("Heart rate out of range", "8867-4", low=40, high=150),
    Rule("Low oxygen saturation", "59408-5", low=88),
    Rule("Hypertensive crisis", "85354-9", high=180),
    Rule("Fever", "8310-5", high=39.5),
    Rule("Glucose out of range", "2339-0", low=54, high=300),
)


@dataclass(slots=True)
class _Episode:
    since_ms: int  # first breaching reading
    alerted: bool = False  # raised, here or by another worker
    normal_since_ms: int | None = None
    kept_at: float = 0.0  # when this worker last kept the shared episode alive


@dataclass(frozen=True, slots=True)
class Alert:
    """A raised alert: its rule, patient, device, when the episode began, and the records written."""

    rule: str
    text: str
    patient: str
    patient_record: str
    device: str
    started: str
    flag: str
    communication: str

    def as_json(self) -> dict[str, Any]:
        """The alert as a webhook or an event stream carries it."""
        return {
            "rule": self.rule,
            "text": self.text,
            "patient": self.patient,
            "subject": f"Patient/{self.patient_record}",
            "device": self.device,
            "started": self.started,
            "flag": self.flag,
            "communication": self.communication,
        }


class Monitor:
    """Watches accepted readings against rules; raises each episode's alert once."""

    def __init__(
        self,
        access: RecordAccess,
        *,
        custodian: str,
        episodes: Tickets,
        rules: Iterable[Rule] = DEFAULT_RULES,
        settle: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`episodes` are the node's tickets, where every worker finds the episodes already raised."""
        self._access = access
        self._shared = episodes
        self._episode_seconds = settle + _EPISODE_SLACK_SECONDS
        self._custodian = custodian
        self.rules = tuple(rules)
        self._settle_ms = int(settle * 1000)
        self._clock = clock
        self._episodes: dict[tuple[str, str], _Episode] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Alert], object]] = []
        self.raised = 0

    def listen(self, listener: Callable[[Alert], object]) -> Callable[[], None]:
        """Call `listener` with every alert raised from now on; the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def observe(self, batches: list[Accepted]) -> list[Alert]:
        """Run the rules over accepted readings (in time order per batch); the alerts raised."""
        alerts = []
        with self._lock:
            for batch in batches:
                for reading in sorted(batch.readings, key=lambda reading: reading.time_ms):
                    for rule in self.rules:
                        if rule.code == reading.code and self._fires(rule, batch.patient, reading):
                            alerts.append(self._raise(rule, batch, reading))
        for alert in alerts:
            for listener in list(self._listeners):
                listener(alert)
        return alerts

    def _fires(self, rule: Rule, patient: str, reading: Reading) -> bool:
        key = (patient, rule.name)
        episode = self._episodes.get(key)
        if rule.breached(reading):
            if episode is None:
                episode = self._episodes[key] = _Episode(reading.time_ms)
            episode.normal_since_ms = None
            if episode.alerted:
                self._keep_alive(key, episode)
            elif reading.time_ms - episode.since_ms >= rule.lasting * 1000:
                episode.alerted = True
                episode.kept_at = self._clock()
                return self._shared.add(_EPISODE, _shared_key(key), self._episode_seconds)  # first worker wins
            return False
        if episode is not None:
            if not episode.alerted:
                del self._episodes[key]  # a breach too short to alert on
            elif episode.normal_since_ms is None:
                episode.normal_since_ms = reading.time_ms
            elif reading.time_ms - episode.normal_since_ms >= self._settle_ms:
                del self._episodes[key]
                self._shared.take(_EPISODE, _shared_key(key))  # over: the next breach alerts again, at any worker
        return False

    def _keep_alive(self, key: tuple[str, str], episode: _Episode) -> None:
        """Keep the shared episode from expiring while this worker sees it go on (one write per half minute)."""
        now = self._clock()
        if now - episode.kept_at >= _KEEP_ALIVE_SECONDS:
            episode.kept_at = now
            self._shared.touch(_EPISODE, _shared_key(key), self._episode_seconds)

    def _raise(self, rule: Rule, batch: Accepted, reading: Reading) -> Alert:
        episode = self._episodes[(batch.patient, rule.name)]
        started = fhir_instant(episode.since_ms / 1000)
        text = f"{rule.describe()} (since {started}; last {reading.values[rule.component][0]:g})"
        key = f"{batch.patient_record}|{rule.name}|{episode.since_ms}"
        flag_id = f"alert-{hashlib.sha256(key.encode()).hexdigest()[:40]}"
        subject = {"reference": f"Patient/{batch.patient_record}"}
        flag = {
            "resourceType": "Flag",
            "id": flag_id,
            "status": "active",
            "category": [concept("http://terminology.hl7.org/CodeSystem/flag-category", "clinical", "Clinical")],
            "code": {"text": text},
            "subject": subject,
            "period": {"start": started},
            "author": {"reference": f"Device/{batch.device_record}"},
        }
        communication = {
            "resourceType": "Communication",
            "id": f"{flag_id}-message",
            "status": "completed",
            "category": [concept("http://terminology.hl7.org/CodeSystem/communication-category", "alert", "Alert")],
            "priority": "urgent",
            "subject": subject,
            "about": [{"reference": f"Flag/{flag_id}"}],
            "sent": fhir_instant(self._clock()),
            "payload": [{"contentString": text}],
        }
        door = self._access.for_caller(Accessor(self._custodian, Purpose.TREAT))
        door.store([door.prepare(resource) for resource in (flag, communication)])
        self.raised += 1
        return Alert(
            rule.name,
            text,
            batch.patient,
            batch.patient_record,
            batch.device,
            started,
            f"Flag/{flag_id}",
            f"Communication/{flag_id}-message",
        )


def _shared_key(key: tuple[str, str]) -> str:
    """An episode's name in the node's tickets: its patient and rule."""
    return f"{key[0]}|{key[1]}"
