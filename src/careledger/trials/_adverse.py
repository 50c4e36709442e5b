"""Adverse events: the participant's R4 AdverseEvent, kept in her record, and the safety report that leaves it.

site staff ──► adverse_event ──► AdverseEvent (her record: subject, study, description in its narrative)
                     └── serious ──► safety_report ──► sponsor's and board's nodes (no name, no patient
                                                        reference, her on-chain participant id; a narrative
                                                        only if the site wrote one for them)
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from careledger.errors import ValidationError
from careledger.fhir import fhir_instant
from careledger.records import Resource

SERIOUSNESS_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
SEVERITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
SEVERITIES = ("mild", "moderate", "severe")
_PARTICIPANT = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_LONGEST_TEXT = 2000
# What a safety report holds (`safety_report`), each key's kind; nothing else is taken from a site.
REPORT_KEYS = frozenset({"trial_id", "participant", "site", "event", "serious", "severity", "date", "narrative"})
_OPTIONAL_KEYS = frozenset({"narrative"})
_KNOWN = "trial_id, participant, site, event, serious, severity, date and a narrative if any"
_CODING_LENGTHS = {"system": 200, "code": 64, "display": 200}  # a Coding's strings, at most (display optional)
_EXACT_INT = 2**53  # the largest trial id a report's canonical JSON (a double) carries exactly, exclusive


@dataclass(frozen=True, slots=True)
class ReportDelivery:
    """Where a serious adverse event's safety report stands for one reader (the sponsor, an ethics board): arrived at
    its node, or waiting, and why (no node chosen: the reader has no endpoint on chain and no registrar node; the
    node did not answer or refused). A waiting one is sent again by the leader's round until it arrives."""

    reader: str
    waiting: str | None = None  # None: delivered

    @property
    def delivered(self) -> bool:
        """Whether the reader's node took the report."""
        return self.waiting is None

    def to_json(self) -> dict[str, Any]:
        """The reader, whether it was delivered, and why it waits (null once delivered)."""
        return {"reader": self.reader, "delivered": self.delivered, "waiting": self.waiting}


@dataclass(frozen=True, slots=True)
class ReportedAdverseEvent:
    """An adverse event as reported at a site: the AdverseEvent kept in her record and, for a serious one, where its
    safety report stands for each reader (none for one that is not serious: it leaves no report)."""

    event: Resource
    deliveries: tuple[ReportDelivery, ...] = ()

    @property
    def waiting(self) -> tuple[ReportDelivery, ...]:
        """The readers whose nodes do not hold the report yet."""
        return tuple(d for d in self.deliveries if not d.delivered)

    def to_json(self) -> dict[str, Any]:
        """`{"adverse_event": the AdverseEvent, "safety_report": [each reader's delivery]}`."""
        return {"adverse_event": self.event, "safety_report": [d.to_json() for d in self.deliveries]}


def adverse_event(
    subject_ref: str,
    study_ref: str,
    code: dict[str, Any],
    serious: bool,
    severity: str,
    date: dt.date | dt.datetime,
    description: str | None = None,
) -> Resource:
    """An actual adverse event of Patient `subject_ref` in the trial `study_ref` (`ResearchStudy/<id>`): `code` is
    the event's Coding (MedDRA, SNOMED CT), its seriousness and severity from HL7's code systems, the `date` it
    happened; the `description` (clinical words, which may identify her) goes in the narrative of her record only."""
    if not isinstance(code.get("system"), str) or not isinstance(code.get("code"), str):
        raise ValidationError("an adverse event's code is a Coding with a system and a code")
    coding = {key: code[key] for key in ("system", "code", "display") if key in code}
    _check_coding(coding)  # what its safety report will carry, checked before anything is written
    if severity not in SEVERITIES:
        raise ValidationError(f"an adverse event's severity is one of {', '.join(SEVERITIES)}, not {severity[:40]!r}")
    event: Resource = {
        "resourceType": "AdverseEvent",
        "actuality": "actual",
        "event": {"coding": [coding]},
        "subject": {"reference": subject_ref},
        "date": fhir_instant(date, precision="seconds") if isinstance(date, dt.datetime) else date.isoformat(),
        "seriousness": {
            "coding": [{"system": SERIOUSNESS_SYSTEM, "code": "serious" if serious else "non-serious"}],
        },
        "severity": {"coding": [{"system": SEVERITY_SYSTEM, "code": severity}]},
        "study": [{"reference": study_ref}],
    }
    if description is not None and description.strip():
        words = _text(description, "description")
        event["text"] = {
            "status": "additional",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(words)}</p></div>',
        }
    return event


def is_serious(event: Resource) -> bool:
    """Whether an AdverseEvent is coded serious (what sends a safety report to the sponsor and the board at once)."""
    return _code(event.get("seriousness"), SERIOUSNESS_SYSTEM) == "serious"


def safety_report(
    event: Resource, trial_id: int, participant_hex: str, site: str, *, narrative: str | None = None
) -> dict[str, Any]:
    """What the sponsor's and the board's nodes receive of an AdverseEvent: the trial, the participant by her
    on-chain id, the reporting site, the event's code, seriousness, severity and day. Never her name, her
    reference or the record's description: only a `narrative` the site wrote for them."""
    if event.get("resourceType") != "AdverseEvent":
        raise ValidationError("a safety report is made of an AdverseEvent")
    codings = event.get("event", {}).get("coding") if isinstance(event.get("event"), dict) else None
    coding = codings[0] if isinstance(codings, list) and codings and isinstance(codings[0], dict) else None
    if coding is None or not isinstance(coding.get("code"), str):
        raise ValidationError("the adverse event has no coded event to report")
    if not _PARTICIPANT.fullmatch(participant_hex):
        raise ValidationError("a participant id is 0x and 64 lower-case hex digits")
    if not _ADDRESS.fullmatch(site):
        raise ValidationError(f"a site is an address, not {site[:50]!r}")
    when = event.get("date")
    report: dict[str, Any] = {
        "trial_id": trial_id,
        "participant": participant_hex,
        "site": to_checksum_address(site),
        "event": {key: coding[key] for key in ("system", "code", "display") if isinstance(coding.get(key), str)},
        "serious": is_serious(event),
        "severity": _code(event.get("severity"), SEVERITY_SYSTEM),
        "date": when[:10] if isinstance(when, str) else None,  # the day is what a safety review needs
    }
    if narrative is not None and narrative.strip():
        report["narrative"] = _text(narrative, "narrative")
    return report


def checked_report(report: dict[str, Any], trial_id: int, site: str) -> dict[str, Any]:
    """A safety report another node received, taken only if it is what `safety_report` builds: its documented keys,
    each of its kind, for the trial and the site of the signed request that carries it. `ValidationError` naming
    the first key that is not, so that nothing else (a name, a patient reference) is ever kept."""
    unknown = sorted(set(report) - REPORT_KEYS)
    if unknown:
        raise ValidationError(f"a safety report holds no {', '.join(repr(k[:40]) for k in unknown[:5])}: only {_KNOWN}")
    missing = sorted(REPORT_KEYS - _OPTIONAL_KEYS - set(report))
    if missing:
        raise ValidationError(f"the safety report has no {', '.join(missing)}: it holds {_KNOWN}")
    trial = report["trial_id"]
    if type(trial) is not int or not 0 < trial < _EXACT_INT:
        raise ValidationError("a safety report's trial_id is a positive integer, not a number too large")
    if trial != trial_id:
        raise ValidationError(f"the safety report's trial_id {trial} is not its request's trial {trial_id}")
    if not isinstance(report["site"], str) or report["site"] != site:
        raise ValidationError(f"the safety report's site is not its request's site {site}")
    if not isinstance(report["participant"], str) or not _PARTICIPANT.fullmatch(report["participant"]):
        raise ValidationError("a safety report's participant is 0x and 64 lower-case hex digits")
    _check_coding(report["event"])
    if report["serious"] is not True:
        raise ValidationError("a safety report's serious is true: only a serious adverse event is reported")
    if report["severity"] not in SEVERITIES:
        raise ValidationError(f"a safety report's severity is one of {', '.join(SEVERITIES)}")
    _check_day(report["date"])
    if "narrative" in report:
        narrative = report["narrative"]
        if not isinstance(narrative, str) or not narrative.strip() or len(narrative) > _LONGEST_TEXT:
            raise ValidationError(f"a safety report's narrative is words, at most {_LONGEST_TEXT} characters")
    return report


def _check_coding(event: object) -> None:
    """`ValidationError` unless a report's `event` is a Coding: system and code, display if any, short strings."""
    if not isinstance(event, dict) or not {"system", "code"} <= set(event) <= set(_CODING_LENGTHS):
        raise ValidationError("a safety report's event is a coding: system, code and display, nothing else")
    for key, value in event.items():
        shortest = 0 if key == "display" else 1
        if not isinstance(value, str) or not shortest <= len(value) <= _CODING_LENGTHS[key]:
            raise ValidationError(
                f"an adverse event's {key} is a string of {shortest} to {_CODING_LENGTHS[key]} characters"
            )


def _check_day(day: object) -> None:
    """`ValidationError` unless a report's `date` is a day, YYYY-MM-DD."""
    try:
        valid = isinstance(day, str) and len(day) == 10 and dt.date.fromisoformat(day).isoformat() == day
    except ValueError:
        valid = False
    if not valid:
        raise ValidationError("a safety report's date is a day, YYYY-MM-DD")


def _code(concept: object, system: str) -> str | None:
    """The code of `system` in a CodeableConcept, if there is one."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, dict) and coding.get("system") == system and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def _text(words: str, what: str) -> str:
    if len(words) > _LONGEST_TEXT:
        raise ValidationError(f"an adverse event's {what} is at most {_LONGEST_TEXT} characters")
    return words.strip()
