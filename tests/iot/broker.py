"""A Mosquitto broker of a test's own (port, persistence), which the test may stop and start again.

The machine's broker on 1883 is shared by every test worker; a test that restarts a broker
starts this one, from the same `mosquitto` binary, with its persistence in the test's directory.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

from careledger.api import free_port

SHARED = "127.0.0.1:1883"


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    assert found, "mosquitto is not installed: apt-get install mosquitto (the CI machines run it on port 1883)"
    return found


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Broker:
    """`start()`, `stop()` (a clean shutdown: it saves its sessions and queued messages) and `url`."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        directory.mkdir(parents=True, exist_ok=True)
        self._config = directory / "mosquitto.conf"
        self._config.write_text(
            # `user`: run as root, mosquitto would become `mosquitto`, who may not write here.
            f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {directory}/\nlog_dest file {directory}/mosquitto.log\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen([mosquitto_binary(), "-c", str(self._config)])
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
