"""The patient's break-glass switch, and the staff's review of each break-glass use (one world for the module)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from careledger.access import Accessor, BreakGlassUse, Verdict, seal_older_reasons
from careledger.audit import Entry
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.errors import AccessDenied, Conflict, DecryptionError, NotFound, ValidationError
from careledger.identity import PRIVACY_OFFICER, Wallet
from careledger.store import EmergencyAccess, EmergencyReview, NodeState
from tests.access.conftest import World, built_world

REASON = "unconscious in the emergency department"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with built_world(Path(tmp_path_factory.mktemp("glass")) / "home") as world:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.guardian.address, PRIVACY_OFFICER, int(time.time()) + 86_400)  # this node's officer
        registry.attest(world.drbob.address, PRIVACY_OFFICER, int(time.time()) + 86_400)
        yield world


def _newest(world: World) -> Entry:
    return world.node.audit.entries()[-1]


def _break_glass(world: World) -> BreakGlassUse:
    """Dr Bob opens a window on Alice's records (a new one, though one may be open): the use it queues."""
    world.access.break_glass(world.drbob.address, world.alice.address, REASON)
    return world.node.break_glass_reviews.pending()[-1]


def test_her_switch_refuses_break_glass_until_she_turns_it_back_on(world: World) -> None:
    switch, alice = world.node.break_glass_switch, world.alice.address
    switch.turn(alice, alice, False)
    assert not switch.allowed(alice)
    turned = _newest(world).access
    assert (turned.interaction, turned.agent, turned.patient, turned.allowed) == (
        "break-glass-setting",
        alice,
        alice,
        True,
    )
    with pytest.raises(AccessDenied, match="turned emergency access off"):
        world.access.for_caller(Accessor(world.drbob.address, Purpose.ETREAT, REASON)).read(world.labs_id)
    refused = _newest(world).access
    assert (refused.interaction, refused.allowed, refused.break_glass) == ("break-glass", False, True)
    assert world.node.break_glass_reviews.pending() == []  # a refused attempt is no use to review

    switch.turn(alice, alice, True)
    assert switch.allowed(alice)
    world.access.for_caller(Accessor(world.drbob.address, Purpose.ETREAT, REASON)).read(world.labs_id)
    use = world.node.break_glass_reviews.pending()[-1]
    assert (use.practitioner, use.patient, use.reason) == (world.drbob.address, alice, REASON)


@pytest.mark.parametrize("who", ["drbob", "guardian"])
def test_nobody_else_flips_her_switch(world: World, who: str) -> None:
    other: Wallet = getattr(world, who)
    switch, alice = world.node.break_glass_switch, world.alice.address
    with pytest.raises(AccessDenied, match="not the patient or a live delegate"):
        switch.turn(other.address, alice, False)
    assert switch.allowed(alice)
    refused = _newest(world).access
    assert (refused.interaction, refused.agent, refused.patient, refused.allowed) == (
        "break-glass-setting",
        other.address,
        alice,
        False,
    )


def test_each_use_is_queued_under_its_audit_entry_and_reviewed_once(world: World) -> None:
    reviews = world.node.break_glass_reviews
    use = _break_glass(world)
    (opened,) = [e for e in world.node.audit.entries() if str(e.seq) == use.entry]
    assert (opened.access.interaction, opened.access.allowed, opened.access.detail) == ("break-glass", True, REASON)

    with pytest.raises(AccessDenied, match="privacy-officer"):  # a practitioner without the role
        reviews.review(use.entry, world.mallory.address, "justified", "seen")
    assert (_newest(world).access.agent, _newest(world).access.allowed) == (world.mallory.address, False)
    with pytest.raises(AccessDenied, match="their own"):  # an officer, but it is his own use
        reviews.review(use.entry, world.drbob.address, "justified", "I was there")
    own = _newest(world).access
    assert (own.interaction, own.agent, own.patient, own.allowed) == (
        "break-glass-review",
        world.drbob.address,
        world.alice.address,
        False,
    )

    review = reviews.review(use.entry, world.guardian.address, "unjustified", "  she was conscious and could consent ")
    assert (review.verdict, review.note, review.reviewer) == (
        Verdict.UNJUSTIFIED,
        "she was conscious and could consent",
        world.guardian.address,
    )
    done = _newest(world).access
    assert (done.interaction, done.agent, done.patient, done.allowed) == (
        "break-glass-review",
        world.guardian.address,
        world.alice.address,
        True,
    )
    assert done.detail == f"entry {use.entry}: unjustified: she was conscious and could consent"
    assert use.entry not in {u.entry for u in reviews.pending()}

    with pytest.raises(Conflict, match="reviewed already"):  # the node itself, second: the verdict stands
        reviews.review(use.entry, world.node.address, "justified", "on second thoughts")
    assert not _newest(world).access.allowed
    now = datetime.now(UTC)
    recorded = reviews.reviews(now - timedelta(hours=1), now + timedelta(hours=1))
    assert [(r.entry, r.verdict, r.reviewer) for r in recorded if r.entry == use.entry] == [
        (use.entry, Verdict.UNJUSTIFIED, world.guardian.address)
    ]
    assert reviews.reviews(now + timedelta(hours=1), now + timedelta(hours=2)) == []


@pytest.mark.parametrize(
    ("entry", "verdict", "note", "error", "match"),
    [
        ("1", "fine", "note", ValidationError, "a verdict is justified or unjustified"),
        ("one", "justified", "note", ValidationError, "audit entry's number"),
        ("0", "justified", "note", ValidationError, "1 or more"),
        ("1", "justified", "   ", ValidationError, "needs a note"),
        ("1", "justified", "x" * 2001, ValidationError, "at most 2000"),
        ("999999", "justified", "note", NotFound, "no break-glass use"),
    ],
)
def test_a_malformed_review_is_refused(
    world: World, entry: str, verdict: str, note: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        world.node.break_glass_reviews.review(entry, world.node.address, verdict, note)


def test_a_window_opened_before_the_queue_is_queued_under_its_entry(world: World) -> None:
    """A window without a queue row (opened before migration 0030) is found in the audit log and queued."""
    use = _break_glass(world)
    reviews = world.node.break_glass_reviews
    with world.node.db.session() as session:
        session.execute(delete(EmergencyReview).where(EmergencyReview.entry == int(use.entry)))
    assert reviews.pending()[-1] == use
    with world.node.db.session() as session:
        assert session.scalar(select(EmergencyReview.verdict).where(EmergencyReview.entry == int(use.entry))) is None


def _on_disk(world: World) -> bytes:
    """The database file as a thief would copy it, with its write-ahead log."""
    db_file = world.node.home.db_file
    wal = db_file.with_name(db_file.name + "-wal")
    return db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _checkpoint(world: World) -> None:
    with world.node.db.session() as session:
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def test_a_reason_is_sealed_at_rest_and_read_by_those_who_may(world: World) -> None:
    """The reason is stored as the audit log stores its text: a stolen disk shows it nowhere; the reviewer and the
    patient read it; a sealed reason moved to another window does not open."""
    reason = "found collapsed at home, allergy status unknown"
    world.access.break_glass(world.drbob.address, world.alice.address, reason)
    assert reason.encode() not in _on_disk(world)
    assert world.node.break_glass_reviews.pending()[-1].reason == reason
    alice = Accessor(world.alice.address, Purpose.PATRQT, "mine")
    assert world.node.disclosures.emergencies(alice, world.alice.address)[0].reason == reason

    with world.node.db.session() as session:
        newest, older = session.scalars(select(EmergencyAccess).order_by(EmergencyAccess.id.desc()).limit(2))
        older.reason = newest.reason
    with pytest.raises(DecryptionError):
        world.node.break_glass_reviews.pending()
    with world.node.db.session() as session:
        session.execute(delete(EmergencyReview).where(EmergencyReview.emergency_id == older.id))
        session.execute(delete(EmergencyAccess).where(EmergencyAccess.id == older.id))


def test_reasons_kept_bare_before_sealing_are_sealed_in_place_once(world: World) -> None:
    """As migration 0032 leaves a database with windows: their bare reasons sealed when the node wires its door, and
    the old text zeroed in the file (a page's worth of older windows, copies of hers, so that rows move)."""
    world.access.break_glass(world.drbob.address, world.alice.address, "any")
    with world.node.db.session() as session:
        (window,) = session.scalars(select(EmergencyAccess).order_by(EmergencyAccess.id.desc()).limit(1))
        window.reason = "bare reason, written before reasons were sealed"
        older = [
            EmergencyAccess(
                practitioner=window.practitioner,
                patient=window.patient,
                reason=f"bare reason {n:03d} of an older window",
                salt=os.urandom(32),
                reason_hash=window.reason_hash,
                block=window.block,
                opened_at=window.opened_at,
                expires_at=window.opened_at,
            )
            for n in range(40)
        ]
        session.add_all(older)
        session.execute(update(NodeState).where(NodeState.name == "sealed_break_glass").values(value="pending"))
    alice = Accessor(world.alice.address, Purpose.PATRQT, "mine")
    bare = {window.reason} | {w.reason for w in older}
    assert bare <= {e.reason for e in world.node.disclosures.emergencies(alice, world.alice.address)}  # as they are
    _checkpoint(world)  # the bare rows in the file itself, as in a database written long ago
    assert seal_older_reasons(world.node.db, world.node.audit) == len(older) + 1
    assert seal_older_reasons(world.node.db, world.node.audit) == 0  # once
    _checkpoint(world)
    assert b"bare reason" not in _on_disk(world)
    with world.node.db.session() as session:
        session.execute(delete(EmergencyAccess).where(EmergencyAccess.id.in_([w.id for w in older])))
    assert world.node.break_glass_reviews.pending()[-1].reason == window.reason


def test_a_credential_the_chain_holds_invalid_reviews_nothing(world: World) -> None:
    """Revoked, expired, or attested by another node: the chain's own verdict (`has_valid_credential`) and this
    node's word decide, not a reading of the credentials by hand. Last here: it moves the chain's clock on."""
    reviews, mallory = world.node.break_glass_reviews, world.mallory.address
    registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
    use = _break_glass(world)

    def refused(why: str) -> None:
        assert not reviews.may_review(mallory), why
        with pytest.raises(AccessDenied, match="privacy-officer"):
            reviews.review(use.entry, mallory, "justified", why)
        assert (_newest(world).access.agent, _newest(world).access.allowed) == (mallory, False)

    revoked = registry.attest(mallory, PRIVACY_OFFICER, world.node.chain.timestamp() + 3_600)
    assert reviews.may_review(mallory)
    registry.revoke_credential(revoked.credential_id)
    refused("revoked")

    registry.attest(mallory, PRIVACY_OFFICER, world.node.chain.timestamp() + 60)
    assert reviews.may_review(mallory)
    world.travel(world.node.chain.timestamp() + 120 - world.now[0])
    refused("expired")

    registry.grant_role("ISSUER_ROLE", world.clinic.address)  # another issuer: valid on chain, not this node's
    clinic = world.node.contracts.identity_registry(as_wallet=world.clinic.name)
    clinic.attest(mallory, PRIVACY_OFFICER, world.node.chain.timestamp() + 3_600)
    assert world.node.contracts.identity_registry().has_valid_credential(mallory, PRIVACY_OFFICER)
    refused("another node's officer")
    assert use.entry in {u.entry for u in reviews.pending()}
