"""Alerts to the operator's webhooks: delivered as JSON, retried when the receiver fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from careledger.iot import Alert, Webhooks

ALERT = Alert(
    "Fever",
    "Fever: Body temperature above 39.5 Cel",
    "0x" + "11" * 20,
    "p-1",
    "0x" + "22" * 20,
    "2026-11-28T10:00:00.000Z",
    "Flag/alert-1",
    "Communication/alert-1-message",
)


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []
    failures = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Receiver.failures > 0:
            _Receiver.failures -= 1
            self.send_response(503)
        else:
            _Receiver.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received, _Receiver.failures = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_an_alert_is_posted_as_json(receiver: str) -> None:
    hooks = Webhooks([receiver])
    hooks.deliver(ALERT)
    hooks.close()
    assert _Receiver.received == [ALERT.as_json()]


def test_a_failing_receiver_is_retried(receiver: str) -> None:
    _Receiver.failures = 2
    hooks = Webhooks([receiver], attempts=3)
    hooks.deliver(ALERT)
    hooks.close()
    assert _Receiver.received == [ALERT.as_json()]


def test_a_receiver_that_keeps_failing_costs_the_alert_only(receiver: str) -> None:
    _Receiver.failures = 10
    hooks = Webhooks([receiver, receiver], attempts=2)
    hooks.deliver(ALERT)
    hooks.close()
    assert _Receiver.received == []
    assert _Receiver.failures == 6  # two attempts for each of the two URLs
