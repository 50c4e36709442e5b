"""Wearables and remote monitoring: device identities, signed readings over MQTT and HTTP, the
readings stored as vital-signs Observations, and alerts to the care team."""

from careledger.iot._alerts import DEFAULT_RULES, Alert, Monitor, Rule
from careledger.iot._devices import DeviceDirectory, DeviceInfo, DeviceService
from careledger.iot._frames import MAX_READINGS, Frame, Reading, decode_payload, encode_frame, sign_frame
from careledger.iot._intake import Accepted, IntakeResult, ReadingIntake, Refusal, forget_journal
from careledger.iot._mqtt import MqttListener, mqtt_client, parse_broker, readings_topic
from careledger.iot._recorder import ReadingRecorder
from careledger.iot._simulator import Episode, Wearable, frames, publish
from careledger.iot._vitals import MEASURES, Measure
from careledger.iot._webhooks import Webhooks

__all__ = [
    "DEFAULT_RULES",
    "MAX_READINGS",
    "MEASURES",
    "Accepted",
    "Alert",
    "DeviceDirectory",
    "DeviceInfo",
    "DeviceService",
    "Episode",
    "Frame",
    "IntakeResult",
    "Measure",
    "Monitor",
    "MqttListener",
    "Reading",
    "ReadingIntake",
    "ReadingRecorder",
    "Refusal",
    "Rule",
    "Wearable",
    "Webhooks",
    "decode_payload",
    "encode_frame",
    "forget_journal",
    "frames",
    "mqtt_client",
    "parse_broker",
    "publish",
    "readings_topic",
    "sign_frame",
]
