"""The compliance report of a seeded month, each number recounted from the raw audit entries (one world)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from careledger.access import Accessor
from careledger.audit import Access, Action, Entry, Outcome
from careledger.compliance import (
    AUDIT_ENTRIES,
    INTERACTION,
    ChainView,
    ComplianceReport,
    ComplianceReports,
    Period,
    Retention,
    html_chunks,
    period_of,
    report_json,
)
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.crypto import PrivateKey
from careledger.errors import AccessDenied, ValidationError
from careledger.identity import MEDICAL_LICENCE, PRIVACY_OFFICER
from careledger.records import Category, category_counts
from careledger.store import AUDIT_EVENTS
from careledger.testdata import synthetic_patients
from tests.access.conftest import World, built_world

DAY = 86_400.0
REASON = "found unconscious, no history on file"
RULE = "HIPAA billing retention (6 years)"
KEPT = f"kept by {RULE}"  # how an erasure refused by a rule is audited


@dataclass
class Month:
    """The seeded month: its world, period, the report of it, and what the seeding did."""

    world: World
    period: Period
    report: ComplianceReport
    granted: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    guardian_records: int = 0


def _clock(world: World) -> datetime:
    return datetime.fromtimestamp(world.now[0], UTC)


def _reports(world: World) -> ComplianceReports:
    """The node's report service as `Node.compliance` wires it, its clock the world's."""
    node = world.node
    return ComplianceReports(
        node.audit,
        lambda: world.consent,
        ChainView(node.chain.block_number, node.chain.timestamp, node.contracts.identity_registry),
        {"records": node.anchorer, AUDIT_ENTRIES: node.audit_anchorer},
        lambda since, until: category_counts(node._records, since, until),
        lambda: node.break_glass_reviews,
        node=node.address,
        chain_id=node.chain_id,
        organisation="St Example Hospital",
        retention=[Retention("billing", RULE, 6)],
        clock=lambda: _clock(world),
    )


def _read(
    world: World, who: str, record: str, purpose: Purpose = Purpose.TREAT, reason: str | None = None, *, ok: bool = True
) -> None:
    """`who` reads `record`: allowed if `ok`, else refused (audited either way)."""
    door = world.access.for_caller(Accessor(who, purpose, reason))
    if ok:
        door.read(record)
        return
    with pytest.raises(AccessDenied):
        door.read(record)


def _grant(world: World, month: Month, patient_wallet: str, patient: str, grantee: str, category: Category) -> int:
    terms = world.consent.terms(patient, grantee, [category], [Purpose.TREAT], days=30)
    grant_id = world.consent.grant(patient_wallet, terms).grant_id
    month.granted.add(f"{grant_id:#066x}")
    return grant_id


def _seed(world: World, month: Month) -> None:
    """A month at a hospital: consents, reads, refusals, break-glass and its review, erasures, key events."""
    node, alice, guardian, drbob, mallory = world.node, world.alice, world.guardian, world.drbob, world.mallory
    t0 = world.now[0]
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.attest(guardian.address, PRIVACY_OFFICER, int(t0 + 90 * DAY))
    registry.attest(mallory.address, MEDICAL_LICENCE, int(t0 + 5 * DAY))  # her licence lapses on day 5
    node.anchorer.anchor_pending()  # alice's chart is anchored at once; the guardian's, below, never is
    node.audit._clock = lambda: datetime.fromtimestamp(t0 - 2 * 3600, UTC)  # before the period: not counted
    _read(world, mallory.address, world.labs_id, ok=False)
    node.audit._clock = lambda: _clock(world)
    chart = synthetic_patients(1, seed=33)[0]
    for resource in chart.resources:
        node._records.write(resource, patient_address=guardian.address)
    month.guardian_records = len(chart.resources)
    guardian_general = next(r["id"] for r in chart.records if r["resourceType"] == "Encounter")

    world.travel(DAY)
    _grant(world, month, alice.name, alice.address, drbob.address, Category.LABS)
    _grant(world, month, guardian.name, guardian.address, drbob.address, Category.GENERAL)
    mallorys = _grant(world, month, alice.name, alice.address, mallory.address, Category.LABS)
    _read(world, drbob.address, world.labs_id)  # disclosed
    _read(world, drbob.address, guardian_general)  # disclosed
    _read(world, drbob.address, world.general_id, ok=False)  # refused: no consent to general records
    _read(world, mallory.address, world.labs_id)  # disclosed; her licence is still valid
    _read(world, alice.address, world.mental_health_id, Purpose.PATRQT)  # her own: not a disclosure
    _read(world, node.address, world.labs_id, Purpose.HOPERAT)  # the node's own work: not a disclosure

    world.travel(2 * DAY)
    _read(world, drbob.address, world.mental_health_id, Purpose.ETREAT, REASON)  # break-glass, and a read under it
    _read(world, drbob.address, world.general_id, Purpose.ETREAT, REASON)  # a second read in the same window
    with pytest.raises(AccessDenied):
        world.access.break_glass(world.clinic.address, alice.address, REASON)  # an organisation: refused

    world.travel(7 * DAY)
    _read(world, mallory.address, world.labs_id)  # allowed by consent, but her licence has expired
    world.access.break_glass(drbob.address, guardian.address, REASON)  # never reviewed

    world.travel(2 * DAY)
    world.consent.revoke(alice.name, mallorys)
    month.revoked.add(f"{mallorys:#066x}")
    node.audit.record_all(
        [
            Access(Action.DELETE, "erase", Outcome.SUCCESS, alice.address, alice.address, ("Observation/x",)),
            Access(Action.DELETE, "erase", Outcome.DENIED, alice.address, alice.address, detail=KEPT),
            Access(Action.DELETE, "erase", Outcome.DENIED, guardian.address, guardian.address, detail=KEPT),
            Access(Action.EXECUTE, "claim-code", Outcome.SUCCESS, node.address, guardian.address),
            Access(Action.EXECUTE, "claim", Outcome.DENIED, mallory.address, guardian.address, detail="wrong code"),
            Access(Action.EXECUTE, "claim", Outcome.SUCCESS, guardian.address, guardian.address),
            Access(Action.EXECUTE, "reseal", Outcome.SUCCESS, guardian.address, guardian.address),
        ]
    )
    node.contracts.identity_registry(as_wallet=guardian.name).rotate_key(PrivateKey.generate().public_key)
    first_use = node.break_glass_reviews.pending()[0]
    node.break_glass_reviews.review(first_use.entry, guardian.address, "unjustified", "no emergency on record")

    world.travel(20 * DAY)  # past the period's end
    _read(world, mallory.address, world.labs_id, ok=False)  # revoked, and after the period: not counted


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    with built_world(Path(tmp_path_factory.mktemp("compliance")) / "home") as world:
        start = _clock(world)
        period = Period(start - timedelta(hours=1), start + timedelta(days=30))
        seeded = Month(world, period, None)
        _seed(world, seeded)
        seeded.report = _reports(world).report(period)
        yield seeded


def _in_period(month: Month) -> list[Entry]:
    """The period's entries as the audit log's own reader lists them, the report's own entry aside."""
    since, until = month.period.since, month.period.until
    return [
        e
        for e in month.world.node.audit.entries()
        if since <= e.recorded_at < until and e.access.interaction != INTERACTION
    ]


def _discloses(entry: Entry, node: str) -> bool:
    access = entry.access
    return bool(
        access.allowed
        and access.patient
        and access.entities
        and access.action in (Action.READ, Action.EXECUTE)
        and access.agent not in (access.patient, node)
    )


def test_each_number_is_recounted_from_the_raw_entries(month: Month) -> None:
    entries, report, node = _in_period(month), month.report, month.world.node.address
    outcomes = Counter((e.access.interaction, e.access.allowed) for e in entries)
    assert report.summary.entries == len(entries)
    assert report.summary.denied == sum(1 for e in entries if not e.access.allowed)
    assert report.summary.by_interaction == {
        name: {"allowed": outcomes[(name, True)], "denied": outcomes[(name, False)]}
        for name in sorted({name for name, _ in outcomes})
    }
    disclosed = Counter(e.access.patient for e in entries if _discloses(e, node))
    refused = Counter(
        e.access.patient
        for e in entries
        if e.access.patient and not e.access.allowed and e.access.agent != e.access.patient
    )
    assert {a.patient: (len(a.disclosures), a.refused) for a in report.accounting} == {
        p: (disclosed[p], refused[p]) for p in set(disclosed) | set(refused)
    }
    every = [d.entry for a in report.accounting for d in a.disclosures]
    assert sorted(every) == sorted(e.seq for e in entries if _discloses(e, node))
    purposes = Counter(e.access.purpose or "unstated" for e in entries if e.access.patient and e.access.allowed)
    assert report.processing.purposes == dict(purposes)
    glass = [e for e in entries if e.access.interaction == "break-glass"]
    assert [(b.entry, b.opened) for b in report.break_glass] == [(e.seq, e.access.allowed) for e in glass]
    reads = [e for e in entries if e.access.break_glass and e.access.allowed and e.access.interaction == "read"]
    assert sum(b.reads for b in report.break_glass) == len(reads)
    erasures = [e.access for e in entries if e.access.interaction == "erase"]
    assert (report.erasures.erased, report.erasures.refused) == (
        sum(a.allowed for a in erasures),
        sum(not a.allowed for a in erasures),
    )
    assert report.erasures.refused_by_rule == dict(Counter(a.detail for a in erasures if not a.allowed))
    keyed = ("claim", "claim-code", "claim-code-burnt", "reseal")
    keys = Counter((e.access.interaction, e.access.allowed) for e in entries if e.access.interaction in keyed)
    counted = {(name, kind == "allowed"): n for name, c in report.keys.counts.items() for kind, n in c.items() if n}
    assert counted == dict(keys)
    audit_lag = next(lag for lag in report.anchoring if lag.kind == AUDIT_ENTRIES)
    assert audit_lag.written == len(entries)


def test_the_month_reads_as_it_happened(month: Month) -> None:
    world, report = month.world, month.report
    alice = next(a for a in report.accounting if a.patient == world.alice.address)
    recipients = Counter((d.recipient, d.recipient_role, tuple(d.what), d.purpose) for d in alice.disclosures)
    assert recipients[(world.drbob.address, "practitioner", ("Observation",), "TREAT")] == 1
    assert recipients[(world.mallory.address, "practitioner", ("Observation",), "TREAT")] == 2
    assert sum(d.break_glass for d in alice.disclosures) == 2  # the two reads under break-glass
    assert alice.refused == 2  # drbob's general read, the clinic's break-glass; not mallory's outside the period
    assert report.processing.recipients == {"practitioner": sum(len(a.disclosures) for a in report.accounting)}
    assert report.processing.controller.organisation == "St Example Hospital"
    assert report.processing.retention == (Retention("billing", RULE, 6),)
    held = Counter(s.category.value for s in world.node._records.list() if not s.deleted)
    assert report.processing.categories_held == dict(held)
    opened, refused, unreviewed = report.break_glass
    assert (opened.opened, opened.refusal, opened.reads, opened.review and opened.review.verdict) == (
        True,
        None,
        2,
        "unjustified",
    )
    assert (refused.opened, refused.practitioner) == (False, world.clinic.address)
    assert refused.refusal == f"{world.clinic.address} is not a registered, active practitioner"
    assert (unreviewed.patient, unreviewed.review) == (world.guardian.address, None)
    assert {c.grant_id for c in report.consents if c.change == "granted"} == month.granted
    assert {c.grant_id for c in report.consents if c.change == "revoked"} == month.revoked
    assert (report.erasures.erased, report.erasures.refused, report.erasures.refused_by_rule) == (1, 2, {KEPT: 2})
    assert report.keys.counts == {
        "claim": {"allowed": 1, "denied": 1},
        "claim-code": {"allowed": 1, "denied": 0},
        "reseal": {"allowed": 1, "denied": 0},
    }
    (rotation,) = report.keys.rotations
    assert (rotation.actor, rotation.key_version) == (world.guardian.address, 2)
    assert month.period.since <= rotation.at < month.period.until
    records_lag = next(lag for lag in report.anchoring if lag.kind == "records")
    assert (records_lag.waiting, records_lag.late) == (month.guardian_records, month.guardian_records)
    assert records_lag.anchored == records_lag.written - month.guardian_records
    assert records_lag.max is not None


def test_findings_name_what_an_auditor_must_look_at(month: Month) -> None:
    world, report = month.world, month.report
    kinds = {f.kind: f for f in report.findings}
    assert set(kinds) == {
        "not-anchored",
        "expired-licence",
        "break-glass-unreviewed",
        "break-glass-unjustified",
    }
    late = [f for f in report.findings if f.kind == "not-anchored"]
    assert {f.count for f in late} == {month.guardian_records, report.summary.entries}
    expired = kinds["expired-licence"]
    lapsed = month.period.since + timedelta(hours=1, days=5)
    mallory = [e for e in _in_period(month) if e.access.agent == world.mallory.address and e.access.allowed]
    after_lapse = [e.seq for e in mallory if e.recorded_at > lapsed]
    assert (expired.count, expired.entries) == (1, tuple(after_lapse))
    assert world.mallory.address in expired.what
    assert kinds["break-glass-unreviewed"].entries == (report.break_glass[2].entry,)
    assert kinds["break-glass-unjustified"].entries == (report.break_glass[0].entry,)


def test_the_report_is_audited_and_tells_no_record_contents(month: Month) -> None:
    world, report = month.world, month.report
    audited = [e.access for e in world.node.audit.entries() if e.access.interaction == INTERACTION]
    assert (audited[0].agent, audited[0].patient) == (world.node.address, None)
    assert month.period.since.isoformat() in (audited[0].detail or "")
    page = "".join(html_chunks(report))
    data = json.dumps(report_json(report))
    sections = ("HIPAA §164.528", "GDPR Art. 30", "Break-glass", "Consents granted", "Erasures", "Key events")
    for section in (*sections, "Anchoring lag", "Findings"):
        assert section in page
    assert world.alice.address in page
    assert world.alice.address in data
    chart = synthetic_patients(1, seed=21)[0]
    condition = next(r for r in chart.records if r["resourceType"] == "Condition")
    diagnosis = condition["code"]["coding"][0]["display"]
    for text in (chart.patient["name"][0]["family"], chart.patient["birthDate"], diagnosis, REASON):
        assert text not in page
        assert text not in data
    assert json.loads(data)["summary"]["entries"] == report.summary.entries


def test_a_missing_entry_is_a_finding(month: Month) -> None:
    world = month.world
    victim = _in_period(month)[3].seq
    with world.node.db.writing() as connection:
        row = connection.execute(select(AUDIT_EVENTS).where(AUDIT_EVENTS.c.seq == victim)).one()._asdict()
        connection.execute(delete(AUDIT_EVENTS).where(AUDIT_EVENTS.c.seq == victim))
    try:
        report = _reports(world).report(month.period)
    finally:
        with world.node.db.writing() as connection:
            connection.execute(insert(AUDIT_EVENTS).values(**row))
    problems = [f.what for f in report.findings if f.kind == "audit-integrity"]
    assert f"entries {victim}..{victim} are missing" in problems
    assert report.summary.entries == month.report.summary.entries - 1


def test_a_period_is_read_from_dates_or_times() -> None:
    june = period_of("2026-06-01", "2026-06-30")
    assert (june.since, june.until) == (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    morning = period_of("2026-06-01T08:00:00+02:00", "2026-06-01T12:00:00Z")
    assert (morning.since.hour, morning.until.hour) == (6, 12)
    for start, end, match in (
        ("2026-06-30", "2026-06-01", "ends"),
        ("yesterday", "2026-06-01", "--from takes a date"),
        ("2026-06-01", "2026-13-01", "--to takes a date"),
    ):
        with pytest.raises(ValidationError, match=match):
            period_of(start, end)
