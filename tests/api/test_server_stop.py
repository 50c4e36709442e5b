"""Stopping a server whose callers hold long-lived requests open (a page's event stream) ends within seconds."""

from __future__ import annotations

import threading

import httpx

from careledger.api import NodeServer
from careledger.api._server import GRACEFUL_SHUTDOWN_SECONDS
from tests.access.conftest import World
from tests.api.conftest import Api


def test_a_stop_does_not_wait_for_an_open_event_stream(world: World) -> None:
    server = NodeServer(world.node, port=0)
    server.start()
    drbob = Api(server, world).client(world.drbob)
    connected = threading.Event()

    def listen() -> None:
        try:
            with drbob.stream("GET", "/telehealth/events", timeout=60) as response:
                assert response.status_code == 200
                for _ in response.iter_lines():
                    connected.set()
        except httpx.HTTPError:
            pass  # the server went away under the stream, as it should

    threading.Thread(target=listen, daemon=True).start()
    assert connected.wait(30), "the event stream never opened"
    stopping = threading.Thread(target=server.stop, daemon=True)
    stopping.start()
    stopping.join(GRACEFUL_SHUTDOWN_SECONDS + 15)
    assert not stopping.is_alive(), "the server still waits for the event stream to end"
