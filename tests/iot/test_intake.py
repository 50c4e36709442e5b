"""The intake: a reading is taken only from a registered device, signed, bound to the patient it names
by her live consent, for this node, in sequence and in the time window; every refusal is counted and
audited and stores nothing; a value no body could show is refused too, and pages nobody."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from sqlalchemy import func, select

from careledger.consent import Purpose
from careledger.crypto import sign_message
from careledger.errors import ConfigError, Conflict, ValidationError
from careledger.iot import Reading, ReadingIntake, Refusal, encode_frame
from careledger.records import Category
from careledger.store import DeviceReading
from tests.iot.conftest import Ward, device_key

VITALS, TREAT = [Category.VITALS], [Purpose.TREAT]


def _journal(ward: Ward) -> int:
    with ward.node.db.reading() as connection:
        return int(connection.execute(select(func.count()).select_from(DeviceReading)).scalar_one())


def _refused(ward: Ward, payload: bytes, reason: Refusal, readings: int = 1, *, patient: str | None = None) -> None:
    """`payload` is refused for `reason`, counted, audited once, and nothing reaches the journal."""
    journal, audited = _journal(ward), len(ward.node.audit.entries())
    result = ward.node.intake.accept(payload)
    assert (result.accepted, dict(result.refused)) == (0, {reason.value: readings})
    assert _journal(ward) == journal
    entries = ward.node.audit.entries()
    assert len(entries) == audited + 1
    denial = entries[-1].access
    assert not denial.allowed
    assert denial.interaction == "device-reading"
    assert reason.value in (denial.detail or "")
    assert denial.patient == patient


def test_readings_from_the_bound_device_are_journalled(ward: Ward) -> None:
    journal = _journal(ward)
    result = ward.node.intake.accept(ward.frame(ward.readings(70, 71, 72)))
    assert (result.accepted, dict(result.refused)) == (3, {})
    assert _journal(ward) == journal + 1
    assert ward.node.device_directory.get("watch").last_sequence == ward.sequence


def test_the_journal_holds_no_plaintext(ward: Ward) -> None:
    ward.node.intake.accept(ward.frame(ward.readings(64.25)))
    with ward.node.db.reading() as connection:
        sealed = list(connection.execute(select(DeviceReading.sealed)).scalars())
    assert sealed
    assert not any(b"64.25" in blob or b"8867-4" in blob for blob in sealed)


def test_a_forged_signature_is_refused(ward: Ward) -> None:
    body = encode_frame(ward.node.address, ward.watch.address, ward.alice.address, ward.readings(80))
    _refused(ward, body + sign_message(Account.create(), body), Refusal.FORGED)


def test_a_replayed_frame_is_a_counted_duplicate(ward: Ward) -> None:
    frame = ward.frame(ward.readings(75, 76))
    assert ward.node.intake.accept(frame).accepted == 2
    _refused(ward, frame, Refusal.REPLAYED, 2, patient=ward.alice.address)


def test_a_sequence_below_the_last_is_refused_and_the_rest_taken(ward: Ward) -> None:
    newer = ward.readings(77)
    older = [Reading(newer[0].sequence - 1, newer[0].time_ms, "8867-4", ((78.0, "/min"),))]
    assert ward.node.intake.accept(ward.frame(newer)).accepted == 1
    result = ward.node.intake.accept(ward.frame(older + ward.readings(79)))
    assert (result.accepted, dict(result.refused)) == (1, {Refusal.REPLAYED.value: 1})


@pytest.mark.parametrize("offset", [-2 * 86_400, 120])
def test_a_reading_outside_the_time_window_is_refused(ward: Ward, offset: float) -> None:
    _refused(
        ward, ward.frame(ward.readings(70, at=time.time() + offset)), Refusal.OUTSIDE_WINDOW, patient=ward.alice.address
    )


def test_a_reading_from_an_unregistered_device_is_refused(ward: Ward) -> None:
    stranger = Account.create()
    _refused(ward, ward.frame(ward.readings(70), key=stranger), Refusal.UNREGISTERED)


def test_a_reading_for_another_patient_is_refused(ward: Ward) -> None:
    _refused(
        ward, ward.frame(ward.readings(70), patient=ward.bob.address), Refusal.WRONG_PATIENT, patient=ward.alice.address
    )


def test_a_frame_for_another_node_is_refused(ward: Ward) -> None:
    other = Account.create().address
    _refused(ward, ward.frame(ward.readings(70), node=other), Refusal.WRONG_NODE, patient=ward.alice.address)


@pytest.mark.parametrize(
    ("code", "unit", "reason"),
    [("1234-5", "/min", Refusal.UNKNOWN_CODE), ("8867-4", "bpm", Refusal.WRONG_UNITS)],
)
def test_a_reading_of_an_unknown_code_or_unit_is_refused(ward: Ward, code: str, unit: str, reason: Refusal) -> None:
    _refused(ward, ward.frame(ward.readings(70, code=code, unit=unit)), reason, patient=ward.alice.address)


def test_an_unbound_device_and_an_unbinding_are_refused_at_once(ward: Ward) -> None:
    band = ward.node.devices.register("band", "pw")
    key = device_key(ward.node, band)
    _refused(ward, ward.frame(ward.readings(70), key=key), Refusal.UNBOUND)
    terms = ward.node.consent.terms(ward.alice.address, band.address, VITALS, TREAT, days=1)
    ward.node.devices.bind("band", ward.node.consent.grant("alice", terms))
    assert ward.node.intake.accept(ward.frame(ward.readings(70), key=key)).accepted == 1
    _, grant_id = ward.node.devices.unbind("band")
    assert grant_id is not None
    _refused(ward, ward.frame(ward.readings(70), key=key), Refusal.UNBOUND)  # before any revocation is mined


def test_a_revoked_binding_consent_is_honoured(ward: Ward) -> None:
    ring = ward.node.devices.register("ring", "pw")
    key = device_key(ward.node, ring)
    terms = ward.node.consent.terms(ward.alice.address, ring.address, VITALS, TREAT, days=1)
    grant = ward.node.consent.grant("alice", terms)
    ward.node.devices.bind("ring", grant)
    assert ward.node.intake.accept(ward.frame(ward.readings(70), key=key)).accepted == 1
    ward.node.consent.revoke("alice", grant.grant_id)  # from her wallet, not through `device unbind`
    ward.node.consent.sync()
    _refused(ward, ward.frame(ward.readings(70), key=key), Refusal.NO_CONSENT, patient=ward.alice.address)


def test_a_malformed_payload_is_refused_and_audited(ward: Ward) -> None:
    _refused(ward, b"\x01not a frame", Refusal.MALFORMED)


def test_one_batch_of_many_payloads_is_checked_payload_by_payload(ward: Ward) -> None:
    good = ward.frame(ward.readings(70, 71))
    results = ward.node.intake.accept_many([(good, None), (b"junk", None), (good, None)])
    assert [(r.accepted, dict(r.refused)) for r in results] == [
        (2, {}),
        (0, {Refusal.MALFORMED.value: 1}),
        (0, {Refusal.REPLAYED.value: 2}),
    ]


def test_a_topic_naming_another_device_is_refused(ward: Ward) -> None:
    result = ward.node.intake.accept(ward.frame(ward.readings(70)), topic_device=Account.create().address)
    assert dict(result.refused) == {Refusal.WRONG_TOPIC.value: 1}


def test_a_device_that_keeps_its_own_key_is_registered_by_address_and_its_frames_taken(ward: Ward) -> None:
    chip = Account.create()  # made in the device's secure element: this node never sees the key
    info = ward.node.devices.register("chip", address=chip.address, kind="glucose meter")
    assert ward.node.wallets.find("chip") is None
    profile = ward.node.identity.profile(chip.address)
    assert profile is not None
    assert profile.actor.role.label == "device"
    terms = ward.node.consent.terms(ward.alice.address, info.address, VITALS, TREAT, days=1)
    ward.node.devices.bind("chip", ward.node.consent.grant("alice", terms))
    readings = [Reading(1, int(time.time() * 1000), "2339-0", ((104.0, "mg/dL"),))]
    assert ward.node.intake.accept(ward.frame(readings, key=chip)).accepted == 1


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "wallet here"),
        ({"passphrase": "pw", "address": "0x" + "ab" * 20}, "wallet here"),
        ({"address": "0x1234"}, "not an Ethereum address"),
    ],
)
def test_a_device_registration_names_one_key(ward: Ward, options: dict[str, str], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ward.node.devices.register("odd", **options)  # type: ignore[arg-type]


def test_a_device_named_like_a_wallet_of_the_node_is_refused(ward: Ward) -> None:
    with pytest.raises(Conflict, match="names a wallet"):
        ward.node.devices.register("alice", address=Account.create().address)


def test_a_device_name_is_taken_once(ward: Ward) -> None:
    ward.node.devices.register("once", address=Account.create().address)
    with pytest.raises(Conflict, match="registered already"):
        ward.node.devices.register("once", address=Account.create().address)


def _reading(ward: Ward, code: str, *values: tuple[float, str]) -> Reading:
    ward.sequence += 1
    return Reading(ward.sequence, int(time.time() * 1000), code, values)


@pytest.mark.parametrize(
    ("code", "values"),
    [
        ("8867-4", ((1e308, "/min"),)),
        ("8867-4", ((-1e308, "/min"),)),
        ("8867-4", ((351.0, "/min"),)),
        ("59408-5", ((100.5, "%"),)),
        ("85354-9", ((120.0, "mm[Hg]"), (1e308, "mm[Hg]"))),
        ("8310-5", ((-40.0, "Cel"),)),
        ("2339-0", ((5000.0, "mg/dL"),)),
        ("55423-8", ((-1.0, "{steps}"),)),
    ],
)
def test_a_value_no_body_could_show_is_refused(ward: Ward, code: str, values: tuple[tuple[float, str], ...]) -> None:
    reading = _reading(ward, code, *values)
    _refused(ward, ward.frame([reading]), Refusal.IMPLAUSIBLE, patient=ward.alice.address)


def test_an_implausible_reading_pages_nobody_and_the_rest_of_its_frame_is_taken(ward: Ward) -> None:
    raised = ward.node.monitor.raised
    readings = [_reading(ward, "2339-0", (104.0, "mg/dL")), _reading(ward, "2339-0", (1e308, "mg/dL"))]
    result = ward.node.intake.accept(ward.frame(readings))
    assert (result.accepted, dict(result.refused)) == (1, {Refusal.IMPLAUSIBLE.value: 1})
    assert ward.node.monitor.raised == raised  # 1e308 mg/dL is above 300: it paged the care team


def test_a_node_sets_its_own_ranges_and_a_range_it_cannot_use_is_refused(ward: Ward) -> None:
    node = ward.node
    parts = (node.db, node.devices, node.audit, node._readings_key)
    narrow = ReadingIntake(*parts, custodian=node.address, ranges={"8867-4": (20, 250)})
    result = narrow.accept(ward.frame([_reading(ward, "8867-4", (260.0, "/min"))]))
    assert dict(result.refused) == {Refusal.IMPLAUSIBLE.value: 1}
    assert narrow.accept(ward.frame([_reading(ward, "8867-4", (240.0, "/min"))])).accepted == 1
    for ranges, match in (
        ({"1234-5": (0.0, 1.0)}, "code of a value"),
        ({"85354-9": (0.0, 300.0)}, "code of a value"),  # a panel's values are ranged by its components
        ({"8867-4": (250.0, 20.0)}, "low first"),
        ({"8867-4": (0.0, float("inf"))}, "finite"),
    ):
        with pytest.raises(ConfigError, match=match):
            ReadingIntake(*parts, custodian=node.address, ranges=ranges)
