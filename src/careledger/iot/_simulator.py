"""Simulated wearables: realistic signed readings, with an arrhythmia episode that should alert.

Each device measures heart rate `rate` times a second and oxygen saturation once a second,
and signs a frame per second. One device (the first) has an episode of tachycardia (about
130/min: above the sustained-tachycardia rule, under the out-of-range one, so an episode
is one alert) for `episode_length` seconds from `episode_at`. Sequences are taken from the
reading's time (sixteen a millisecond), so runs one after another need no shared counter.
The frames are made first, then published, so signing does not slow the publishing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from careledger.errors import NodeUnreachable
from careledger.iot._frames import Reading, sign_frame
from careledger.iot._mqtt import mqtt_client, parse_broker, readings_topic

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

HEART_RATE = "8867-4"
OXYGEN = "59408-5"

# How long a device waits for a broker that is down (restarting, say) before it gives up.
BROKER_WAIT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Wearable:
    """A simulated device: its key, and the patient it is bound to."""

    account: LocalAccount
    patient: str


@dataclass(frozen=True, slots=True)
class Episode:
    """Tachycardia on the first device from `at` for `length` seconds (both from the run's start)."""

    at: float
    length: float


def frames(
    wearables: Sequence[Wearable],
    node: str,
    *,
    rate: float,
    duration: float,
    start: float,
    episode: Episode | None = None,
    seed: int = 7,
) -> Iterator[tuple[str, bytes, int]]:
    """(topic, signed frame, readings in it): a frame per device per second of the run, in time order."""
    randomness = random.Random(seed)  # noqa: S311 - simulated heart beats, not secrets
    interval_ms = 1000 / rate
    for second in range(int(duration)):
        for index, wearable in enumerate(wearables):
            base_ms = int((start + second) * 1000)
            readings = []
            for k in range(int(rate)):
                time_ms = base_ms + int(k * interval_ms)
                in_episode = index == 0 and episode is not None and episode.at <= second < episode.at + episode.length
                beat = randomness.gauss(130, 3) if in_episode else randomness.gauss(72, 4)
                readings.append(Reading(time_ms * 16, time_ms, HEART_RATE, ((round(beat, 1), "/min"),)))
            saturation = float(randomness.choice((96, 97, 98)))
            readings.append(Reading((base_ms + 999) * 16 + 1, base_ms + 999, OXYGEN, ((saturation, "%"),)))
            readings.sort(key=lambda reading: reading.sequence)
            payload = sign_frame(wearable.account, node, wearable.patient, readings)
            yield readings_topic(node, wearable.account.address), payload, len(readings)


def publish(
    messages: Sequence[tuple[str, bytes, int]], broker: str, *, per_second: float | None = None, client_id: str = ""
) -> float:
    """Publish at QoS 1 (paced to `per_second` messages if given) and wait until the broker has every one;
    the seconds it took. A broker that is down (at the start too) is waited for, as a device waits: the
    messages queue until it answers."""
    host, port = parse_broker(broker)
    client = mqtt_client(client_id, persistent=bool(client_id))
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect_async(host, port, keepalive=30)
    client.loop_start()
    if not connected.wait(BROKER_WAIT_SECONDS):
        client.loop_stop()
        raise NodeUnreachable(f"no MQTT broker answered at {broker} within {BROKER_WAIT_SECONDS:.0f} s")
    started = time.perf_counter()
    try:
        infos = []
        for index, (topic, payload, _count) in enumerate(messages):
            if per_second is not None:
                delay = started + index / per_second - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            infos.append(client.publish(topic, payload, qos=1))
        for info in infos:
            info.wait_for_publish(timeout=120)
        return time.perf_counter() - started
    finally:
        client.disconnect()
        client.loop_stop()
