"""`careledger serve`: the API under uvicorn, with the node's background work beside it.

Beside the server, one thread keeps the node current: it reads new consent events (so a
revoke is honoured within a second), and, in the one process that leads the node's
background work (`node.leadership`: every worker of `serve --workers N` serves, one leads),
stores journalled device readings as Observations, anchors record commitments and audit
heads when a batch is due, and reminds each visit's patient and practitioner of it as it
comes near (`telehealth.Reminders`). Every worker follows the claims and enrolments its own payer rule
is decided by (`claims.Payers.follow`, reads only). A worker that does not lead tries to
each round, so a leader that dies is replaced within seconds. With a broker configured
(`mqtt_broker`), the leader subscribes to device readings, and alerts go to the configured
webhooks. On shutdown (Ctrl-C, SIGTERM) the server stops taking requests and readings, then
the leader anchors everything pending before the process exits.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger.api._app import create_app
from careledger.api._auth import SiweAuth
from careledger.api._http_head import BoundedHead
from careledger.api._metrics import MetricsListener
from careledger.api._responses import adding_headers
from careledger.api._rounds import RoundLog
from careledger.errors import AddressInUse, ChainUnavailable, ConfigError
from careledger.iot import MqttListener, Webhooks
from careledger.services import Services
from careledger.telehealth import MAX_MESSAGE_BYTES

SYNC_SECONDS = 1.0
CLAIM_ROUNDS = 5  # pended claims are looked at every fifth round
REMINDER_ROUNDS = 10  # visits coming near are looked at every tenth round: a reminder is late by 10 s at most
GRACEFUL_SHUTDOWN_SECONDS = 5  # open requests (event streams, visit rooms) are cancelled this long after a stop
_log = logging.getLogger("careledger.serve")


class NodeServer:
    """One node's HTTP server and its background loop."""

    def __init__(
        self,
        node: Services,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        domain: str | None = None,
        sock: socket.socket | None = None,
        worker: int | None = None,
    ) -> None:
        """`sock`: a socket already listening (a worker of `serve --workers N` is handed its parent's), else one
        bound to `host:port`; `worker`: this worker's number, named in each response's `X-Worker` header."""
        self.node = node
        self.host = host
        # Bound here, before anything is announced: a port in use is an error the operator sees
        # as such (exit 12), and port 0 gets a free one with no race.
        self._socket = sock if sock is not None else listening_socket(host, port)
        self.port = int(self._socket.getsockname()[1])
        self.worker = worker
        self.leadership = node.leadership
        """Whether this process leads the node's background work (`leading`), and whether any does."""
        self.domain = domain or f"{host}:{self.port}"
        self.auth = SiweAuth(
            domain=self.domain,
            chain_id=node.chain_id,
            secret=node.vault.secret(node.home.api_key_file),
            issuer=f"careledger:{node.address}",
            identity=node.identity,
            shared=node.shared,
            revoked=node.clients.tokens.revoked,
        )
        self.app = create_app(node, self.auth)
        served = self.app if worker is None else _naming_worker(self.app, worker)
        settings = node.settings
        # `metrics_port`: the app there too (only /metrics and the probes), started and stopped with this server.
        self._metrics = (
            MetricsListener(self.app, settings.metrics_host, settings.metrics_port)
            if settings.metrics_port is not None
            else None
        )
        proxies = node.settings.forwarded_allow_ips
        self._server = uvicorn.Server(
            uvicorn.Config(
                served,
                host=host,
                port=self.port,
                log_level="warning",
                log_config=None,  # its loggers write through `serve`'s handler, in the node's format (`log_format`)
                lifespan="off",
                # A visit room's WebSocket frame is read whole before the room judges it: no bigger than it allows.
                ws_max_size=MAX_MESSAGE_BYTES,
                # uvicorn believes forwarded headers from loopback unless told otherwise: only configured proxies.
                proxy_headers=bool(proxies),
                forwarded_allow_ips=proxies or None,
                # Event streams and visit rooms stay open until their pages close: a stop waits for them no longer.
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                # What comes before a body is bounded here too, as nginx bounds it: its size and its time.
                http=BoundedHead,
            )
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mqtt: MqttListener | None = None  # the leader's subscription, while it leads
        self._webhooks = Webhooks(node.settings.alert_webhooks) if node.settings.alert_webhooks else None
        if self._webhooks is not None:
            node.monitor.listen(self._webhooks.deliver)
        self._background = threading.Thread(target=self._keep_current, name="careledger-sync", daemon=True)

    @property
    def url(self) -> str:
        """Where the server listens, `http://host:port`."""
        return f"http://{self.host}:{self.port}"

    @property
    def started(self) -> bool:
        """Whether the server accepts requests yet."""
        return bool(self._server.started)

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C, SIGTERM), then flush pending anchors (if this process leads)."""
        self._lead()  # before the first round: a lone server leads (and takes readings) from its start
        self._background.start()
        if self._metrics is not None:
            self._metrics.start()
        try:
            if threading.current_thread() is threading.main_thread():
                # uvicorn handles the first signal by stopping, then raises it again once
                # stopped; with the default handlers that would kill the process before the
                # pending anchors are flushed, so the repeat is received here and ignored.
                with _signals_ignored_after_stop():
                    self._server.run(sockets=[self._socket])
            else:
                self._server.run(sockets=[self._socket])
        finally:
            self._shutdown()
            self._socket.close()

    def start(self) -> None:
        """Serve from a thread (tests, embedding); `stop()` ends it."""
        self._thread = threading.Thread(target=self.run, name="careledger-api", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the API server did not start")
            self._stop.wait(0.02)

    def stop(self) -> None:
        """Stop serving, letting requests in flight finish, and anchor what is pending."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()

    def _keep_current(self) -> None:
        rounds = 0
        told = RoundLog(_log)
        while not self._stop.wait(SYNC_SECONDS):
            rounds += 1
            try:
                self.node.consent.sync()  # every worker: each one's consent cache honours a revoke within a round
                # Every worker too (it only reads): the payers and enrolments its own decisions are made from; a
                # worker that never followed them would show a member's old insurer her coverage for ever.
                self.node.claims.payers.follow()
                if self._lead():
                    self._lead_round(rounds)
            except ChainUnavailable:
                pass  # logged once by the chain when it goes and when it is back (chain/_outage.py)
            except Exception as exc:  # one failed round must not end the loop: told once (a database away too)
                told.failed(exc)
            else:
                told.succeeded()

    def _lead_round(self, rounds: int) -> None:
        """The background work done by one process of the node at a time."""
        self.node.recorder.record_ready()
        if rounds % CLAIM_ROUNDS == 0:  # a pended claim's ClaimResponse follows the insurer's decision
            self.node.claims.follow_pending()
        self.node.courier.flush()  # messages waiting for a node that did not answer (each waits its own time)
        self.node.erasure.retry()  # erasure requests the nodes that fetched copies have not answered yet
        if rounds % REMINDER_ROUNDS == 0:  # each visit's patient and practitioner, 24 h and 15 min before it
            self.node.reminders.send_due()
        if self.node.settings.anchor_in_background:
            self.node.anchorer.maybe_anchor()
            self.node.audit_anchorer.maybe_anchor()
            self.node.supply_anchorer.maybe_anchor()  # captured supply events' digests
            self.node.trial_anchorer.maybe_anchor()  # this site's visit leaves, which its trial payments prove
        self.node.dispensary.follow_recalls()  # a lot recalled on chain: its packs flagged, her notice written
        self.node.dispensary.retry_dispenses()  # a dispense whose pack the chain did not decommission yet
        self.node.supply.notices.retry()  # a shipment's notice the receiver's node has not taken yet
        self.node.trial_site.settle(anchor=False)  # each complete CRF's visit, once anchored, paid from its escrow
        self.node.trial_site.retry_reports()  # a safety report a sponsor's or board's node has not taken yet

    def _lead(self) -> bool:
        """Take (or keep) the lead if no other process has it; say so in the log when that changes. The leader
        takes device readings from the broker, and only while it leads: the broker lets one session per client
        id, so a leader that lost the lead (a database blip) and kept subscribing would take turns with the new
        one at being cut off, and readings would be lost in between."""
        was = self.leadership.leading
        leading = self.leadership.try_lead()
        if leading != was and self.worker is not None:
            _log.info("worker %d (pid %d) %s", self.worker, os.getpid(), "leads" if leading else "no longer leads")
        broker = self.node.settings.mqtt_broker
        if leading and broker and self._mqtt is None:
            self._mqtt = MqttListener(self.node.intake, node=self.node.address, broker=broker)  # one start each
            self._mqtt.start()
        elif not leading:
            self._stop_readings()
        return leading

    def _stop_readings(self) -> None:
        """Stop the subscription, if any (what it has not acknowledged stays with the broker for the leader)."""
        if self._mqtt is not None:
            self._mqtt.stop()
            self._mqtt = None

    def _shutdown(self) -> None:
        if self._metrics is not None:
            self._metrics.stop()
        self._stop.set()
        if self._background.is_alive():
            self._background.join()  # first: its round could otherwise subscribe again
        self._stop_readings()
        if self._webhooks is not None:
            self._webhooks.close()
        try:
            if self.leadership.try_lead():  # the leader, or whoever takes its place: once, not once per worker
                self.node.anchorer.anchor_pending()
                self.node.audit_anchorer.anchor_pending()
                self.node.supply_anchorer.anchor_pending()
                self.node.trial_anchorer.anchor_pending()  # CRF visit leaves, so their payments need not wait
        finally:
            self.leadership.release()


def _naming_worker(app: ASGIApp, number: int) -> ASGIApp:
    """`app`, each of its responses naming the worker that answered (`X-Worker: 2`): which of the processes
    behind one port did, for an operator reading a trace, and nothing about the node or its data. A WebSocket's
    handshake answer (accepted or refused) names it too: a visit room's two sockets may be held by two workers."""
    header = (b"x-worker", str(number).encode())
    answers = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})

    async def named(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        await app(scope, receive, adding_headers(send, header, answers=answers))

    return named


@contextmanager
def _signals_ignored_after_stop() -> Iterator[None]:
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(_signum: int, _frame: object) -> None:
    """The repeat of a stop signal uvicorn already acted on."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` (0: any free port) for the server to accept on; `AddressInUse`
    if another process has the port, `ConfigError` if `host` is not an address of this machine."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(f"port {port} on {host} is in use by another process: choose another --port") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
