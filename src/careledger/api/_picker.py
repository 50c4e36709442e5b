"""The patient picker of a standalone SMART launch: whom a signed-in user may open an app for.

A live delegate of other patients (a guardian, a proxy: `ConsentRegistry.delegate`) who signs in at
`/auth/authorize` with `launch/patient` chooses one: herself, if she has a Patient record here, or a patient she
acts for whose Patient record her own door shows her (the policy's delegate rule, for PATRQT, audited in that
patient's accounting). Her signature is spent on the sign-in, so her choice comes back with a ticket for it:
random, one use, bound to the authorization request she signed for, ten minutes, in memory as authorization
codes are.

    sign-in ──verified──► choices ──more than herself──► picker page (ticket) ──choice + ticket──► code
                                  └──herself or nobody──────────────────────────────────────────► code
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import AccessDeniedError

from careledger.access import Accessor, RecordAccess
from careledger.consent import Purpose
from careledger.errors import Unauthenticated
from careledger.identity import Role
from careledger.portal import person_name
from careledger.records import Category, SearchQuery

TICKET_SECONDS = 10 * 60
# The parameters of the picker's own form, which are not the authorization request's.
_OWN_FIELDS = ("message", "signature", "ticket", "patient")


@dataclass(frozen=True, slots=True)
class Choice:
    """A patient the signed-in user may open the app for: her address, her Patient record's id and name."""

    address: str
    patient_id: str
    name: str


@dataclass(frozen=True, slots=True)
class _Held:
    """A verified sign-in waiting for its choice."""

    address: str
    role: Role
    request: frozenset[tuple[str, str]]
    expires_at: float


class Picker:
    """Whom a user may choose, and the sign-ins held while she chooses."""

    def __init__(self, access: RecordAccess, represented: Callable[[str], Mapping[str, frozenset[Category]]]) -> None:
        self._access = access
        self._represented = represented
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def choices(self, address: str, *, others: bool) -> list[Choice]:
        """Herself first (if she has a Patient record here), then, with `others`, each patient she is a live
        delegate of whose Patient record she may read, each read through her own door at her request (PATRQT):
        asked only where a picker may be shown, since each read shows in that patient's accounting."""
        door = self._access.for_caller(Accessor(address, Purpose.PATRQT))
        found: list[Choice] = []
        for patient in (address, *(sorted(self._represented(address)) if others else ())):
            query = SearchQuery(resource_type="Patient", patient_address=patient)
            records = door.search_page(query, count=1).resources  # one is read (and audited), not each of hers
            found.extend(Choice(patient, str(record["id"]), person_name(record)) for record in records)
        return found

    def hold(self, address: str, role: Role, params: Mapping[str, str]) -> str:
        """A ticket for the sign-in of `address` to the authorization request `params`, while she chooses."""
        ticket = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._held = {k: v for k, v in self._held.items() if v.expires_at > now}
            self._held[ticket] = _Held(address, role, _request(params), now + TICKET_SECONDS)
        return ticket

    def take(self, params: Mapping[str, str]) -> tuple[str, Role]:
        """Who signed in for the ticket `params` carry, used up; `Unauthenticated` for a ticket unknown, used,
        expired, or held for another authorization request (she signs in again)."""
        with self._lock:
            held = self._held.pop(params.get("ticket", ""), None)
        if held is None or held.expires_at < time.time() or held.request != _request(params):
            raise Unauthenticated("this sign-in has expired or was used: sign in again")
        return held.address, held.role


def offers_others(choices: list[Choice], address: str) -> bool:
    """Whether `choices` hold anyone but the user herself: only then is there something to pick."""
    return any(choice.address != address for choice in choices)


def picked(choices: list[Choice], patient_id: str, address: str) -> Choice | None:
    """The patient she chose, if not herself (None); `access_denied` for an id she may not open the app for."""
    for choice in choices:
        if choice.patient_id == patient_id:
            return None if choice.address == address else choice
    raise AccessDeniedError(description="the patient chosen is not one this user may act for")


def _request(params: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset((name, value) for name, value in params.items() if name not in _OWN_FIELDS)
