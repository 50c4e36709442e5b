"""What an audit entry says, and its FHIR AuditEvent form (R4, `type` rest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from careledger.fhir import account_reference, fhir_instant, systems
from careledger.identity import did_pkh

_REQUEST_ID = {"system": systems.BALP_ENTITY_TYPE, "code": "XrequestId"}
# The agent of a refusal whose caller proved no account (a stranger's unsigned or forged request to an open route):
# named so, never as an address it merely claimed (which would let a stranger write entries in another's name).
ANONYMOUS = "anonymous"
_RESTFUL = frozenset({"read", "vread", "update", "delete", "create", "search-type", "history-instance"})


class Action(StrEnum):
    """FHIR AuditEvent.action."""

    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


class Outcome(IntEnum):
    """FHIR AuditEvent.outcome: a denial is a minor failure, an error a serious one."""

    SUCCESS = 0
    DENIED = 4
    ERROR = 8


@dataclass(frozen=True, slots=True)
class Access:
    """One access to (or attempt at) records: who, what, why, and how it ended."""

    action: Action
    interaction: str  # read, vread, search-type, create, update, delete, break-glass, consent, share
    outcome: Outcome
    agent: str  # the accessor's address, or `ANONYMOUS`
    patient: str | None = None  # the patient's address, for the accounting of disclosures
    entities: tuple[str, ...] = ()  # "Observation/obs-1/_history/2"
    purpose: str | None = None  # HL7 PurposeOfUse
    break_glass: bool = False
    detail: str | None = None  # why it was denied, or the break-glass reason

    @property
    def allowed(self) -> bool:
        """Whether the access was allowed."""
        return self.outcome == Outcome.SUCCESS


def audit_event(
    access: Access, recorded: datetime, *, observer: str, chain_id: int, request: str | None = None
) -> dict[str, Any]:
    """The FHIR AuditEvent of `access`, as stored and hashed in the audit log; actors by `did:pkh`. `request`, the
    id of the HTTP request that made the access (the access log's, echoed as `X-Request-ID`), is an entity of
    type `XrequestId` as IHE BALP records it, so an entry and the request's log line find each other."""
    subtype_system = systems.RESTFUL_INTERACTION if access.interaction in _RESTFUL else systems.AUDIT_SUBTYPE
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": systems.AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": subtype_system, "code": access.interaction}],
        "action": access.action.value,
        "recorded": fhir_instant(recorded, precision="microseconds"),
        "outcome": str(int(access.outcome)),
        "agent": [{"who": _who(chain_id, access.agent), "requestor": True}],
        "source": {"observer": account_reference(did_pkh(chain_id, observer))},
    }
    if access.detail:
        event["outcomeDesc"] = access.detail
    if access.purpose:
        reasons = [{"coding": [{"system": systems.ACT_REASON, "code": access.purpose}]}]
        event["purposeOfEvent"] = reasons
        event["agent"][0]["purposeOfUse"] = reasons
    entities: list[dict[str, Any]] = []
    if access.patient:
        entities.append(
            {
                "what": account_reference(did_pkh(chain_id, access.patient)),
                "role": {"system": systems.OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    entities.extend({"what": {"reference": reference}} for reference in access.entities)
    if access.break_glass:
        entities.append({"what": {"display": "break-glass"}, "description": access.detail or "emergency access"})
    if request is not None:
        entities.append({"what": {"identifier": {"value": request}}, "type": _REQUEST_ID})
    if entities:
        event["entity"] = entities
    return event


def access_of(event: dict[str, Any]) -> Access:
    """Read an `Access` back from its AuditEvent (for listings and verification)."""
    entities = event.get("entity", [])
    patient = next(
        (_address(e["what"]["identifier"]["value"]) for e in entities if e.get("role", {}).get("code") == "1"),
        None,
    )
    reasons = event.get("purposeOfEvent", [])
    return Access(
        action=Action(event["action"]),
        interaction=event["subtype"][0]["code"],
        outcome=Outcome(int(event["outcome"])),
        agent=_agent(event["agent"][0]["who"]),
        patient=patient,
        entities=tuple(e["what"]["reference"] for e in entities if "reference" in e.get("what", {})),
        purpose=reasons[0]["coding"][0]["code"] if reasons else None,
        break_glass=any(e.get("what", {}).get("display") == "break-glass" for e in entities),
        detail=event.get("outcomeDesc"),
    )


def request_of(event: dict[str, Any]) -> str | None:
    """The id of the HTTP request an AuditEvent was written for (None: written by the node's own work)."""
    return next(
        (e["what"]["identifier"]["value"] for e in event.get("entity", []) if e.get("type") == _REQUEST_ID), None
    )


def _who(chain_id: int, agent: str) -> dict[str, Any]:
    """The agent as a FHIR Reference: an account by its did:pkh, or `ANONYMOUS` by that word alone."""
    return {"display": ANONYMOUS} if agent == ANONYMOUS else account_reference(did_pkh(chain_id, agent))


def _agent(who: dict[str, Any]) -> str:
    return _address(who["identifier"]["value"]) if "identifier" in who else ANONYMOUS


def _address(did: str) -> str:
    return did.rsplit(":", 1)[-1]
