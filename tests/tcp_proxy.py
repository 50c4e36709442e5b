"""A loopback TCP proxy a test puts in front of a real server (PostgreSQL) to make it go away and come back."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from careledger.api import free_port
from tests.conftest import PG_URL, _postgres_schema


class TcpProxy:
    """A loopback TCP proxy to `upstream` the test can cut (connections refused and dropped), hang (bytes no longer
    passed on) and restore: PostgreSQL going away, or stopping to answer, without touching the real server."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._relay = threading.Event()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        self._relay.set()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def hang(self) -> None:
        self._relay.clear()

    def unhang(self) -> None:
        self._relay.set()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._relay.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)


@contextmanager
def postgres_behind_proxy() -> Iterator[tuple[TcpProxy, str]]:
    """A fresh PostgreSQL schema reached through a `TcpProxy`: the proxy, and the database URL naming it and the
    schema. The proxy is cut at the end (threads stopped), the schema dropped."""
    schemas = _postgres_schema()
    schema = next(schemas)
    host, _, rest = PG_URL.removeprefix("postgresql://").partition("@")[2].partition(":")
    port = int(rest.partition("/")[0])
    proxy = TcpProxy((host, port))
    try:
        yield proxy, PG_URL.replace(f":{port}/", f":{proxy.port}/") + f"?options=-csearch_path%3D{schema}"
    finally:
        proxy.unhang()
        proxy.cut()
        next(schemas, None)
