"""Readings over a real Mosquitto broker: taken once each, through a broker restart and a node kill."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from careledger.consent import Purpose
from careledger.crypto import sign_message
from careledger.iot import (
    Alert,
    Episode,
    MqttListener,
    Reading,
    ReadingRecorder,
    Refusal,
    Wearable,
    decode_payload,
    encode_frame,
    frames,
    publish,
    readings_topic,
    sign_frame,
)
from careledger.records import Category
from careledger.testdata import PASSPHRASE
from tests.crash import ROOT
from tests.iot.broker import SHARED, Broker
from tests.iot.conftest import Ward, device_key


def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _wearable(ward: Ward, name: str) -> Wearable:
    """A new device of alice's, for one test: its sequences are its own."""
    info = ward.node.devices.register(name, PASSPHRASE)
    terms = ward.node.consent.terms(ward.alice.address, info.address, [Category.VITALS], [Purpose.TREAT], days=1)
    ward.node.devices.bind(name, ward.node.consent.grant("alice", terms))
    return Wearable(device_key(ward.node, info), ward.alice.address)


def _messages(ward: Ward, wearable: Wearable, seconds: int, **options: Any) -> list[tuple[str, bytes, int]]:
    """A frame a second for the last `seconds` seconds."""
    start = time.time() - seconds
    return list(frames([wearable], ward.node.address, rate=5, duration=seconds, start=start, **options))


def _sequence(ward: Ward, wearable: Wearable) -> int:
    return ward.node.device_directory.get(wearable.account.address).last_sequence


def _last(messages: list[tuple[str, bytes, int]]) -> int:
    return max(
        reading.sequence
        for _, payload, _ in messages
        for frame in decode_payload(payload)
        for reading in frame.readings
    )


def _stored_once(ward: Ward, readings: int) -> None:
    """Every reading of the run is stored, each as its own Observation (per-reading mode), none twice."""
    before = len(ward.node._records.list(resource_type="Observation"))
    recorder = ReadingRecorder(ward.node.db, ward.node.access, ward.node._readings_key, summary_seconds=None)
    assert recorder.record_ready() == readings
    assert len(ward.node._records.list(resource_type="Observation")) == before + readings


@pytest.fixture
def listening(ward: Ward) -> Iterator[MqttListener]:
    listener = MqttListener(ward.node.intake, node=ward.node.address, broker=SHARED)
    listener.start()
    assert listener.connected.wait(10), f"no MQTT broker answers on {SHARED}: start mosquitto (see .ci/run)"
    yield listener
    listener.stop()


def test_published_readings_are_taken_and_stored(ward: Ward, listening: MqttListener) -> None:
    messages = _messages(ward, _wearable(ward, "plain"), 20)
    accepted = ward.node.intake.totals.accepted
    publish(messages, SHARED)
    total = sum(count for *_, count in messages)
    _until(lambda: ward.node.intake.totals.accepted == accepted + total)
    _stored_once(ward, total)


def test_a_broker_restart_mid_stream_loses_nothing_and_stores_nothing_twice(ward: Ward, tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker")
    broker.start()
    listener = MqttListener(ward.node.intake, node=ward.node.address, broker=broker.url)
    listener.start()
    try:
        assert listener.connected.wait(10)
        wearable = _wearable(ward, "restart")
        messages = _messages(ward, wearable, 40)
        total = sum(count for *_, count in messages)
        accepted = ward.node.intake.totals.accepted
        publish(messages[:20], broker.url, client_id="simulator-restart")
        broker.stop()  # the node and the publisher both lose it
        sender = _background_publish(messages[20:], broker.url)
        time.sleep(1.0)
        broker.start()
        sender.wait(timeout=120)
        _until(lambda: _sequence(ward, wearable) == _last(messages))
        assert ward.node.intake.totals.accepted - accepted == total
    finally:
        listener.stop()
        broker.stop()
    _stored_once(ward, total)


def test_a_node_killed_mid_stream_loses_nothing_and_stores_nothing_twice(ward: Ward, tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker")
    broker.start()
    try:
        wearable = _wearable(ward, "killed")
        first = _worker(ward, broker.url)  # subscribes, so the broker keeps its session from now on
        messages = _messages(ward, wearable, 60)
        total = sum(count for *_, count in messages)
        sender = _background_publish(messages, broker.url, per_second=30)
        _until(lambda: _sequence(ward, wearable) > 0)  # it is taking them: kill it now
        first.send_signal(signal.SIGKILL)
        first.wait()
        sender.wait(timeout=120)
        second = _worker(ward, broker.url)
        try:
            _until(lambda: _sequence(ward, wearable) == _last(messages))
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait()
    finally:
        broker.stop()
    _stored_once(ward, total)


def _worker(ward: Ward, broker: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.iot.mqtt_worker", str(ward.node.home.path), broker],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    time.sleep(0.5)  # connected and subscribed
    return process


def _background_publish(
    messages: list[tuple[str, bytes, int]], broker: str, per_second: float | None = None
) -> subprocess.Popen[str]:
    """Publish from another process (as a device would), which keeps trying while the broker is away."""
    import pickle
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".pickle", delete=False) as out:
        pickle.dump((messages, broker, per_second), out)
    code = (
        "import pickle,sys; from careledger.iot import publish; "
        "m,b,p=pickle.load(open(sys.argv[1],'rb')); publish(m,b,per_second=p,client_id='simulator-test')"
    )
    return subprocess.Popen([sys.executable, "-c", code, out.name], cwd=ROOT, text=True)


def test_the_simulator_arrhythmia_raises_one_alert_at_the_right_patient(ward: Ward, listening: MqttListener) -> None:
    raised_before = ward.node.monitor.raised
    wearable = _wearable(ward, "arrhythmia")
    messages = _messages(ward, wearable, 400, episode=Episode(100, 180))
    heard: list[Alert] = []
    stop = ward.node.monitor.listen(heard.append)
    try:
        publish(messages, SHARED)
        _until(lambda: _sequence(ward, wearable) == _last(messages))
    finally:
        stop()
    assert ward.node.monitor.raised == raised_before + 1
    assert [(alert.rule, alert.patient) for alert in heard] == [("Sustained tachycardia", ward.alice.address)]


def test_refusals_through_the_broker_are_counted_audited_and_store_nothing(ward: Ward, listening: MqttListener) -> None:
    wearable = _wearable(ward, "refusals")
    stale = [Reading(30, int((time.time() - 3 * 86_400) * 1000), "8867-4", ((70.0, "/min"),))]
    good = [Reading(20, int(time.time() * 1000), "8867-4", ((70.0, "/min"),))]
    body = encode_frame(ward.node.address, wearable.account.address, ward.alice.address, good)
    stranger = Account.create()
    loose = _wearable(ward, "loose")
    ward.node.devices.unbind("loose")
    payloads = {
        Refusal.UNBOUND: sign_frame(loose.account, ward.node.address, ward.alice.address, good),
        Refusal.FORGED: body + sign_message(Account.create(), body),
        Refusal.OUTSIDE_WINDOW: sign_frame(wearable.account, ward.node.address, ward.alice.address, stale),
        Refusal.WRONG_PATIENT: sign_frame(wearable.account, ward.node.address, ward.bob.address, good),
        Refusal.UNREGISTERED: sign_frame(stranger, ward.node.address, ward.alice.address, good),
    }
    topic = readings_topic(ward.node.address, wearable.account.address)
    first = sign_frame(wearable.account, ward.node.address, ward.alice.address, good)
    refused_before = Counter(ward.node.intake.totals.refused)
    audited = len(ward.node.audit.entries())
    publish([(topic, first, 1)], SHARED)  # taken; then the same again is a replay
    _until(lambda: _sequence(ward, wearable) == 20)
    journal = ReadingRecorder(ward.node.db, ward.node.access, ward.node._readings_key).pending()
    own_topics = {Refusal.UNREGISTERED: stranger.address, Refusal.UNBOUND: loose.account.address}
    messages = [
        (readings_topic(ward.node.address, own_topics.get(reason, wearable.account.address)), payload, 1)
        for reason, payload in payloads.items()
    ]
    messages += [(topic, first, 1)]
    publish(messages, SHARED)
    expected = Counter({reason.value: 1 for reason in payloads} | {Refusal.REPLAYED.value: 1})
    _until(lambda: Counter(ward.node.intake.totals.refused) - refused_before == expected)
    assert ReadingRecorder(ward.node.db, ward.node.access, ward.node._readings_key).pending() == journal
    denials = [e.access for e in ward.node.audit.entries()[audited:] if not e.access.allowed]
    assert sorted(d.detail.rsplit(": ", 1)[1] for d in denials if d.detail) == sorted(expected)


def test_a_value_no_body_could_show_is_refused_logged_and_pages_nobody(
    ward: Ward, listening: MqttListener, caplog: pytest.LogCaptureFixture
) -> None:
    wearable = _wearable(ward, "broken")
    now = int(time.time() * 1000)
    broken = [Reading(1, now, "8867-4", ((1e308, "/min"),)), Reading(2, now, "8867-4", ((-1e308, "/min"),))]
    refused = ward.node.intake.totals.refused[Refusal.IMPLAUSIBLE.value]
    raised = ward.node.monitor.raised
    pending = ReadingRecorder(ward.node.db, ward.node.access, ward.node._readings_key).pending()
    topic = readings_topic(ward.node.address, wearable.account.address)
    with caplog.at_level(logging.WARNING, logger="careledger.iot.mqtt"):
        publish([(topic, sign_frame(wearable.account, ward.node.address, ward.alice.address, broken), 2)], SHARED)
        _until(lambda: ward.node.intake.totals.refused[Refusal.IMPLAUSIBLE.value] == refused + 2)
        _until(lambda: any("2 implausible-value" in record.getMessage() for record in caplog.records))
    assert ReadingRecorder(ward.node.db, ward.node.access, ward.node._readings_key).pending() == pending
    assert _sequence(ward, wearable) == 0
    assert ward.node.monitor.raised == raised
