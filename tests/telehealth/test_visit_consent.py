"""The visit's consent: signed with any wallet for exactly the visit's window, it lets the practitioner read the
categories the patient picked from an hour before the slot to a day after it, ends by itself, and is refused at once
when she revokes it earlier."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account

from careledger.access import Accessor, Repository
from careledger.consent import ConsentTerms, Purpose, SignedConsent
from careledger.errors import AccessDenied, ValidationError
from careledger.identity import Wallet
from careledger.records import Category
from careledger.telehealth import VisitConsents, VisitWindow
from tests.access.conftest import World, built_world

HOUR, DAY = 3_600, 86_400


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The access world (memory chain; a clock `World.travel` moves with the chain): alice's chart, and mallory,
    a practitioner of no affiliation here, whom a visit's consent names."""
    with built_world(Path(tmp_path_factory.mktemp("visit-consent")) / "home") as world:
        yield world


def _door(world: World, who: Wallet) -> Repository:
    """`who`'s guarded repository, judged by the world's clock."""
    return world.access.for_caller(Accessor(who.address))


def _signed_visit_consent(world: World, window: VisitWindow) -> tuple[VisitConsents, SignedConsent, ConsentTerms]:
    """Alice's consent for a visit with mallory in `window` (her labs), signed by eth-account as a wallet outside
    the project does; and the terms the visit expects."""
    consents = VisitConsents(world.consent, clock=lambda: world.now[0])
    terms = consents.terms(world.alice.address, world.mallory.address, [Category.LABS], window)
    typed = consents.prepare(terms, valid_until=window.start)
    key = world.node.unlock(world.alice.name).account.key
    signature = bytes(Account.sign_typed_data(key, full_message=typed).signature)
    return consents, SignedConsent.from_typed_data(typed, signature), terms


def test_the_visit_consent_lets_the_practitioner_read_only_around_the_visit(world: World) -> None:
    """From an hour before the slot to a day after it, and not a second outside."""
    start = int(world.now[0]) + 2 * HOUR
    window = VisitWindow(start, start + 1_800)
    consents, signed, expected = _signed_visit_consent(world, window)
    grant = consents.submit(signed, expected)
    assert (grant.not_before, grant.expiry, grant.purposes) == (start - HOUR, start + 1_800 + DAY, (Purpose.TREAT,))
    world.assert_denied(world.mallory, world.labs_id, "not valid yet")  # two hours before
    world.travel(HOUR + 1)  # 59 minutes before
    assert _door(world, world.mallory).read(world.labs_id)["id"] == world.labs_id
    world.assert_denied(world.mallory, world.mental_health_id, "mental-health")  # only the categories she picked
    world.travel(HOUR + 1_800 + DAY - 2)  # the last second of the window
    assert _door(world, world.mallory).read(world.labs_id)["id"] == world.labs_id
    world.travel(1)
    world.assert_denied(world.mallory, world.labs_id, "has expired")


def test_a_visit_consent_revoked_earlier_is_refused_at_once(world: World) -> None:
    start = int(world.now[0]) + 1_800
    consents, signed, expected = _signed_visit_consent(world, VisitWindow(start, start + 1_800))
    grant = consents.submit(signed, expected)
    assert _door(world, world.mallory).read(world.labs_id)
    world.consent.revoke(world.alice.name, grant.grant_id)
    world.assert_denied(world.mallory, world.labs_id, "revoked")


def test_a_consent_that_is_not_the_visits_is_refused_before_any_gas(world: World) -> None:
    start = int(world.now[0]) + 3 * HOUR
    window = VisitWindow(start, start + 1_800)
    consents, signed, expected = _signed_visit_consent(world, window)
    with pytest.raises(ValidationError, match="hour before the slot"):
        consents.check(signed, replace(expected, expiry=expected.expiry + DAY))
    with pytest.raises(ValidationError, match="must name"):
        consents.check(signed, replace(expected, grantee=world.drbob.address))
    with pytest.raises(AccessDenied, match="booking patient's own"):
        consents.check(signed, replace(expected, patient=world.guardian.address))
    with pytest.raises(ValidationError, match="treatment"):
        consents.check(
            replace(signed, terms=replace(expected, purposes=Purpose.TREAT.bit | Purpose.HRESCH.bit)), expected
        )
    with pytest.raises(ValidationError, match="at least one category"):
        consents.terms(world.alice.address, world.mallory.address, [], window)
    with pytest.raises(ValidationError, match="ends after"):
        VisitWindow(start, start)
