"""Alerts delivered to the operator's webhooks: a JSON POST per alert, retried, never blocking intake.

Alerts carry health data, so webhooks are URLs the node's operator configures
(`alert_webhooks`), not ones a caller can add; use https. A delivery is tried up to
`attempts` times with growing waits; one that still fails is logged and dropped, since
the Flag and Communication records stay in the chart either way.
"""

from __future__ import annotations

import logging
import queue
import threading

import httpx

from careledger.iot._alerts import Alert

_log = logging.getLogger("careledger.iot.webhooks")


class Webhooks:
    """Posts alerts to URLs from a thread of its own; `deliver` is the monitor's listener."""

    def __init__(self, urls: list[str], *, attempts: int = 3, timeout: float = 5.0) -> None:
        self._urls = list(urls)
        self._attempts = attempts
        self._timeout = timeout
        self._outbox: queue.Queue[Alert | None] = queue.Queue()
        self._thread = threading.Thread(target=self._send, name="careledger-webhooks", daemon=True)
        self._thread.start()

    def deliver(self, alert: Alert) -> None:
        """Queue an alert for every webhook (returns at once)."""
        self._outbox.put(alert)

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._outbox.put(None)
        self._thread.join()

    def _send(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while (alert := self._outbox.get()) is not None:
                for url in self._urls:
                    self._post(client, url, alert)

    def _post(self, client: httpx.Client, url: str, alert: Alert) -> None:
        for attempt in range(self._attempts):
            try:
                client.post(url, json=alert.as_json()).raise_for_status()
                return
            except httpx.HTTPError as exc:
                if attempt + 1 == self._attempts:
                    _log.warning("alert webhook %s failed %d times (%s); dropped", url, self._attempts, exc)
                    return
                threading.Event().wait(0.5 * 2**attempt)
