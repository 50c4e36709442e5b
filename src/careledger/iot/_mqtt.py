"""Readings over MQTT: the node's subscriber on the broker, and the topic devices publish to.

Devices publish signed payloads to `careledger/<node>/devices/<device>/readings` at QoS 1.
The node subscribes with a persistent session (a fixed client id, clean session off), so
the broker keeps what arrives while the node is down, and acknowledges each message only
once its readings are in the journal (manual acks): a node killed mid-batch gets the
unacknowledged messages again, and the sequence check drops what it had already taken.
Messages are handed to the intake in batches (one transaction for up to `batch` messages).
A device hears nothing back over MQTT, so what its readings were refused for (a forged
frame, a value no body could show) is logged, as well as audited by the intake; replays,
which a broker's redelivery makes routine, are only counted.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from careledger.errors import ConfigError
from careledger.iot._intake import IntakeResult, ReadingIntake, Refusal

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

_log = logging.getLogger("careledger.iot.mqtt")
_RETRY_SECONDS = 1.0


def readings_topic(node: str, device: str) -> str:
    """Where a device publishes its readings for a node."""
    return f"careledger/{node.lower()}/devices/{device.lower()}/readings"


def parse_broker(url: str) -> tuple[str, int]:
    """`host:port` or `mqtt://host:port` (port 1883 if left out); `ConfigError` for anything else."""
    rest = url.removeprefix("mqtt://")
    host, _, port = rest.partition(":")
    if not host or (port and not port.isdigit()) or "/" in rest:
        raise ConfigError(f"MQTT broker {url!r} is not host[:port] or mqtt://host[:port]")
    return host, int(port or 1883)


def mqtt_client(client_id: str, *, persistent: bool) -> mqtt.Client:
    """A paho client (MQTT 3.1.1) that reconnects by itself, quickly, when the broker comes back."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent, manual_ack=persistent
    )
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)  # unlimited: a publisher cut off from the broker keeps everything
    return client


@dataclass(frozen=True, slots=True)
class _Message:
    mid: int
    qos: int
    topic: str
    payload: bytes


class MqttListener:
    """The node's subscription to its devices' topics, feeding the intake; `start()`, then `stop()`."""

    def __init__(self, intake: ReadingIntake, *, node: str, broker: str, batch: int = 500) -> None:
        self._intake = intake
        self._node = node
        self._host, self._port = parse_broker(broker)
        self._batch = batch
        self._filter = readings_topic(node, "+")
        self._client = mqtt_client(f"careledger-node-{node.lower()}", persistent=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._inbox: queue.Queue[_Message] = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="careledger-mqtt", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        """Connect (in the background: a broker that is down now is retried) and start taking readings."""
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()
        self._worker.start()

    def stop(self) -> None:
        """Take what has arrived, then disconnect (what is not yet acknowledged stays with the broker)."""
        self._stop.set()
        self._worker.join()
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            _log.warning("MQTT broker %s:%d refused the node: %s", self._host, self._port, reason)
            return
        client.subscribe(self._filter, qos=1)
        self.connected.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(_Message(message.mid, message.qos, message.topic, bytes(message.payload)))

    def _work(self) -> None:
        while not (self._stop.is_set() and self._inbox.empty()):
            try:
                first = self._inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            messages = [first]
            while len(messages) < self._batch:
                try:
                    messages.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            self._take(messages)

    def _take(self, messages: list[_Message]) -> None:
        while True:
            try:
                results = self._intake.accept_many(
                    [(message.payload, _device_of(message.topic)) for message in messages]
                )
                break
            except Exception:  # the database is away: keep the batch, unacknowledged, and try again
                _log.exception("could not journal %d MQTT messages; retrying", len(messages))
                if self._stop.wait(_RETRY_SECONDS):
                    return
        for message in messages:
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)
        _log_refusals(results)


def _device_of(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[3] if len(parts) == 5 else None


def _log_refusals(results: list[IntakeResult]) -> None:
    """One line per batch for the readings refused in it, by reason, replays left out."""
    refused: Counter[str] = Counter()
    for result in results:
        refused.update(result.refused)
    del refused[Refusal.REPLAYED.value]
    if refused:
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(refused.items()))
        _log.warning("refused device readings from MQTT (audited): %s", reasons)
