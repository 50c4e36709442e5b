"""A practitioner's node reads the patient's records for a visit through the exchange, under the visit's consent
only: refused before its window, served inside it, refused once it has ended by itself.

The custodian judges a consent's window by its own clock (the grant's not-before and expiry, as the chain stores
them), so the windows here are placed around the present: one visit ends a day and a few seconds from now, the
other begins an hour and a minute from now.
"""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from careledger.audit import Outcome
from careledger.consent import SignedConsent
from careledger.errors import AccessDenied
from careledger.records import Category
from careledger.telehealth import VisitConsents, VisitWindow
from tests.exchange.conftest import Network, network

__all__ = ["network"]

pytestmark = pytest.mark.anvil

HOUR, DAY = 3_600, 86_400


def _visit_consent(network: Network, window: VisitWindow) -> int:
    """Alice's consent for a visit in `window` with the clinic (the practitioner's node), signed by eth-account
    as a wallet outside the project signs, and submitted by the hospital; the grant's expiry."""
    consents = VisitConsents(network.hospital.consent)
    terms = consents.terms(network.alice.address, network.clinic.address, [Category.LABS], window)
    typed = consents.prepare(terms, valid_until=window.start)
    key = network.hospital.unlock("alice").account.key
    signed = SignedConsent.from_typed_data(typed, bytes(Account.sign_typed_data(key, full_message=typed).signature))
    return consents.submit(signed, terms).expiry


def test_the_practitioners_node_fetches_under_the_visit_consent_during_its_window_only(network: Network) -> None:
    now = int(time.time())
    _visit_consent(network, VisitWindow(now + HOUR + 60, now + HOUR + 1_860))  # its window opens in a minute
    with pytest.raises(AccessDenied, match="not valid yet"):
        network.fetch([Category.LABS])
    ends = _visit_consent(network, VisitWindow(now - DAY - 1_790, now - DAY + 10))  # its window ends in 10 s
    fetched = network.fetch([Category.LABS])
    assert sorted(s.record_id for s in fetched.stored) == sorted(network.labs)
    with pytest.raises(AccessDenied, match="mental-health"):
        network.fetch([Category.MENTAL_HEALTH])  # only the categories she picked for the visit
    time.sleep(max(ends - time.time(), 0) + 1)
    with pytest.raises(AccessDenied, match="has expired"):
        network.fetch([Category.LABS])
    shares = [e.access for e in network.hospital.audit.entries(patient=network.alice.address)]
    denied, served = Outcome.DENIED, Outcome.SUCCESS
    assert [a.outcome for a in shares if a.interaction == "share"] == [denied, served, denied, denied]
