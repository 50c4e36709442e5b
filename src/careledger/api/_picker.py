"""The patient picker of a standalone SMART launch: whom a signed-in user may open an app for.

A live delegate of other patients (a guardian, a proxy: `ConsentRegistry.delegate`) who signs in at
`/auth/authorize` with `launch/patient` chooses one: herself, if she has a Patient record here, or a patient she
acts for whose Patient record her own door shows her (the policy's delegate rule, for PATRQT, audited in that
patient's accounting). Her signature is spent on the sign-in, so her choice comes back with a ticket for it:
random, one use, bound to the authorization request she signed for, ten minutes, a ticket in the node's
database as authorization codes are (so her choice may reach another worker than her sign-in).

    sign-in ──verified──► choices ──more than herself──► picker page (ticket) ──choice + ticket──► code
                                  └──herself or nobody──────────────────────────────────────────► code
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import AccessDeniedError

from careledger.access import Accessor, RecordAccess
from careledger.consent import Purpose
from careledger.errors import Unauthenticated
from careledger.identity import Role
from careledger.portal import person_name
from careledger.records import Category, SearchQuery
from careledger.shared import Tickets

TICKET_SECONDS = 10 * 60
_KIND = "picker"
# The parameters of the picker's own form, which are not the authorization request's.
_OWN_FIELDS = ("message", "signature", "ticket", "patient")


@dataclass(frozen=True, slots=True)
class Choice:
    """A patient the signed-in user may open the app for: her address, her Patient record's id and name."""

    address: str
    patient_id: str
    name: str


class Picker:
    """Whom a user may choose, and the sign-ins held while she chooses."""

    def __init__(
        self,
        access: RecordAccess,
        represented: Callable[[str], Mapping[str, frozenset[Category]]],
        tickets: Tickets,
    ) -> None:
        self._access = access
        self._represented = represented
        self._tickets = tickets

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
        held = {"address": address, "role": role.label, "request": _request(params)}
        self._tickets.put(_KIND, ticket, held, TICKET_SECONDS)
        return ticket

    def take(self, params: Mapping[str, str]) -> tuple[str, Role]:
        """Who signed in for the ticket `params` carry, used up; `Unauthenticated` for a ticket unknown, used,
        expired, or held for another authorization request (she signs in again)."""
        held = self._tickets.take(_KIND, params.get("ticket", ""))
        if held is None or held["request"] != _request(params):
            raise Unauthenticated("this sign-in has expired or was used: sign in again")
        return str(held["address"]), Role.parse(str(held["role"]))


def offers_others(choices: list[Choice], address: str) -> bool:
    """Whether `choices` hold anyone but the user herself: only then is there something to pick."""
    return any(choice.address != address for choice in choices)


def picked(choices: list[Choice], patient_id: str, address: str) -> Choice | None:
    """The patient she chose, if not herself (None); `access_denied` for an id she may not open the app for."""
    for choice in choices:
        if choice.patient_id == patient_id:
            return None if choice.address == address else choice
    raise AccessDeniedError(description="the patient chosen is not one this user may act for")


def _request(params: Mapping[str, str]) -> list[list[str]]:
    """The authorization request's own parameters, in an order that does not depend on how they were sent."""
    return sorted([name, value] for name, value in params.items() if name not in _OWN_FIELDS)
