"""Prometheus `/metrics`: what each request took, and how far the node's background work lags.

Counters and histograms are kept as requests are served (`RequestLog` observes each one). With
`PROMETHEUS_MULTIPROC_DIR` set (`serve --workers` sets it before it starts its workers), every
worker writes them to files there and a scrape at any worker adds up all of them
(prometheus-client's multiprocess mode). The gauges of the node's backlog are read from its
database when scraped, within `ready_timeout` (`health.Health.backlog`); the worker's role is
the answering worker's. Series and alert thresholds: docs/monitoring.md.

Who may scrape: the bearer `metrics_token` if one is set; else, with `metrics_port` set, whoever
reaches that port (the API's port then has no `/metrics`); else loopback callers only, and not
through a proxy (a request carrying `Forwarded`/`X-Forwarded-For` is refused).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger.api._health import Leader
from careledger.api._http_head import BoundedHead
from careledger.bearer import bearer_token
from careledger.errors import AccessDenied, NotFound, Unauthenticated
from careledger.health import Health
from careledger.iot import IntakeResult
from careledger.services import Services

_log = logging.getLogger("careledger.api")

PATH = "/metrics"
# The paths a metrics port answers besides `/metrics`: a load balancer's probes of the same worker.
_ON_METRICS_PORT = frozenset({PATH, "/healthz", "/readyz"})
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")

# A `_created` gauge beside every counter doubles a scrape for nothing an alert uses.
disable_created_metrics()


class Metrics:
    """The series of one API app, and the registry a scrape reads them from."""

    def __init__(self, node: Services, leader: Leader) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        shared = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        own = None if shared else self.registry  # shared: written to the directory, read back by the collector
        if shared:
            MultiProcessCollector(self.registry)
        self._requests = Counter(
            "careledger_http_requests",
            "HTTP requests answered, by method, route template and status class.",
            ["method", "route", "status"],
            registry=own,
        )
        self._latency = Histogram(
            "careledger_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=own,
        )
        self._readings = Counter(
            "careledger_device_readings",
            "Device readings taken in (accepted) or refused (by reason), over HTTP and MQTT.",
            ["outcome", "reason"],
            registry=own,
        )
        self.registry.register(_NodeGauges(node.health, leader))
        node.intake.count_with(self._count_readings)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (`RequestLog`'s observer)."""
        self._requests.labels(method, route, f"{status // 100}xx").inc()
        self._latency.labels(method, route).observe(seconds)

    def _count_readings(self, result: IntakeResult) -> None:
        if result.accepted:
            self._readings.labels("accepted", "").inc(result.accepted)
        for reason, count in result.refused.items():
            self._readings.labels("refused", reason).inc(count)

    def exposition(self) -> bytes:
        """The text a scrape gets."""
        return generate_latest(self.registry)


class _NodeGauges(Collector):
    """The gauges read when scraped: the backlog from the database, the worker's role from its leadership."""

    def __init__(self, health: Health, leader: Leader) -> None:
        self._health = health
        self._leader = leader

    def describe(self) -> list[Metric]:
        """Nothing up front: the registry must not scrape the database when this is registered."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The gauges now (the backlog's only if the database answered within the bound)."""
        yield GaugeMetricFamily(
            "careledger_worker_leader",
            "1 if the worker that answered this scrape runs the background work (anchoring, consent "
            "follow-up, device recording), else 0.",
            value=1 if self._leader.leading else 0,
        )
        backlog = self._health.backlog()
        yield GaugeMetricFamily(
            "careledger_backlog_up",
            "1 if the database answered this scrape's backlog queries in time.",
            value=bool(backlog),
        )
        if backlog is None:
            return
        queue = GaugeMetricFamily("careledger_anchor_queue", "Rows waiting for their anchor on chain.", labels=["kind"])
        lag = GaugeMetricFamily(
            "careledger_anchor_lag_seconds",
            "How long the oldest row waiting for its anchor has waited (0 when none waits).",
            labels=["kind"],
        )
        queue.add_metric(["records"], backlog.records_waiting)
        lag.add_metric(["records"], backlog.records_oldest_seconds)
        queue.add_metric(["audit"], backlog.audit_waiting)
        lag.add_metric(["audit"], backlog.audit_oldest_seconds)
        yield queue
        yield lag
        if backlog.consent_blocks_behind is not None:
            yield GaugeMetricFamily(
                "careledger_consent_sync_lag_blocks",
                "Blocks of the chain the consent index has not read yet (absent while the chain does not answer).",
                value=backlog.consent_blocks_behind,
            )


def metrics_router(node: Services, metrics: Metrics) -> APIRouter:
    """`GET /metrics`, to whoever the settings let scrape."""
    router = APIRouter(include_in_schema=False)
    settings = node.settings

    @router.get(PATH)
    def scrape(request: Request) -> Response:
        """The node's series in the Prometheus text format."""
        if settings.metrics_port is not None and _port(request.scope) != settings.metrics_port:
            raise NotFound(f"{PATH} is served on the metrics port only")
        if settings.metrics_token:
            given = bearer_token(request.headers.get("authorization")) or ""
            if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
                raise Unauthenticated(f"{PATH} needs the metrics token (Authorization: Bearer …)")
        elif settings.metrics_port is None and not _loopback_direct(request.scope):
            raise AccessDenied(
                f"{PATH} answers callers on this machine only, unless metrics_token or metrics_port is set"
            )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    return router


class MetricsPort:
    """ASGI middleware: on the metrics port (`metrics_port`), nothing but `/metrics` and the probes is served."""

    def __init__(self, app: ASGIApp, *, port: int | None, not_found: ASGIApp) -> None:
        self.app = app
        self._port = port
        self._not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._port is not None
            and scope["type"] == "http"
            and _port(scope) == self._port
            and scope["path"] not in _ON_METRICS_PORT
        ):
            await self._not_found(scope, receive, send)
            return
        await self.app(scope, receive, send)


class MetricsListener:
    """`metrics_port`: the app served on that port too (where `MetricsPort` lets only `/metrics` and the probes
    through), by a server of its own in a daemon thread of this worker. The socket is bound with SO_REUSEPORT, so
    every worker of `serve --workers N` binds the same port and the kernel spreads scrapes among them; any of them
    answers for all (multiprocess mode). A port another program holds is logged, not fatal: the API still serves."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.address = (host, port)
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                log_config=None,
                lifespan="off",
                access_log=False,
                proxy_headers=False,
                http=BoundedHead,  # no proxy stands before a scraper's port: the node bounds a request's head
            )
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the port and serve it from a thread; returns once it listens (or it could not bind)."""
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(self.address)
        except OSError as exc:
            sock.close()
            _log.error("metrics_port %s on %s cannot be bound: %s; /metrics is not served", *self.address[::-1], exc)
            return
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="careledger-metrics-port", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.01)

    def stop(self) -> None:
        """Stop serving the port (the process's end does it too)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._server.run(sockets=[sock])
        finally:
            sock.close()


def _port(scope: Scope) -> int | None:
    """The port of this machine the request came in on."""
    server = scope.get("server")
    return int(server[1]) if server and server[1] is not None else None


def _loopback_direct(scope: Scope) -> bool:
    """Whether the caller is on this machine and no proxy stands between (a proxy would make anyone loopback)."""
    client = scope.get("client")
    if not client or any(name in _FORWARDED for name, _ in scope["headers"]):
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False
