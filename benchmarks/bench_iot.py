"""Devices: signed readings checked and journalled per second with the broker in the loop, and reading-to-alert
latency.

A node in a temporary home (SQLite; the memory chain, for registering the devices: the
intake asks nothing of the chain) and the machine's Mosquitto on 1883. Frames are signed
before the clock starts and published from another process (paho, QoS 1), as devices
elsewhere would; the node's subscriber checks every frame (signature, binding, sequence,
time window, codes) and journals the readings, sealed, before it acknowledges them. The
baseline, in the same run: the same messages to a subscriber that only counts them, which
is what the broker and paho allow on this machine.
"""

from __future__ import annotations

import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks import Result
from careledger.chain import Role
from careledger.config import Settings
from careledger.consent import Purpose
from careledger.iot import (
    Alert,
    MqttListener,
    Reading,
    ReadingRecorder,
    Wearable,
    frames,
    mqtt_client,
    parse_broker,
    readings_topic,
    sign_frame,
)
from careledger.node import Node
from careledger.records import Category
from careledger.testdata import PASSPHRASE, scratch_node, synthetic_patients

BROKER = "127.0.0.1:1883"
DEVICES = 20
SECONDS = 30
RATE = 50  # heart-rate readings a second per device, and one saturation
SINGLES = 10_000  # readings signed one by one, fifty frames to a message
ALERT_TRIALS = 30
_ROOT = Path(__file__).resolve().parents[1]


def bench_iot() -> list[Result]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_node(Path(tmp) / "home", Settings(chain="memory", light_kdf=True)) as node,
    ):
        wearables = _wearables(node, DEVICES)
        start = time.time() - 3600 - SECONDS  # whole minutes in the past: the summaries are due at once
        per_second = list(frames(wearables, node.address, rate=RATE, duration=SECONDS, start=start))
        readings = sum(count for *_, count in per_second)
        singles = _single_frames(node, wearables[0], time.time() - 1800)
        baseline = _counted(per_second, Path(tmp))
        listener = MqttListener(node.intake, node=node.address, broker=BROKER)
        listener.start()
        if not listener.connected.wait(10):
            raise RuntimeError(f"no MQTT broker answers on {BROKER}")
        try:
            batched = _taken(node, per_second, readings, Path(tmp))
            one_by_one = _taken(node, singles, SINGLES, Path(tmp))
            recorder = ReadingRecorder(node.db, node.access, node._readings_key, summary_seconds=60)
            began = time.perf_counter()
            summaries = recorder.record_ready()
            summarised = (readings + SINGLES) / (time.perf_counter() - began)
            latencies = _alert_latencies(node, wearables[1])
        finally:
            listener.stop()
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    where = f"{DEVICES} devices, Mosquitto on this machine, QoS 1, publisher in another process"
    return [
        Result("MQTT baseline: messages to a counting subscriber", "messages/s", baseline, where),
        Result(
            "device readings checked + journalled (a frame a second)",
            "readings/s",
            batched,
            f"{readings:,} readings in {len(per_second)} frames of {RATE + 1}; {where}",
        ),
        Result(
            "device readings checked + journalled (each signed)",
            "readings/s",
            one_by_one,
            f"{SINGLES:,} frames of one reading, 50 to a message; {where}",
        ),
        Result(
            "journal to Observations (summary mode)",
            "readings/s",
            summarised,
            f"{summaries} one-minute SampledData Observations written through the guarded repository",
        ),
        Result(
            "reading-to-alert latency p95",
            "ms",
            p95 * 1000,
            f"{ALERT_TRIALS} alerts, publish to the listener's callback (Flag and Communication written); median "
            f"{statistics.median(latencies) * 1000:.0f} ms",
        ),
    ]


def _wearables(node: Node, count: int) -> list[Wearable]:
    """Devices, each bound to a patient of its own (with her Patient record here)."""
    wearables = []
    for index, patient in enumerate(synthetic_patients(count, seed=11)):
        name = f"patient-{index}"
        wallet = node.wallets.create(name, Role.PATIENT, PASSPHRASE)
        node.identity.register(name)
        node._records.write(patient.patient, patient_address=wallet.address)
        device = node.devices.register(f"device-{index}", PASSPHRASE)
        terms = node.consent.terms(wallet.address, device.address, [Category.VITALS], [Purpose.TREAT], days=1)
        node.devices.bind(device.name, node.consent.grant(name, terms))
        wearables.append(Wearable(node.unlock(device.name).account, wallet.address))
    return wearables


def _single_frames(node: Node, wearable: Wearable, start: float) -> list[tuple[str, bytes, int]]:
    """`SINGLES` heart rates, each in a frame of its own (its own signature), fifty frames to a message."""
    topic = readings_topic(node.address, wearable.account.address)
    messages = []
    for first in range(0, SINGLES, 50):
        payload = b"".join(
            sign_frame(
                wearable.account,
                node.address,
                wearable.patient,
                [_beat(start + i / 100, 70.0)],
            )
            for i in range(first, first + 50)
        )
        messages.append((topic, payload, 50))
    return messages


def _publisher(messages: list[tuple[str, bytes, int]], directory: Path) -> subprocess.Popen[str]:
    """Another process publishing `messages`; it prints the time it starts publishing."""
    batch = directory / f"{uuid.uuid4().hex}.pickle"
    batch.write_bytes(pickle.dumps(messages))
    code = (
        "import pickle,sys,time; from careledger.iot import publish; m=pickle.load(open(sys.argv[1],'rb')); "
        "print(time.time(), flush=True); publish(m, sys.argv[2])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(batch), BROKER], cwd=_ROOT, stdout=subprocess.PIPE, text=True
    )


def _taken(node: Node, messages: list[tuple[str, bytes, int]], readings: int, directory: Path) -> float:
    """Readings a second from the first publish to the last reading journalled."""
    goal = node.intake.totals.accepted + readings
    sender = _publisher(messages, directory)
    assert sender.stdout is not None
    began = float(sender.stdout.readline())
    while node.intake.totals.accepted < goal:
        if node.intake.totals.refused:
            raise RuntimeError(f"readings refused: {dict(node.intake.totals.refused)}")
        time.sleep(0.005)
    elapsed = time.time() - began
    sender.wait()
    return readings / elapsed


def _counted(messages: list[tuple[str, bytes, int]], directory: Path) -> float:
    """Messages a second to a subscriber that only counts them (QoS 1, acknowledged as they come)."""
    prefix = f"bench-baseline/{uuid.uuid4().hex}"
    moved = [(f"{prefix}/{index}", payload, count) for index, (_, payload, count) in enumerate(messages)]
    arrived = threading.Semaphore(0)
    counter = mqtt_client("", persistent=False)
    counter.on_message = lambda *_args: arrived.release()
    subscribed = threading.Event()
    counter.on_subscribe = lambda *_args: subscribed.set()
    counter.connect(*parse_broker(BROKER))
    counter.loop_start()
    counter.subscribe(f"{prefix}/#", qos=1)
    subscribed.wait(10)
    try:
        sender = _publisher(moved, directory)
        assert sender.stdout is not None
        began = float(sender.stdout.readline())
        for _ in moved:
            arrived.acquire()
        elapsed = time.time() - began
        sender.wait()
    finally:
        counter.disconnect()
        counter.loop_stop()
    return len(moved) / elapsed


def _alert_latencies(node: Node, wearable: Wearable) -> list[float]:
    """Seconds from publishing a reading out of range to the alert reaching a listener, per trial."""
    raised = threading.Event()

    def heard(_alert: Alert) -> None:
        raised.set()

    stop = node.monitor.listen(heard)
    topic = readings_topic(node.address, wearable.account.address)
    latencies = []
    device = mqtt_client("", persistent=False)
    device.connect(*parse_broker(BROKER))
    device.loop_start()
    try:
        base = time.time() - 40 * ALERT_TRIALS
        for trial in range(ALERT_TRIALS):
            moment = base + 40 * trial
            calm = [_beat(moment - 35, 72), _beat(moment - 1, 72)]  # the last episode ends
            device.publish(topic, sign_frame(wearable.account, node.address, wearable.patient, calm), qos=1)
            frame = sign_frame(wearable.account, node.address, wearable.patient, [_beat(moment, 175)])
            time.sleep(0.2)  # the calm readings are in
            raised.clear()
            began = time.perf_counter()
            device.publish(topic, frame, qos=1)
            if not raised.wait(10):
                raise RuntimeError(f"no alert within 10 s in trial {trial}")
            latencies.append(time.perf_counter() - began)
    finally:
        stop()
        device.disconnect()
        device.loop_stop()
    return latencies


def _beat(moment: float, value: float) -> Reading:
    """A heart rate at `moment` (seconds), its sequence taken from its time as the simulator's are."""
    return Reading(int(moment * 16_000), int(moment * 1000), "8867-4", ((value, "/min"),))


BENCHMARKS = [bench_iot]
